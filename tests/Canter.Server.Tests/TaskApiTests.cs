using Canter.Server.Tasks;
using Canter.Server.Api;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Canter.Media;

namespace Canter.Server.Tests;

/// <summary>
/// The native task API on the real app: a generation runs to a valid MP4 with its poster and record, a cancel stops a
/// running task within one sampling step, queued tasks know their place, the event stream follows a task to its end,
/// an idempotency key gives back the same task, API keys keep tasks apart.
/// </summary>
public sealed class TaskApiTests
{
    private static readonly object Tiny = new { prompt = "A red ball bounces", seconds = 0.5, size = "32x32", steps = 2 };

    [Fact]
    public async Task TheShippedModelRunsATaskToAValidMp4()
    {
        await using var server = await TestServer.StartAsync();
        var submitted = await server.SubmitAsync(Tiny);
        var id = submitted.GetProperty("id").GetString()!;
        Assert.Contains(submitted.GetProperty("state").GetString(), new[] { "queued", "running" });

        var steps = new List<int>();
        var done = await server.WaitAsync(id, t =>
        {
            steps.Add(t.GetProperty("step").GetInt32());
            return t.GetProperty("state").GetString() is "succeeded" or "failed";
        });
        Assert.Equal("succeeded", done.GetProperty("state").GetString());
        Assert.Equal(1.0, done.GetProperty("progress").GetDouble());
        Assert.Equal(steps.Order(), steps);   // progress never goes back

        var video = Path.Combine(server.DataDir, "downloaded.mp4");
        await File.WriteAllBytesAsync(video, await server.Http.GetByteArrayAsync($"/api/tasks/{id}/video"));
        var info = MediaProbe.Probe(video);
        Assert.Equal(("h264", "aac", 32, 32), (info.VideoCodec, info.AudioCodec, info.Width, info.Height));
        Assert.InRange(info.Seconds, 0.5, 0.6);
        Assert.Equal("true", info.Tags["ai_generated"]);   // provenance: marked as machine-generated

        var poster = await server.Http.GetByteArrayAsync($"/api/tasks/{id}/poster");
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], poster[..4]);
        var record = await server.GetAsync($"/api/tasks/{id}/record");
        Assert.Equal("A red ball bounces", record.GetProperty("prompt").GetString());
        Assert.Equal(Shipped.Generator.Info.WeightsSha256, record.GetProperty("weights_sha256").GetString());
        Assert.Equal(2, record.GetProperty("steps").GetInt32());
    }

    [Fact]
    public async Task ACancelStopsARunningTaskWithinOneStep()
    {
        var fake = new FakeGenerator(TimeSpan.FromMilliseconds(50));
        await using var server = await TestServer.StartAsync(fake);
        var id = (await server.SubmitAsync(new { prompt = "A red ball bounces", seconds = 0.5, size = "32x32", steps = 200 })).GetProperty("id").GetString()!;
        await server.WaitAsync(id, t => t.GetProperty("step").GetInt32() >= 2);

        using var cancel = await server.Http.PostAsync($"/api/tasks/{id}/cancel", null);
        int atCancel = fake.StepsRun;
        Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);
        var task = await server.WaitForStateAsync(id, "cancelled");
        Assert.InRange(fake.StepsRun - atCancel, 0, 1);
        Assert.Equal("cancelled", task.GetProperty("error").GetProperty("code").GetString());
        Assert.True(task.GetProperty("step").GetInt32() < 200);

        using var video = await server.Http.GetAsync($"/api/tasks/{id}/video");
        await AssertProblem(video, HttpStatusCode.Conflict, "cancelled");
        using var again = await server.Http.PostAsync($"/api/tasks/{id}/cancel", null);
        await AssertProblem(again, HttpStatusCode.Conflict, "nothing to cancel");
    }

    [Fact]
    public async Task QueuedTasksKnowTheirPlaceAndCancelAtOnce()
    {
        var fake = new FakeGenerator(TimeSpan.FromMilliseconds(5));
        fake.Hold.Reset();
        await using var server = await TestServer.StartAsync(fake);
        var ids = new List<string>();
        for (int i = 0; i < 3; i++) ids.Add((await server.SubmitAsync(new { prompt = "A red ball bounces", seconds = 0.5, size = "32x32", steps = 2, seed = i })).GetProperty("id").GetString()!);
        await server.WaitForStateAsync(ids[0], "running");
        Assert.Equal(1, (await server.GetAsync($"/api/tasks/{ids[1]}")).GetProperty("queue_position").GetInt32());
        Assert.Equal(2, (await server.GetAsync($"/api/tasks/{ids[2]}")).GetProperty("queue_position").GetInt32());
        Assert.Equal(JsonValueKind.Null, (await server.GetAsync($"/api/tasks/{ids[0]}")).GetProperty("queue_position").ValueKind);

        using var cancel = await server.Http.PostAsync($"/api/tasks/{ids[1]}/cancel", null);
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);   // done at once: 200, where a running task's cancel is 202
        Assert.Equal("cancelled", (await cancel.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("state").GetString());
        Assert.Equal(1, (await server.GetAsync($"/api/tasks/{ids[2]}")).GetProperty("queue_position").GetInt32());

        fake.Hold.Set();
        await server.WaitForStateAsync(ids[2], "succeeded");
        Assert.Equal("succeeded", (await server.GetAsync($"/api/tasks/{ids[0]}")).GetProperty("state").GetString());
        Assert.Equal("cancelled", (await server.GetAsync($"/api/tasks/{ids[1]}")).GetProperty("state").GetString());

        var list = await server.GetAsync("/api/tasks?order=asc");
        Assert.Equal(ids, list.GetProperty("data").EnumerateArray().Select(t => t.GetProperty("id").GetString()!));
        var cancelled = await server.GetAsync("/api/tasks?state=cancelled");
        Assert.Equal([ids[1]], cancelled.GetProperty("data").EnumerateArray().Select(t => t.GetProperty("id").GetString()!));

        using var delete = await server.Http.DeleteAsync($"/api/tasks/{ids[0]}");
        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        Assert.False(Directory.Exists(Path.Combine(server.DataDir, "results", ids[0])));
        using var gone = await server.Http.GetAsync($"/api/tasks/{ids[0]}");
        await AssertProblem(gone, HttpStatusCode.NotFound, "was not found");
    }

    [Fact]
    public async Task TheEventStreamFollowsATaskToItsEnd()
    {
        var fake = new FakeGenerator(TimeSpan.FromMilliseconds(250));
        fake.Hold.Reset();   // the stream opens before the first step
        await using var server = await TestServer.StartAsync(fake);
        var id = (await server.SubmitAsync(new { prompt = "A red ball bounces", seconds = 0.5, size = "32x32", steps = 6 })).GetProperty("id").GetString()!;

        using var response = await server.Http.GetAsync($"/api/tasks/{id}/events", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        fake.Hold.Set();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var events = new List<(string Name, JsonElement Task)>();
        string? name = null;
        while (await reader.ReadLineAsync() is { } line)   // the server ends the stream when the task has finished
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal)) name = line[7..];
            else if (line.StartsWith("data: ", StringComparison.Ordinal)) events.Add((name!, JsonDocument.Parse(line[6..]).RootElement.Clone()));
        }
        Assert.Equal("succeeded", events[^1].Name);
        Assert.Equal("succeeded", events[^1].Task.GetProperty("state").GetString());
        var steps = events.Where(e => e.Name == "running").Select(e => e.Task.GetProperty("step").GetInt32()).ToList();
        // the stream sends the latest state, so a busy machine may merge steps: at least one step between start and end
        Assert.True(steps.Count(s => s is > 0 and < 6) >= 1, $"running events with steps: {string.Join(",", steps)}");
        Assert.Equal(steps.Order(), steps);
        var progress = events.Select(e => e.Task.GetProperty("progress").GetDouble()).ToList();
        Assert.Equal(progress.Order(), progress);   // through sampling, decode and encode, never back
        Assert.All(events.Where(e => e.Name == "running"), e => Assert.True(e.Task.GetProperty("progress").GetDouble() < 1));
        Assert.Equal(1.0, progress[^1]);

        using var unknown = await server.Http.GetAsync("/api/tasks/video_nope/events");
        await AssertProblem(unknown, HttpStatusCode.NotFound, "was not found");
    }

    [Fact]
    public void ProgressCountsTheDecodeAndTheEncodeAfterTheSamplingSteps()
    {
        var spec = new TaskSpec("A ball", 32, 32, 1, 0, 4, 3, 1.5f, "", true, "heun");
        TaskRecord At(TaskState state, int step) => new("video_x", 1, state, spec, "m", step, spec.Steps + TaskRecord.FinishingUnits, null, null,
            DateTimeOffset.UnixEpoch, null, null, null, null, "h", null, false, null);
        var running = Enumerable.Range(0, 7).Select(step => At(TaskState.Running, step)).ToList();
        Assert.Equal(["sampling", "sampling", "sampling", "sampling", "decoding", "encoding", "encoding"], running.Select(t => t.Phase));
        Assert.Equal([0, 1 / 6.0, 2 / 6.0, 3 / 6.0, 4 / 6.0, 5 / 6.0, 1], running.Select(t => t.Progress));
        Assert.Equal([0, 1, 2, 3, 4, 4, 4], running.Select(t => t.SamplingStep));
        var view = TaskView.Of(At(TaskState.Running, 5));
        Assert.Equal((4, 4, "encoding"), (view.Step, view.Steps, view.Phase));   // the API's step and steps count sampling steps
        Assert.Equal(1, At(TaskState.Succeeded, 6).Progress);
        Assert.Null(At(TaskState.Queued, 0).Phase);
    }

    [Fact]
    public async Task AnIdempotencyKeyGivesBackTheSameTask()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.FromMilliseconds(5)));
        async Task<HttpResponseMessage> Post(object body)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/tasks") { Content = JsonContent.Create(body) };
            request.Headers.Add("Idempotency-Key", "retry-7");
            return await server.Http.SendAsync(request);
        }
        using var first = await Post(Tiny);
        using var second = await Post(Tiny);
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        var a = await first.Content.ReadFromJsonAsync<JsonElement>();
        var b = await second.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(a.GetProperty("id").GetString(), b.GetProperty("id").GetString());
        Assert.Equal($"/api/tasks/{a.GetProperty("id").GetString()}", first.Headers.Location?.ToString());

        using var other = await Post(new { prompt = "A blue star spins", seconds = 0.5, size = "32x32", steps = 2 });
        await AssertProblem(other, HttpStatusCode.Conflict, "was used for another request");
        Assert.Single((await server.GetAsync("/api/tasks")).GetProperty("data").EnumerateArray());
    }

    [Fact]
    public async Task ApiKeysAreRequiredAndKeepTasksApart()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.FromMilliseconds(5)),
            settings: new() { ["Canter:ApiKeys:0"] = "key-one", ["Canter:ApiKeys:1"] = "key-two" });
        using var anonymous = await server.Http.PostAsJsonAsync("/api/tasks", Tiny);
        await AssertProblem(anonymous, HttpStatusCode.Unauthorized, "requires an API key");
        using var wrong = new HttpRequestMessage(HttpMethod.Get, "/v1/videos");
        wrong.Headers.Authorization = new("Bearer", "key-three");
        await AssertProblem(await server.Http.SendAsync(wrong), HttpStatusCode.Unauthorized, "not valid");

        async Task<HttpResponseMessage> Send(HttpMethod method, string route, string key, object? body = null)
        {
            using var request = new HttpRequestMessage(method, route) { Content = body is null ? null : JsonContent.Create(body) };
            request.Headers.Authorization = new("Bearer", key);
            return await server.Http.SendAsync(request);
        }
        using var created = await Send(HttpMethod.Post, "/api/tasks", "key-one", Tiny);
        Assert.Equal(HttpStatusCode.Accepted, created.StatusCode);
        var id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
        using var mine = await Send(HttpMethod.Get, $"/api/tasks/{id}", "key-one");
        Assert.Equal(HttpStatusCode.OK, mine.StatusCode);
        using var theirs = await Send(HttpMethod.Get, $"/api/tasks/{id}", "key-two");
        Assert.Equal(HttpStatusCode.NotFound, theirs.StatusCode);
        using var theirList = await Send(HttpMethod.Get, "/v1/videos", "key-two");
        Assert.Empty((await theirList.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("data").EnumerateArray());
        using var theirDelete = await Send(HttpMethod.Delete, $"/api/tasks/{id}", "key-two");
        Assert.Equal(HttpStatusCode.NotFound, theirDelete.StatusCode);
    }

    /// <summary>A ProblemDetails response with this status whose detail says <paramref name="says"/>.</summary>
    internal static async Task<JsonElement> AssertProblem(HttpResponseMessage response, HttpStatusCode status, string says)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(body).RootElement.Clone();
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("title").GetString()));
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("code").GetString()));
        var detail = problem.TryGetProperty("detail", out var d) ? d.GetString() ?? "" : "";
        Assert.Contains(says, detail, StringComparison.OrdinalIgnoreCase);
        return problem;
    }
}
