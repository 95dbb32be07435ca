using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Canter.Bench;
using Canter.Server.Tasks;
using Npgsql;

namespace Canter.Server.Tests;

/// <summary>
/// Scale-out on PostgreSQL: the store keeps the contract SQLite keeps, claims are exclusive under races, a dead
/// worker's lease runs out and its task runs again elsewhere, changes reach other processes, and whole servers and
/// workers as separate processes lose no task when a worker is killed outright.
/// </summary>
[Trait("Category", "Postgres")]
public sealed class PostgresTests(PostgresFixture pg) : IClassFixture<PostgresFixture>
{
    private static readonly TaskSpec Spec = new("A red ball bounces", 32, 32, 0.5f, 3, 2, 3f, 1.5f, "", true, "heun");

    private static NewTask New(string id, string? owner = "owner", string? key = null) => new(id, Spec, "m", "h-" + id, owner, key);

    /// <summary>A store of <paramref name="kind"/>, and a maker of more instances on the same data (other workers).</summary>
    private async Task<(ITaskStore Store, Func<ITaskStore> Another, Action Cleanup)> StoreAsync(string kind)
    {
        if (kind == "sqlite")
        {
            var dir = TestServer.NewDataDir();
            var store = new SqliteTaskStore(Path.Combine(dir, "tasks.db"));
            return (store, () => throw new NotSupportedException("SQLite is one process"), () => { store.Dispose(); Directory.Delete(dir, true); });
        }
        var db = await pg.NewDatabaseAsync();
        var made = new List<PostgresTaskStore> { new(db, worker: "worker-1") };
        return (made[0], () => { var s = new PostgresTaskStore(db, worker: $"worker-{made.Count + 1}"); made.Add(s); return s; },
            () => made.ForEach(s => s.Dispose()));
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task TheStoreContractHoldsOnBothStores(string kind)
    {
        var (store, another, cleanup) = await StoreAsync(kind);
        try
        {
            // idempotency is per owner
            for (int i = 0; i < 3; i++) Assert.True((await store.AddAsync(New($"t{i}", key: $"key{i}"))).Created);
            var (again, created) = await store.AddAsync(new NewTask("t9", Spec, "m", "other", "owner", "key1"));
            Assert.False(created);
            Assert.Equal(("t1", "h-t1"), (again.Id, again.RequestHash));
            Assert.True((await store.AddAsync(New("t3", owner: "someone-else", key: "key1"))).Created);
            Assert.True((await store.AddAsync(New("t4", owner: null, key: "key1"))).Created);
            Assert.False((await store.AddAsync(New("t5", owner: null, key: "key1"))).Created);
            Assert.Null(await store.GetAsync("t9"));

            // queue positions count in the fair order: each owner's oldest task first (t0, then t3 and t4, never served), then the rest
            Assert.Equal([1, 4, 5, 2, 3], (await Task.WhenAll(new[] { "t0", "t1", "t2", "t3", "t4" }.Select(id => store.GetAsync(id)))).Select(t => t!.QueuePosition!.Value));

            // paging by sequence: newest first by default, the cursor is the last id, a vanished cursor is an empty page
            var first = await store.ListAsync(new TaskQuery("owner", Limit: 2));
            Assert.Equal(["t2", "t1"], first.Tasks.Select(t => t.Id));
            Assert.True(first.HasMore);
            var second = await store.ListAsync(new TaskQuery("owner", After: "t1", Limit: 2));
            Assert.Equal(["t0"], second.Tasks.Select(t => t.Id));
            Assert.False(second.HasMore);
            Assert.Equal(["t0", "t1", "t2"], (await store.ListAsync(new TaskQuery("owner", Limit: 5, Ascending: true))).Tasks.Select(t => t.Id));
            Assert.Equal(["t2"], (await store.ListAsync(new TaskQuery("owner", After: "t1", Ascending: true))).Tasks.Select(t => t.Id));
            Assert.Empty((await store.ListAsync(new TaskQuery("owner", After: "nope"))).Tasks);
            Assert.Equal(["t4"], (await store.ListAsync(new TaskQuery(null))).Tasks.Select(t => t.Id));

            // claims take the head of the fair order; progress, cancel of queued (at once) and running (flagged)
            var claimed = (await store.ClaimNextAsync())!;
            Assert.Equal(("t0", TaskState.Running, (int?)null), (claimed.Id, claimed.State, claimed.QueuePosition));
            Assert.NotNull(claimed.StartedAt);
            Assert.Equal(3, (await store.GetAsync("t1"))!.QueuePosition);   // behind t3 and t4: its owner has one running
            Assert.False(await store.ReportProgressAsync("t0", 1, 2));
            Assert.Equal((1, 2), ((await store.GetAsync("t0"))!.Step, (await store.GetAsync("t0"))!.Steps));
            Assert.Equal(["t1", "t2"], (await store.ListAsync(new TaskQuery("owner", State: TaskState.Queued, Ascending: true))).Tasks.Select(t => t.Id));
            var cancelled = (await store.RequestCancelAsync("t1"))!;
            Assert.Equal((TaskState.Cancelled, "cancelled"), (cancelled.State, cancelled.ErrorCode));
            Assert.NotNull(cancelled.CompletedAt);
            Assert.True((await store.RequestCancelAsync("t0"))!.CancelRequested);
            Assert.Equal(TaskState.Running, (await store.GetAsync("t0"))!.State);
            Assert.True(await store.ReportProgressAsync("t0", 2, 2));
            Assert.Empty(await store.HeartbeatAsync(["t0"]));
            Assert.True(await store.FinishAsync("t0", TaskState.Cancelled, "cancelled", "by request"));
            Assert.False(await store.FinishAsync("t0", TaskState.Succeeded));   // finished is final
            Assert.False(await store.ReleaseAsync("t0"));
            Assert.Equal(["t0"], await store.HeartbeatAsync(["t0"]));

            // release puts a running task back at its place (t3: its owner has never been served); success completes its steps
            Assert.Equal("t3", (await store.ClaimNextAsync())!.Id);
            Assert.True(await store.ReleaseAsync("t3"));
            Assert.Equal((TaskState.Queued, 1), ((await store.GetAsync("t3"))!.State, (await store.GetAsync("t3"))!.QueuePosition));
            Assert.Equal("t3", (await store.ClaimNextAsync())!.Id);
            Assert.False(await store.ReportProgressAsync("t3", 1, 2));
            if (store.Lease is not null)
            {
                // another worker cannot touch what this one holds
                var other = another();
                Assert.False(await other.FinishAsync("t3", TaskState.Failed, "x", "y"));
                Assert.False(await other.ReleaseAsync("t3"));
                Assert.True(await other.ReportProgressAsync("t3", 2, 2));   // "stop": not yours
                Assert.Equal(["t3"], await other.HeartbeatAsync(["t3"]));
                Assert.Equal(0, await other.RequeueInterruptedAsync());   // a live lease stays
                Assert.Equal(TaskState.Running, (await other.GetAsync("t3"))!.State);
                Assert.Equal("t4", (await other.ClaimNextAsync())!.Id);
                Assert.True(await other.FinishAsync("t4", TaskState.Failed, "internal_error", "boom"));
                Assert.Equal(("internal_error", "boom"), ((await store.GetAsync("t4"))!.ErrorCode, (await store.GetAsync("t4"))!.Error));
            }
            Assert.True(await store.FinishAsync("t3", TaskState.Succeeded));
            var done = (await store.GetAsync("t3"))!;
            Assert.Equal((TaskState.Succeeded, 2, 1.0), (done.State, done.Step, done.Progress));

            // delete
            Assert.True(await store.DeleteAsync("t3"));
            Assert.False(await store.DeleteAsync("t3"));
            Assert.Null(await store.GetAsync("t3"));
            Assert.Empty((await store.ListAsync(new TaskQuery("someone-else", After: "t3"))).Tasks);
        }
        finally { cleanup(); }
    }

    [Fact]
    public async Task FourClaimersRacingOverFiftyTasksNeverShareOne()
    {
        var db = await pg.NewDatabaseAsync();
        var stores = Enumerable.Range(0, 4).Select(i => new PostgresTaskStore(db, worker: $"racer-{i}")).ToList();
        try
        {
            for (int i = 0; i < 50; i++) await stores[0].AddAsync(New($"race{i:D2}"));
            var claimed = new ConcurrentBag<(string Worker, string Id)>();
            await Task.WhenAll(stores.Select(s => Task.Run(async () =>
            {
                while (await s.ClaimNextAsync() is { } t) claimed.Add((s.Worker, t.Id));
            })));
            Assert.Equal(50, claimed.Count);
            Assert.Equal(50, claimed.Select(c => c.Id).Distinct().Count());
            Assert.True(claimed.Select(c => c.Worker).Distinct().Count() > 1, "one claimer took everything: no race happened");
            await using var c = new NpgsqlConnection(db);
            await c.OpenAsync();
            await using var check = new NpgsqlCommand("SELECT count(*) FILTER (WHERE claims = 1 AND state = 'running'), count(DISTINCT worker) FROM canter_tasks", c);
            await using var r = await check.ExecuteReaderAsync();
            await r.ReadAsync();
            Assert.Equal(50, r.GetInt64(0));
            // each holder, and only it, can finish what it claimed
            foreach (var (worker, id) in claimed)
                Assert.True(await stores.Single(s => s.Worker == worker).FinishAsync(id, TaskState.Succeeded));
        }
        finally { stores.ForEach(s => s.Dispose()); }
    }

    [Fact]
    public async Task AnExpiredLeaseIsRequeuedAndClaimedAgainAndTheOldHolderCannotFinish()
    {
        var db = await pg.NewDatabaseAsync();
        using var dead = new PostgresTaskStore(db, worker: "dead", lease: TimeSpan.FromSeconds(1));
        using var alive = new PostgresTaskStore(db, worker: "alive", lease: TimeSpan.FromSeconds(30));
        await dead.AddAsync(New("lease0"));
        await dead.AddAsync(New("lease1"));
        Assert.Equal("lease0", (await dead.ClaimNextAsync())!.Id);
        Assert.Equal("lease1", (await alive.ClaimNextAsync())!.Id);
        Assert.Equal(0, await alive.RequeueInterruptedAsync());
        await Task.Delay(1300);   // "dead" sent no heartbeat
        Assert.Equal(1, await alive.RequeueInterruptedAsync());   // its task only: alive's own lease holds
        Assert.Equal((TaskState.Queued, 1), ((await alive.GetAsync("lease0"))!.State, (await alive.GetAsync("lease0"))!.QueuePosition));
        Assert.Equal(TaskState.Running, (await alive.GetAsync("lease1"))!.State);
        Assert.Equal("lease0", (await alive.ClaimNextAsync())!.Id);

        // the old holder comes back: it may not report, heartbeat, release or finish the task another worker runs now
        Assert.True(await dead.ReportProgressAsync("lease0", 2, 2));
        Assert.Equal(["lease0"], await dead.HeartbeatAsync(["lease0"]));
        Assert.False(await dead.ReleaseAsync("lease0"));
        Assert.False(await dead.FinishAsync("lease0", TaskState.Succeeded));
        Assert.Equal(TaskState.Running, (await alive.GetAsync("lease0"))!.State);
        Assert.True(await alive.FinishAsync("lease0", TaskState.Succeeded));

        // a heartbeat keeps a lease past its first term; a cancel asked of a task whose worker died ends it cancelled
        using var beating = new PostgresTaskStore(db, worker: "beating", lease: TimeSpan.FromSeconds(1));
        await beating.AddAsync(New("lease2"));
        Assert.Equal("lease2", (await beating.ClaimNextAsync())!.Id);
        for (int i = 0; i < 4; i++)
        {
            await Task.Delay(400);
            Assert.Empty(await beating.HeartbeatAsync(["lease2"]));
            Assert.Equal(0, await alive.RequeueInterruptedAsync());
        }
        await alive.RequestCancelAsync("lease2");
        await Task.Delay(1300);
        Assert.Equal(1, await alive.RequeueInterruptedAsync());
        Assert.Equal(TaskState.Cancelled, (await alive.GetAsync("lease2"))!.State);
    }

    [Fact]
    public async Task AChangeInOneProcessWakesTheNotifierOfAnother()
    {
        var db = await pg.NewDatabaseAsync();
        var listening = new TaskNotifier();
        using var server = new PostgresTaskStore(db, listening, worker: "server");
        using var worker = new PostgresTaskStore(db, worker: "worker");   // no listener: another process, as far as the notifier knows
        var clock = Stopwatch.StartNew();
        while (listening.Version == 0 && clock.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(10);   // listening (it notifies once connected)
        Assert.True(listening.Version > 0, "the listener never connected");

        async Task Woken(Func<Task> change, string what)
        {
            long seen = listening.Version;
            var wait = Stopwatch.StartNew();
            var woke = listening.WaitAsync(seen, TimeSpan.FromSeconds(10), CancellationToken.None);
            await change();
            await woke;
            Assert.True(listening.Version > seen, $"{what}: no notification within {wait.Elapsed.TotalSeconds:F1} s");
        }
        await Woken(() => worker.AddAsync(New("n0")), "add");
        await Woken(() => worker.ClaimNextAsync(), "claim");
        await Woken(() => worker.ReportProgressAsync("n0", 1, 2), "progress");
        await Woken(() => worker.RequestCancelAsync("n0"), "cancel");
        await Woken(() => worker.FinishAsync("n0", TaskState.Cancelled, "cancelled", "by request"), "finish");
        await Woken(() => worker.DeleteAsync("n0"), "delete");
    }

    [Fact]
    public async Task ProcessesStartingTogetherMakeTheSchemaOnceAndANewerSchemaIsLeftAlone()
    {
        var db = await pg.NewDatabaseAsync();
        var stores = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => Task.Run(() => new PostgresTaskStore(db, worker: $"starter-{i}"))));
        foreach (var s in stores) s.Dispose();
        await using var c = new NpgsqlConnection(db);
        await c.OpenAsync();
        await using (var versions = new NpgsqlCommand("SELECT count(*), max(version) FROM canter_schemas WHERE feature = 'tasks'", c))
        await using (var r = await versions.ExecuteReaderAsync())
        {
            await r.ReadAsync();
            Assert.Equal((1L, PostgresTaskStore.SchemaVersion), (r.GetInt64(0), r.GetInt32(1)));
        }
        await using (var newer = new NpgsqlCommand("UPDATE canter_schemas SET version = version + 1 WHERE feature = 'tasks'", c)) await newer.ExecuteNonQueryAsync();
        Assert.Contains("upgrade Canter", Assert.Throws<NotSupportedException>(() => new PostgresTaskStore(db)).Message);
    }

