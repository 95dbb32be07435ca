using System.Net;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Canter.Server.Storage;

/// <summary>
/// Results as objects of an S3-compatible bucket, <c>PREFIX/ID/FILE</c>, shared by every server and worker (no shared
/// mount needed). A worker writes a task's files into staging/ID/ under its own data folder and puts each one into the
/// bucket whole (a PUT is atomic: nobody reads half an object); the task is marked succeeded only after the last one.
/// Servers stream the objects through themselves, so API keys, expiry and signed links still decide who reads them.
/// Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) from the environment, else the
/// SDK's own chain (profile, instance role); they are never written to a log.
/// <code>
/// canter serve --store postgres://... --no-workers --results s3://canter/results --s3-endpoint http://10.0.0.5:9000
/// </code>
/// </summary>
public sealed partial class S3ResultStore : IResultStore, IDisposable
{
    private readonly AmazonS3Client _s3;
    private readonly string _staging;

    public S3ResultStore(S3Location where, string? endpoint, string region, string dataDir)
    {
        Where = where;
        if (!RegionName().IsMatch(region)) throw new ArgumentException($"S3 region '{region}' is not a region name like us-east-1");
        var config = new AmazonS3Config
        {
            // what self-hosted servers know: SigV4 over a signed body, without the SDK's newer default of trailing CRC32 checksums
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            MaxErrorRetry = 2,
            Timeout = TimeSpan.FromSeconds(60),
        };
        if (endpoint is { Length: > 0 })
        {
            if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.Query.Length > 0 || uri.UserInfo.Length > 0)
                throw new ArgumentException($"--s3-endpoint '{endpoint}' is not an http(s) URL like http://127.0.0.1:9000");
            config.ServiceURL = uri.GetLeftPart(UriPartial.Path);
            config.ForcePathStyle = true;   // http://host:port/BUCKET/KEY: self-hosted servers rarely have a DNS name per bucket
            config.AuthenticationRegion = region;
            Endpoint = config.ServiceURL;
        }
        else config.RegionEndpoint = RegionEndpoint.GetBySystemName(region);
        _s3 = Credentials() is { } credentials ? new AmazonS3Client(credentials, config) : new AmazonS3Client(config);
        _staging = Path.Combine(Path.GetFullPath(dataDir), "staging");
    }

    public S3Location Where { get; }

    /// <summary>The endpoint given with --s3-endpoint, or null for AWS itself.</summary>
    public string? Endpoint { get; }

    public string Description => Endpoint is null ? $"the bucket {Where}" : $"the bucket {Where} at {Endpoint.TrimEnd('/')}";

    public string WorkDir(string id) => Path.Combine(_staging, Tasks.TaskFiles.CheckedId(id));

    public async Task PublishAsync(string id, CancellationToken cancel)
    {
        var dir = WorkDir(id);
        var names = Directory.EnumerateFiles(dir).Select(f => Path.GetFileName(f)).Where(n => !n.Contains(".partial", StringComparison.Ordinal)).Order().ToList();
        var put = new List<string>();
        try
        {
            foreach (var name in names)
            {
                await Call($"store {name} of task {id}", () => _s3.PutObjectAsync(new PutObjectRequest
                {
                    BucketName = Where.Bucket, Key = Where.Key(id, name), FilePath = Path.Combine(dir, name), ContentType = ContentType(name),
                    UseChunkEncoding = false,   // one signed body: what every S3-compatible server reads
                }, cancel), cancel);
                put.Add(name);
            }
        }
        catch
        {
            // none of a failed task's files stay: nobody could tell a whole set from a partial one
            foreach (var name in put)
            {
                try { await _s3.DeleteObjectAsync(Where.Bucket, Where.Key(id, name), CancellationToken.None); }
                catch (Exception) { }   // the bucket is out of reach: the task reads failed, so nothing serves them
            }
            throw;
        }
        Discard(id);
    }

    public void Discard(string id)
    {
        var dir = WorkDir(id);
        try { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
        catch (IOException) { }   // the next run of this task clears it
    }

    public async Task<ResultFile?> OpenAsync(string id, string file, CancellationToken cancel)
    {
        var key = Where.Key(id, file);
        try
        {
            var meta = await _s3.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = Where.Bucket, Key = key }, cancel);
            return new S3ResultFile(this, key, meta.ContentLength, meta.LastModified, meta.ETag);
        }
        catch (AmazonS3Exception e) when (e.StatusCode == HttpStatusCode.NotFound) { return null; }
        catch (Exception e) when (Failure(e, cancel)) { throw Failed($"read {file} of task {id}", e); }
    }

    public async Task DeleteAsync(string id, CancellationToken cancel)
    {
        await foreach (var key in KeysAsync(Where.Key(id, ""), cancel))
            await Call($"remove {key}", () => _s3.DeleteObjectAsync(Where.Bucket, key, cancel), cancel);
    }

    public async Task DeleteAllButAsync(string id, string keep, CancellationToken cancel)
    {
        await foreach (var key in KeysAsync(Where.Key(id, ""), cancel))
            if (key != Where.Key(id, keep)) await Call($"remove {key}", () => _s3.DeleteObjectAsync(Where.Bucket, key, cancel), cancel);
    }

    public async IAsyncEnumerable<string> IdsWithFilesBesidesAsync(string keep, [EnumeratorCancellation] CancellationToken cancel)
    {
        var root = Where.Key("", "")[..^1];   // "PREFIX/" or ""
        var seen = new HashSet<string>(StringComparer.Ordinal);
        await foreach (var key in KeysAsync(root, cancel))
        {
            var parts = key[root.Length..].Split('/');
            if (parts.Length == 2 && parts[1] != keep && Tasks.TaskFiles.IsId(parts[0]) && seen.Add(parts[0])) yield return parts[0];
        }
    }

    public async Task CheckAsync(CancellationToken cancel)
    {
        var key = Where.Key("", "")[..^1] + $".canter-check-{Guid.NewGuid():N}";
        const string Body = "canter: can this process write, read and remove results here?";
        try
        {
            await _s3.PutObjectAsync(new PutObjectRequest { BucketName = Where.Bucket, Key = key, ContentBody = Body, UseChunkEncoding = false }, cancel);
            using (var got = await _s3.GetObjectAsync(Where.Bucket, key, cancel))
            using (var reader = new StreamReader(got.ResponseStream))
            {
                if (await reader.ReadToEndAsync(cancel) != Body) throw new InvalidDataException("an object read back is not what was written");
            }
            await _s3.DeleteObjectAsync(Where.Bucket, key, cancel);
        }
        catch (Exception e) when (Failure(e, cancel))
        {
            throw new ResultStoreException($"results cannot go to {Description}: writing, reading and removing {key} failed: {Reason(e)}" +
                (Endpoint is null ? "" : " (is the endpoint right, does the bucket exist, and may AWS_ACCESS_KEY_ID write to it?)"), e);
        }
    }

    public void Dispose() => _s3.Dispose();

    /// <summary>The bytes [<paramref name="from"/>, <paramref name="to"/>] of an object, failing if it changed since <paramref name="etag"/> was read.</summary>
    internal async Task<GetObjectResponse> GetRangeAsync(string key, long from, long to, string? etag, CancellationToken cancel)
    {
        try
        {
            return await _s3.GetObjectAsync(new GetObjectRequest
            {
                BucketName = Where.Bucket, Key = key, ByteRange = new ByteRange(from, to), EtagToMatch = etag,
            }, cancel);
        }
        catch (Exception e) when (Failure(e, cancel)) { throw Failed($"read {key}", e); }
    }

    private async IAsyncEnumerable<string> KeysAsync(string prefix, [EnumeratorCancellation] CancellationToken cancel)
    {
        var request = new ListObjectsV2Request { BucketName = Where.Bucket, Prefix = prefix };
        while (true)
        {
            var page = await Call($"list {prefix}", () => _s3.ListObjectsV2Async(request, cancel), cancel);
            foreach (var o in page.S3Objects ?? []) yield return o.Key;
            if (page.IsTruncated != true || string.IsNullOrEmpty(page.NextContinuationToken)) yield break;
            request.ContinuationToken = page.NextContinuationToken;
        }
    }

    private async Task<T> Call<T>(string what, Func<Task<T>> call, CancellationToken cancel)
    {
        try { return await call(); }
        catch (Exception e) when (Failure(e, cancel)) { throw Failed(what, e); }
    }

    /// <summary>Anything but the caller's own cancellation is the store failing.</summary>
    private static bool Failure(Exception e, CancellationToken cancel) => e is not ResultStoreException && !(e is OperationCanceledException && cancel.IsCancellationRequested);

    private ResultStoreException Failed(string what, Exception e) => new($"{Description} could not {what}: {Reason(e)}", e);

    private static string Reason(Exception e) => e switch
    {
        AmazonS3Exception { ErrorCode.Length: > 0 } s3 => $"{s3.ErrorCode} (HTTP {(int)s3.StatusCode}) {s3.Message}",
        _ when e.InnerException is { } inner && inner is not AmazonServiceException && !e.Message.Contains(inner.Message, StringComparison.Ordinal) => $"{e.Message} ({inner.Message})",
        _ => e.Message,
    };

    private static string ContentType(string name) => Path.GetExtension(name) switch
    {
        ".mp4" => "video/mp4",
        ".png" => "image/png",
        ".json" => "application/json",
        _ => "application/octet-stream",
    };

    private static AWSCredentials? Credentials()
    {
        static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } v ? v : null;
        string? id = Env("AWS_ACCESS_KEY_ID"), secret = Env("AWS_SECRET_ACCESS_KEY"), token = Env("AWS_SESSION_TOKEN");
        if (id is null && secret is null) return null;   // the SDK's own chain: a profile, an instance role
        if (id is null || secret is null)
            throw new ArgumentException("set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for the result bucket (or neither, for the SDK's profile or instance role)");
        return token is null ? new BasicAWSCredentials(id, secret) : new SessionAWSCredentials(id, secret, token);
    }

    [GeneratedRegex("^[a-z]{2}(-[a-z0-9]+)+-[0-9]+$")]
    private static partial Regex RegionName();
}

