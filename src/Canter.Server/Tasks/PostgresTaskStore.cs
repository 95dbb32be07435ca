using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Canter.Server.Tasks;

/// <summary>
/// <see cref="ITaskStore"/> in a PostgreSQL database shared by any number of API servers and workers on any number of
/// machines; the database is the system of record. A worker claims the oldest queued task with a row lock that skips
/// rows other workers are claiming (<c>FOR UPDATE SKIP LOCKED</c>), under a lease in its own name that its progress
/// reports and heartbeats extend; when a worker dies its lease runs out, the sweep every worker runs puts the task
/// back in the queue, and another worker runs it. Every change notifies the <c>canter_tasks</c> channel (a trigger,
/// so no writer can forget it); a listener connection in each process turns those into
/// <see cref="TaskNotifier.Notify"/>, so event streams and idle workers wake on changes made on other machines, and
/// reconnects with back-off when the database restarts (workers fall back to polling meanwhile).
/// <code>
/// using var store = new PostgresTaskStore(PostgresTaskStore.ConnectionString("postgres://canter:secret@db:5432/canter"), notifier);
/// var task = await store.ClaimNextAsync();
/// </code>
/// </summary>
public sealed class PostgresTaskStore : ITaskStore, IDisposable
{
    /// <summary>Known schema version; a database with a newer one was made by a newer Canter and is not touched.</summary>
    public const int SchemaVersion = 2;

    public const string Channel = "canter_tasks";

    private const string Columns = """
        t.id, t.seq, t.state, t.spec, t.model, t.step, t.steps, t.error_code, t.error, t.created_at, t.started_at, t.completed_at,
        t.idempotency_key, t.api_key, t.request_hash, t.remixed_from, t.cancel_requested
        """;

    /// <summary>
    /// The fair order of the queue, the same as <see cref="SqliteTaskStore"/>'s: queued tasks run in rounds (round k
    /// holds each owner's k-th oldest queued task); within a round, owners with fewer running tasks go first, then the
    /// owner served longest ago (or never), then the owner whose oldest task is oldest. Claims take from its head and
    /// queue positions count in it.
    /// </summary>
    private const string Queue = """
        WITH owners AS (
            SELECT coalesce(api_key, '') AS owner, min(seq) AS first FROM canter_tasks WHERE state = 'queued' GROUP BY 1),
        stats AS (
            SELECT o.owner, o.first,
                (SELECT count(*) FROM canter_tasks r WHERE coalesce(r.api_key, '') = o.owner AND r.state = 'running') AS running,
                (SELECT max(s.started_at) FROM canter_tasks s WHERE coalesce(s.api_key, '') = o.owner) AS served
            FROM owners o),
        ranked AS (
            SELECT id, coalesce(api_key, '') AS owner, row_number() OVER (PARTITION BY coalesce(api_key, '') ORDER BY seq) AS round
            FROM canter_tasks WHERE state = 'queued'),
        queue AS (
            SELECT k.id, row_number() OVER (ORDER BY k.round, s.running, coalesce(s.served, '-infinity'::timestamptz), s.first) AS position
            FROM ranked k JOIN stats s ON s.owner = k.owner)
        """;

    /// <summary>
    /// The queue position of one task <c>t</c> in the order of <see cref="Queue"/>, worked out for that task alone:
    /// the tasks of the rounds before its own (each owner's queued tasks, up to one fewer than its round), plus the
    /// owners of its round that go before its owner, plus one. Counts over the partial index of queued tasks and
    /// one row per owner (<c>stats</c>), instead of ranking the whole queue; a read evaluates it only for a queued task.
    /// </summary>
    private const string Position = """
        CASE WHEN t.state = 'queued' THEN (
            SELECT (coalesce(sum(least(s.queued, k.round - 1)), 0)
                    + count(*) FILTER (WHERE s.queued >= k.round AND (s.running, s.served, s.first) < (m.running, m.served, m.first)) + 1)::integer
            FROM (SELECT count(*) AS round FROM canter_tasks e
                  WHERE e.state = 'queued' AND coalesce(e.api_key, '') = coalesce(t.api_key, '') AND e.seq <= t.seq) k,
                 stats m, stats s
            WHERE m.owner = coalesce(t.api_key, '')) END
        """;

