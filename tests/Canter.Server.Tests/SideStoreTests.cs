using System.Diagnostics;
using System.Reflection;
using Canter.Server.Keys;
using Canter.Server.Retention;
using Canter.Server.Tasks;
using Canter.Server.Uploads;
using Canter.Server.Webhooks;
using Npgsql;
using Xunit.Abstractions;

namespace Canter.Server.Tests;

/// <summary>
/// The tables beside the task store keep one contract on SQLite (tasks.db) and on PostgreSQL (the database a
/// scale-out shares): API keys and their usage ledger, webhook subscriptions and deliveries, uploads, expired results.
/// And PostgreSQL's queue positions, now counted per task, are the fair order the claims follow, at a fraction of the cost.
/// </summary>
[Trait("Category", "Postgres")]
public sealed class SideStoreTests(PostgresFixture pg, ITestOutputHelper output) : IClassFixture<PostgresFixture>
{
    private static readonly TaskSpec Spec = new("A red ball bounces", 32, 32, 0.5f, 3, 2, 3f, 1.5f, "", true, "heun");

    /// <summary>Where a kind's tables live: tasks.db of a new data folder, or a new database; a task store is made there first (some side tables read it).</summary>
    private sealed class Place : IDisposable
    {
        public string? SqlitePath { get; init; }
        public PostgresDatabase? Db { get; init; }
        public required ITaskStore Tasks { get; init; }
        public List<IDisposable> Owned { get; } = [];

        public T Make<T>(Func<string, T> sqlite, Func<PostgresDatabase, T> postgres)
        {
            var made = SqlitePath is { } path ? sqlite(path) : postgres(Db!);
            if (made is IDisposable d) Owned.Add(d);
            return made;
        }

        public void Dispose()
        {
            foreach (var d in Owned) d.Dispose();
            ((IDisposable)Tasks).Dispose();
            Db?.Dispose();
            if (SqlitePath is not null) Directory.Delete(Path.GetDirectoryName(SqlitePath)!, recursive: true);
        }
    }

    private async Task<Place> PlaceAsync(string kind)
    {
        if (kind == "sqlite")
        {
            var path = Path.Combine(TestServer.NewDataDir(), "tasks.db");
            return new Place { SqlitePath = path, Tasks = new SqliteTaskStore(path) };
        }
        var db = new PostgresDatabase(await pg.NewDatabaseAsync());
        return new Place { Db = db, Tasks = new PostgresTaskStore(db) };
    }

