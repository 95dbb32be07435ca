using Canter.Bench;
using Canter.Server.Tasks;

namespace Canter.Server.Tests;

/// <summary>
/// Nothing is lost across restarts: a task a dead server left running runs again (also when the server process is
/// really killed), a server that stops puts its running task back in the queue, and the store's transitions are atomic
/// and in order.
/// </summary>
public sealed class DurabilityTests
{
    private static readonly TaskSpec Spec = new("A red ball bounces", 32, 32, 0.5f, 3, 2, 3f, 1.5f, "", true, "heun");

    [Fact]
    public async Task ATaskLeftRunningByADeadServerRunsAgain()
    {
        var dir = TestServer.NewDataDir();
        using (var store = new SqliteTaskStore(Path.Combine(dir, "tasks.db")))
        {
            await store.AddAsync(new NewTask("video_crashed", Spec, "canter-tiny", "h", null, null));
            Assert.Equal(TaskState.Running, (await store.ClaimNextAsync())!.State);
            Directory.CreateDirectory(Path.Combine(dir, "results", "video_crashed"));
            File.WriteAllText(Path.Combine(dir, "results", "video_crashed", "video.mp4.partial-1.mp4"), "half a file");
        }   // the server died here, mid-generation

        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.FromMilliseconds(5)), dir);
        var task = await server.WaitForStateAsync("video_crashed", "succeeded");
        Assert.Equal(2, task.GetProperty("step").GetInt32());
        Assert.Equal(["manifest.json", "poster.png", "record.json", "spritesheet.png", "video.mp4"],
            Directory.EnumerateFiles(Path.Combine(dir, "results", "video_crashed")).Select(Path.GetFileName).Order());
    }

    /// <summary>
    /// The real thing: <c>canter serve</c> (SQLite, the shipped model) is killed with SIGKILL in the middle of a
    /// generation, with a second task queued behind it. What the user sees: the server is gone for a moment; started
    /// again on the same data folder, both tasks finish, each with a whole, playable MP4 (no half-written file is left
    /// or served), and the API answers for both as before.
    /// </summary>
    [Fact]
    public async Task AServerKilledMidGenerationLosesNothing()
    {
        var cli = TestCli.Built();
        var data = TestServer.NewDataDir();
        int port = ThrowawayPostgres.FreePort();
        string[] args = ["serve", "--port", port.ToString(), "--data", data, "--model", Shipped.ModelDir];
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
        try
        {
            string running, queued;
            using (var first = CliProcess.Start(cli, args))
            {
                await first.WaitForLineAsync("serving ", TimeSpan.FromSeconds(60));
                // enough steps that the kill lands mid-sampling
                running = await http.SubmitTaskAsync(new { prompt = "A red ball bounces", seconds = 1, size = "64x64", steps = 40, sampler = "euler", seed = 1 });
                queued = await http.SubmitTaskAsync(new { prompt = "A blue cube spins", seconds = 0.5, size = "32x32", steps = 2, seed = 2 });
                await http.WaitForTaskAsync(running, t => t.GetProperty("state").GetString() == "running" && t.GetProperty("step").GetInt32() >= 1, TimeSpan.FromSeconds(60));
                first.Process.Kill();   // SIGKILL: no shutdown, nothing handed back
                first.Process.WaitForExit(10_000);
                Assert.True(first.Process.HasExited);
            }
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => http.GetAsync($"/api/tasks/{running}"));

            using var second = CliProcess.Start(cli, args);
            await second.WaitForLineAsync("serving ", TimeSpan.FromSeconds(60));
            foreach (var id in new[] { running, queued })
            {
                var done = await http.WaitForTaskAsync(id, t => t.GetProperty("state").GetString() is "succeeded" or "failed" or "cancelled", TimeSpan.FromMinutes(3));
                Assert.Equal("succeeded", done.GetProperty("state").GetString());
                var video = Path.Combine(data, $"{id}.downloaded.mp4");
                await File.WriteAllBytesAsync(video, await http.GetByteArrayAsync($"/api/tasks/{id}/video"));
                Assert.Equal(("h264", "aac"), (Canter.Media.MediaProbe.Probe(video).VideoCodec, Canter.Media.MediaProbe.Probe(video).AudioCodec));
                Assert.DoesNotContain(Directory.EnumerateFiles(Path.Combine(data, "results", id)), f => f.Contains("partial", StringComparison.Ordinal));
            }
            Assert.Contains(second.Lines, l => l.Contains("went back to the queue", StringComparison.Ordinal));
        }
        finally
        {
            try { Directory.Delete(data, recursive: true); }
            catch (IOException) { }
        }
    }

    [Fact]
    public async Task AStoppingServerPutsItsRunningTaskBackInTheQueue()
    {
        var dir = TestServer.NewDataDir();
        var held = new FakeGenerator(TimeSpan.FromMilliseconds(5));
        string id;
        await using (var first = await TestServer.StartAsync(held, dir, keepData: true))
        {
            held.Hold.Reset();
            id = (await first.SubmitAsync(new { prompt = "A red ball bounces", seconds = 0.5, size = "32x32", steps = 4 })).GetProperty("id").GetString()!;
            await first.WaitForStateAsync(id, "running");
        }
        using (var store = new SqliteTaskStore(Path.Combine(dir, "tasks.db")))
            Assert.Equal(TaskState.Queued, (await store.GetAsync(id))!.State);

        await using var second = await TestServer.StartAsync(new FakeGenerator(TimeSpan.FromMilliseconds(5)), dir);
        await second.WaitForStateAsync(id, "succeeded");
    }

    [Fact]
    public async Task TheStoreMovesTasksInOrderAndOnlyForward()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            using var store = new SqliteTaskStore(Path.Combine(dir, "tasks.db"));
            for (int i = 0; i < 3; i++) await store.AddAsync(new NewTask($"t{i}", Spec with { Seed = (ulong)i }, "m", $"h{i}", "owner", $"key{i}"));
            var (again, created) = await store.AddAsync(new NewTask("t9", Spec, "m", "other", "owner", "key1"));
            Assert.False(created);
            Assert.Equal("t1", again.Id);
            Assert.True((await store.AddAsync(new NewTask("t3", Spec, "m", "h", "someone-else", "key1"))).Created);   // keys are per owner

            // the queue is fair between owners: each owner's oldest task first, then each one's second, ...
            Assert.Equal([1, 3, 4, 2], (await Task.WhenAll(new[] { "t0", "t1", "t2", "t3" }.Select(id => store.GetAsync(id)))).Select(t => t!.QueuePosition!.Value));
            Assert.Equal("t0", (await store.ClaimNextAsync())!.Id);
            Assert.Equal(1, (await store.GetAsync("t3"))!.QueuePosition);   // an owner with nothing running goes first
            Assert.Equal(2, (await store.GetAsync("t1"))!.QueuePosition);
            Assert.False(await store.ReportProgressAsync("t0", 1, 2));
            Assert.Equal(TaskState.Cancelled, (await store.RequestCancelAsync("t1"))!.State);   // queued: at once
            Assert.True((await store.RequestCancelAsync("t0"))!.CancelRequested);                // running: flagged
            Assert.True(await store.ReportProgressAsync("t0", 2, 2));                           // ... and the worker hears it
            Assert.True(await store.FinishAsync("t0", TaskState.Cancelled, "cancelled", "by request"));
            Assert.False(await store.FinishAsync("t0", TaskState.Succeeded));                   // finished is final
            Assert.False(await store.ReleaseAsync("t0"));
            Assert.Equal("t3", (await store.ClaimNextAsync())!.Id);   // one queue for every owner, taking turns
            Assert.Equal("t2", (await store.ClaimNextAsync())!.Id);
            Assert.Null(await store.ClaimNextAsync());
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
