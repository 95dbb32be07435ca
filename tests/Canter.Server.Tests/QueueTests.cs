using Canter.Server.Keys;
using Canter.Training.Unified;

namespace Canter.Server.Tests;

/// <summary>
/// The queue between keys and the workers: one key's many tasks do not starve another key's one, queue positions
/// follow that order, several workers generate at once, and the shipped model gives the same clips when two
/// generations share it at once.
/// </summary>
public sealed class QueueTests
{
    [Fact]
    public async Task AKeyWithOneTaskIsNotStarvedByAKeyWithFive()
    {
        var fake = new FakeGenerator(TimeSpan.FromMilliseconds(2));
        fake.Hold.Reset();
        var dir = TestServer.NewDataDir();
        var (_, alice) = await KeyAdmin.CreateAsync(dir, "alice", new KeyLimits());
        var (_, bob) = await KeyAdmin.CreateAsync(dir, "bob", new KeyLimits());
        await using var server = await TestServer.StartAsync(fake, dataDir: dir);
        var a = new KeyedClient(server, alice);
        var b = new KeyedClient(server, bob);
        var mine = new List<string>();
        for (int i = 0; i < 5; i++) mine.Add(await a.SubmitAsync(new { prompt = "A red ball bounces", seconds = 0.5, size = "32x32", steps = 2, seed = i }));
        var theirs = await b.SubmitAsync();
        await a.WaitForStateAsync(mine[0], "running");

        // positions are the fair order: bob's task is next, then alice's in turn
        Assert.Equal(1, (await b.GetAsync($"/api/tasks/{theirs}")).GetProperty("queue_position").GetInt32());
        for (int i = 1; i < 5; i++) Assert.Equal(i + 1, (await a.GetAsync($"/api/tasks/{mine[i]}")).GetProperty("queue_position").GetInt32());

        fake.Hold.Set();
        var started = new List<(DateTimeOffset At, string Id)>();
        foreach (var id in mine) started.Add(((await a.WaitForStateAsync(id, "succeeded")).GetProperty("started_at").GetDateTimeOffset(), id));
        started.Add(((await b.WaitForStateAsync(theirs, "succeeded")).GetProperty("started_at").GetDateTimeOffset(), theirs));
        Assert.Equal([mine[0], theirs, mine[1], mine[2], mine[3], mine[4]], started.OrderBy(s => s.At).Select(s => s.Id));
    }

    [Fact]
    public async Task TwoWorkersRunTwoTasksAtOnce()
    {
        var fake = new FakeGenerator(TimeSpan.FromMilliseconds(2));
        fake.Hold.Reset();
        await using var server = await TestServer.StartAsync(fake, settings: new() { ["Canter:Workers"] = "2" });
        var open = new KeyedClient(server, null);
        var ids = new List<string>();
        for (int i = 0; i < 3; i++) ids.Add(await open.SubmitAsync(new { prompt = "A red ball bounces", seconds = 0.5, size = "32x32", steps = 2, seed = i }));
        await open.WaitForStateAsync(ids[0], "running");
        await open.WaitForStateAsync(ids[1], "running");
        var third = await open.GetAsync($"/api/tasks/{ids[2]}");
        Assert.Equal("queued", third.GetProperty("state").GetString());   // two workers, not more
        Assert.Equal(1, third.GetProperty("queue_position").GetInt32());
        fake.Hold.Set();
        foreach (var id in ids) await open.WaitForStateAsync(id, "succeeded");
    }

    [Fact]
    public async Task TheShippedModelGivesTheSameClipsWhenTwoGenerationsShareIt()
    {
        var model = Shipped.Generator;
        var requests = new[]
        {
            new GenerationRequest("A red ball bounces", 32, 32, 0.5f, Seed: 1, Steps: 2),
            new GenerationRequest("A blue star spins", 32, 32, 0.5f, Seed: 2, Steps: 2),
        };
        var alone = requests.Select(r => model.Generate(r, (_, _) => { }, CancellationToken.None)).ToList();
        using var start = new Barrier(2);
        var together = await Task.WhenAll(requests.Select(r => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            return model.Generate(r, (_, _) => { }, CancellationToken.None);
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)));
        for (int i = 0; i < requests.Length; i++)
        {
            Assert.Equal(alone[i].Video.Frames.Count, together[i].Video.Frames.Count);
            for (int f = 0; f < alone[i].Video.Frames.Count; f++) Assert.Equal(alone[i].Video.Frames[f], together[i].Video.Frames[f]);
            Assert.Equal(alone[i].Audio!.Samples, together[i].Audio!.Samples);
        }
        Assert.NotEqual(alone[0].Video.Frames[^1], alone[1].Video.Frames[^1]);   // two different clips, so a mix-up would show
    }
}
