using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Canter.Media;
using static Canter.Server.Tests.TaskApiTests;

namespace Canter.Server.Tests;

/// <summary>
/// The OpenAI-style /v1/videos routes answer with the shapes the official SDKs parse (openai-python's Video,
/// VideoDeleteResponse and SyncConversationCursorPage): create (JSON or multipart with input_reference), retrieve,
/// list with cursor paging, download the three variants, remix, delete, and errors with an error.message.
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
}
