using System.Net.Http.Headers;
using System.Text;
using Canter.Media;
using Canter.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Canter.Bench.Fuzz;

/// <summary>
/// The submission boundary fuzzed over HTTP: JSON bodies and multipart forms sent to the real server on loopback.
/// An input passes when the answer is below 500 and the server logged no error while handling it. Accepted tasks are
/// deleted at once so that the worker does not spend the run generating.
/// </summary>
public sealed class HttpTargets : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly string _data;
    private readonly ErrorCounter _errors;
    private readonly HttpClient _http;

    private HttpTargets(WebApplication app, string data, ErrorCounter errors)
    {
        (_app, _data, _errors) = (app, data, errors);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        _http = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(30) };
    }

    public static readonly string[] Names = ["json", "multipart"];

    /// <summary>Starts the server with the model in <paramref name="modelDir"/> (the generator validates sizes and durations).</summary>
    public static async Task<HttpTargets> StartAsync(string modelDir)
    {
        var data = Path.Combine(Path.GetTempPath(), $"canter-fuzz-server-{Guid.NewGuid():N}");
        var errors = new ErrorCounter();
        var app = CanterServer.Create("http://127.0.0.1:0", new Dictionary<string, string?>
        {
            ["Canter:DataDir"] = data,
            ["Canter:ModelDir"] = Path.GetFullPath(modelDir),
            ["Canter:MaxUploadBytes"] = (1 << 20).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Logging:LogLevel:Default"] = "Warning",
        }, services => services.AddSingleton<ILoggerProvider>(errors));
        await app.StartAsync();
        return new HttpTargets(app, data, errors);
    }

    private static readonly string[] JsonSeeds =
    [
        """{"prompt":"a red ball bounces","seconds":0.5,"steps":1,"seed":7,"size":"64x64"}""",
        """{"prompt":"a cat walks","seconds":1,"steps":2,"guidance":2.5,"negative":"blur","no_audio":true,"sampler":"euler"}""",
        """{"prompt":"two dogs","refs":["upload:abc"],"image":"task:xyz","steps":1}""",
        """{"prompt":"a bird","image":{"url":"data:image/png;base64,iVBORw0KGgo="},"steps":1}""",
        """{"prompt":"a tree","model":"canter-tiny","seconds":"4","size":"1280x720","webhook_url":"http://127.0.0.1:1/hook"}""",
        """{"model":"canter-tiny","input":{"prompt":"a red ball","media":[{"type":"first_frame","url":"upload:abc"}]},"parameters":{"size":"64*64","duration":1,"seed":7}}""",
    ];

    private const string DashScopeRoute = "/api/v1/services/aigc/video-generation/video-synthesis";

    // the Model-Studio-style route reads its body with its own parser (nested input.* and parameters.*)
    private static readonly string[] JsonRoutes = ["/api/tasks", "/v1/videos", DashScopeRoute];

    public FuzzTarget Json() => new("json", JsonSeeds.Select(Encoding.UTF8.GetBytes).ToArray(), async (input, cancel) =>
    {
        var route = JsonRoutes[input.Length % JsonRoutes.Length];
        using var content = new ByteArrayContent(input);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        await SendAsync(route, content, cancel);
    }, IsRejection, ".json", 600, (m, s) => Encoding.UTF8.GetBytes(m.MutateJson(Encoding.UTF8.GetString(s))));

    private const string Boundary = "fuzzboundary7d3";

    private static byte[] Multipart(params (string Name, string? FileName, string? Type, byte[] Body)[] parts)
    {
        using var body = new MemoryStream();
        foreach (var (name, fileName, type, bytes) in parts)
        {
            var head = $"--{Boundary}\r\nContent-Disposition: form-data; name=\"{name}\"{(fileName is null ? "" : $"; filename=\"{fileName}\"")}\r\n"
                + (type is null ? "" : $"Content-Type: {type}\r\n") + "\r\n";
            body.Write(Encoding.UTF8.GetBytes(head));
            body.Write(bytes);
            body.Write("\r\n"u8);
        }
        body.Write(Encoding.UTF8.GetBytes($"--{Boundary}--\r\n"));
        return body.ToArray();
    }

    public FuzzTarget MultipartTarget()
    {
        var pixels = new byte[16 * 16 * 3];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(i * 5);
        using var png = new MemoryStream();
        Png.Write(png, new RgbImage(16, 16, pixels));
        var text = (string s) => Encoding.UTF8.GetBytes(s);
        byte[][] seeds =
        [
            Multipart(("prompt", null, null, text("a red ball")), ("steps", null, null, text("1")), ("seconds", null, null, text("0.5"))),
            Multipart(("prompt", null, null, text("a cat")), ("image", "cat.png", "image/png", png.ToArray()), ("steps", null, null, text("1"))),
            Multipart(("prompt", null, null, text("refs")), ("refs[]", "a.png", "image/png", png.ToArray()), ("refs[0]", null, null, text("upload:x"))),
            Multipart(("file", "up.png", "image/png", png.ToArray())),
        ];
        string[] routes = ["/api/tasks", "/v1/videos", "/api/uploads"];
        return new FuzzTarget("multipart", seeds, async (input, cancel) =>
        {
            var route = routes[input.Length % routes.Length];
            using var content = new ByteArrayContent(input);
            content.Headers.TryAddWithoutValidation("Content-Type", $"multipart/form-data; boundary={Boundary}");
            await SendAsync(route, content, cancel);
        }, IsRejection, ".multipart", 300);
    }

    /// <summary>The exception a refused HTTP input throws: none, so every exception out of <see cref="SendAsync"/> is a finding.</summary>
    private static bool IsRejection(Exception e) => false;

    private async Task SendAsync(string route, HttpContent content, CancellationToken cancel)
    {
        int errorsBefore = _errors.Count;
        using var request = new HttpRequestMessage(HttpMethod.Post, route) { Content = content };
        if (route == DashScopeRoute) request.Headers.Add("X-DashScope-Async", "enable");
        using var response = await _http.SendAsync(request, cancel);
        var body = await response.Content.ReadAsStringAsync(cancel);
        if ((int)response.StatusCode >= 500)
            throw new HttpFuzzException($"{route} answered {(int)response.StatusCode}: {body}; logged: {_errors.Last}");
        // an accepted task is cancelled at once (every API shares task ids); the worker is not what is under test
        if (response.IsSuccessStatusCode && route != "/api/uploads")
        {
            var answer = System.Text.Json.JsonDocument.Parse(body).RootElement;
            if (answer.TryGetProperty("id", out var id) || answer.TryGetProperty("output", out var output) && output.TryGetProperty("task_id", out id))
            {
                using var cancelled = await _http.PostAsync($"/api/tasks/{id.GetString()}/cancel", null, cancel);
            }
        }
        if (_errors.Count != errorsBefore)
            throw new HttpFuzzException($"{route}: the server logged an error: {_errors.Last}");
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        try { Directory.Delete(_data, recursive: true); }
        catch (IOException) { }
    }

    private sealed class HttpFuzzException(string message) : Exception(message);

    /// <summary>Counts log entries at Error or above, whatever their category.</summary>
    private sealed class ErrorCounter : ILoggerProvider, ILogger
    {
        private int _count;
        public int Count => Volatile.Read(ref _count);
        public string? Last { get; private set; }
        public ILogger CreateLogger(string categoryName) => this;
        public void Dispose() { }
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel < LogLevel.Error) return;
            Last = $"{formatter(state, exception)} {exception}";
            Interlocked.Increment(ref _count);
        }
    }
}
