using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Canter.Media;
using Canter.Models.Unified;
using Canter.Server.Generation;
using Canter.Training.Unified;
using static Canter.Server.Tests.TaskApiTests;

namespace Canter.Server.Tests;

/// <summary>
/// Video editing on the three APIs (native <c>edit</c>, OpenAI's <c>/v1/videos/edits</c>, Model Studio's media type
/// <c>video</c>): the shipped model, trained before edit mode, refuses each at submit with the model's reason and queues
/// nothing; a model with edit mode takes each, reads the source at the request's size, and records where it came from.
/// </summary>
public sealed class EditTests(EditModel edit) : IClassFixture<EditModel>
{
    private const string Synthesis = "/api/v1/services/aigc/video-generation/video-synthesis";

    [Fact]
    public async Task TheShippedModelRefusesAnEditOnEveryApiBeforeATaskExists()
    {
        await using var server = await TestServer.StartAsync();   // the shipped model itself: Edit = false in its config
        Assert.False((await server.GetAsync("/api/model")).GetProperty("edit").GetBoolean());
        var clip = Convert.ToBase64String(EditModel.Clip(server.DataDir, 1f));

        using var native = await server.Http.PostAsJsonAsync("/api/tasks", new { prompt = "Make the ball blue", edit = "data:video/mp4;base64," + clip, size = "32x32" });
        var problem = await AssertProblem(native, HttpStatusCode.BadRequest, "edit: " + UnifiedConfig.NoEditMode);
        Assert.Equal("edit", problem.GetProperty("param").GetString());

        using var form = new MultipartFormDataContent
        {
            { new StringContent("Make the ball blue"), "prompt" },
            { new ByteArrayContent(Convert.FromBase64String(clip)), "video", "clip.mp4" },
        };
        using var openAi = await server.Http.PostAsync("/v1/videos/edits", form);
        var error = (await AssertProblem(openAi, HttpStatusCode.BadRequest, "video: " + UnifiedConfig.NoEditMode)).GetProperty("error");
        Assert.Equal(("unsupported", "video"), (error.GetProperty("code").GetString(), error.GetProperty("param").GetString()));
        Assert.Contains(UnifiedConfig.NoEditMode, error.GetProperty("message").GetString());

        var body = $$$"""{"model": "wan2.7-videoedit", "input": {"prompt": "Make it blue", "media": [{"type": "video", "url": "data:video/mp4;base64,{{{clip}}}"}]}}""";
        using var dashScope = new HttpRequestMessage(HttpMethod.Post, Synthesis) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        dashScope.Headers.Add("X-DashScope-Async", "enable");
        await DashScopeTests.AssertError(await server.Http.SendAsync(dashScope), HttpStatusCode.BadRequest, "InvalidParameter", UnifiedConfig.NoEditMode);

        Assert.Empty((await server.GetAsync("/api/tasks")).GetProperty("data").EnumerateArray());
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(server.DataDir, "inputs")));   // no source kept
    }

    [Fact]
    public async Task AModelWithEditModeEditsOnEveryApiAndRecordsTheSource()
    {
        await using var server = await TestServer.StartAsync(edit.Generator);
        Assert.True((await server.GetAsync("/api/model")).GetProperty("edit").GetBoolean());

        // native: an uploaded source with sound, read at the asked 32x32 (it is 48x32), its sound kept
        using var form = new MultipartFormDataContent
        {
            { new StringContent("Make the red ball blue."), "prompt" },
            { new StringContent("32x32"), "size" },
            { new StringContent("0.5"), "seconds" },
            { new StringContent("1"), "steps" },
            { new StringContent("1.5"), "source_guidance" },
            { new StringContent("0.6"), "edit_strength" },
            { new ByteArrayContent(EditModel.Clip(server.DataDir, 1f, width: 48)), "edit", "source.mp4" },
        };
        using var submitted = await server.Http.PostAsync("/api/tasks", form);
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        var nativeId = (await submitted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        await server.WaitForStateAsync(nativeId, "succeeded");
        var record = await server.GetAsync($"/api/tasks/{nativeId}/record");
        Assert.Equal(("upload:source.mp4", 1.5f, 32), (record.GetProperty("edit").GetString(), record.GetProperty("source_guidance").GetSingle(), record.GetProperty("width").GetInt32()));
        Assert.Equal(0.6f, record.GetProperty("edit_strength").GetSingle());

        // OpenAI: the native edit's result by its id, at its size and length
        using var openAi = await server.Http.PostAsJsonAsync("/v1/videos/edits", new { prompt = "Make the red ball green.", video = new { id = nativeId } });
        Assert.True(openAi.IsSuccessStatusCode, await openAi.Content.ReadAsStringAsync());
        var video = await openAi.Content.ReadFromJsonAsync<JsonElement>();
        var openAiId = video.GetProperty("id").GetString()!;
        Assert.Equal("32x32", video.GetProperty("size").GetString());
        await server.WaitForStateAsync(openAiId, "succeeded");
        record = await server.GetAsync($"/api/tasks/{openAiId}/record");
        Assert.Equal(($"task:{nativeId}/video", 1f), (record.GetProperty("edit").GetString(), record.GetProperty("source_guidance").GetSingle()));

        // Model Studio: a data: URL as the media item of type video, at the asked size and length
        var clip = Convert.ToBase64String(EditModel.Clip(server.DataDir, 1f));
        var body = $$$"""
            {"model": "wan2.7-videoedit", "input": {"prompt": "Make it blue", "media": [{"type": "video", "url": "data:video/mp4;base64,{{{clip}}}"}]},
             "parameters": {"size": "32*32", "duration": 0.5}}
            """;
        using var request = new HttpRequestMessage(HttpMethod.Post, Synthesis) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("X-DashScope-Async", "enable");
        using var dashScope = await server.Http.SendAsync(request);
        Assert.True(dashScope.IsSuccessStatusCode, await dashScope.Content.ReadAsStringAsync());
        var dashScopeId = (await dashScope.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("output").GetProperty("task_id").GetString()!;
        await server.WaitForStateAsync(dashScopeId, "succeeded");
        record = await server.GetAsync($"/api/tasks/{dashScopeId}/record");
        Assert.Equal("data-url", record.GetProperty("edit").GetString());
        Assert.Equal("data-url", (await server.GetAsync($"/api/tasks/{dashScopeId}")).GetProperty("request").GetProperty("edit").GetProperty("source").GetString());
    }

    [Fact]
    public async Task AModelWithEditModeStillRefusesABadEditAtSubmit()
    {
        await using var server = await TestServer.StartAsync(edit.Generator);
        var clip = "data:video/mp4;base64," + Convert.ToBase64String(EditModel.Clip(server.DataDir, 1f));
        // too short a source for the asked length, edit with a first frame, source guidance without a source
        using var tooLong = await server.Http.PostAsJsonAsync("/api/tasks", new { prompt = "Make it blue", edit = clip, size = "32x32", seconds = 3 });
        await AssertProblem(tooLong, HttpStatusCode.BadRequest, "an edit of 3 s needs");
        var png = "data:image/png;base64," + Convert.ToBase64String(Media.Png(32, 32, 60));
        using var both = await server.Http.PostAsJsonAsync("/api/tasks", new { prompt = "Make it blue", edit = clip, image = png, size = "32x32", seconds = 0.5 });
        await AssertProblem(both, HttpStatusCode.BadRequest, "edit cannot be combined with image");
        using var alone = await server.Http.PostAsJsonAsync("/api/tasks", new { prompt = "Make it blue", source_guidance = 2 });
        await AssertProblem(alone, HttpStatusCode.BadRequest, "source_guidance: applies to an edit only");
        using var strengthAlone = await server.Http.PostAsJsonAsync("/api/tasks", new { prompt = "Make it blue", edit_strength = 0.5 });
        await AssertProblem(strengthAlone, HttpStatusCode.BadRequest, "edit_strength: applies to an edit only");
        using var strengthZero = await server.Http.PostAsJsonAsync("/api/tasks", new { prompt = "Make it blue", edit = clip, size = "32x32", seconds = 0.5, edit_strength = 0 });
        await AssertProblem(strengthZero, HttpStatusCode.BadRequest, "edit_strength");
        using var notVideo = await server.Http.PostAsJsonAsync("/v1/videos/edits", new { prompt = "Make it blue", video = png });
        await AssertProblem(notVideo, HttpStatusCode.BadRequest, "video: the file has no video stream");
        Assert.Empty((await server.GetAsync("/api/tasks")).GetProperty("data").EnumerateArray());
    }
}

/// <summary>
/// A model folder with edit mode, built without training: the shipped model's autoencoders and sizes, and a transformer
/// of the shipped config with <c>Edit = true</c> from a random start. It only has to run an edit (no edit pair needs a
/// parameter of its own, so the folder loads and samples as a trained one would), not to edit well.
/// </summary>
public sealed class EditModel : IDisposable
{
    public EditModel()
    {
        Dir = Path.Combine(Path.GetTempPath(), $"canter-edit-model-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Dir);
        foreach (var file in new[] { "video_vae.json", "video_vae.safetensors", "audio_vae.json", "audio_vae.safetensors" })
            File.Copy(Path.Combine(Shipped.ModelDir, file), Path.Combine(Dir, file));
        var shipped = ModelBundle.ReadManifest(Shipped.ModelDir);
        var config = shipped.Config with { Edit = true };
        ModelBundle.Save(Dir, new UnifiedTransformer(config, seed: 3), shipped with { Config = config, Steps = 0 });
        Generator = new ModelGenerator(Dir);
    }

    public string Dir { get; }

    internal ModelGenerator Generator { get; }

    /// <summary>An MP4 of <paramref name="seconds"/> at 24 fps with a tone at 24 kHz: a source with picture and sound.</summary>
    public static byte[] Clip(string dir, float seconds, int width = 32, int height = 32)
    {
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, $"source-{Guid.NewGuid():N}.mp4");
        var frames = Enumerable.Range(0, (int)(seconds * 24)).Select(f =>
        {
            var pixels = new byte[width * height * 3];
            for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(i % 3 == 0 ? 200 : 30 + f * 4);
            return pixels;
        }).ToList();
        var sound = new AudioTrack(24000, Enumerable.Range(0, (int)(seconds * 24000)).Select(i => 0.3f * MathF.Sin(i * 0.05f)).ToArray());
        Mp4Writer.Write(path, new VideoClip(width, height, 24, frames), sound);
        try { return File.ReadAllBytes(path); }
        finally { File.Delete(path); }
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); }
        catch (IOException) { }
    }
}
