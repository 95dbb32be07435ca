using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Canter.Media;
using static Canter.Server.Tests.TaskApiTests;

namespace Canter.Server.Tests;

/// <summary>
/// The boundary: every bad input is refused before a task exists, as ProblemDetails that say what is wrong and name
/// the field; uploads are judged by their content, not their name or declared type; inputs can be uploads, data URLs
/// or earlier results.
/// </summary>
public sealed class InputTests
{
    [Fact]
    public async Task BadRequestsAreProblemDetailsThatSayWhy()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero));
        var cases = new (string Body, string Says, string? Param)[]
        {
            ("{}", "a prompt is required", "prompt"),
            ("""{"prompt":"A ball","seconds":99}""", "seconds: 99 must be in [0.5, 15]", "seconds"),
            ("""{"prompt":"A ball","seconds":"soon"}""", "'soon' is not a number", "seconds"),
            ("""{"prompt":"A ball","size":"big"}""", "is not WIDTHxHEIGHT", "size"),
            ("""{"prompt":"A ball","size":"720x1280"}""", "multiples of 16", null),
            ("""{"prompt":"A ball","steps":0}""", "steps: 0 must be in [1, 200]", "steps"),
            ("""{"prompt":"A ball","steps":2.5}""", "is not a whole number", "steps"),
            ("""{"prompt":"A ball","sampler":"dpm"}""", "sampler 'dpm' is not euler, heun, dpm++2m or ab2", null),
            ("""{"prompt":"A ball","guidance_until":1.5}""", "guidance_until: 1.5 must be in [0, 1]", "guidance_until"),
            ("""{"prompt":"A ball","guidance_every":0}""", "guidance_every: 0 must be in [1, 8]", "guidance_every"),
            ("""{"prompt":"A ball","colour":"red"}""", "unknown field 'colour'", "colour"),
            ("""{"prompt":"A ball","fps":30}""", "24 frames per second", "fps"),
            ("""{"prompt":"A ball","edit":"task:x"}""", "has no edit mode", "edit"),
            ("""{"prompt":"A ball","model":"gpt-video"}""", "is not served here", "model"),
            ($$"""{"prompt":"{{new string('a', 2001)}}"}""", "over the limit of 2000", "prompt"),
            ($$"""{"prompt":"{{string.Join(' ', Enumerable.Repeat("red ball", 40))}}"}""", "tokens", null),
            ("""{"prompt":"A ball","image":"data:image/png;base64,aGVsbG8gd29ybGQ="}""", "image: not a readable image", null),
            ("""{"prompt":"A ball","image":"data:image/png;base64,@@@"}""", "not valid base64", "image"),
            ("""{"prompt":"A ball","image":"https://example.com/a.png"}""", "does not fetch URLs", "image"),
            ("""{"prompt":"A ball","image":"task:video_nope"}""", "task 'video_nope' was not found", "image"),
            ("""{"prompt":"A ball","image":"/etc/passwd"}""", "give a file upload, a data: URL", "image"),
            ("""{"prompt":"A ball","no_audio":"maybe"}""", "is not true or false", "no_audio"),
            ("[1, 2]", "must be a JSON object", null),
            ("""{"prompt":""", "not valid JSON", null),
        };
        foreach (var (body, says, param) in cases)
        {
            using var response = await server.Http.PostAsync("/api/tasks", new StringContent(body, Encoding.UTF8, "application/json"));
            var problem = await AssertProblem(response, HttpStatusCode.BadRequest, says);
            if (param is not null) Assert.Equal(param, problem.GetProperty("param").GetString());
        }
        using var plain = await server.Http.PostAsync("/api/tasks", new StringContent("A ball", Encoding.UTF8, "text/plain"));
        await AssertProblem(plain, HttpStatusCode.UnsupportedMediaType, "application/json or multipart/form-data");
        using var nowhere = await server.Http.GetAsync("/api/nothing-here");
        await AssertProblem(nowhere, HttpStatusCode.NotFound, "");
        Assert.Empty((await server.GetAsync("/api/tasks")).GetProperty("data").EnumerateArray());
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(server.DataDir, "inputs")));   // refused inputs are not kept
    }

    [Fact]
    public async Task UploadsAreJudgedByTheirContent()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero), settings: new() { ["Canter:MaxUploadBytes"] = "65536", ["Canter:MaxRequestBytes"] = "200000" });
        var png = Media.Png(32, 32, 90);
        var clip = Media.Mp4(server.DataDir, 32, 32);

        // a PNG named .txt and declared text/plain is an image
        using var form = Form(("prompt", "A red ball bounces"), ("size", "32x32"), ("seconds", "0.5"), ("steps", "2"));
        form.Add(File(png, "text/plain"), "image", "first.txt");
        form.Add(File(png, "image/png"), "refs", "a.png");
        form.Add(File(Media.Png(32, 32, 200), "image/png"), "refs", "b.png");
        var task = await Accepted(await server.Http.PostAsync("/api/tasks", form));
        var request = task.GetProperty("request");
        Assert.Equal("upload:first.txt", request.GetProperty("image").GetProperty("source").GetString());
        Assert.Equal(2, request.GetProperty("refs").GetArrayLength());
        Assert.Equal(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(png)).ToLowerInvariant(), request.GetProperty("image").GetProperty("sha256").GetString());
        await server.WaitForStateAsync(task.GetProperty("id").GetString()!, "succeeded");

        // a video named .png is not an image; bytes that are no picture at all are not either
        using var video = Form(("prompt", "A red ball bounces"), ("size", "32x32"));
        video.Add(File(clip, "image/png"), "image", "still.png");
        await AssertProblem(await server.Http.PostAsync("/api/tasks", video), HttpStatusCode.BadRequest, "is a video");
        using var noise = Form(("prompt", "A red ball bounces"), ("size", "32x32"));
        noise.Add(File(Encoding.UTF8.GetBytes("<html>not a picture</html>"), "image/png"), "image", "x.png");
        await AssertProblem(await server.Http.PostAsync("/api/tasks", noise), HttpStatusCode.BadRequest, "image: not a readable image");

        // limits: three references for a model that takes two; a file over the upload limit
        using var many = Form(("prompt", "A red ball bounces"), ("size", "32x32"));
        for (int i = 0; i < 3; i++) many.Add(File(png, "image/png"), "refs", $"{i}.png");
        await AssertProblem(await server.Http.PostAsync("/api/tasks", many), HttpStatusCode.BadRequest, "at most 2");
        using var big = Form(("prompt", "A red ball bounces"));
        big.Add(File(new byte[70000], "image/png"), "image", "big.png");
        await AssertProblem(await server.Http.PostAsync("/api/tasks", big), HttpStatusCode.RequestEntityTooLarge, "image: the file is over the limit of 64 KiB");
        using var huge = Form(("prompt", "A red ball bounces"));
        huge.Add(File(new byte[300_000], "image/png"), "image", "huge.png");
        await AssertProblem(await server.Http.PostAsync("/api/tasks", huge), HttpStatusCode.RequestEntityTooLarge, "over the server's limit");
        using var longValue = Form(("prompt", "A red ball bounces"), ("image", "data:image/png;base64," + new string('A', 150_000)));
        await AssertProblem(await server.Http.PostAsync("/api/tasks", longValue), HttpStatusCode.RequestEntityTooLarge, "limit");
    }

    [Fact]
    public async Task InputsCanBeDataUrlsOrEarlierResults()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero));
        var first = await server.SubmitAsync(new { prompt = "A red ball bounces", seconds = 1, size = "32x32", steps = 1 });
        var id = first.GetProperty("id").GetString()!;
        await server.WaitForStateAsync(id, "succeeded");

        var dataUrl = "data:image/png;base64," + Convert.ToBase64String(Media.Png(32, 32, 10));
        var withImages = await server.SubmitAsync(new { prompt = "A red ball bounces", seconds = 0.5, size = "32x32", steps = 1, image = dataUrl, last_frame = $"task:{id}" });
        Assert.Equal("data-url", withImages.GetProperty("request").GetProperty("image").GetProperty("source").GetString());
        Assert.Equal($"task:{id}/poster", withImages.GetProperty("request").GetProperty("last_frame").GetProperty("source").GetString());

        var continued = await server.SubmitAsync(new { prompt = "A red ball bounces", seconds = 2, size = "32x32", steps = 1, extend = $"task:{id}", audio = $"task:{id}/video" });
        Assert.Equal($"task:{id}/video", continued.GetProperty("request").GetProperty("extend").GetProperty("source").GetString());
        var done = await server.WaitForStateAsync(continued.GetProperty("id").GetString()!, "succeeded");
        var record = await server.GetAsync($"/api/tasks/{done.GetProperty("id").GetString()}/record");
        Assert.Equal($"task:{id}/video", record.GetProperty("extend").GetString());   // the record names where each input came from

        using var both = await server.Http.PostAsJsonAsync("/api/tasks", new { prompt = "A red ball bounces", size = "32x32", image = dataUrl, extend = $"task:{id}" });
        await AssertProblem(both, HttpStatusCode.BadRequest, "extend cannot be combined with image");
    }

    private static MultipartFormDataContent Form(params (string Name, string Value)[] fields)
    {
        var form = new MultipartFormDataContent();
        foreach (var (n, v) in fields) form.Add(new StringContent(v), n);
        return form;
    }

    private static ByteArrayContent File(byte[] bytes, string type)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue(type);
        return content;
    }

    private static async Task<JsonElement> Accepted(HttpResponseMessage response)
    {
        using (response)
        {
            var body = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.True(response.StatusCode == HttpStatusCode.Accepted, body.ToString());
            return body;
        }
    }
}

/// <summary>Small media files made on the spot.</summary>
internal static class Media
{
    public static byte[] Png(int width, int height, byte shade)
    {
        var pixels = new byte[width * height * 3];
        for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(shade + i % 7);
        using var stream = new MemoryStream();
        Canter.Media.Png.Write(stream, new RgbImage(width, height, pixels));
        return stream.ToArray();
    }

    public static byte[] Mp4(string dir, int width, int height)
    {
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, $"clip-{Guid.NewGuid():N}.mp4");
        var frame = new byte[width * height * 3];
        Mp4Writer.Write(path, new VideoClip(width, height, 24, Enumerable.Repeat(frame, 48).ToList()), null);
        var bytes = System.IO.File.ReadAllBytes(path);
        System.IO.File.Delete(path);
        return bytes;
    }
}