    /// <summary>One row per owner with queued tasks, for <see cref="Position"/>: computed only when a queued task is read.</summary>
    private const string OwnerStats = """
        WITH owners AS (
            SELECT coalesce(api_key, '') AS owner, count(*) AS queued, min(seq) AS first FROM canter_tasks WHERE state = 'queued' GROUP BY 1),
        stats AS (
            SELECT o.owner, o.queued, o.first,
                (SELECT count(*) FROM canter_tasks r WHERE r.state = 'running' AND coalesce(r.api_key, '') = o.owner) AS running,
                coalesce((SELECT max(s.started_at) FROM canter_tasks s WHERE coalesce(s.api_key, '') = o.owner), '-infinity'::timestamptz) AS served
            FROM owners o)
        """;

    private const string Schema = """
        CREATE TABLE IF NOT EXISTS canter_tasks (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            id text NOT NULL UNIQUE,
            state text NOT NULL,
            spec text NOT NULL,
            model text NOT NULL,
            step integer NOT NULL DEFAULT 0,
            steps integer NOT NULL DEFAULT 0,
            error_code text,
            error text,
            created_at timestamptz NOT NULL,
            started_at timestamptz,
            completed_at timestamptz,
            idempotency_key text,
            api_key text,
            request_hash text NOT NULL,
            remixed_from text,
            cancel_requested boolean NOT NULL DEFAULT false,
            worker text,                -- who holds the lease of a running task
            lease_until timestamptz,    -- when it runs out (the database's clock: one clock for every machine)
            claims integer NOT NULL DEFAULT 0);
        CREATE UNIQUE INDEX IF NOT EXISTS canter_tasks_idempotency ON canter_tasks ((coalesce(api_key, '')), idempotency_key) WHERE idempotency_key IS NOT NULL;
        CREATE INDEX IF NOT EXISTS canter_tasks_state ON canter_tasks (state, seq);
        CREATE INDEX IF NOT EXISTS canter_tasks_owner ON canter_tasks ((coalesce(api_key, '')), seq);
        -- version 2: what a queue position counts (an owner's queued tasks, its last start) without ranking the queue
        CREATE INDEX IF NOT EXISTS canter_tasks_queued ON canter_tasks ((coalesce(api_key, '')), seq) WHERE state = 'queued';
        CREATE INDEX IF NOT EXISTS canter_tasks_served ON canter_tasks ((coalesce(api_key, '')), started_at);
        CREATE OR REPLACE FUNCTION canter_tasks_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN PERFORM pg_notify('canter_tasks', OLD.id); ELSE PERFORM pg_notify('canter_tasks', NEW.id); END IF;
            RETURN NULL;
        END $$;
        CREATE OR REPLACE TRIGGER canter_tasks_added AFTER INSERT OR DELETE ON canter_tasks FOR EACH ROW EXECUTE FUNCTION canter_tasks_notify();
        -- a heartbeat only moves lease_until: no news for anyone
        CREATE OR REPLACE TRIGGER canter_tasks_changed AFTER UPDATE ON canter_tasks FOR EACH ROW
            WHEN (OLD.state IS DISTINCT FROM NEW.state OR OLD.step IS DISTINCT FROM NEW.step OR OLD.cancel_requested IS DISTINCT FROM NEW.cancel_requested)
            EXECUTE FUNCTION canter_tasks_notify();
        """;

    private readonly PostgresDatabase _db;
    private readonly bool _ownsDb;
    private readonly string _listenConnection;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _listening = Task.CompletedTask;

