using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Canter.Media;

namespace Canter.Server.Tests;

/// <summary>
/// The Model Studio (DashScope) routes, driven over HTTP with the request shapes of its documentation's curl examples
/// (there is no official DashScope SDK for Node, and the Python one is not installed here): submit with
/// X-DashScope-Async, poll /api/v1/tasks/ID, download the signed video_url without a key, cancel; every refusal in
/// that API's {request_id, code, message} shape with its codes.
/// </summary>
public sealed class DashScopeTests
{
    private const string Synthesis = "/api/v1/services/aigc/video-generation/video-synthesis";

    private static readonly Dictionary<string, string?> Keys = new() { ["Canter:ApiKeys:0"] = "key-one", ["Canter:ApiKeys:1"] = "key-two" };

    [Fact]
    public async Task SubmitPollAndDownloadHaveTheDashScopeShapes()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.FromMilliseconds(5)), settings: Keys);
        server.Http.DefaultRequestHeaders.Authorization = new("Bearer", "key-one");
        // the documentation's text-to-video example, at a size this model makes
        var submitted = await SubmitAsync(server, """
            {"model": "wan2.6-t2v",
             "input": {"prompt": "A red ball bounces", "negative_prompt": "blur"},
             "parameters": {"size": "32*32", "duration": 1, "prompt_extend": true, "watermark": false, "audio": true, "shot_type": "single", "seed": 7}}
            """);
        Assert.Equal("PENDING", submitted.GetProperty("output").GetProperty("task_status").GetString());
        Assert.True(Guid.TryParse(submitted.GetProperty("request_id").GetString(), out _));
        var id = submitted.GetProperty("output").GetProperty("task_id").GetString()!;
        var request = (await server.GetAsync($"/api/tasks/{id}")).GetProperty("request");
        Assert.Equal((32, 32, 1f, 7UL, "blur", true), (request.GetProperty("width").GetInt32(), request.GetProperty("height").GetInt32(), request.GetProperty("seconds").GetSingle(),
            request.GetProperty("seed").GetUInt64(), request.GetProperty("negative").GetString(), request.GetProperty("audio").GetBoolean()));

        var task = await PollAsync(server, id, "SUCCEEDED");
        Assert.True(Guid.TryParse(task.GetProperty("request_id").GetString(), out _));
        var output = task.GetProperty("output");
        Assert.Equal(id, output.GetProperty("task_id").GetString());
        Assert.Equal("A red ball bounces", output.GetProperty("orig_prompt").GetString());
        foreach (var time in new[] { "submit_time", "scheduled_time", "end_time" })
            Assert.Matches(@"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}$", output.GetProperty(time).GetString()!);
        Assert.True(string.CompareOrdinal(output.GetProperty("submit_time").GetString(), output.GetProperty("end_time").GetString()) <= 0);
        Assert.False(output.TryGetProperty("code", out _));
        var usage = task.GetProperty("usage");
        Assert.Equal((1.0, 1, 32), (usage.GetProperty("video_duration").GetDouble(), usage.GetProperty("video_count").GetInt32(), usage.GetProperty("SR").GetInt32()));

        // the video_url is absolute, on this server, and downloads without a key (a browser, a player)
        var url = output.GetProperty("video_url").GetString()!;
        Assert.StartsWith(server.Http.BaseAddress!.ToString().TrimEnd('/') + $"/api/v1/files/{id}/video.mp4?Expires=", url);
        using var anonymous = new HttpClient();
        using var video = await anonymous.GetAsync(url);
        Assert.Equal(HttpStatusCode.OK, video.StatusCode);
        Assert.Equal("video/mp4", video.Content.Headers.ContentType?.MediaType);
        var path = Path.Combine(server.DataDir, "download.mp4");
        await File.WriteAllBytesAsync(path, await video.Content.ReadAsByteArrayAsync());
        var info = MediaProbe.Probe(path);
        Assert.Equal(("h264", 32, 32, true), (info.VideoCodec, info.Width, info.Height, info.HasAudio));

        // a changed link, another task's signature or an unsigned link is refused in the API's shape
        var signature = Regex.Match(url, "Signature=([^&]+)").Groups[1].Value;
        await AssertError(await anonymous.GetAsync(url.Replace("Expires=", "Expires=1")), HttpStatusCode.Forbidden, "AccessDenied", "signature does not match");
        await AssertError(await anonymous.GetAsync(url.Replace(signature, signature[..^2] + "AA")), HttpStatusCode.Forbidden, "AccessDenied", "signature does not match");
        await AssertError(await anonymous.GetAsync(url[..url.IndexOf('?')]), HttpStatusCode.Forbidden, "AccessDenied", "not signed");
        await AssertError(await anonymous.GetAsync(url.Replace(id, "video_other")), HttpStatusCode.Forbidden, "AccessDenied", "signature does not match");
        // a link signed with the server's key but past its time has expired
        var signingKey = await File.ReadAllBytesAsync(Path.Combine(server.DataDir, "url-signing.key"));
        long past = DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeSeconds();
        var pastSignature = Convert.ToBase64String(System.Security.Cryptography.HMACSHA256.HashData(signingKey, Encoding.UTF8.GetBytes($"{id}\n{past}")))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');
        await AssertError(await anonymous.GetAsync($"{url[..url.IndexOf('?')]}?Expires={past}&Signature={pastSignature}"), HttpStatusCode.Forbidden, "AccessDenied", "has expired");
        using (var head = await anonymous.SendAsync(new HttpRequestMessage(HttpMethod.Head, url)))
            Assert.Equal((HttpStatusCode.OK, info.Seconds > 0), (head.StatusCode, head.Content.Headers.ContentLength > 0));

        // another key's task, an unknown id: UNKNOWN, as the API answers for an id it does not know
        foreach (var (key, unknownId) in new[] { ("key-two", id), ("key-one", "video_nope") })
        {
            using var other = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/tasks/{unknownId}");
            other.Headers.Authorization = new("Bearer", key);
            using var response = await server.Http.SendAsync(other);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var unknown = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal((unknownId, "UNKNOWN"), (unknown.GetProperty("output").GetProperty("task_id").GetString(), unknown.GetProperty("output").GetProperty("task_status").GetString()));
            Assert.False(unknown.GetProperty("output").TryGetProperty("video_url", out _));
        }

        // once the task is deleted its link stops working
        using (await server.Http.DeleteAsync($"/api/tasks/{id}")) { }
        await AssertError(await anonymous.GetAsync(url), HttpStatusCode.NotFound, "NotFound", "was not found");
    }

    [Fact]
    public async Task RefusalsHaveTheDashScopeShapeAndCodes()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero), settings: new(Keys) { ["Canter:MaxUploadBytes"] = "65536" });
        const string ok = """{"model": "wan2.6-t2v", "input": {"prompt": "A red ball bounces"}, "parameters": {"size": "32*32"}}""";

        // keys: none, or a wrong one, is a 401 InvalidApiKey, on every route
        await AssertError(await PostAsync(server, ok, key: null), HttpStatusCode.Unauthorized, "InvalidApiKey", "requires an API key");
        await AssertError(await PostAsync(server, ok, key: "key-three"), HttpStatusCode.Unauthorized, "InvalidApiKey", "not valid");
        await AssertError(await server.Http.GetAsync("/api/v1/tasks/video_nope"), HttpStatusCode.Unauthorized, "InvalidApiKey", "requires an API key");
        await AssertError(await server.Http.PostAsync("/api/v1/tasks/video_nope/cancel", null), HttpStatusCode.Unauthorized, "InvalidApiKey", "requires an API key");

        // only asynchronous calls, as the API answers a call without X-DashScope-Async
        await AssertError(await PostAsync(server, ok, async: false), HttpStatusCode.Forbidden, "AccessDenied", "does not support synchronous calls");

        var refusals = new (string Body, HttpStatusCode Status, string Code, string Says)[]
        {
            ("""{"input": {"prompt": "A red ball bounces"}}""", HttpStatusCode.BadRequest, "BadRequest.EmptyModel", "\"model\" missing"),
            ("""{"model": "wan2.6-t2v", "parameters": {"size": "32*32"}}""", HttpStatusCode.BadRequest, "BadRequest.EmptyInput", "input.prompt"),
            ("""{"model": "qwen-max", "input": {"prompt": "A red ball bounces"}}""", HttpStatusCode.BadRequest, "InvalidParameter", "Model not exist"),
            ("""{"model": "wan2.6-t2v", "input": {"prompt": " "}}""", HttpStatusCode.BadRequest, "InvalidParameter", "input.prompt: a prompt is required"),
            ("""{"model": "wan2.6-t2v", "input": {"prompt": "A ball"}, "parameters": {"size": "32*32", "fps": 30}}""", HttpStatusCode.BadRequest, "InvalidParameter", "unknown field 'parameters.fps'"),
            ("""{"model": "wan2.6-t2v", "input": {"prompt": "A ball"}, "parameters": {"size": "1280*720"}}""", HttpStatusCode.BadRequest, "InvalidParameter", "up to 1024x1024"),
            ("""{"model": "wan2.6-t2v", "input": {"prompt": "A ball"}, "parameters": {"size": "big"}}""", HttpStatusCode.BadRequest, "InvalidParameter", "parameters.size: 'big' is not WIDTH*HEIGHT"),
            ("""{"model": "wan2.6-t2v", "input": {"prompt": "A ball"}, "parameters": {"resolution": "720P"}}""", HttpStatusCode.BadRequest, "InvalidParameter", "use 480P"),
            ("""{"model": "wan2.6-t2v", "input": {"prompt": "A ball"}, "parameters": {"resolution": "480P", "size": "32*32"}}""", HttpStatusCode.BadRequest, "InvalidParameter", "both given"),
            ("""{"model": "wan2.6-t2v", "input": {"prompt": "A ball"}, "parameters": {"size": "32*32", "duration": 20}}""", HttpStatusCode.BadRequest, "InvalidParameter", "parameters.duration: 20 must be in [0.5, 15]"),
            ("""{"model": "wan2.6-t2v", "input": {"prompt": "A ball"}, "parameters": {"size": "32*32", "watermark": true}}""", HttpStatusCode.BadRequest, "InvalidParameter", "no visible watermark"),
            ("""{"model": "wan2.6-t2v", "input": {"prompt": "A ball"}, "parameters": {"size": "32*32", "shot_type": "multi"}}""", HttpStatusCode.BadRequest, "InvalidParameter", "timecoded beats"),
            ("""{"model": "wan2.6-t2v", "input": {"prompt": "A ball"}, "parameters": {"size": "32*32", "shot_type": "many"}}""", HttpStatusCode.BadRequest, "InvalidParameter", "not single or multi"),
            ("""{"model": "wan2.6-t2v", "input": {"prompt": "A ball"}, "parameters": {"size": "32*32", "audio": "loud"}}""", HttpStatusCode.BadRequest, "InvalidParameter", "parameters.audio: 'loud' is not true or false"),
            ("""{"model": "wan2.7-videoedit", "input": {"prompt": "Make it blue", "media": [{"type": "video", "url": "task:video_1"}]}}""", HttpStatusCode.BadRequest, "InvalidParameter", "this model has no edit mode"),
            ("""{"model": "wan2.6-i2v", "input": {"prompt": "A ball", "media": [{"type": "mask", "url": "task:video_1"}]}}""", HttpStatusCode.BadRequest, "InvalidParameter", "type 'mask' is not one of"),
            ("""{"model": "wan2.6-i2v", "input": {"prompt": "A ball", "media": ["task:video_1"]}}""", HttpStatusCode.BadRequest, "InvalidParameter", "every item is"),
            ("""{"model": "wan2.6-i2v", "input": {"prompt": "A ball", "img_url": "https://example.com/first.png"}, "parameters": {"size": "32*32"}}""", HttpStatusCode.BadRequest, "InvalidParameter", "does not fetch URLs"),
            ("""{"model": "wan2.6-i2v", "input": {"prompt": "A ball", "img_url": "task:video_nope"}, "parameters": {"size": "32*32"}}""", HttpStatusCode.BadRequest, "InvalidParameter", "input.img_url: task 'video_nope' was not found"),
            ("""{"model": "wan2.6-i2v", "input": {"prompt": "A ball", "img_url": "ftp://x/y.png"}}""", HttpStatusCode.BadRequest, "InvalidParameter", "input.img_url: give a file upload, a data: URL"),
            ("not json", HttpStatusCode.BadRequest, "InvalidParameter", "not valid JSON"),
            ("[1]", HttpStatusCode.BadRequest, "InvalidParameter", "must be a JSON object"),
        };
        foreach (var (body, status, code, says) in refusals)
            await AssertError(await PostAsync(server, body), status, code, says);

        var png = "data:image/png;base64," + Convert.ToBase64String(Media.Png(32, 32, 60));
        var twice = $$$"""{"model": "wan2.6-i2v", "input": {"prompt": "A ball", "img_url": "{{{png}}}", "media": [{"type": "first_frame", "url": "{{{png}}}"}]}, "parameters": {"size": "32*32"}}""";
        await AssertError(await PostAsync(server, twice), HttpStatusCode.BadRequest, "InvalidParameter", "given more than once (input.img_url, input.media first_frame)");
        var three = $$$"""{"model": "wan2.6-r2v", "input": {"prompt": "A ball", "media": [{"type": "reference_image", "url": "{{{png}}}"}, {"type": "reference_image", "url": "{{{png}}}"}, {"type": "reference_image", "url": "{{{png}}}"}]}, "parameters": {"size": "32*32"}}""";
        await AssertError(await PostAsync(server, three), HttpStatusCode.BadRequest, "InvalidParameter", "at most 2");
        var silent = $$$"""{"model": "wan2.6-i2v", "input": {"prompt": "A ball", "audio_url": "data:audio/wav;base64,{{{Convert.ToBase64String(Wav(1))}}}"}, "parameters": {"size": "32*32", "audio": false}}""";
        await AssertError(await PostAsync(server, silent), HttpStatusCode.BadRequest, "InvalidParameter", "cannot be combined with no_audio");
        var big = "data:image/png;base64," + Convert.ToBase64String(new byte[100_000]);
        await AssertError(await PostAsync(server, $$$"""{"model": "wan2.6-i2v", "input": {"prompt": "A ball", "img_url": "{{{big}}}"}}"""), HttpStatusCode.RequestEntityTooLarge,
            "BadRequest.TooLarge", "input.img_url: the file is over the limit of 64 KiB");
        using var text = new HttpRequestMessage(HttpMethod.Post, Synthesis) { Content = new StringContent(ok, Encoding.UTF8, "text/plain") };
        text.Headers.Add("X-DashScope-Async", "enable");
        text.Headers.Authorization = new("Bearer", "key-one");
        await AssertError(await server.Http.SendAsync(text), HttpStatusCode.BadRequest, "InvalidParameter", "application/json");
        Assert.Empty((await Owned(server, "key-one")).EnumerateArray());   // nothing refused became a task
    }

    [Fact]
    public async Task MediaBecomeTheModelsConditions()
    {
        var fake = new FakeGenerator(TimeSpan.Zero);
        await using var server = await TestServer.StartAsync(fake);
        var png = "data:image/png;base64," + Convert.ToBase64String(Media.Png(32, 32, 60));
        var wav = "data:audio/wav;base64," + Convert.ToBase64String(Wav(1));

        var first = await SubmitAsync(server, $$$"""
            {"model": "wan2.6-i2v", "input": {"prompt": "A red ball bounces", "img_url": "{{{png}}}", "audio_url": "{{{wav}}}"}, "parameters": {"size": "32*32", "duration": 1}}
            """);
        var firstId = first.GetProperty("output").GetProperty("task_id").GetString()!;
        var request = (await server.GetAsync($"/api/tasks/{firstId}")).GetProperty("request");
        Assert.Equal(("data-url", "data-url"), (request.GetProperty("image").GetProperty("source").GetString(), request.GetProperty("driving_audio").GetProperty("source").GetString()));
        await PollAsync(server, firstId, "SUCCEEDED");

        // every media type of the API: first and last frame with references, then a clip to continue
        var media = await SubmitAsync(server, $$$"""
            {"model": "wan2.6-r2v", "input": {"prompt": "A red ball bounces", "media": [
                {"type": "first_frame", "url": "{{{png}}}"}, {"type": "last_frame", "url": "task:{{{firstId}}}/poster"},
                {"type": "reference_image", "url": "{{{png}}}"}, {"type": "reference_image", "url": "task:{{{firstId}}}"},
                {"type": "driving_audio", "url": "task:{{{firstId}}}/video"}]},
             "parameters": {"size": "32*32", "duration": 1}}
            """);
        request = (await server.GetAsync($"/api/tasks/{media.GetProperty("output").GetProperty("task_id").GetString()}")).GetProperty("request");
        Assert.Equal($"task:{firstId}/poster", request.GetProperty("last_frame").GetProperty("source").GetString());
        Assert.Equal(["data-url", $"task:{firstId}/poster"], request.GetProperty("refs").EnumerateArray().Select(r => r.GetProperty("source").GetString()!).ToArray());
        Assert.Equal($"task:{firstId}/video", request.GetProperty("driving_audio").GetProperty("source").GetString());

        var clip = await SubmitAsync(server, $$$"""
            {"model": "wan2.6-i2v", "input": {"prompt": "The ball rolls away", "media": [{"type": "first_clip", "url": "task:{{{firstId}}}"}]}, "parameters": {"size": "32*32", "duration": 2}}
            """);
        var clipId = clip.GetProperty("output").GetProperty("task_id").GetString()!;
        Assert.Equal($"task:{firstId}/video", (await server.GetAsync($"/api/tasks/{clipId}")).GetProperty("request").GetProperty("extend").GetProperty("source").GetString());
        var extended = await PollAsync(server, clipId, "SUCCEEDED");
        Assert.Equal(2.0, extended.GetProperty("usage").GetProperty("video_duration").GetDouble());

        // timecoded beats make a multi-shot prompt; 480P is the model's 832*480
        fake.Hold.Reset();
        var multi = await SubmitAsync(server, """
            {"model": "wan2.6-t2v", "input": {"prompt": "[0s-1s] wide shot, the red ball bounces [1s-2s] close-up on the red ball"},
             "parameters": {"resolution": "480P", "shot_type": "multi", "duration": 2}}
            """);
        var multiId = multi.GetProperty("output").GetProperty("task_id").GetString()!;
        request = (await server.GetAsync($"/api/tasks/{multiId}")).GetProperty("request");
        Assert.Equal((832, 480), (request.GetProperty("width").GetInt32(), request.GetProperty("height").GetInt32()));

        // cancel: a pending (or running) task stops; a finished one cannot be cancelled; an unknown one is not found
        using (var cancel = await server.Http.PostAsync($"/api/v1/tasks/{multiId}/cancel", null))
        {
            Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
            var body = await cancel.Content.ReadFromJsonAsync<JsonElement>();
            Assert.True(Guid.TryParse(body.GetProperty("request_id").GetString(), out _));
        }
        var cancelled = await PollAsync(server, multiId, "CANCELED");
        Assert.True(cancelled.GetProperty("output").TryGetProperty("end_time", out _));
        Assert.False(cancelled.GetProperty("output").TryGetProperty("video_url", out _));
        fake.Hold.Set();
        await AssertError(await server.Http.PostAsync($"/api/v1/tasks/{firstId}/cancel", null), HttpStatusCode.BadRequest, "UnsupportedOperation", "Failed to cancel the task");
        await AssertError(await server.Http.PostAsync("/api/v1/tasks/video_nope/cancel", null), HttpStatusCode.NotFound, "NotFound", "was not found");
    }

    [Fact]
    public async Task TheRateLimitIsThrottlingRateQuota()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero), settings: new(Keys) { ["Canter:RateLimitPerMinute"] = "1" });
        server.Http.DefaultRequestHeaders.Authorization = new("Bearer", "key-one");
        Assert.Equal("UNKNOWN", (await server.GetAsync("/api/v1/tasks/video_nope")).GetProperty("output").GetProperty("task_status").GetString());
        using var limited = await server.Http.GetAsync("/api/v1/tasks/video_nope");
        Assert.True(limited.Headers.Contains("Retry-After"));
        await AssertError(limited, HttpStatusCode.TooManyRequests, "Throttling.RateQuota", "requests a minute");
    }

    [Fact]
    public async Task AFailedTaskSaysWhyInTheDashScopeShape()
    {
        await using var server = await TestServer.StartAsync(new FailingGenerator());
        var png = "data:image/png;base64," + Convert.ToBase64String(Media.Png(32, 32, 60));
        // the kf2v names of the first and last frame are read too
        var submitted = await SubmitAsync(server, $$$"""
            {"model": "wan2.2-kf2v-flash", "input": {"prompt": "A red ball bounces", "first_frame_url": "{{{png}}}", "last_frame_url": "{{{png}}}"}, "parameters": {"size": "32*32"}}
            """);
        var id = submitted.GetProperty("output").GetProperty("task_id").GetString()!;
        var request = (await server.GetAsync($"/api/tasks/{id}")).GetProperty("request");
        Assert.True(request.TryGetProperty("image", out _) && request.TryGetProperty("last_frame", out _), request.ToString());
        var failed = (await PollAsync(server, id, "FAILED")).GetProperty("output");
        Assert.Equal("InternalError", failed.GetProperty("code").GetString());
        Assert.Contains("the sampler ran out of memory", failed.GetProperty("message").GetString());
        Assert.False(failed.TryGetProperty("video_url", out _));
    }

    /// <summary>Validates like the shipped model, then fails as a generation can (out of memory, a crashed kernel).</summary>
    private sealed class FailingGenerator : Canter.Server.Generation.IVideoGenerator
    {
        public Canter.Server.Generation.GeneratorInfo Info => Shipped.Generator.Info;

        public void Validate(Canter.Training.Unified.GenerationRequest request) => Shipped.Generator.Validate(request);

        public Canter.Training.Unified.GenerationResult Generate(Canter.Training.Unified.GenerationRequest request, Action<int, int> progress, CancellationToken cancel) =>
            throw new InvalidOperationException("the sampler ran out of memory");
    }

    internal static async Task<JsonElement> SubmitAsync(TestServer server, string body)
    {
        using var response = await PostAsync(server, body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
        var json = JsonDocument.Parse(text).RootElement.Clone();
        Assert.Equal(["output", "request_id"], json.EnumerateObject().Select(p => p.Name).Order().ToArray());
        return json;
    }

    /// <summary>A submit as the documentation's curl sends it; <paramref name="key"/> null sends none (an open server ignores one).</summary>
    private static async Task<HttpResponseMessage> PostAsync(TestServer server, string body, bool async = true, string? key = "key-one")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Synthesis) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (async) request.Headers.Add("X-DashScope-Async", "enable");
        if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return await server.Http.SendAsync(request);
    }

    private static async Task<JsonElement> PollAsync(TestServer server, string id, string status)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var task = await server.GetAsync($"/api/v1/tasks/{id}");
            var now = task.GetProperty("output").GetProperty("task_status").GetString();
            if (now == status) return task;
            Assert.True(now is "PENDING" or "RUNNING", $"task {id} is {task}");
            if (clock.Elapsed > TimeSpan.FromSeconds(30)) throw new TimeoutException($"task {id} is still {task}");
            await Task.Delay(20);
        }
    }

    private static async Task<JsonElement> Owned(TestServer server, string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/tasks");
        request.Headers.Authorization = new("Bearer", key);
        using var response = await server.Http.SendAsync(request);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("data");
    }

    /// <summary>An error as the API writes it: exactly request_id, code and message, with the status that goes with the code.</summary>
    internal static async Task AssertError(HttpResponseMessage response, HttpStatusCode status, string code, string says)
    {
        using (response)
        {
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
            Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
            var error = JsonDocument.Parse(body).RootElement;
            Assert.Equal(["code", "message", "request_id"], error.EnumerateObject().Select(p => p.Name).Order().ToArray());
            Assert.True(Guid.TryParse(error.GetProperty("request_id").GetString(), out _), body);
            Assert.Equal(code, error.GetProperty("code").GetString());
            Assert.Contains(says, error.GetProperty("message").GetString(), StringComparison.OrdinalIgnoreCase);
        }
    }

    internal static byte[] Wav(double seconds)
    {
        var path = Path.Combine(Path.GetTempPath(), $"canter-{Guid.NewGuid():N}.wav");
        Canter.Media.Wav.Write(path, new AudioTrack(24000, Enumerable.Range(0, (int)(seconds * 24000)).Select(i => 0.3f * MathF.Sin(i * 0.03f)).ToArray()));
        try { return File.ReadAllBytes(path); }
        finally { File.Delete(path); }
    }
}
