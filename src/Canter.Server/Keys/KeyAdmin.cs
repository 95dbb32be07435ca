using System.Globalization;

namespace Canter.Server.Keys;

/// <summary>
/// What <c>canter keys create | list | revoke</c> do to a data folder's key store, apart from printing: the CLI
/// formats, this class decides. A running server sees a new or revoked key on its next request.
/// <code>
/// var (key, secret) = await KeyAdmin.CreateAsync("canter-data", "alice", KeyAdmin.Limits("60/min", "600/day", 2));
/// await KeyAdmin.RevokeAsync("canter-data", "alice");
/// </code>
/// </summary>
public static class KeyAdmin
{
    /// <summary>The database of a data folder (the server's tasks.db).</summary>
    public static string DatabasePath(string dataDir) => Path.Combine(Path.GetFullPath(dataDir), "tasks.db");

    /// <summary>Makes a key and stores its hash (creating the data folder when missing); the key itself is returned once and kept nowhere.</summary>
    public static async Task<(ApiKeyRecord Key, string Secret)> CreateAsync(string dataDir, string name, KeyLimits limits, CancellationToken cancel = default)
    {
        if (string.IsNullOrWhiteSpace(name)) throw new ArgumentException("a key needs a name: --name NAME");
        using var store = new SqliteKeyStore(DatabasePath(dataDir));
        var secret = ApiKeySecrets.NewKey();
        return (await store.CreateAsync(name, ApiKeySecrets.Sha256(secret), limits, cancel), secret);
    }

    public static async Task<IReadOnlyList<ApiKeyRecord>> ListAsync(string dataDir, CancellationToken cancel = default)
    {
        using var store = Open(dataDir);
        return await store.ListAsync(cancel);
    }

    /// <summary>Revokes a key by id or name; an unknown one is an <see cref="ArgumentException"/>.</summary>
    public static async Task<ApiKeyRecord> RevokeAsync(string dataDir, string idOrName, CancellationToken cancel = default)
    {
        if (string.IsNullOrWhiteSpace(idOrName)) throw new ArgumentException("give the id or the name of the key to revoke");
        using var store = Open(dataDir);
        return await store.RevokeAsync(idOrName.Trim(), cancel)
            ?? throw new ArgumentException($"no key has the id or name '{idOrName}' in {DatabasePath(dataDir)} ('canter keys list' shows them)");
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

    private static SqliteKeyStore Open(string dataDir)
    {
        var path = DatabasePath(dataDir);
        if (!File.Exists(path)) throw new FileNotFoundException($"'{dataDir}' has no database (tasks.db): no server has used it and no key was created there", path);
        return new SqliteKeyStore(path);
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
