using Canter.Server.Tasks;
using Microsoft.Data.Sqlite;

namespace Canter.Server.Keys;

/// <summary>
/// <see cref="IKeyStore"/> in the data folder's tasks.db: a table of keys (by hash) and a ledger of the seconds each
/// owner asked for, which reads the task table of the same file to leave out failed and cancelled tasks. Its own
/// connection and gate (<see cref="SqliteTables"/>); WAL lets the server and <c>canter keys</c> use the file at once.
/// </summary>
public sealed class SqliteKeyStore : SqliteTables, IKeyStore
{
    private const string Columns = "id, name, sha256, created_at, revoked_at, rate_limit, quota_seconds, concurrency";

    private const string Schema = """
            CREATE TABLE IF NOT EXISTS api_keys (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                sha256 TEXT NOT NULL UNIQUE,
                created_at INTEGER NOT NULL,
                revoked_at INTEGER,
                rate_limit INTEGER,
                quota_seconds REAL,
                concurrency INTEGER);
            CREATE UNIQUE INDEX IF NOT EXISTS api_keys_name ON api_keys (name) WHERE revoked_at IS NULL;
            CREATE TABLE IF NOT EXISTS key_usage (
                task_id TEXT PRIMARY KEY,
                owner TEXT NOT NULL,
                seconds REAL NOT NULL,
                created_at INTEGER NOT NULL);
            CREATE INDEX IF NOT EXISTS key_usage_owner ON key_usage (owner, created_at);
            """;

    private readonly TimeProvider _clock;

    public SqliteKeyStore(string path, TimeProvider? clock = null) : base(path, Schema) => _clock = clock ?? TimeProvider.System;

    public Task<ApiKeyRecord> CreateAsync(string name, string sha256, KeyLimits limits, CancellationToken cancel = default) => Locked(() =>
    {
        name = name.Trim();
        if (name.Length == 0) throw new ArgumentException("a key needs a name (--name)");
        if (QueryOne("WHERE name = @name AND revoked_at IS NULL", ("@name", name)) is not null)
            throw new ArgumentException($"a key named '{name}' already exists; revoke it first or choose another name");
        Change($"INSERT INTO api_keys ({Columns}) VALUES (@id, @name, @sha, @now, NULL, @rate, @quota, @concurrency)",
            ("@id", ApiKeySecrets.Id(sha256)), ("@name", name), ("@sha", sha256), ("@now", Now()),
            ("@rate", limits.RateLimit), ("@quota", limits.QuotaSeconds), ("@concurrency", limits.Concurrency));
        return QueryOne("WHERE sha256 = @sha", ("@sha", sha256))!;
    }, cancel);

    public Task<IReadOnlyList<ApiKeyRecord>> ListAsync(CancellationToken cancel = default) =>
        Locked<IReadOnlyList<ApiKeyRecord>>(() => Keys("ORDER BY created_at, id"), cancel);

    public Task<ApiKeyRecord?> FindByHashAsync(string sha256, CancellationToken cancel = default) =>
        Locked(() => QueryOne("WHERE sha256 = @sha", ("@sha", sha256)), cancel);

    public Task<ApiKeyRecord?> FindAsync(string id, CancellationToken cancel = default) =>
        Locked(() => QueryOne("WHERE id = @id", ("@id", id)), cancel);

    public Task<ApiKeyRecord?> RevokeAsync(string idOrName, CancellationToken cancel = default) => Locked(() =>
    {
        var key = QueryOne("WHERE id = @id", ("@id", idOrName)) ?? QueryOne("WHERE name = @name AND revoked_at IS NULL", ("@name", idOrName));
        if (key is null || key.Revoked) return key;
        Change("UPDATE api_keys SET revoked_at = @now WHERE id = @id AND revoked_at IS NULL", ("@now", Now()), ("@id", key.Id));
        return QueryOne("WHERE id = @id", ("@id", key.Id));
    }, cancel);

    public Task<bool> AnyAsync(CancellationToken cancel = default) =>
        Locked(() => Query("SELECT EXISTS (SELECT 1 FROM api_keys)", r => r.GetInt64(0) != 0)[0], cancel);

    public Task RecordUsageAsync(string owner, string taskId, double seconds, CancellationToken cancel = default) => Locked(() =>
    {
        // the ledger only needs the quota window; older rows go as new ones come
        long now = Now();
        Change("DELETE FROM key_usage WHERE created_at < @old", ("@old", now - 2 * 86_400_000L));
        Change("INSERT OR IGNORE INTO key_usage (task_id, owner, seconds, created_at) VALUES (@task, @owner, @seconds, @now)",
            ("@task", taskId), ("@owner", owner), ("@seconds", seconds), ("@now", now));
        return true;
    }, cancel);

    public Task<KeyUsage> UsageAsync(string owner, DateTimeOffset since, CancellationToken cancel = default) => Locked(() =>
    {
        int count = Query("SELECT COUNT(*) FROM tasks WHERE api_key = @owner AND state IN ('queued', 'running')", r => r.GetInt32(0), ("@owner", owner))[0];
        return Query("""
            SELECT ifnull(SUM(u.seconds), 0), MIN(u.created_at) FROM key_usage u LEFT JOIN tasks t ON t.id = u.task_id
            WHERE u.owner = @owner AND u.created_at >= @since AND (t.state IS NULL OR t.state NOT IN ('failed', 'cancelled'))
            """, r => new KeyUsage(count, r.GetDouble(0), Time(r, 1)), ("@owner", owner), ("@since", since.ToUnixTimeMilliseconds()))[0];
    }, cancel);

    private long Now() => _clock.GetUtcNow().ToUnixTimeMilliseconds();

    private ApiKeyRecord? QueryOne(string tail, params (string, object?)[] args) => Keys(tail, args).FirstOrDefault();

    private List<ApiKeyRecord> Keys(string tail, params (string, object?)[] args) =>
        Query($"SELECT {Columns} FROM api_keys {tail}", r => new ApiKeyRecord(r.GetString(0), r.GetString(1), r.GetString(2),
            DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(3)), Time(r, 4),
            r.IsDBNull(5) ? null : r.GetInt32(5), r.IsDBNull(6) ? null : r.GetDouble(6), r.IsDBNull(7) ? null : r.GetInt32(7)), args);
}