    [Fact]
    public void StoreUrlsBecomeConnectionStringsAndErrorsNeverShowThePassword()
    {
        var b = new NpgsqlConnectionStringBuilder(PostgresTaskStore.ConnectionString("postgres://can%40ter:s3cr%2Ft@db.example:6543/tasks?sslmode=require"));
        Assert.Equal(("can@ter", "s3cr/t", "db.example", 6543, "tasks", SslMode.Require), (b.Username, b.Password, b.Host, b.Port, b.Database, b.SslMode));
        Assert.Equal(5432, new NpgsqlConnectionStringBuilder(PostgresTaskStore.ConnectionString("postgresql://u@h/d")).Port);
        Assert.Equal("postgres://u@h:5432/d", PostgresTaskStore.Describe(PostgresTaskStore.ConnectionString("postgresql://u:hunter2@h/d")));
        Assert.Equal("Host=h;Username=u", PostgresTaskStore.ConnectionString("Host=h;Username=u"));
        foreach (var bad in new[] { "postgres://u:hunter2@/d", "postgres://u:hunter2@h/d/e", "postgres://u:hunter2@h/d?nosuchoption=1", "postgres://u:hunter2@h:99999/d" })
        {
            var e = Assert.Throws<ArgumentException>(() => PostgresTaskStore.ConnectionString(bad));
            Assert.DoesNotContain("hunter2", e.Message);
        }
    }

