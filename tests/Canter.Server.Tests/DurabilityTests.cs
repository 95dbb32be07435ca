using Canter.Server.Tasks;

namespace Canter.Server.Tests;

/// <summary>
/// Nothing is lost across restarts: a task a dead server left running runs again, a server that stops puts its
/// running task back in the queue, and the store's transitions are atomic and in order.
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
