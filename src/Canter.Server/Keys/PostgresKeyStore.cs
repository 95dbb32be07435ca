using Canter.Server.Tasks;
using Npgsql;

namespace Canter.Server.Keys;

/// <summary>
/// <see cref="IKeyStore"/> in the shared PostgreSQL database of a scale-out, so that a key made once (<c>canter keys
/// create --store postgres://...</c>) is accepted by every API server: <c>canter_api_keys</c> (by hash) and the ledger
/// <c>canter_key_usage</c>, which reads <c>canter_tasks</c> to leave out failed and cancelled tasks as SQLite's does.
/// </summary>
public sealed class PostgresKeyStore(PostgresDatabase db, TimeProvider? clock = null) : PostgresTables(db, "keys", 1, """
    CREATE TABLE IF NOT EXISTS canter_api_keys (
        id text PRIMARY KEY,
        name text NOT NULL,
        sha256 text NOT NULL UNIQUE,
        created_at timestamptz NOT NULL,
        revoked_at timestamptz,
        rate_limit integer,
        quota_seconds double precision,
        concurrency integer);
    CREATE UNIQUE INDEX IF NOT EXISTS canter_api_keys_name ON canter_api_keys (name) WHERE revoked_at IS NULL;
    CREATE TABLE IF NOT EXISTS canter_key_usage (
        task_id text PRIMARY KEY,
        owner text NOT NULL,
        seconds double precision NOT NULL,
        created_at timestamptz NOT NULL);
    CREATE INDEX IF NOT EXISTS canter_key_usage_owner ON canter_key_usage (owner, created_at);
    """), IKeyStore
{
    private const string Columns = "id, name, sha256, created_at, revoked_at, rate_limit, quota_seconds, concurrency";

    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    public async Task<ApiKeyRecord> CreateAsync(string name, string sha256, KeyLimits limits, CancellationToken cancel = default)
    {
        name = name.Trim();
        if (name.Length == 0) throw new ArgumentException("a key needs a name (--name)");
        // the partial unique index decides between two creators of one name at once
        var made = await ChangeReturning($"""
            INSERT INTO canter_api_keys ({Columns}) VALUES (@id, @name, @sha, @now, NULL, @rate::integer, @quota::double precision, @concurrency::integer)
            ON CONFLICT DO NOTHING RETURNING {Columns}
            """, Row, cancel, ("id", ApiKeySecrets.Id(sha256)), ("name", name), ("sha", sha256), ("now", _clock.GetUtcNow()),
            ("rate", limits.RateLimit), ("quota", limits.QuotaSeconds), ("concurrency", limits.Concurrency));
        return made.Count == 1 ? made[0] : throw new ArgumentException($"a key named '{name}' already exists; revoke it first or choose another name");
    }

    public async Task<IReadOnlyList<ApiKeyRecord>> ListAsync(CancellationToken cancel = default) => await Keys("ORDER BY created_at, id", cancel);

    public async Task<ApiKeyRecord?> FindByHashAsync(string sha256, CancellationToken cancel = default) =>
        (await Keys("WHERE sha256 = @sha", cancel, ("sha", sha256))).FirstOrDefault();

    public async Task<ApiKeyRecord?> FindAsync(string id, CancellationToken cancel = default) =>
        (await Keys("WHERE id = @id", cancel, ("id", id))).FirstOrDefault();

    public async Task<ApiKeyRecord?> RevokeAsync(string idOrName, CancellationToken cancel = default)
    {
        var key = await FindAsync(idOrName, cancel) ?? (await Keys("WHERE name = @name AND revoked_at IS NULL", cancel, ("name", idOrName))).FirstOrDefault();
        if (key is null || key.Revoked) return key;
        await Change("UPDATE canter_api_keys SET revoked_at = @now WHERE id = @id AND revoked_at IS NULL", cancel, ("now", _clock.GetUtcNow()), ("id", key.Id));
        return await FindAsync(key.Id, cancel);
    }

    public async Task<bool> AnyAsync(CancellationToken cancel = default) =>
        (await Query("SELECT EXISTS (SELECT FROM canter_api_keys)", r => r.GetBoolean(0), cancel))[0];

    public async Task RecordUsageAsync(string owner, string taskId, double seconds, CancellationToken cancel = default)
    {
        // the ledger only needs the quota window; older rows go as new ones come
        var now = _clock.GetUtcNow();
        await Change("""
            WITH old AS (DELETE FROM canter_key_usage WHERE created_at < @old)
            INSERT INTO canter_key_usage (task_id, owner, seconds, created_at) VALUES (@task, @owner, @seconds, @now) ON CONFLICT DO NOTHING
            """, cancel, ("old", now - TimeSpan.FromDays(2)), ("task", taskId), ("owner", owner), ("seconds", seconds), ("now", now));
    }

    public async Task<KeyUsage> UsageAsync(string owner, DateTimeOffset since, CancellationToken cancel = default) => (await Query("""
        SELECT (SELECT count(*) FROM canter_tasks WHERE api_key = @owner AND state IN ('queued', 'running'))::integer,
            coalesce(sum(u.seconds), 0), min(u.created_at)
        FROM canter_key_usage u LEFT JOIN canter_tasks t ON t.id = u.task_id
        WHERE u.owner = @owner AND u.created_at >= @since AND (t.state IS NULL OR t.state NOT IN ('failed', 'cancelled'))
        """, r => new KeyUsage(r.GetInt32(0), r.GetDouble(1), PostgresDatabase.Time(r, 2)), cancel, ("owner", owner), ("since", since)))[0];

    private Task<List<ApiKeyRecord>> Keys(string tail, CancellationToken cancel, params (string, object?)[] args) =>
        Query($"SELECT {Columns} FROM canter_api_keys {tail}", Row, cancel, args);

    private static ApiKeyRecord Row(NpgsqlDataReader r) => new(r.GetString(0), r.GetString(1), r.GetString(2), PostgresDatabase.Time(r, 3)!.Value,
        PostgresDatabase.Time(r, 4), r.IsDBNull(5) ? null : r.GetInt32(5), r.IsDBNull(6) ? null : r.GetDouble(6), r.IsDBNull(7) ? null : r.GetInt32(7));
}
