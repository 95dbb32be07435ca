using Microsoft.Data.Sqlite;

namespace Canter.Server.Tasks;

/// <summary>
/// <see cref="ITaskStore"/> in one SQLite file (tasks.db under the data folder). One connection, one writer at a time
/// (a gate around every call): a single server process owns the file. Journal in WAL mode with full sync, so a
/// finished transition survives a crash or a power cut.
/// </summary>
public sealed class SqliteTaskStore : ITaskStore, IDisposable
{
    private const string Columns = """
        t.id, t.seq, t.state, t.spec, t.model, t.step, t.steps, t.error_code, t.error, t.created_at, t.started_at, t.completed_at,
        t.idempotency_key, t.api_key, t.request_hash, t.remixed_from, t.cancel_requested,
        CASE WHEN t.state = 'queued' THEN (SELECT COUNT(*) FROM tasks q WHERE q.state = 'queued' AND q.seq <= t.seq) END
        """;

    private readonly SqliteConnection _db;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly TimeProvider _clock;

    public SqliteTaskStore(string path, TimeProvider? clock = null)
    {
        _clock = clock ?? TimeProvider.System;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        _db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        _db.Open();
        Execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;");
        Execute("""
            CREATE TABLE IF NOT EXISTS tasks (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                state TEXT NOT NULL,
                spec TEXT NOT NULL,
                model TEXT NOT NULL,
                step INTEGER NOT NULL DEFAULT 0,
                steps INTEGER NOT NULL DEFAULT 0,
                error_code TEXT,
                error TEXT,
                created_at INTEGER NOT NULL,
                started_at INTEGER,
                completed_at INTEGER,
                idempotency_key TEXT,
                api_key TEXT,
                request_hash TEXT NOT NULL,
                remixed_from TEXT,
                cancel_requested INTEGER NOT NULL DEFAULT 0);
            CREATE UNIQUE INDEX IF NOT EXISTS tasks_idempotency ON tasks (ifnull(api_key, ''), idempotency_key) WHERE idempotency_key IS NOT NULL;
            CREATE INDEX IF NOT EXISTS tasks_state ON tasks (state, seq);
            """);
    }

    public async Task<(TaskRecord Task, bool Created)> AddAsync(NewTask task, CancellationToken cancel = default)
    {
        await _gate.WaitAsync(cancel);
        try
        {
            if (task.IdempotencyKey is not null)
            {
                var existing = QueryOne("WHERE ifnull(t.api_key, '') = ifnull(@owner, '') AND t.idempotency_key = @key",
                    ("@owner", task.Owner), ("@key", task.IdempotencyKey));
                if (existing is not null) return (existing, false);
            }
            using var insert = Command("""
                INSERT INTO tasks (id, state, spec, model, steps, created_at, idempotency_key, api_key, request_hash, remixed_from)
                VALUES (@id, 'queued', @spec, @model, @steps, @now, @key, @owner, @hash, @remix)
                """,
                ("@id", task.Id), ("@spec", task.Spec.ToJson()), ("@model", task.Model), ("@steps", task.Spec.Steps), ("@now", Now()),
                ("@key", task.IdempotencyKey), ("@owner", task.Owner), ("@hash", task.RequestHash), ("@remix", task.RemixedFrom));
            insert.ExecuteNonQuery();
            return (QueryOne("WHERE t.id = @id", ("@id", task.Id))!, true);
        }
        finally { _gate.Release(); }
    }

    public Task<TaskRecord?> GetAsync(string id, CancellationToken cancel = default) =>
        Locked(() => QueryOne("WHERE t.id = @id", ("@id", id)), cancel);

    public Task<TaskPage> ListAsync(TaskQuery query, CancellationToken cancel = default) => Locked(() =>
    {
        var where = new List<string> { "ifnull(t.api_key, '') = ifnull(@owner, '')" };
        var args = new List<(string, object?)> { ("@owner", query.Owner) };
        if (query.State is { } state) { where.Add("t.state = @state"); args.Add(("@state", state.Name())); }
        if (query.After is not null)
        {
            // the cursor is a task id; an id that is not (or no longer) there gives an empty page rather than page one again
            where.Add(query.Ascending ? "t.seq > ifnull((SELECT seq FROM tasks WHERE id = @after), 9223372036854775807)"
                                      : "t.seq < ifnull((SELECT seq FROM tasks WHERE id = @after), -1)");
            args.Add(("@after", query.After));
        }
        args.Add(("@limit", query.Limit + 1));
        var rows = Query($"WHERE {string.Join(" AND ", where)} ORDER BY t.seq {(query.Ascending ? "ASC" : "DESC")} LIMIT @limit", [.. args]);
        bool more = rows.Count > query.Limit;
        return new TaskPage(more ? rows.Take(query.Limit).ToList() : rows, more);
    }, cancel);

    public Task<TaskRecord?> ClaimNextAsync(CancellationToken cancel = default) => Locked(() =>
    {
        var next = QueryOne("WHERE t.state = 'queued' ORDER BY t.seq LIMIT 1");
        if (next is null) return null;
        Change("UPDATE tasks SET state = 'running', started_at = @now, step = 0 WHERE id = @id AND state = 'queued'", ("@now", Now()), ("@id", next.Id));
        return QueryOne("WHERE t.id = @id", ("@id", next.Id));
    }, cancel);