    /// <summary>
    /// One API server and two workers as separate processes of the built CLI, sharing the database and a data folder;
    /// one worker is killed (SIGKILL) mid-task. Every task still succeeds exactly once, and the killed one ran again.
    /// </summary>
    [Fact]
    public async Task ServersAndWorkersAsProcessesLoseNoTaskWhenAWorkerIsKilled()
    {
        var db = await pg.NewDatabaseAsync();
        var data = TestServer.NewDataDir();
        await using var cluster = await Cluster.StartAsync(PostgresFixture.Url(db), data, workers: 2);
        try
        {
            var ids = new List<string>();
            for (int i = 0; i < 6; i++) ids.Add(await cluster.SubmitAsync(i));

            // the worker running a task, from its lease: "machine/pid/nonce"
            string killedTask = "", killedWorker = "";
            var clock = Stopwatch.StartNew();
            while (killedTask.Length == 0 && clock.Elapsed < TimeSpan.FromSeconds(60))
            {
                await using var c = new NpgsqlConnection(db);
                await c.OpenAsync();
                await using var running = new NpgsqlCommand("SELECT id, worker FROM canter_tasks WHERE state = 'running' AND step >= 1 LIMIT 1", c);
                await using var r = await running.ExecuteReaderAsync();
                if (await r.ReadAsync()) (killedTask, killedWorker) = (r.GetString(0), r.GetString(1));
                else await Task.Delay(10);
            }
            Assert.True(killedTask.Length > 0, "no task was seen running");
            var victim = cluster.Workers.Single(w => w.Process.Id == int.Parse(killedWorker.Split('/')[1]));
            victim.Process.Kill();   // SIGKILL: no release, no goodbye
            await victim.Process.WaitForExitAsync();

            foreach (var id in ids) await cluster.WaitSucceededAsync(id, TimeSpan.FromSeconds(90));
            await using (var c = new NpgsqlConnection(db))
            {
                await c.OpenAsync();
                await using var claims = new NpgsqlCommand("SELECT id, claims FROM canter_tasks", c);
                await using var r = await claims.ExecuteReaderAsync();
                var counts = new Dictionary<string, int>();
                while (await r.ReadAsync()) counts[r.GetString(0)] = r.GetInt32(1);
                Assert.Equal(ids.Order(), counts.Keys.Order());
                Assert.True(counts[killedTask] >= 2, $"the killed worker's task {killedTask} was claimed {counts[killedTask]} time(s)");
            }
            await cluster.AssertEachSucceededOnceAsync(ids, data);
            var survivor = cluster.Workers.Single(w => w != victim);
            Assert.Contains(survivor.Lines, l => l.Contains($"task {killedTask} succeeded", StringComparison.Ordinal));

            // SIGTERM, by contrast, hands the running task back at once: queued again, no lease, for the next worker
            var last = await cluster.SubmitAsync(100);
            await cluster.WaitForAsync(last, t => t.GetProperty("state").GetString() == "running", TimeSpan.FromSeconds(60));
            using (var term = Process.Start("kill", ["-TERM", survivor.Process.Id.ToString()])) await term.WaitForExitAsync();
            using (var exited = new CancellationTokenSource(TimeSpan.FromSeconds(30))) await survivor.Process.WaitForExitAsync(exited.Token);
            Assert.Equal(0, survivor.Process.ExitCode);
            var handedBack = await cluster.Http.GetFromJsonAsync<JsonElement>($"/api/tasks/{last}");
            Assert.Equal("queued", handedBack.GetProperty("state").GetString());
            Assert.Contains(survivor.Lines, l => l.Contains($"task {last} goes back to the queue", StringComparison.Ordinal));
            cluster.AddWorker(TestCli.Built(), PostgresFixture.Url(db), data);
            await cluster.WaitSucceededAsync(last, TimeSpan.FromSeconds(90));
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message}\n{cluster.Output()}");
        }
        finally
        {
            try { Directory.Delete(data, recursive: true); }
            catch (IOException) { }
        }
    }
    /// <summary>
    /// PostgreSQL stops at once and comes back, first while the workers idle, then while one generates: servers and
    /// workers reconnect (their listeners too), and every task, old and new, succeeds exactly once. Then a cancel sent to
    /// the API server stops a generation running in a worker process.
    /// </summary>
    [Fact]
    public async Task ServersAndWorkersRecoverWhenPostgresRestarts()
    {
        var db = await pg.NewDatabaseAsync();
        var data = TestServer.NewDataDir();
        await using var cluster = await Cluster.StartAsync(PostgresFixture.Url(db), data, workers: 2);
        try
        {
            var ids = new List<string> { await cluster.SubmitAsync(0) };
            await cluster.WaitSucceededAsync(ids[0], TimeSpan.FromSeconds(60));

            await pg.RestartAsync(down: TimeSpan.FromSeconds(2));   // idle
            for (int i = 1; i < 3; i++) ids.Add(await cluster.SubmitAsync(i));
            foreach (var id in ids) await cluster.WaitSucceededAsync(id, TimeSpan.FromSeconds(60));
            foreach (var p in cluster.Workers.Append(cluster.Server))
                await p.WaitForLineAsync("listening to canter_tasks again", TimeSpan.FromSeconds(30));

            for (int i = 3; i < 5; i++) ids.Add(await cluster.SubmitAsync(i));
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < TimeSpan.FromSeconds(60))
            {
                var running = await cluster.Http.GetFromJsonAsync<JsonElement>("/api/tasks?state=running");
                var queued = await cluster.Http.GetFromJsonAsync<JsonElement>("/api/tasks?state=queued");
                if (running.GetProperty("data").GetArrayLength() > 0 || queued.GetProperty("data").GetArrayLength() == 0) break;
                await Task.Delay(10);
            }
            await pg.RestartAsync(down: TimeSpan.FromSeconds(2));   // mid-generation
            foreach (var id in ids) await cluster.WaitSucceededAsync(id, TimeSpan.FromSeconds(90));
            await cluster.AssertEachSucceededOnceAsync(ids, data);
            Assert.All(cluster.Workers, w => Assert.False(w.Process.HasExited, "a worker exited"));

            // a cancel asked of the API server stops the generation in a worker process
            var longOne = await cluster.SubmitAsync(99, steps: 40);
            await cluster.WaitForAsync(longOne, t => t.GetProperty("step").GetInt32() >= 1, TimeSpan.FromSeconds(60));
            using (var cancel = await cluster.Http.PostAsync($"/api/tasks/{longOne}/cancel", null)) Assert.True(cancel.IsSuccessStatusCode);
            await cluster.WaitForAsync(longOne, t => t.GetProperty("state").GetString() != "running", TimeSpan.FromSeconds(30));
            var stopped = await cluster.Http.GetFromJsonAsync<JsonElement>($"/api/tasks/{longOne}");
            Assert.Equal("cancelled", stopped.GetProperty("state").GetString());
            Assert.True(stopped.GetProperty("step").GetInt32() < 40, $"the cancel did not stop it: {stopped}");
            Assert.Contains(cluster.Workers.SelectMany(w => w.Lines), l => l.Contains($"task {longOne} cancelled", StringComparison.Ordinal));
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message}\n{cluster.Output()}");
        }
        finally
        {
            try { Directory.Delete(data, recursive: true); }
            catch (IOException) { }
        }
    }
}

