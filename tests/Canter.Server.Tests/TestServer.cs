using System.Net.Http.Json;
using System.Text.Json;
using Canter.Media;
using Canter.Server.Generation;
using Canter.Training.Unified;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Canter.Server.Tests;

/// <summary>
/// The real server app on a free loopback port with its own data folder (deleted on dispose unless kept for a restart).
/// The generator is the shipped model, or a <see cref="FakeGenerator"/> that validates like it but makes a clip in
/// milliseconds per step.
/// </summary>
internal sealed class TestServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly bool _keepData;

    private TestServer(WebApplication app, string dataDir, bool keepData)
    {
        _app = app;
        DataDir = dataDir;
        _keepData = keepData;
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        Http = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(60) };
    }

    public HttpClient Http { get; }

    public string DataDir { get; }

    public IServiceProvider Services => _app.Services;

    public static async Task<TestServer> StartAsync(IVideoGenerator? generator = null, string? dataDir = null, bool keepData = false,
        Dictionary<string, string?>? settings = null)
    {
        dataDir ??= NewDataDir();
        var all = new Dictionary<string, string?>
        {
            ["Canter:DataDir"] = dataDir, ["Canter:ModelDir"] = Shipped.ModelDir, ["Logging:LogLevel:Default"] = "Warning",
        };
        foreach (var (k, v) in settings ?? []) all[k] = v;
        var app = CanterServer.Create("http://127.0.0.1:0", all, services =>
            services.AddSingleton(generator ?? Shipped.Generator));
        await app.StartAsync();
        return new TestServer(app, dataDir, keepData);
    }

    public static string NewDataDir() => Path.Combine(Path.GetTempPath(), $"canter-server-{Guid.NewGuid():N}");

    public async Task<JsonElement> SubmitAsync(object body, string route = "/api/tasks")
    {
        using var response = await Http.PostAsJsonAsync(route, body);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {json}");
        return json;
    }

    public async Task<JsonElement> GetAsync(string route)
    {
        using var response = await Http.GetAsync(route);
        var json = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {json}");
        return json;
    }

    /// <summary>Polls a task until <paramref name="done"/> holds for it (every 20 ms, up to 30 s).</summary>
    public async Task<JsonElement> WaitAsync(string id, Func<JsonElement, bool> done, string route = "/api/tasks/")
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var task = await GetAsync(route + id);
            if (done(task)) return task;
            if (clock.Elapsed > TimeSpan.FromSeconds(30)) throw new TimeoutException($"task {id} is still {task}");
            await Task.Delay(20);
        }
    }

    public Task<JsonElement> WaitForStateAsync(string id, string state) => WaitAsync(id, t => t.GetProperty("state").GetString() == state);

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        if (!_keepData)
        {
            try { Directory.Delete(DataDir, recursive: true); }
            catch (IOException) { }
        }
    }
}

/// <summary>The shipped model, loaded once for the whole test run.</summary>
internal static class Shipped
{
    private static readonly Lazy<ModelGenerator> Model = new(() => new ModelGenerator(ModelDir));

    public static string ModelDir
    {
        get
        {
            // tests run from tests/Canter.Server.Tests/bin/<config>/net10.0: the repository root is five levels up
            var dir = AppContext.BaseDirectory;
            for (int i = 0; i < 8 && dir is not null; i++, dir = Path.GetDirectoryName(dir))
                if (File.Exists(Path.Combine(dir, "models", "canter-tiny", "transformer.json"))) return Path.Combine(dir, "models", "canter-tiny");
            throw new DirectoryNotFoundException("models/canter-tiny not found above " + AppContext.BaseDirectory);
        }
    }

    public static ModelGenerator Generator => Model.Value;
}

/// <summary>
/// Validates like the shipped model, then "generates" a plain clip of the right length, <see cref="StepTime"/> per
/// sampling step, checking its cancellation token the way the real sampler does. <see cref="Hold"/> pauses it before
/// each step, so a test can keep a task running as long as it needs.
/// </summary>
internal sealed class FakeGenerator(TimeSpan stepTime) : IVideoGenerator
{
    private int _steps;

    public TimeSpan StepTime { get; } = stepTime;

    /// <summary>Set: steps run; reset: the generator waits before its next step.</summary>
    public ManualResetEventSlim Hold { get; } = new(true);

    /// <summary>Sampling steps run so far, over every generation.</summary>
    public int StepsRun => Volatile.Read(ref _steps);

    public GeneratorInfo Info => Shipped.Generator.Info;

    public void Validate(GenerationRequest request) => Shipped.Generator.Validate(request);

    public GenerationResult Generate(GenerationRequest r, Action<int, int> progress, CancellationToken cancel)
    {
        Validate(r);
        for (int step = 1; step <= r.Steps; step++)
        {
            Hold.Wait(cancel);
            cancel.WaitHandle.WaitOne(StepTime);
            cancel.ThrowIfCancellationRequested();
            Interlocked.Increment(ref _steps);
            progress(step, r.Steps);
        }
        int frames = 1 + (int)Math.Floor(r.Seconds * 24 / 4) * 4;
        var color = new byte[r.Width * r.Height * 3];
        Array.Fill(color, (byte)(40 + (int)(r.Seed % 200)));
        var audio = r.Audio ? new AudioTrack(24000, Enumerable.Range(0, (int)(r.Seconds * 24000)).Select(i => 0.2f * MathF.Sin(i * 0.05f)).ToArray()) : null;
        return new GenerationResult(new VideoClip(r.Width, r.Height, 24, Enumerable.Repeat(color, frames).ToList()), audio, StepTime.TotalSeconds * r.Steps);
    }
}