    /// <param name="connectionString">An Npgsql connection string (<see cref="ConnectionString"/> makes one from a URL).</param>
    /// <param name="notifier">Woken on every change any process makes; null: no listener connection.</param>
    /// <param name="worker">This process's name on the leases it takes; unique per process by default.</param>
    /// <param name="lease">How long a claim holds without a report or heartbeat (30 s by default).</param>
    public PostgresTaskStore(string connectionString, TaskNotifier? notifier = null, string? worker = null, TimeSpan? lease = null, ILogger? log = null)
        : this(new PostgresDatabase(connectionString), ownsDb: true, notifier, worker, lease, log)
    {
    }

    /// <summary>A store on <paramref name="db"/>, shared with the process's side tables; the caller disposes it.</summary>
    public PostgresTaskStore(PostgresDatabase db, TaskNotifier? notifier = null, string? worker = null, TimeSpan? lease = null, ILogger? log = null)
        : this(db, ownsDb: false, notifier, worker, lease, log)
    {
    }

    private PostgresTaskStore(PostgresDatabase db, bool ownsDb, TaskNotifier? notifier, string? worker, TimeSpan? lease, ILogger? log)
    {
        (_db, _ownsDb) = (db, ownsDb);
        Worker = worker ?? $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid().ToString("N")[..8]}";
        Lease = lease ?? TimeSpan.FromSeconds(30);
        _log = log ?? NullLogger.Instance;
        // the listener holds one connection for good; keepalives find a database that vanished without a word
        _listenConnection = new NpgsqlConnectionStringBuilder(db.ConnectionString) { Pooling = false, KeepAlive = 5 }.ConnectionString;
        try
        {
            if (Lease <= TimeSpan.Zero) throw new ArgumentException($"lease {Lease} must be positive", nameof(lease));
            db.EnsureSchema("tasks", SchemaVersion, Schema);
        }
        catch
        {
            if (ownsDb) db.Dispose();
            throw;
        }
        if (notifier is not null) _listening = Task.Run(() => ListenAsync(notifier, _stop.Token));
    }

    /// <summary>The name on this store's leases.</summary>
    public string Worker { get; }

    /// <inheritdoc/>
    public TimeSpan? Lease { get; }

    private TimeSpan LeaseTime => Lease!.Value;

    /// <summary>
    /// An Npgsql connection string from <paramref name="store"/>: a URL <c>postgres://user:password@host:port/database?sslmode=require</c>
    /// (<c>postgresql://</c> too; user and password percent-encoded, query keys are Npgsql keywords) or a connection
    /// string as it is. A malformed one is an <see cref="ArgumentException"/> that never shows the password.
    /// </summary>
    public static string ConnectionString(string store)
    {
        if (!IsUrl(store))
        {
            try { return new NpgsqlConnectionStringBuilder(store).ConnectionString; }
            catch (Exception e) when (e is ArgumentException or FormatException or InvalidCastException)
            {
                throw new ArgumentException($"store: not a PostgreSQL connection string or postgres:// URL ({e.Message})");
            }
        }
        string shown = Redacted(store);
        if (!Uri.TryCreate(store, UriKind.Absolute, out var uri) || uri.Host.Length == 0)
            throw new ArgumentException($"store: '{shown}' is not a URL of the form postgres://user:password@host:port/database");
        var b = new NpgsqlConnectionStringBuilder { Host = uri.Host.Trim('[', ']'), Port = uri.IsDefaultPort || uri.Port < 0 ? 5432 : uri.Port };
        if (uri.UserInfo.Length > 0)
        {
            int colon = uri.UserInfo.IndexOf(':');
            b.Username = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]);
            if (colon >= 0) b.Password = Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
        }
        var database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
        if (database.Contains('/')) throw new ArgumentException($"store: '{shown}': the path must be one database name");
        if (database.Length > 0) b.Database = database;
        foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = pair.IndexOf('=');
            string key = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]), value = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..]);
            try { b[key] = value; }
            catch (Exception e) when (e is ArgumentException or FormatException or InvalidCastException)
            {
                throw new ArgumentException($"store: '{shown}': option '{key}' is not an Npgsql connection setting or has a bad value");
            }
        }
        return b.ConnectionString;
    }

    /// <summary>Where a store points, for a log line: <c>postgres://user@host:port/database</c>, never the password.</summary>
    public static string Describe(string connectionString)
    {
        var b = new NpgsqlConnectionStringBuilder(connectionString);
        var user = string.IsNullOrEmpty(b.Username) ? "" : Uri.EscapeDataString(b.Username) + "@";
        return $"postgres://{user}{b.Host}:{b.Port}/{b.Database}";
    }

    public static bool IsUrl(string store) =>
        store.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || store.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase);

    private static string Redacted(string url) => Regex.Replace(url, "(://[^:/@]*:)[^@/]*@", "$1***@");

    public Task<(TaskRecord Task, bool Created)> AddAsync(NewTask task, CancellationToken cancel = default) => Run(async c =>
    {
        // two servers adding the same key at once: the unique index lets one in, the other reads its task
        int added = await Change(c, """
            INSERT INTO canter_tasks (id, state, spec, model, steps, created_at, idempotency_key, api_key, request_hash, remixed_from)
            VALUES (@id, 'queued', @spec, @model, @steps, now(), @key, @owner, @hash, @remix)
            ON CONFLICT ((coalesce(api_key, '')), idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
            """, cancel, ("id", task.Id), ("spec", task.Spec.ToJson()), ("model", task.Model), ("steps", task.Spec.Steps),
            ("key", task.IdempotencyKey), ("owner", task.Owner), ("hash", task.RequestHash), ("remix", task.RemixedFrom));
        if (added == 1) return ((await QueryOne(c, "WHERE t.id = @id", cancel, ("id", task.Id)))!, true);
        var existing = await QueryOne(c, "WHERE coalesce(t.api_key, '') = coalesce(@owner, '') AND t.idempotency_key = @key", cancel,
            ("owner", task.Owner), ("key", task.IdempotencyKey));
        return (existing ?? throw new InvalidOperationException($"task {task.Id}: its idempotency key clashed, then the task holding it vanished"), false);
    }, cancel);

    public Task<TaskRecord?> GetAsync(string id, CancellationToken cancel = default) =>
        Run(c => QueryOne(c, "WHERE t.id = @id", cancel, ("id", id)), cancel, readOnly: true);

    public Task<TaskPage> ListAsync(TaskQuery query, CancellationToken cancel = default) => Run(async c =>
    {
        var where = new List<string> { "coalesce(t.api_key, '') = coalesce(@owner, '')" };
        var args = new List<(string, object?)> { ("owner", query.Owner) };
        if (query.State is { } state) { where.Add("t.state = @state"); args.Add(("state", state.Name())); }
        if (query.After is not null)
        {
            // the cursor is a task id; an id that is not (or no longer) there gives an empty page rather than page one again
            where.Add(query.Ascending ? "t.seq > coalesce((SELECT seq FROM canter_tasks WHERE id = @after), 9223372036854775807)"
                                      : "t.seq < coalesce((SELECT seq FROM canter_tasks WHERE id = @after), -1)");
            args.Add(("after", query.After));
        }
        args.Add(("limit", query.Limit + 1));
        var rows = await Query(c, $"WHERE {string.Join(" AND ", where)} ORDER BY t.seq {(query.Ascending ? "ASC" : "DESC")} LIMIT @limit", cancel, [.. args]);
        bool more = rows.Count > query.Limit;
        return new TaskPage(more ? rows.Take(query.Limit).ToList() : rows, more);
    }, cancel, readOnly: true);

    public Task<TaskRecord?> ClaimNextAsync(CancellationToken cancel = default) => Run(async c =>
    {
        // the row lock skips a task another worker is claiming this instant, so claimers never wait on nor share one
        await using var claim = Command(c, Queue + """
            UPDATE canter_tasks SET state = 'running', started_at = now(), step = 0, worker = @worker, lease_until = now() + @lease, claims = claims + 1
            WHERE seq = (SELECT t.seq FROM canter_tasks t JOIN queue q ON q.id = t.id WHERE t.state = 'queued'
                         ORDER BY q.position LIMIT 1 FOR UPDATE OF t SKIP LOCKED) AND state = 'queued'
            RETURNING id
            """, ("worker", Worker), ("lease", LeaseTime));
        if (await claim.ExecuteScalarAsync(cancel) is not string id) return null;
        return await QueryOne(c, "WHERE t.id = @id", cancel, ("id", id));
    }, cancel);

    public Task<bool> ReportProgressAsync(string id, int step, int steps, CancellationToken cancel = default) => Run(async c =>
    {
        await using var report = Command(c, """
            UPDATE canter_tasks SET step = @step, steps = @steps, lease_until = now() + @lease
            WHERE id = @id AND state = 'running' AND worker = @worker RETURNING cancel_requested
            """, ("step", step), ("steps", steps), ("lease", LeaseTime), ("id", id), ("worker", Worker));
        return await report.ExecuteScalarAsync(cancel) is not false;   // no row: not this worker's any more, stop
    }, cancel);

    public Task<bool> FinishAsync(string id, TaskState state, string? errorCode = null, string? error = null, CancellationToken cancel = default)
    {
        if (!state.IsFinished()) throw new ArgumentException($"{state} is not a final state", nameof(state));
        return Run(async c => await Change(c, """
            UPDATE canter_tasks SET state = @state, error_code = @code, error = @error, completed_at = now(), worker = NULL, lease_until = NULL,
                step = CASE WHEN @state = 'succeeded' THEN steps ELSE step END
            WHERE id = @id AND state = 'running' AND worker = @worker
            """, cancel, ("state", state.Name()), ("code", errorCode), ("error", error), ("id", id), ("worker", Worker)) == 1, cancel);
    }

    public Task<bool> ReleaseAsync(string id, CancellationToken cancel = default) => Run(async c => await Change(c, """
        UPDATE canter_tasks SET state = 'queued', started_at = NULL, step = 0, worker = NULL, lease_until = NULL
        WHERE id = @id AND state = 'running' AND worker = @worker
        """, cancel, ("id", id), ("worker", Worker)) == 1, cancel);

    public Task<TaskRecord?> RequestCancelAsync(string id, CancellationToken cancel = default) => Run(async c =>
    {
        // one statement: a queued task is cancelled at once, a running one is flagged for its worker, whichever it is now
        await Change(c, """
            UPDATE canter_tasks SET cancel_requested = true,
                completed_at = CASE WHEN state = 'queued' THEN now() ELSE completed_at END,
                error_code = CASE WHEN state = 'queued' THEN 'cancelled' ELSE error_code END,
                error = CASE WHEN state = 'queued' THEN 'cancelled before it started' ELSE error END,
                state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END
            WHERE id = @id AND state IN ('queued', 'running')
            """, cancel, ("id", id));
        return await QueryOne(c, "WHERE t.id = @id", cancel, ("id", id));
    }, cancel);

    public Task<bool> DeleteAsync(string id, CancellationToken cancel = default) =>
        Run(async c => await Change(c, "DELETE FROM canter_tasks WHERE id = @id", cancel, ("id", id)) == 1, cancel);

    /// <summary>Running tasks whose lease ran out (their worker died or lost the database) go back to the queue; tasks live workers run stay.</summary>
    public Task<int> RequeueInterruptedAsync(CancellationToken cancel = default) => Run(c => Change(c, """
        UPDATE canter_tasks SET state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END, started_at = NULL, step = 0,
            completed_at = CASE WHEN cancel_requested THEN now() END, worker = NULL, lease_until = NULL
        WHERE state = 'running' AND lease_until < now()
        """, cancel), cancel);

    public Task<IReadOnlyList<string>> HeartbeatAsync(IReadOnlyCollection<string> ids, CancellationToken cancel = default)
    {
        if (ids.Count == 0) return Task.FromResult<IReadOnlyList<string>>([]);
        return Run<IReadOnlyList<string>>(async c =>
        {
            await using var beat = Command(c, """
                UPDATE canter_tasks SET lease_until = now() + @lease WHERE id = ANY(@ids) AND state = 'running' AND worker = @worker RETURNING id
                """, ("lease", LeaseTime), ("ids", ids.ToArray()), ("worker", Worker));
            var held = new HashSet<string>();
            await using (var r = await beat.ExecuteReaderAsync(cancel))
                while (await r.ReadAsync(cancel)) held.Add(r.GetString(0));
            return ids.Where(id => !held.Contains(id)).ToList();
        }, cancel);
    }

    public void Dispose()
    {
        _stop.Cancel();
        try { _listening.Wait(TimeSpan.FromSeconds(5)); }
        catch (AggregateException) { }
        if (_ownsDb) _db.Dispose();
        _stop.Dispose();
    }

    /// <summary>
    /// One connection that LISTENs, for the life of the store. Each notification wakes the local waiters; so does every
    /// (re)connection, since changes may have been missed while it was down.
    /// </summary>
    private async Task ListenAsync(TaskNotifier notifier, CancellationToken stop)
    {
        var backoff = TimeSpan.FromMilliseconds(250);
        bool wasDown = false;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await using var c = new NpgsqlConnection(_listenConnection);
                await c.OpenAsync(stop);
                c.Notification += (_, _) => notifier.Notify();
                await using (var listen = Command(c, $"LISTEN {Channel}")) await listen.ExecuteNonQueryAsync(stop);
                if (wasDown) _log.LogInformation("listening to {Channel} again", Channel);
                wasDown = false;
                backoff = TimeSpan.FromMilliseconds(250);
                notifier.Notify();
                while (true) await c.WaitAsync(stop);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested) { break; }
            catch (Exception e)   // whatever broke the connection, the listener comes back; until then workers poll
            {
                if (!wasDown) _log.LogWarning("lost the {Channel} listener connection ({Reason}); reconnecting, polling meanwhile", Channel, e.Message);
                wasDown = true;
                try { await Task.Delay(backoff, stop); }
                catch (OperationCanceledException) { break; }
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
            }
        }
    }

    private Task<T> Run<T>(Func<NpgsqlConnection, Task<T>> action, CancellationToken cancel, bool readOnly = false) => _db.RunAsync(action, cancel, readOnly);

    private static NpgsqlCommand Command(NpgsqlConnection c, string sql, params (string Name, object? Value)[] args) => PostgresDatabase.Command(c, sql, args);

    private static Task<int> Change(NpgsqlConnection c, string sql, CancellationToken cancel, params (string, object?)[] args) =>
        PostgresDatabase.ChangeAsync(c, sql, cancel, args);

    private static async Task<TaskRecord?> QueryOne(NpgsqlConnection c, string tail, CancellationToken cancel, params (string, object?)[] args) =>
        (await Query(c, tail, cancel, args)).FirstOrDefault();

    private static async Task<List<TaskRecord>> Query(NpgsqlConnection c, string tail, CancellationToken cancel, params (string, object?)[] args)
    {
        // the owners' stats are a CTE read only by the position of a queued row: a page of finished tasks never computes them
        await using var command = Command(c, $"{OwnerStats} SELECT {Columns}, {Position} FROM canter_tasks t {tail}", args);
        await using var r = await command.ExecuteReaderAsync(cancel);
        var list = new List<TaskRecord>();
        while (await r.ReadAsync(cancel))
        {
            DateTimeOffset? Time(int i) => r.IsDBNull(i) ? null : r.GetFieldValue<DateTimeOffset>(i);
            string? Text(int i) => r.IsDBNull(i) ? null : r.GetString(i);
            list.Add(new TaskRecord(r.GetString(0), r.GetInt64(1), TaskStates.Parse(r.GetString(2)), TaskSpec.FromJson(r.GetString(3)), r.GetString(4),
                r.GetInt32(5), r.GetInt32(6), Text(7), Text(8), Time(9)!.Value, Time(10), Time(11), Text(12), Text(13), r.GetString(14), Text(15),
                r.GetBoolean(16), r.IsDBNull(17) ? null : r.GetInt32(17)));
        }
        return list;
    }
}