/// <summary>Processes of the built CLI: <c>canter serve --no-workers</c>s (one unless asked) and some <c>canter worker</c>s.</summary>
internal sealed class Cluster : IAsyncDisposable
{
    private readonly List<CliProcess> _all = [];

    /// <summary>The first API server; <see cref="Http"/> talks to it.</summary>
    public CliProcess Server => Servers[0];

    public HttpClient Http => Clients[0];

    public List<CliProcess> Servers { get; } = [];

    /// <summary>One client per server, in the order of <see cref="Servers"/>.</summary>
    public List<HttpClient> Clients { get; } = [];

    public List<CliProcess> Workers { get; } = [];

    /// <summary>Options every process gets besides the store and data folder (<c>--results ...</c>), and its environment.</summary>
    private string[] _extra = [];
    private Dictionary<string, string> _env = [];

    public static async Task<Cluster> StartAsync(string store, string data, int workers, int servers = 1, string[]? extra = null,
        Dictionary<string, string>? env = null)
    {
        var cli = TestCli.Built();
        var cluster = new Cluster { _extra = extra ?? [], _env = env ?? [] };
        for (int i = 0; i < servers; i++)
        {
            int port = ThrowawayPostgres.FreePort();
            var server = CliProcess.Start(cli, ["serve", "--store", store, "--no-workers", "--port", port.ToString(), "--data", data, "--model", Shipped.ModelDir, .. cluster._extra],
                new(cluster._env));
            cluster.Servers.Add(server);
            cluster.Clients.Add(new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) });
            cluster._all.Add(server);
        }
        for (int i = 0; i < workers; i++) cluster.AddWorker(cli, store, data);
        try
        {
            foreach (var s in cluster.Servers) await s.WaitForLineAsync("serving ", TimeSpan.FromSeconds(60));
            foreach (var w in cluster.Workers) await w.WaitForLineAsync("worker running", TimeSpan.FromSeconds(60));
        }
        catch (Exception e)
        {
            var output = cluster.Output();
            await cluster.DisposeAsync();
            throw new InvalidOperationException($"{e.Message}\n{output}", e);
        }
        return cluster;
    }

    public CliProcess AddWorker(string cli, string store, string data)
    {
        // a short lease, so a killed worker's task runs again within seconds
        var w = CliProcess.Start(cli, ["worker", "--store", store, "--data", data, "--model", Shipped.ModelDir, .. _extra], new(_env) { ["Canter__LeaseSeconds"] = "3" });
        Workers.Add(w);
        _all.Add(w);
        return w;
    }

    /// <summary>Submits a small clip the way a careful client does: with an idempotency key, retried while the server cannot answer.</summary>
    public Task<string> SubmitAsync(int seed, int steps = 2) =>
        Http.SubmitTaskAsync(new { prompt = "A red ball bounces", seconds = 0.5, size = "32x32", steps, sampler = "euler", seed }, $"clip-{seed}",
            retryFor: TimeSpan.FromSeconds(30));

    /// <summary>Waits until a task succeeded, asking <paramref name="via"/> (the first server when null).</summary>
    public Task WaitSucceededAsync(string id, TimeSpan timeout, HttpClient? via = null) => WaitForAsync(id, t =>
    {
        var state = t.GetProperty("state").GetString();
        Assert.True(state is "queued" or "running" or "succeeded", $"task {id} ended {t}");
        return state == "succeeded";
    }, timeout, via);

    public Task WaitForAsync(string id, Func<JsonElement, bool> done, TimeSpan timeout, HttpClient? via = null) =>
        (via ?? Http).WaitForTaskAsync(id, done, timeout);

    /// <summary>
    /// Every task succeeded once, by a worker that says so; its results are in the shared folder. A worker logs the
    /// success after the store has it, so a line may come a moment after a client saw the state: wait for it first.
    /// </summary>
    public async Task AssertEachSucceededOnceAsync(IReadOnlyCollection<string> ids, string data)
    {
        List<string> Successes() => Workers.SelectMany(w => w.Lines).Where(l => l.Contains(" succeeded in ", StringComparison.Ordinal)).ToList();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(10) && ids.Any(id => !Successes().Any(l => l.Contains($"task {id} succeeded", StringComparison.Ordinal))))
            await Task.Delay(50);
        var successes = Successes();
        foreach (var id in ids)
        {
            Assert.Single(successes, l => l.Contains($"task {id} succeeded", StringComparison.Ordinal));
            Assert.True(File.Exists(Path.Combine(data, "results", id, "video.mp4")), $"{id}: no video in the shared folder");
        }
    }

    /// <summary>What every process printed, for a failure's message.</summary>
    public string Output() => string.Concat(_all.Select(p => $"--- {p.Name} (pid {p.Process.Id}):\n{string.Join('\n', p.Lines)}\n"));

    public ValueTask DisposeAsync()
    {
        foreach (var c in Clients) c.Dispose();
        foreach (var p in _all) p.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>The CLI the process-level tests run.</summary>
internal static class TestCli
{
    private static readonly Lock BuildLock = new();

    /// <summary>src/Canter.Cli/bin/Release/net10.0/canter.dll, built first when missing or older than the sources.</summary>
    public static string Built()
    {
        var root = Path.GetFullPath(Path.Combine(Shipped.ModelDir, "..", ".."));
        var dll = Path.Combine(root, "src", "Canter.Cli", "bin", "Release", "net10.0", "canter.dll");
        lock (BuildLock)
        {
            var newest = new[] { "src/Canter.Server", "src/Canter.Cli", "bench/Canter.Bench" }.SelectMany(d => Directory.EnumerateFiles(Path.Combine(root, d), "*.cs", SearchOption.AllDirectories))
                .Where(f => !f.Contains("/obj/", StringComparison.Ordinal) && !f.Contains("/bin/", StringComparison.Ordinal)).Max(File.GetLastWriteTimeUtc);
            if (File.Exists(dll) && File.GetLastWriteTimeUtc(dll) >= newest) return dll;
            using var build = Process.Start(new ProcessStartInfo("dotnet", ["build", Path.Combine(root, "src", "Canter.Cli"), "-c", "Release", "--nologo", "-v", "quiet"])
                { RedirectStandardOutput = true, RedirectStandardError = true })!;
            var output = build.StandardOutput.ReadToEndAsync();
            var errors = build.StandardError.ReadToEnd();
            build.WaitForExit();
            if (build.ExitCode != 0) throw new InvalidOperationException($"building the CLI failed: {output.Result}{errors}");
        }
        return dll;
    }
}