/// <summary>
/// <c>s3://BUCKET[/PREFIX]</c>: a bucket name as S3 allows it (3-63 of a-z 0-9 . -), and a prefix of path segments
/// without empty, . or .. parts.
/// </summary>
public sealed partial record S3Location(string Bucket, string Prefix)
{
    public static S3Location Parse(string url)
    {
        if (!url.StartsWith("s3://", StringComparison.Ordinal)) throw new ArgumentException($"--results '{url}' is not s3://BUCKET[/PREFIX]");
        var rest = url[5..].TrimEnd('/');
        int slash = rest.IndexOf('/');
        var (bucket, prefix) = slash < 0 ? (rest, "") : (rest[..slash], rest[(slash + 1)..]);
        if (!BucketName().IsMatch(bucket) || bucket.Contains("..", StringComparison.Ordinal))
            throw new ArgumentException($"--results '{url}': '{bucket}' is not a bucket name (3 to 63 of a-z, 0-9, '.' and '-', starting and ending with a letter or digit)");
        if (prefix.Length > 0 && (prefix.Length > 512 || prefix.Split('/').Any(s => s is "" or "." or ".." || s.Any(c => char.IsControl(c) || c == '\\'))))
            throw new ArgumentException($"--results '{url}': the prefix '{prefix}' must be path segments without empty, '.' or '..' parts");
        return new S3Location(bucket, prefix);
    }