    private static string Sha(string secret) => ApiKeySecrets.Sha256(secret);

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task KeysAndTheirUsageKeepOneContract(string kind)
    {
        using var place = await PlaceAsync(kind);
        var keys = place.Make<IKeyStore>(path => new SqliteKeyStore(path), db => new PostgresKeyStore(db));
        Assert.False(await keys.AnyAsync());
        var alice = await keys.CreateAsync(" alice ", Sha("sha-alice"), new KeyLimits(60, 600, 2));
        Assert.Equal(("alice", Sha("sha-alice"), (int?)60, (double?)600.0, (int?)2, false), (alice.Name, alice.Sha256, alice.RateLimit, alice.QuotaSeconds, alice.Concurrency, alice.Revoked));
        Assert.Equal(ApiKeySecrets.Id(Sha("sha-alice")), alice.Id);
        var bob = await keys.CreateAsync("bob", Sha("sha-bob"), new KeyLimits());
        Assert.Equal(((int?)null, (double?)null, (int?)null), (bob.RateLimit, bob.QuotaSeconds, bob.Concurrency));
        Assert.True(await keys.AnyAsync());
        Assert.Contains("already exists", (await Assert.ThrowsAsync<ArgumentException>(() => keys.CreateAsync("alice", Sha("sha-other"), new KeyLimits()))).Message);
        Assert.Contains("name", (await Assert.ThrowsAsync<ArgumentException>(() => keys.CreateAsync("  ", Sha("sha-blank"), new KeyLimits()))).Message);
        Assert.Equal(["alice", "bob"], (await keys.ListAsync()).Select(k => k.Name));
        Assert.Equal(alice.Id, (await keys.FindByHashAsync(Sha("sha-alice")))!.Id);
        Assert.Equal("bob", (await keys.FindAsync(bob.Id))!.Name);
        Assert.Null(await keys.FindByHashAsync(Sha("sha-nobody")));

        // revoke by name, then again by id: the second changes nothing; the name is free again
        var revoked = (await keys.RevokeAsync("alice"))!;
        Assert.NotNull(revoked.RevokedAt);
        Assert.Equal(revoked.RevokedAt, (await keys.RevokeAsync(alice.Id))!.RevokedAt);
        Assert.Null(await keys.RevokeAsync("nobody"));
        var again = await keys.CreateAsync("alice", Sha("sha-alice-2"), new KeyLimits());
        Assert.False(again.Revoked);
        Assert.Equal(3, (await keys.ListAsync()).Count);

        // the ledger: seconds asked for, less those of failed and cancelled tasks; unfinished tasks counted from the task table
        await place.Tasks.AddAsync(new NewTask("u1", Spec, "m", "h1", "bob", null));
        await place.Tasks.AddAsync(new NewTask("u2", Spec, "m", "h2", "bob", null));
        await keys.RecordUsageAsync("bob", "u1", 2.0);
        await keys.RecordUsageAsync("bob", "u2", 3.0);
        await keys.RecordUsageAsync("bob", "u2", 30.0);   // a task counts once
        await keys.RecordUsageAsync("bob", "gone", 0.5);   // its task was deleted: still counted
        var since = DateTimeOffset.UtcNow.AddDays(-1);
        var usage = await keys.UsageAsync("bob", since);
        Assert.Equal((2, 5.5), (usage.Unfinished, usage.Seconds));
        Assert.NotNull(usage.OldestCounted);
        await place.Tasks.RequestCancelAsync("u2");
        Assert.Equal((1, 2.5), ((await keys.UsageAsync("bob", since)).Unfinished, (await keys.UsageAsync("bob", since)).Seconds));
        var future = await keys.UsageAsync("bob", DateTimeOffset.UtcNow.AddMinutes(1));   // nothing asked since then; u1 still waits
        Assert.Equal((1, 0.0, (DateTimeOffset?)null), (future.Unfinished, future.Seconds, future.OldestCounted));
        Assert.Equal((0, 0.0), ((await keys.UsageAsync("alice", since)).Unfinished, (await keys.UsageAsync("alice", since)).Seconds));
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task WebhooksKeepOneContract(string kind)
    {
        using var place = await PlaceAsync(kind);
        var store = place.Make<IWebhookStore>(path => new SqliteWebhookStore(path, TimeProvider.System), db => new PostgresWebhookStore(db, TimeProvider.System));
        await store.SubscribeAsync(new WebhookSubscription("w1", "https://example.com/hook", ["started", "succeeded"]));
        var subscription = (await store.GetAsync("w1"))!;
        Assert.Equal("https://example.com/hook", subscription.Url);
        Assert.Equal(["started", "succeeded"], subscription.Events);
        Assert.True(subscription.Wants("succeeded"));
        Assert.Null(await store.GetAsync("w2"));
        Assert.Equal(["w1"], await store.UnfinishedAsync());
        Assert.Null(await store.NextDueAsync());

        var now = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());   // SQLite keeps milliseconds
        WebhookDelivery Event(string id, string type) => new(id, "w1", type, "https://example.com/hook", $"{{\"type\":\"{type}\"}}", "pending", 0, now, null, null, now, null);
        Assert.True(await store.EnqueueAsync("w1", Event("e1", "started"), finishing: false));
        Assert.True(await store.EnqueueAsync("w1", Event("e2", "succeeded"), finishing: true));
        Assert.False(await store.EnqueueAsync("w1", Event("e3", "succeeded"), finishing: true));   // the end is recorded once
        Assert.Empty(await store.UnfinishedAsync());
        Assert.Equal(["e1", "e2"], (await store.DueAsync(10)).Select(d => d.EventId));
        Assert.Equal(["e1"], (await store.DueAsync(1)).Select(d => d.EventId));
        Assert.Equal("{\"type\":\"succeeded\"}", (await store.DueAsync(10))[1].Body);
        Assert.Equal(now.ToUnixTimeMilliseconds(), (await store.NextDueAsync())!.Value.ToUnixTimeMilliseconds());

        await store.AttemptedAsync("e1", "delivered", 1, now, 200, null);
        var later = now.AddHours(1);
        await store.AttemptedAsync("e2", "pending", 1, later, 503, "the receiver answered 503");
        Assert.Empty(await store.DueAsync(10));
        Assert.Equal(later.ToUnixTimeMilliseconds(), (await store.NextDueAsync())!.Value.ToUnixTimeMilliseconds());
        var log = await store.ForTaskAsync("w1");
        Assert.Equal(new[] { ("e1", "delivered", 1, (int?)200, (string?)null), ("e2", "pending", 1, (int?)503, (string?)"the receiver answered 503") },
            log.Select(d => (d.EventId, d.State, d.Attempts, d.LastStatus, d.LastError)));
        Assert.NotNull(log[0].DeliveredAt);
        Assert.Null(log[1].DeliveredAt);
        Assert.Empty(await store.ForTaskAsync("w2"));
    }

