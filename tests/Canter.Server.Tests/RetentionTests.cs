using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using static Canter.Server.Tests.TaskApiTests;

namespace Canter.Server.Tests;

/// <summary>
/// Results carry their expiry (expires_at on both APIs); once it passes, every download is a 410 Gone with code
/// result_expired (never a 404 or half a file), the sweeper removes the files, and the signed manifest stays.
/// </summary>
public sealed class RetentionTests
{
    [Fact]
    public async Task ExpiredResultsAreGoneWithAReason()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero),
            settings: new() { ["Canter:ResultRetention"] = "00:00:02", ["Canter:RetentionSweepInterval"] = "00:00:00.100" });
        var submitted = await server.SubmitAsync(new { prompt = "A red ball bounces", seconds = 0.5, size = "32x32", steps = 1 });
        Assert.Equal(JsonValueKind.Null, submitted.GetProperty("expires_at").ValueKind);   // nothing to expire yet
        var id = submitted.GetProperty("id").GetString()!;
        var done = await server.WaitForStateAsync(id, "succeeded");
        var completed = done.GetProperty("completed_at").GetDateTimeOffset();
        Assert.Equal(completed + TimeSpan.FromSeconds(2), done.GetProperty("expires_at").GetDateTimeOffset());
        var video = await server.GetAsync($"/v1/videos/{id}");
        Assert.Equal((completed + TimeSpan.FromSeconds(2)).ToUnixTimeSeconds(), video.GetProperty("expires_at").GetInt64());
        Assert.NotEmpty(await server.Http.GetByteArrayAsync($"/api/tasks/{id}/video"));   // before: the file

        var results = Path.Combine(server.DataDir, "results", id);
        await Receiver.EventuallyAsync(() => !File.Exists(Path.Combine(results, "video.mp4")), "the sweeper removes the expired video");
        foreach (var route in new[] { $"/api/tasks/{id}/video", $"/api/tasks/{id}/poster", $"/api/tasks/{id}/record", $"/v1/videos/{id}/content" })
        {
            var problem = await AssertProblem(await server.Http.GetAsync(route), HttpStatusCode.Gone, "expired");
            Assert.Equal("result_expired", problem.GetProperty("code").GetString());
        }
        Assert.Equal(["manifest.json"], Directory.EnumerateFiles(results).Select(Path.GetFileName));
        Assert.False(Directory.Exists(Path.Combine(server.DataDir, "inputs", id)));
        using var manifest = await server.Http.GetAsync($"/api/tasks/{id}/manifest");   // provenance outlives the video
        Assert.Equal(HttpStatusCode.OK, manifest.StatusCode);
        var refused = await AssertProblem(await server.Http.PostAsJsonAsync("/api/tasks", new { prompt = "A ball", size = "32x32", image = $"task:{id}" }),
            HttpStatusCode.BadRequest, "have expired");
        Assert.Equal("result_expired", refused.GetProperty("code").GetString());
    }

    [Fact]
    public async Task ExpiryIsDecidedByTheClockNotTheSweeper()
    {
        // no sweep within the test: the download is refused from the moment of expiry all the same
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero),
            settings: new() { ["Canter:ResultRetention"] = "00:00:01", ["Canter:RetentionSweepInterval"] = "01:00:00" });
        var id = (await server.SubmitAsync(new { prompt = "A red ball bounces", seconds = 0.5, size = "32x32", steps = 1 })).GetProperty("id").GetString()!;
        var done = await server.WaitForStateAsync(id, "succeeded");
        var wait = done.GetProperty("expires_at").GetDateTimeOffset() - DateTimeOffset.UtcNow;
        if (wait > TimeSpan.Zero) await Task.Delay(wait + TimeSpan.FromMilliseconds(50));
        await AssertProblem(await server.Http.GetAsync($"/api/tasks/{id}/video"), HttpStatusCode.Gone, "submit the request again");
        Assert.True(File.Exists(Path.Combine(server.DataDir, "results", id, "video.mp4")));
    }
}