    /// <summary>The key of <paramref name="file"/> of task <paramref name="id"/>: PREFIX/ID/FILE.</summary>
    public string Key(string id, string file) => (Prefix.Length == 0 ? "" : Prefix + "/") + id + "/" + file;

    public override string ToString() => Prefix.Length == 0 ? $"s3://{Bucket}" : $"s3://{Bucket}/{Prefix}";

    [GeneratedRegex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    private static partial Regex BucketName();
}

/// <summary>A result object: its size and version from a HEAD, its bytes streamed on demand.</summary>
internal sealed class S3ResultFile(S3ResultStore store, string key, long length, DateTime? lastModified, string? etag) : ResultFile
{
    public override long Length => length;

    public override Task<Stream> OpenReadAsync(CancellationToken cancel) => Task.FromResult<Stream>(new S3ObjectStream(store, key, length, etag));

    public override ResultDownload Download(string contentType, string? downloadName = null, bool ranges = false)
    {
        EntityTagHeaderValue? tag = null;
        if (etag is { Length: > 0 } && !EntityTagHeaderValue.TryParse(etag.StartsWith('"') || etag.StartsWith("W/", StringComparison.Ordinal) ? etag : $"\"{etag}\"", out tag))
            tag = null;
        DateTimeOffset? modified = lastModified is { } m ? new DateTimeOffset(DateTime.SpecifyKind(m.ToUniversalTime(), DateTimeKind.Utc)) : null;
        return new(TypedResults.Stream(new S3ObjectStream(store, key, length, etag), contentType, downloadName, modified, tag, enableRangeProcessing: ranges));
    }
}

/// <summary>
/// A read-only, seekable view of one object: reads fetch ranged GETs (1 MiB first, doubling to 16 MiB while the reader
/// goes on), so that ASP.NET's Range handling (seek, then copy the range) fetches about the range asked for. Every GET
/// asks for the version first seen (If-Match): an object replaced meanwhile fails the read, never mixes two versions.
/// </summary>
internal sealed class S3ObjectStream(S3ResultStore store, string key, long length, string? etag) : Stream
{
    private const long FirstChunk = 1 << 20, LargestChunk = 16 << 20;
    private long _position, _end, _chunk = FirstChunk;
    private GetObjectResponse? _response;

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Length => length;

    public override long Position
    {
        get => _position;
        set => Seek(value, SeekOrigin.Begin);
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        long to = origin switch { SeekOrigin.Begin => offset, SeekOrigin.Current => _position + offset, _ => length + offset };
        if (to < 0) throw new IOException("seek before the start of the object");
        if (to != _position) Close(ref _response);
        _position = to;
        return to;
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancel = default)
    {
        if (_position >= length || buffer.Length == 0) return 0;
        if (_response is null || _position >= _end)
        {
            Close(ref _response);
            _end = Math.Min(length, _position + _chunk);
            _response = await store.GetRangeAsync(key, _position, _end - 1, etag, cancel);
            _chunk = Math.Min(_chunk * 2, LargestChunk);
        }
        int n = await _response.ResponseStream.ReadAsync(buffer[..(int)Math.Min(buffer.Length, _end - _position)], cancel);
        if (n == 0) throw new ResultStoreException($"{store.Description} ended {key} at byte {_position} of {length}");
        _position += n;
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancel) => ReadAsync(buffer.AsMemory(offset, count), cancel).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Flush() { }

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) Close(ref _response);
        base.Dispose(disposing);
    }

    private static void Close(ref GetObjectResponse? response)
    {
        response?.Dispose();
        response = null;
    }
}