    [Theory]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    public async Task UploadsAndExpiredResultsKeepOneContract(string kind)
    {
        using var place = await PlaceAsync(kind);
        var table = place.Make<IUploadTable>(path => new SqliteUploadTable(path, TimeProvider.System), db => new PostgresUploadTable(db, TimeProvider.System));
        var now = DateTimeOffset.UtcNow;
        string a = UploadStore.NewId(), b = UploadStore.NewId();
        await table.AddAsync(new UploadRecord(a, "alice", "image", "a.png", 1234, "sha-a", "http://x/api/uploads/" + a, now.AddDays(-2), now.AddDays(-1), false));
        await table.AddAsync(new UploadRecord(b, null, "video", "b.mp4", 99, "sha-b", "http://x/api/uploads/" + b, now, now.AddDays(1), false));
        var got = (await table.GetAsync(a))!;
        Assert.Equal(("alice", "image", "a.png", 1234L, "sha-a", false), (got.Owner, got.Kind, got.Name, got.Bytes, got.Sha256, got.Expired));
        Assert.Equal(now.AddDays(-1).ToUnixTimeMilliseconds(), got.ExpiresAt.ToUnixTimeMilliseconds());
        Assert.Null((await table.GetAsync(b))!.Owner);
        Assert.Null(await table.GetAsync(UploadStore.NewId()));
        Assert.Equal([a], await table.ExpireDueAsync());
        Assert.Empty(await table.ExpireDueAsync());   // each once
        Assert.True((await table.GetAsync(a))!.Expired);
        Assert.False((await table.GetAsync(b))!.Expired);

        var expired = place.Make<IExpiredResults>(path => new SqliteExpiredResults(path, TimeProvider.System), db => new PostgresExpiredResults(db, TimeProvider.System));
        Assert.Null(await expired.ExpiredAtAsync("r1"));
        await expired.MarkAsync("r1");
        var first = (await expired.ExpiredAtAsync("r1"))!.Value;
        Assert.True(Math.Abs((first - DateTimeOffset.UtcNow).TotalSeconds) < 60);
        await Task.Delay(20);
        await expired.MarkAsync("r1");   // the first mark stays
        Assert.Equal(first, (await expired.ExpiredAtAsync("r1"))!.Value);
        Assert.Null(await expired.ExpiredAtAsync("r2"));
    }

