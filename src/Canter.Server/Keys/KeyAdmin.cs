using System.Globalization;
using Canter.Server.Tasks;

namespace Canter.Server.Keys;

/// <summary>
/// What <c>canter keys create | list | revoke</c> do to a key store, apart from printing: the CLI formats, this class
/// decides. The store is the data folder's tasks.db, or with <c>store</c> (a PostgreSQL URL or connection string) the
/// database a scale-out shares, so that every API server accepts the key. A running server sees a new or revoked key
/// on its next request.
/// <code>
/// var (key, secret) = await KeyAdmin.CreateAsync("canter-data", "alice", KeyAdmin.Limits("60/min", "600/day", 2));
/// await KeyAdmin.RevokeAsync("canter-data", "alice");
/// </code>
/// </summary>
public static class KeyAdmin
{
    /// <summary>The database of a data folder (the server's tasks.db).</summary>
    public static string DatabasePath(string dataDir) => Path.Combine(Path.GetFullPath(dataDir), "tasks.db");

    /// <summary>Where the keys of <paramref name="dataDir"/> or <paramref name="store"/> are, for a message (never a password).</summary>
    public static string Location(string dataDir, string? store = null) =>
        store is { Length: > 0 } ? TaskStores.Describe(new ServerOptions { DataDir = dataDir, Store = store }) : DatabasePath(dataDir);

    /// <summary>
    /// Makes a key and stores its hash (creating the data folder, or the tables of the database, when missing); the key
    /// itself is returned once and kept nowhere.
    /// </summary>
    public static async Task<(ApiKeyRecord Key, string Secret)> CreateAsync(string dataDir, string name, KeyLimits limits, CancellationToken cancel = default,
        string? store = null)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("a key needs a name: --name NAME");
        using var keys = Open(dataDir, store, create: true);
        var secret = ApiKeySecrets.NewKey();
        return (await keys.Store.CreateAsync(name, ApiKeySecrets.Sha256(secret), limits, cancel), secret);
    }

    public static async Task<IReadOnlyList<ApiKeyRecord>> ListAsync(string dataDir, CancellationToken cancel = default, string? store = null)
    {
        using var keys = Open(dataDir, store, create: false);
        return await keys.Store.ListAsync(cancel);
    }

    /// <summary>Revokes a key by id or name; an unknown one is an <see cref="ArgumentException"/>.</summary>
    public static async Task<ApiKeyRecord> RevokeAsync(string dataDir, string idOrName, CancellationToken cancel = default, string? store = null)
    {
        if (string.IsNullOrWhiteSpace(idOrName)) throw new ArgumentException("give the id or the name of the key to revoke");
        using var keys = Open(dataDir, store, create: false);
        return await keys.Store.RevokeAsync(idOrName.Trim(), cancel)
            ?? throw new ArgumentException($"no key has the id or name '{idOrName}' in {Location(dataDir, store)} ('canter keys list' shows them)");
    }

    /// <summary>Limits from the CLI's forms: <c>60/min</c> (or 60), <c>600/day</c> (or 600, 600s/day) and a count.</summary>
    public static KeyLimits Limits(string? rateLimit, string? quota, int? concurrency)
    {
        if (concurrency is < 1) throw new ArgumentException($"--concurrency {concurrency} must be at least 1");
        return new KeyLimits(rateLimit is null ? null : (int)Number(rateLimit, "/min", "--rate-limit", "requests per minute, like 60/min", integer: true),
            quota is null ? null : Number(quota, "/day", "--quota", "seconds of video per day, like 600/day", integer: false), concurrency);
    }

    /// <summary>One line of <c>canter keys list</c>: id, name, created, revoked and limits (a limit not set is the server's default); never the key.</summary>
    public static string Describe(ApiKeyRecord k)
    {
        static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);
        static string Limit(double? v, string unit) => v is { } x ? x.ToString(CultureInfo.InvariantCulture) + unit : "default";
        return $"{k.Id}  {k.Name}  created {Time(k.CreatedAt)}  {(k.RevokedAt is { } r ? $"revoked {Time(r)}" : "active")}  " +
               $"rate {Limit(k.RateLimit, "/min")}  quota {Limit(k.QuotaSeconds, "s/day")}  concurrency {Limit(k.Concurrency, "")}";
    }

    private static OpenStore Open(string dataDir, string? store, bool create)
    {
        if (store is { Length: > 0 })
        {
            var db = new PostgresDatabase(PostgresTaskStore.ConnectionString(store));
            try { return new OpenStore(new PostgresKeyStore(db), db); }
            catch
            {
                db.Dispose();
                throw;
            }
        }
        var path = DatabasePath(dataDir);
        if (!create && !File.Exists(path))
            throw new FileNotFoundException($"'{dataDir}' has no database (tasks.db): no server has used it and no key was created there", path);
        var sqlite = new SqliteKeyStore(path);
        return new OpenStore(sqlite, sqlite);
    }

    /// <summary>A key store and what to dispose when done with it.</summary>
    private sealed record OpenStore(IKeyStore Store, IDisposable Owner) : IDisposable
    {
        public void Dispose() => Owner.Dispose();
    }

    private static double Number(string text, string unit, string option, string what, bool integer)
    {
        var s = text.Trim();
        if (s.EndsWith(unit, StringComparison.OrdinalIgnoreCase)) s = s[..^unit.Length];
        if (!integer && s.EndsWith('s')) s = s[..^1];
        if (double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > 0 && double.IsFinite(v) && (!integer || v == Math.Floor(v) && v <= int.MaxValue))
            return v;
        throw new ArgumentException($"{option} '{text}' is not a positive number of {what}");
    }
}
