using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Canter.Media;
using static Canter.Server.Tests.TaskApiTests;

namespace Canter.Server.Tests;

/// <summary>
/// The OpenAI-style /v1/videos routes answer with the shapes the official SDKs parse (openai-python's Video,
/// VideoDeleteResponse and SyncConversationCursorPage): create (JSON or multipart with input_reference), retrieve,
/// list with cursor paging, download the three variants, remix, delete, extensions, characters (as references) and
/// refused edits, and errors with an error.message.
/// </summary>
public sealed class VideoApiTests
{
    [Fact]
    public async Task CreateRetrieveAndDownloadHaveTheSdkShapes()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.FromMilliseconds(10)));
        var video = await server.SubmitAsync(new { prompt = "A red ball bounces", model = "sora-2", seconds = "1", size = "32x32" }, "/v1/videos");
        Assert.Equal("video", video.GetProperty("object").GetString());
        Assert.Contains(video.GetProperty("status").GetString(), new[] { "queued", "in_progress" });
        Assert.Equal(JsonValueKind.Number, video.GetProperty("progress").ValueKind);
        Assert.Equal(JsonValueKind.Number, video.GetProperty("created_at").ValueKind);
        Assert.Equal(JsonValueKind.Null, video.GetProperty("completed_at").ValueKind);
        Assert.Equal(JsonValueKind.Null, video.GetProperty("error").ValueKind);
        Assert.Equal(JsonValueKind.Null, video.GetProperty("remixed_from_video_id").ValueKind);
        Assert.Equal(("1", "32x32", "canter-tiny"), (video.GetProperty("seconds").GetString(), video.GetProperty("size").GetString(), video.GetProperty("model").GetString()));
        Assert.InRange(video.GetProperty("created_at").GetInt64(), DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);

        var id = video.GetProperty("id").GetString()!;
        var done = await server.WaitAsync(id, v => v.GetProperty("status").GetString() is "completed" or "failed", "/v1/videos/");
        Assert.Equal("completed", done.GetProperty("status").GetString());
        Assert.Equal(100, done.GetProperty("progress").GetInt32());
        Assert.True(done.GetProperty("completed_at").GetInt64() >= done.GetProperty("created_at").GetInt64());

        var path = Path.Combine(server.DataDir, "content.mp4");
        await File.WriteAllBytesAsync(path, await server.Http.GetByteArrayAsync($"/v1/videos/{id}/content"));
        var info = MediaProbe.Probe(path);
        Assert.Equal(("h264", 32, 32), (info.VideoCodec, info.Width, info.Height));
        foreach (var variant in new[] { "thumbnail", "spritesheet" })
        {
            using var image = await server.Http.GetAsync($"/v1/videos/{id}/content?variant={variant}");
            Assert.Equal("image/png", image.Content.Headers.ContentType?.MediaType);
        }
        using var gif = await server.Http.GetAsync($"/v1/videos/{id}/content?variant=gif");
        var problem = await AssertProblem(gif, HttpStatusCode.BadRequest, "not video, thumbnail or spritesheet");
        Assert.Equal("variant", problem.GetProperty("error").GetProperty("param").GetString());
        Assert.Contains("gif", problem.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal("invalid_request_error", problem.GetProperty("error").GetProperty("type").GetString());
    }

    [Fact]
    public async Task AnInputReferenceIsAnUploadOrAnImageUrl()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero));
        using var form = new MultipartFormDataContent
        {
            { new StringContent("A red ball bounces"), "prompt" },
            { new StringContent("32x32"), "size" },
            { new StringContent("4"), "seconds" },
            { new ByteArrayContent(Media.Png(32, 32, 60)), "input_reference", "first.png" },
        };
        using var created = await server.Http.PostAsync("/v1/videos", form);
        Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        Assert.Equal("upload:first.png", (await server.GetAsync($"/api/tasks/{id}")).GetProperty("request").GetProperty("image").GetProperty("source").GetString());

        var url = "data:image/png;base64," + Convert.ToBase64String(Media.Png(32, 32, 60));
        var byUrl = await server.SubmitAsync(new { prompt = "A red ball bounces", size = "32x32", input_reference = new { image_url = url } }, "/v1/videos");
        Assert.Equal("4", byUrl.GetProperty("seconds").GetString());

        using var byFile = await server.Http.PostAsJsonAsync("/v1/videos", new { prompt = "A red ball bounces", input_reference = new { file_id = "file-1" } });
        var problem = await AssertProblem(byFile, HttpStatusCode.BadRequest, "no file store");
        Assert.Contains("no file store", problem.GetProperty("error").GetProperty("message").GetString());
        using var wrongSize = await server.Http.PostAsJsonAsync("/v1/videos", new { prompt = "A red ball bounces", size = "1280x720" });
        await AssertProblem(wrongSize, HttpStatusCode.BadRequest, "multiples of 16, up to 1024x1024");
    }

    [Fact]
    public async Task ListPagesWithCursors()
    {
        var fake = new FakeGenerator(TimeSpan.Zero);
        fake.Hold.Reset();   // all five stay queued or running: paging must not depend on states
        await using var server = await TestServer.StartAsync(fake);
        var ids = new List<string>();
        for (int i = 0; i < 5; i++) ids.Add((await server.SubmitAsync(new { prompt = $"A red ball bounces", size = "32x32", seconds = "1" }, "/v1/videos")).GetProperty("id").GetString()!);

        async Task<(List<string> Ids, JsonElement Page)> Page(string query)
        {
            var page = await server.GetAsync("/v1/videos" + query);
            Assert.Equal("list", page.GetProperty("object").GetString());
            return (page.GetProperty("data").EnumerateArray().Select(v => v.GetProperty("id").GetString()!).ToList(), page);
        }
        var (one, p1) = await Page("?limit=2");
        Assert.Equal([ids[4], ids[3]], one);   // newest first by default
        Assert.True(p1.GetProperty("has_more").GetBoolean());
        Assert.Equal(ids[4], p1.GetProperty("first_id").GetString());
        var (two, p2) = await Page($"?limit=2&after={p1.GetProperty("last_id").GetString()}");
        Assert.Equal([ids[2], ids[1]], two);
        var (three, p3) = await Page($"?limit=2&after={p2.GetProperty("last_id").GetString()}");
        Assert.Equal([ids[0]], three);
        Assert.False(p3.GetProperty("has_more").GetBoolean());
        var (ascending, _) = await Page($"?order=asc&limit=3&after={ids[0]}");
        Assert.Equal(ids[1..4], ascending);
        var (all, _) = await Page("");
        Assert.Equal(5, all.Count);
        using var bad = await server.Http.GetAsync("/v1/videos?limit=0");
        await AssertProblem(bad, HttpStatusCode.BadRequest, "limit: 0 must be in [1, 100]");
        fake.Hold.Set();
    }

    [Fact]
    public async Task RemixCancelAndDelete()
    {
        var fake = new FakeGenerator(TimeSpan.Zero);
        await using var server = await TestServer.StartAsync(fake);
        var source = await server.SubmitAsync(new { prompt = "A red ball bounces", size = "32x32", seconds = "1" }, "/v1/videos");
        var id = source.GetProperty("id").GetString()!;
        await server.WaitAsync(id, v => v.GetProperty("status").GetString() == "completed", "/v1/videos/");

        var remix = await server.SubmitAsync(new { prompt = "A blue star spins" }, $"/v1/videos/{id}/remix");
        Assert.Equal(id, remix.GetProperty("remixed_from_video_id").GetString());
        Assert.Equal(("A blue star spins", "32x32", "1"), (remix.GetProperty("prompt").GetString(), remix.GetProperty("size").GetString(), remix.GetProperty("seconds").GetString()));
        using var remixUnknown = await server.Http.PostAsJsonAsync("/v1/videos/video_nope/remix", new { prompt = "A blue star spins" });
        await AssertProblem(remixUnknown, HttpStatusCode.NotFound, "was not found");

        // a cancelled task reads as failed with code "cancelled": the SDK knows no other end state
        fake.Hold.Reset();
        var held = (await server.SubmitAsync(new { prompt = "A red ball bounces", size = "32x32" }, "/v1/videos")).GetProperty("id").GetString()!;
        // the SDK downloads with Accept: application/binary; the refusal must still carry error.message, and say not to retry
        using var early = new HttpRequestMessage(HttpMethod.Get, $"/v1/videos/{held}/content");
        early.Headers.Accept.ParseAdd("application/binary");
        using var notYet = await server.Http.SendAsync(early);
        var conflict = await AssertProblem(notYet, HttpStatusCode.Conflict, "its files are ready when it has succeeded");
        Assert.Contains(held, conflict.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal("false", notYet.Headers.GetValues("x-should-retry").Single());
        using (await server.Http.PostAsync($"/api/tasks/{held}/cancel", null)) { }
        var cancelled = await server.WaitAsync(held, v => v.GetProperty("status").GetString() == "failed", "/v1/videos/");
        Assert.Equal("cancelled", cancelled.GetProperty("error").GetProperty("code").GetString());
        fake.Hold.Set();

        using var delete = await server.Http.DeleteAsync($"/v1/videos/{id}");
        var deleted = await delete.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((id, "video.deleted", true), (deleted.GetProperty("id").GetString(), deleted.GetProperty("object").GetString(), deleted.GetProperty("deleted").GetBoolean()));
        using var gone = await server.Http.GetAsync($"/v1/videos/{id}");
        var problem = await AssertProblem(gone, HttpStatusCode.NotFound, "was not found");
        Assert.Contains(id, problem.GetProperty("error").GetProperty("message").GetString());
        Assert.False(Directory.Exists(Path.Combine(server.DataDir, "results", id)));
    }

    [Fact]
    public async Task ExtensionsContinueACompletedVideoOrAnUploadedClip()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero));
        var source = (await server.SubmitAsync(new { prompt = "A red ball bounces", size = "32x32", seconds = "1" }, "/v1/videos")).GetProperty("id").GetString()!;
        await server.WaitAsync(source, v => v.GetProperty("status").GetString() == "completed", "/v1/videos/");

        // as the SDK sends it: multipart, the video as video[id]
        using var byId = new MultipartFormDataContent
        {
            { new StringContent("The ball rolls away"), "prompt" },
            { new StringContent("1"), "seconds" },
            { new StringContent(source), "video[id]" },
        };
        using var created = await server.Http.PostAsync("/v1/videos/extensions", byId);
        Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        var extension = await created.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(("video", "32x32", "The ball rolls away"), (extension.GetProperty("object").GetString(), extension.GetProperty("size").GetString(), extension.GetProperty("prompt").GetString()));
        // seconds is the stitched whole: the source's (25 frames at 24 fps) and the one asked for
        var seconds = double.Parse(extension.GetProperty("seconds").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(seconds, 2.0, 2.1);
        var id = extension.GetProperty("id").GetString()!;
        Assert.Equal($"task:{source}/video", (await server.GetAsync($"/api/tasks/{id}")).GetProperty("request").GetProperty("extend").GetProperty("source").GetString());
        await server.WaitAsync(id, v => v.GetProperty("status").GetString() == "completed", "/v1/videos/");
        var path = Path.Combine(server.DataDir, "extended.mp4");
        await File.WriteAllBytesAsync(path, await server.Http.GetByteArrayAsync($"/v1/videos/{id}/content"));
        Assert.InRange(MediaProbe.Probe(path).Seconds, 1.9, 2.2);

        // an uploaded clip (2 s at 48x32): its size is the extension's
        using var upload = new MultipartFormDataContent
        {
            { new StringContent("The ball rolls away"), "prompt" },
            { new StringContent("2"), "seconds" },
            { new ByteArrayContent(Media.Mp4(server.DataDir, 48, 32)), "video", "clip.mp4" },
        };
        using var uploaded = await server.Http.PostAsync("/v1/videos/extensions", upload);
        var fromUpload = await uploaded.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(uploaded.IsSuccessStatusCode, fromUpload.ToString());
        Assert.Equal(("48x32", "4"), (fromUpload.GetProperty("size").GetString(), fromUpload.GetProperty("seconds").GetString()));

        using var tooLong = await server.Http.PostAsJsonAsync("/v1/videos/extensions", new { prompt = "More", seconds = "14.5", video = new { id = source } });
        var problem = await AssertProblem(tooLong, HttpStatusCode.BadRequest, "over this model's 15 s");
        Assert.Equal("seconds", problem.GetProperty("error").GetProperty("param").GetString());
        using var unknown = await server.Http.PostAsJsonAsync("/v1/videos/extensions", new { prompt = "More", seconds = "4", video = new { id = "video_nope" } });
        await AssertProblem(unknown, HttpStatusCode.BadRequest, "video.id: task 'video_nope' was not found");
        using var none = await server.Http.PostAsJsonAsync("/v1/videos/extensions", new { prompt = "More", seconds = "4" });
        await AssertProblem(none, HttpStatusCode.BadRequest, "give the video to extend");
        using var noPrompt = await server.Http.PostAsJsonAsync("/v1/videos/extensions", new { seconds = "4", video = new { id = source } });
        await AssertProblem(noPrompt, HttpStatusCode.BadRequest, "prompt: a prompt is required");
    }

    [Fact]
    public async Task EditsAreRefusedByAModelWithoutEditMode()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero));
        using var form = new MultipartFormDataContent
        {
            { new StringContent("Make the ball blue"), "prompt" },
            { new ByteArrayContent(Media.Mp4(server.DataDir, 32, 32)), "video", "clip.mp4" },
        };
        using var edit = await server.Http.PostAsync("/v1/videos/edits", form);
        var problem = await AssertProblem(edit, HttpStatusCode.BadRequest, "video: this model has no edit mode");
        Assert.Equal(("unsupported", "video"), (problem.GetProperty("error").GetProperty("code").GetString(), problem.GetProperty("error").GetProperty("param").GetString()));
        using var byId = await server.Http.PostAsJsonAsync("/v1/videos/edits", new { prompt = "Make the ball blue", video = new { id = "video_1" } });
        await AssertProblem(byId, HttpStatusCode.BadRequest, "has no edit mode");
        using var odd = await server.Http.PostAsJsonAsync("/v1/videos/edits", new { prompt = "Make the ball blue", mask = "x" });
        await AssertProblem(odd, HttpStatusCode.BadRequest, "unknown field 'mask'");
        var all = await server.GetAsync("/v1/videos");
        Assert.Empty(all.GetProperty("data").EnumerateArray());
    }

    [Fact]
    public async Task CharactersBecomeReferenceImagesOfTheirKey()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero),
            settings: new() { ["Canter:ApiKeys:0"] = "key-one", ["Canter:ApiKeys:1"] = "key-two" });
        server.Http.DefaultRequestHeaders.Authorization = new("Bearer", "key-one");
        async Task<JsonElement> Create(string name, HttpContent file)
        {
            using var form = new MultipartFormDataContent { { new StringContent(name), "name" }, { file, "video", "subject" } };
            using var response = await server.Http.PostAsync("/v1/videos/characters", form);
            var json = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.True(response.IsSuccessStatusCode, json.ToString());
            return json;
        }
        var fromClip = await Create("Red ball", new ByteArrayContent(Media.Mp4(server.DataDir, 48, 32)));
        var fromImage = await Create("Blue star", new ByteArrayContent(Media.Png(40, 40, 90)));
        var id = fromClip.GetProperty("id").GetString()!;
        Assert.StartsWith("char_", id);
        Assert.Equal("Red ball", fromClip.GetProperty("name").GetString());
        Assert.InRange(fromClip.GetProperty("created_at").GetInt64(), DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 60, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);
        var read = await server.GetAsync($"/v1/videos/characters/{id}");
        Assert.Equal((id, "Red ball", fromClip.GetProperty("created_at").GetInt64()), (read.GetProperty("id").GetString(), read.GetProperty("name").GetString(), read.GetProperty("created_at").GetInt64()));
        // the reference kept is one frame of the clip, at the clip's size
        var reference = Canter.Media.MediaReader.ReadImage(Path.Combine(server.DataDir, "characters", id, "reference.png"));
        Assert.Equal((48, 32), (reference.Width, reference.Height));

        var video = await server.SubmitAsync(new { prompt = "The red ball meets the blue star", size = "32x32", seconds = "1",
            character_ids = new[] { id, fromImage.GetProperty("id").GetString() } }, "/v1/videos");
        var refs = (await server.GetAsync($"/api/tasks/{video.GetProperty("id").GetString()}")).GetProperty("request").GetProperty("refs");
        Assert.Equal([$"character:{id}", $"character:{fromImage.GetProperty("id").GetString()}"], refs.EnumerateArray().Select(r => r.GetProperty("source").GetString()!).ToArray());
        await server.WaitAsync(video.GetProperty("id").GetString()!, v => v.GetProperty("status").GetString() == "completed", "/v1/videos/");

        // another key sees no character, and cannot use it
        using var other = new HttpRequestMessage(HttpMethod.Get, $"/v1/videos/characters/{id}");
        other.Headers.Authorization = new("Bearer", "key-two");
        await AssertProblem(await server.Http.SendAsync(other), HttpStatusCode.NotFound, "was not found");
        using var borrow = new HttpRequestMessage(HttpMethod.Post, "/v1/videos") { Content = JsonContent.Create(new { prompt = "A ball", size = "32x32", character_ids = new[] { id } }) };
        borrow.Headers.Authorization = new("Bearer", "key-two");
        await AssertProblem(await server.Http.SendAsync(borrow), HttpStatusCode.BadRequest, $"character_ids: character '{id}' was not found");
        using var noKey = new HttpClient { BaseAddress = server.Http.BaseAddress };
        await AssertProblem(await noKey.GetAsync($"/v1/videos/characters/{id}"), HttpStatusCode.Unauthorized, "requires an API key");

        // the model takes two references: a third character is refused before a task exists
        var third = await Create("Green cube", new ByteArrayContent(Media.Png(32, 32, 30)));
        using var many = await server.Http.PostAsJsonAsync("/v1/videos", new { prompt = "Three friends", size = "32x32",
            character_ids = new[] { id, fromImage.GetProperty("id").GetString(), third.GetProperty("id").GetString() } });
        await AssertProblem(many, HttpStatusCode.BadRequest, "at most 2");

        using var noName = new MultipartFormDataContent { { new ByteArrayContent(Media.Png(32, 32, 30)), "video", "x.png" } };
        await AssertProblem(await server.Http.PostAsync("/v1/videos/characters", noName), HttpStatusCode.BadRequest, "name: a name is required");
        using var noVideo = new MultipartFormDataContent { { new StringContent("Nobody"), "name" } };
        await AssertProblem(await server.Http.PostAsync("/v1/videos/characters", noVideo), HttpStatusCode.BadRequest, "video: give the clip");
        using var noise = new MultipartFormDataContent { { new StringContent("Noise"), "name" }, { new ByteArrayContent(new byte[4096]), "video", "noise.bin" } };
        await AssertProblem(await server.Http.PostAsync("/v1/videos/characters", noise), HttpStatusCode.BadRequest, "not a readable clip or image");
        await AssertProblem(await server.Http.GetAsync("/v1/videos/characters/char_nope"), HttpStatusCode.NotFound, "was not found");
        await AssertProblem(await server.Http.GetAsync("/v1/videos/characters/..%2F..%2Ftasks.db"), HttpStatusCode.NotFound, "was not found");
        // refused characters leave nothing behind
        Assert.Equal(3, Directory.GetDirectories(Path.Combine(server.DataDir, "characters")).Length);
    }
}
