namespace Canter.Server.Tasks;

/// <summary>
/// <see cref="ITaskStore"/> in one SQLite file (tasks.db under the data folder). One connection, one writer at a time
/// (a gate around every call): a single server process owns the file. Journal in WAL mode with full sync, so a
/// finished transition survives a crash or a power cut (the connection, pragmas and gate are <see cref="SqliteTables"/>').
/// </summary>
public sealed class SqliteTaskStore : SqliteTables, ITaskStore
{
    private const string Columns = """
        t.id, t.seq, t.state, t.spec, t.model, t.step, t.steps, t.error_code, t.error, t.created_at, t.started_at, t.completed_at,
        t.idempotency_key, t.api_key, t.request_hash, t.remixed_from, t.cancel_requested
        """;

    /// <summary>
    /// The fair order of the queue, which <see cref="ClaimNextAsync"/> takes from and queue positions count in. Queued
    /// tasks run in rounds: round k holds each owner's k-th oldest queued task. Within a round, owners go by fewest
    /// running tasks, then least recently served (the owner whose last task started longest ago, or never), then by
    /// their oldest queued task. So one key's hundred queued tasks do not starve another key's one: with one worker
    /// the owners take turns. (Fewest running alone would not do it: with one worker every owner has none running
    /// between tasks.) The open server's tasks (no key) are one owner.
    /// </summary>
    private const string Queue = """
        WITH owners AS (
            SELECT owner, MIN(seq) AS first FROM (SELECT ifnull(api_key, '') AS owner, seq FROM tasks WHERE state = 'queued') GROUP BY owner),
        stats AS (
            SELECT o.owner, o.first,
                (SELECT COUNT(*) FROM tasks r WHERE ifnull(r.api_key, '') = o.owner AND r.state = 'running') AS running,
                (SELECT MAX(s.started_at) FROM tasks s WHERE ifnull(s.api_key, '') = o.owner) AS served
            FROM owners o),
        ranked AS (
            SELECT id, ifnull(api_key, '') AS owner, ROW_NUMBER() OVER (PARTITION BY ifnull(api_key, '') ORDER BY seq) AS round
            FROM tasks WHERE state = 'queued'),
        queue AS (
            SELECT k.id, ROW_NUMBER() OVER (ORDER BY k.round, s.running, ifnull(s.served, -1), s.first) AS position
            FROM ranked k JOIN stats s ON s.owner = k.owner)
        SELECT id, position FROM queue
        """;

    private const string Schema = """
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
        CREATE INDEX IF NOT EXISTS tasks_owner_state ON tasks (ifnull(api_key, ''), state);
        CREATE INDEX IF NOT EXISTS tasks_owner_started ON tasks (ifnull(api_key, ''), started_at);
        """;

    private readonly TimeProvider _clock;

    // The fair order costs a pass over every queued task, so it is worked out once per change of the table, when a read
    // first needs it, not once per read: a status poll of a queued task is then a lookup (this process owns the file,
    // so every change goes through Change, which drops it). Guarded by the gate.
    private Dictionary<string, int>? _positions;

    public SqliteTaskStore(string path, TimeProvider? clock = null) : base(path, Schema) => _clock = clock ?? TimeProvider.System;

    public Task<(TaskRecord Task, bool Created)> AddAsync(NewTask task, CancellationToken cancel = default) => Locked<(TaskRecord, bool)>(() =>
    {
        if (task.IdempotencyKey is not null)
        {
            var existing = QueryOne("WHERE ifnull(t.api_key, '') = ifnull(@owner, '') AND t.idempotency_key = @key",
                ("@owner", task.Owner), ("@key", task.IdempotencyKey));
            if (existing is not null) return (existing, false);
        }
        Change("""
            INSERT INTO tasks (id, state, spec, model, steps, created_at, idempotency_key, api_key, request_hash, remixed_from)
            VALUES (@id, 'queued', @spec, @model, @steps, @now, @key, @owner, @hash, @remix)
            """,
            ("@id", task.Id), ("@spec", task.Spec.ToJson()), ("@model", task.Model), ("@steps", task.Spec.Steps), ("@now", Now()),
            ("@key", task.IdempotencyKey), ("@owner", task.Owner), ("@hash", task.RequestHash), ("@remix", task.RemixedFrom));
        return (QueryOne("WHERE t.id = @id", ("@id", task.Id))!, true);
    }, cancel);

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
        var rows = Tasks($"WHERE {string.Join(" AND ", where)} ORDER BY t.seq {(query.Ascending ? "ASC" : "DESC")} LIMIT @limit", [.. args]);
        bool more = rows.Count > query.Limit;
        return new TaskPage(more ? rows.Take(query.Limit).ToList() : rows, more);
    }, cancel);

    public Task<TaskRecord?> ClaimNextAsync(CancellationToken cancel = default) => Locked(() =>
    {
        string? next = Positions().Where(p => p.Value == 1).Select(p => p.Key).FirstOrDefault();
        if (next is null) return null;
        Change("UPDATE tasks SET state = 'running', started_at = @now, step = 0 WHERE id = @id AND state = 'queued'", ("@now", Now()), ("@id", next));
        return QueryOne("WHERE t.id = @id", ("@id", next));
    }, cancel);

    public Task<bool> ReportProgressAsync(string id, int step, int steps, CancellationToken cancel = default) => Locked(() =>
    {
        Change("UPDATE tasks SET step = @step, steps = @steps WHERE id = @id AND state = 'running'", ("@step", step), ("@steps", steps), ("@id", id));
        // a task that is gone is as good as cancelled
        return Query("SELECT cancel_requested FROM tasks WHERE id = @id", r => r.GetInt64(0) != 0, ("@id", id)) is not [false];
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
        ids.Where(id => Query("SELECT state FROM tasks WHERE id = @id", r => r.GetString(0), ("@id", id)) is not ["running"]).ToList(), cancel);

    private long Now() => _clock.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>Every write goes through here, so every change of the table drops the cached fair order.</summary>
    protected override int Change(string sql, params (string Name, object? Value)[] args)
    {
        int changed = base.Change(sql, args);
        if (changed != 0) _positions = null;
        return changed;
    }

    /// <summary>Every queued task's place in the fair order (1 runs next).</summary>
    private Dictionary<string, int> Positions() =>
        _positions ??= Query(Queue, r => (Id: r.GetString(0), Position: r.GetInt32(1))).ToDictionary(p => p.Id, p => p.Position, StringComparer.Ordinal);

    private TaskRecord? QueryOne(string tail, params (string, object?)[] args) => Tasks(tail, args).FirstOrDefault();

    private List<TaskRecord> Tasks(string tail, params (string, object?)[] args)
    {
        var list = Query($"SELECT {Columns} FROM tasks t {tail}", r => new TaskRecord(r.GetString(0), r.GetInt64(1), TaskStates.Parse(r.GetString(2)),
            TaskSpec.FromJson(r.GetString(3)), r.GetString(4), r.GetInt32(5), r.GetInt32(6), Text(r, 7), Text(r, 8), Time(r, 9)!.Value, Time(r, 10),
            Time(r, 11), Text(r, 12), Text(r, 13), r.GetString(14), Text(r, 15), r.GetInt64(16) != 0, null), args);
        if (list.Any(t => t.State == TaskState.Queued))
        {
            var positions = Positions();
            for (int i = 0; i < list.Count; i++)
                if (list[i].State == TaskState.Queued) list[i] = list[i] with { QueuePosition = positions.GetValueOrDefault(list[i].Id) };
        }
        return list;
    }
}