    [Fact]
    public async Task TwoProcessesExpiringUploadsAtOnceEachGetDifferentOnes()
    {
        using var db1 = new PostgresDatabase(await pg.NewDatabaseAsync());
        using var db2 = new PostgresDatabase(db1.ConnectionString);
        var one = new PostgresUploadTable(db1, TimeProvider.System);
        var two = new PostgresUploadTable(db2, TimeProvider.System);
        var now = DateTimeOffset.UtcNow;
        var ids = Enumerable.Range(0, 200).Select(_ => UploadStore.NewId()).ToList();
        foreach (var id in ids) await one.AddAsync(new UploadRecord(id, null, "image", "x.png", 1, "s", "u", now.AddDays(-1), now.AddSeconds(-1), false));
        var got = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() => (i % 2 == 0 ? one : two).ExpireDueAsync())));
        var all = got.SelectMany(g => g).ToList();
        Assert.Equal(ids.Order(), all.Order());   // every one, none twice
    }

    /// <summary>
    /// 500 queued tasks of six owners (two served before, one with a task running): the position a status read shows for
    /// each is its rank in the full fair order the claims take from (the store's own ranking CTE), and the read is
    /// timed against that full ranking, which every read ran before.
    /// </summary>
    [Fact]
    public async Task QueuePositionsAreTheFairOrderAndCheapToRead()
    {
        var connection = await pg.NewDatabaseAsync();
        using var store = new PostgresTaskStore(connection, worker: "positions");
        var random = new Random(8);
        string?[] owners = [null, "a", "b", "c", "d", "e"];
        int n = 0;
        NewTask Next() { var id = $"q{n++:D4}"; return new NewTask(id, Spec, "m", "h" + id, owners[random.Next(owners.Length)], null); }
        // some history: tasks of a few owners ran (served times differ), one still runs
        foreach (var owner in new[] { "c", "a", "c" })
        {
            await store.AddAsync(new NewTask($"old-{n++}", Spec, "m", $"h-old-{n}", owner, null));
            var claimed = (await store.ClaimNextAsync())!;
            Assert.True(await store.FinishAsync(claimed.Id, TaskState.Succeeded));
            await Task.Delay(5);
        }
        await store.AddAsync(new NewTask("running", Spec, "m", "h-running", "b", null));
        Assert.Equal("running", (await store.ClaimNextAsync())!.Id);
        for (int i = 0; i < 500; i++) await store.AddAsync(Next());

        var queue = (string)typeof(PostgresTaskStore).GetField("Queue", BindingFlags.NonPublic | BindingFlags.Static)!.GetValue(null)!;
        await using var c = new NpgsqlConnection(connection);
        await c.OpenAsync();
        var ranked = new Dictionary<string, int>();
        await using (var rank = new NpgsqlCommand(queue + " SELECT id, position::integer FROM queue", c))
        await using (var r = await rank.ExecuteReaderAsync())
            while (await r.ReadAsync()) ranked[r.GetString(0)] = r.GetInt32(1);
        Assert.Equal(500, ranked.Count);
        foreach (var (id, position) in ranked) Assert.Equal((id, position), (id, (await store.GetAsync(id))!.QueuePosition!.Value));
        Assert.Null((await store.GetAsync("running"))!.QueuePosition);

        // timing: a status read of the last task in the queue, now and as it was (the full ranking joined to the row)
        var last = ranked.MaxBy(p => p.Value).Key;
        var before = await MedianMsAsync(async () =>
        {
            await using var old = new NpgsqlCommand(queue + " SELECT t.id, q.position FROM canter_tasks t LEFT JOIN queue q ON q.id = t.id WHERE t.id = @id", c);
            old.Parameters.AddWithValue("id", last);
            await using var r = await old.ExecuteReaderAsync();
            Assert.True(await r.ReadAsync());
        });
        var after = await MedianMsAsync(async () => Assert.Equal(500, (await store.GetAsync(last))!.QueuePosition));
        var finished = await MedianMsAsync(async () => Assert.NotNull(await store.GetAsync("old-0")));
        // the full ranking prepared too, as this store now prepares its statements: what the count saves beyond planning
        await using var prepared = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connection) { MaxAutoPrepare = 64 }.ConnectionString);
        await prepared.OpenAsync();
        var beforePrepared = await MedianMsAsync(async () =>
        {
            await using var old = new NpgsqlCommand(queue + " SELECT t.id, q.position FROM canter_tasks t LEFT JOIN queue q ON q.id = t.id WHERE t.id = @id", prepared);
            old.Parameters.AddWithValue("id", last);
            await using var r = await old.ExecuteReaderAsync();
            Assert.True(await r.ReadAsync());
        });
        var line = $"status read with 500 queued (median of 100): before, the full ranking on every read {before:F2} ms ({beforePrepared:F2} ms prepared); " +
                   $"now, the per-task count {after:F2} ms; a finished task {finished:F2} ms";
        output.WriteLine(line);
        Console.WriteLine(line);
        Assert.True(after < beforePrepared, line);
    }

    private static async Task<double> MedianMsAsync(Func<Task> read)
    {
        for (int i = 0; i < 10; i++) await read();   // warm: plans cached, pages in memory
        var times = new List<double>();
        for (int i = 0; i < 100; i++)
        {
            var clock = Stopwatch.StartNew();
            await read();
            times.Add(clock.Elapsed.TotalMilliseconds);
        }
        return times.Order().ElementAt(times.Count / 2);
    }
}
