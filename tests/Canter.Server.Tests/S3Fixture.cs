using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Canter.Bench;

namespace Canter.Server.Tests;

/// <summary>
/// A throwaway S3-compatible server on loopback for the result-bucket tests: s3rver (npm, pinned; Node.js is the one
/// thing it needs), installed once into .build/sdk/ as the SDK tests install theirs, started on a free port over a fresh
/// folder and stopped after. It checks SigV4 signatures with its fixed key pair, which the tests put in the environment
/// (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), where the server and the CLI read them. Missing node or npm fails the
/// tests with what to install.
/// </summary>
public sealed class S3Fixture : IAsyncLifetime
{
    public const string Package = "s3rver", Version = "3.7.1";

    /// <summary>s3rver's built-in credentials (it refuses any other signature).</summary>
    public const string AccessKey = "S3RVER", SecretKey = "S3RVER";

    private CliProcess? _server;
    private string _dir = "";

    public string Endpoint { get; private set; } = "";

    public AmazonS3Client Client { get; private set; } = null!;

    public static Dictionary<string, string> Credentials => new() { ["AWS_ACCESS_KEY_ID"] = AccessKey, ["AWS_SECRET_ACCESS_KEY"] = SecretKey };

    public async Task InitializeAsync()
    {
        foreach (var (k, v) in Credentials) Environment.SetEnvironmentVariable(k, v);   // for the in-process servers of the tests
        var installed = await SdkTests.InstallAsync(Package, Version);
        _dir = Path.Combine(Path.GetTempPath(), $"canter-s3-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_dir);
        int port = ThrowawayPostgres.FreePort();
        var start = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(installed, "node_modules", Package, "bin", "s3rver.js"), "--directory", _dir, "--address", "127.0.0.1", "--port", port.ToString() })
            start.ArgumentList.Add(a);
        var process = new Process { StartInfo = start };
        _server = new CliProcess { Process = process, Name = "s3rver" };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) _server.Lines.Enqueue(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) _server.Lines.Enqueue(e.Data); };
        try { process.Start(); }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"'node' is needed to run the S3-compatible test server and was not found ({e.Message}); install Node.js 18 or later with npm", e);
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await _server.WaitForLineAsync("listening", TimeSpan.FromSeconds(30));
        Endpoint = $"http://127.0.0.1:{port}";
        Client = NewClient(Endpoint);
    }

    /// <summary>A test's own client of an endpoint, path-style, with the server's credentials and only the checksums S3 requires (as the server's store does).</summary>
    public static AmazonS3Client NewClient(string endpoint) => new(new BasicAWSCredentials(AccessKey, SecretKey), new AmazonS3Config
    {
        ServiceURL = endpoint, ForcePathStyle = true, AuthenticationRegion = "us-east-1",
        RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED, ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
    });

    /// <summary>A new, empty bucket of its own for one test.</summary>
    public async Task<string> NewBucketAsync()
    {
        var name = $"canter-{Guid.NewGuid():N}"[..30];
        await Client.PutBucketAsync(name);
        return name;
    }

    /// <summary>Every key of <paramref name="bucket"/> under <paramref name="prefix"/>.</summary>
    public async Task<List<string>> KeysAsync(string bucket, string prefix = "")
    {
        var page = await Client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, Prefix = prefix });
        return (page.S3Objects ?? []).Select(o => o.Key).Order(StringComparer.Ordinal).ToList();
    }

    public async Task<byte[]> ObjectAsync(string bucket, string key)
    {
        using var got = await Client.GetObjectAsync(bucket, key);
        using var memory = new MemoryStream();
        await got.ResponseStream.CopyToAsync(memory);
        return memory.ToArray();
    }

    /// <summary>A loopback port where nothing listens (a bucket that cannot be reached).</summary>
    public static int ClosedPort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public string Output() => string.Join('\n', _server?.Lines ?? []);

    public Task DisposeAsync()
    {
        Client?.Dispose();
        _server?.Dispose();
        try { if (_dir.Length > 0) Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
        return Task.CompletedTask;
    }
}