    public Task<bool> ReportProgressAsync(string id, int step, int steps, CancellationToken cancel = default) => Locked(() =>
    {
        Change("UPDATE tasks SET step = @step, steps = @steps WHERE id = @id AND state = 'running'", ("@step", step), ("@steps", steps), ("@id", id));
        using var read = Command("SELECT cancel_requested FROM tasks WHERE id = @id", ("@id", id));
        return read.ExecuteScalar() is not long flag || flag != 0;
    }, cancel);

    public Task<bool> FinishAsync(string id, TaskState state, string? errorCode = null, string? error = null, CancellationToken cancel = default)
    {
        if (!state.IsFinished()) throw new ArgumentException($"{state} is not a final state", nameof(state));
        return Locked(() => Change("""
            UPDATE tasks SET state = @state, error_code = @code, error = @error, completed_at = @now,
                step = CASE WHEN @state = 'succeeded' THEN steps ELSE step END
            WHERE id = @id AND state = 'running'
            """, ("@state", state.Name()), ("@code", errorCode), ("@error", error), ("@now", Now()), ("@id", id)) == 1, cancel);
    }

    public Task<bool> ReleaseAsync(string id, CancellationToken cancel = default) => Locked(() =>
        Change("UPDATE tasks SET state = 'queued', started_at = NULL, step = 0 WHERE id = @id AND state = 'running'", ("@id", id)) == 1, cancel);

    public Task<TaskRecord?> RequestCancelAsync(string id, CancellationToken cancel = default) => Locked(() =>
    {
        Change("UPDATE tasks SET state = 'cancelled', completed_at = @now, cancel_requested = 1, error_code = 'cancelled', error = 'cancelled before it started' WHERE id = @id AND state = 'queued'",
            ("@now", Now()), ("@id", id));
        Change("UPDATE tasks SET cancel_requested = 1 WHERE id = @id AND state = 'running'", ("@id", id));
        return QueryOne("WHERE t.id = @id", ("@id", id));
    }, cancel);

    public Task<bool> DeleteAsync(string id, CancellationToken cancel = default) =>
        Locked(() => Change("DELETE FROM tasks WHERE id = @id", ("@id", id)) == 1, cancel);

    public Task<int> RequeueInterruptedAsync(CancellationToken cancel = default) => Locked(() =>
        Change("UPDATE tasks SET state = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'queued' END, started_at = NULL, step = 0, " +
               "completed_at = CASE WHEN cancel_requested = 1 THEN @now END WHERE state = 'running'", ("@now", Now())), cancel);

    /// <summary>One process owns the file: a task is running exactly while that process lives, so no leases.</summary>
    public TimeSpan? Lease => null;

    public Task<IReadOnlyList<string>> HeartbeatAsync(IReadOnlyCollection<string> ids, CancellationToken cancel = default) => Locked<IReadOnlyList<string>>(() =>
        ids.Where(id =>
        {
            using var read = Command("SELECT state FROM tasks WHERE id = @id", ("@id", id));
            return read.ExecuteScalar() as string != "running";
        }).ToList(), cancel);

    public void Dispose()
    {
        _db.Dispose();
        _gate.Dispose();
    }

    private async Task<T> Locked<T>(Func<T> action, CancellationToken cancel)
    {
        await _gate.WaitAsync(cancel);
        try { return action(); }
        finally { _gate.Release(); }
    }

    private long Now() => _clock.GetUtcNow().ToUnixTimeMilliseconds();

    private void Execute(string sql)
    {
        using var c = Command(sql);
        c.ExecuteNonQuery();
    }

    private int Change(string sql, params (string Name, object? Value)[] args)
    {
        using var c = Command(sql, args);
        return c.ExecuteNonQuery();
    }

    private SqliteCommand Command(string sql, params (string Name, object? Value)[] args)
    {
        var c = _db.CreateCommand();
        c.CommandText = sql;
        foreach (var (name, value) in args) c.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return c;
    }

    private TaskRecord? QueryOne(string tail, params (string, object?)[] args) => Query(tail, args).FirstOrDefault();

    private List<TaskRecord> Query(string tail, params (string, object?)[] args)
    {
        using var c = Command($"SELECT {Columns} FROM tasks t {tail}", args);
        using var r = c.ExecuteReader();
        var list = new List<TaskRecord>();
        while (r.Read())
        {
            DateTimeOffset? Time(int i) => r.IsDBNull(i) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(i));
            string? Text(int i) => r.IsDBNull(i) ? null : r.GetString(i);
            list.Add(new TaskRecord(r.GetString(0), r.GetInt64(1), TaskStates.Parse(r.GetString(2)), TaskSpec.FromJson(r.GetString(3)), r.GetString(4),
                r.GetInt32(5), r.GetInt32(6), Text(7), Text(8), Time(9)!.Value, Time(10), Time(11), Text(12), Text(13), r.GetString(14), Text(15),
                r.GetInt64(16) != 0, r.IsDBNull(17) ? null : r.GetInt32(17)));
        }
        return list;
    }
}
