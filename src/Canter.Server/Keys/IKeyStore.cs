namespace Canter.Server.Keys;

/// <summary>
/// The API keys a server accepts, and the usage their limits are checked against. <see cref="SqliteKeyStore"/> keeps
/// them in the data folder's tasks.db next to the tasks; a shared database (PostgreSQL) for several server machines
/// implements the same interface over the same database as its task store.
/// </summary>
public interface IKeyStore
{
    /// <summary>Stores a new key by its hash; throws <see cref="ArgumentException"/> when the name is empty or taken by a key not revoked.</summary>
    Task<ApiKeyRecord> CreateAsync(string name, string sha256, KeyLimits limits, CancellationToken cancel = default);

    /// <summary>Every key, revoked ones too, oldest first.</summary>
    Task<IReadOnlyList<ApiKeyRecord>> ListAsync(CancellationToken cancel = default);

    /// <summary>The key with this SHA-256 (revoked or not), or null.</summary>
    Task<ApiKeyRecord?> FindByHashAsync(string sha256, CancellationToken cancel = default);

    /// <summary>The key with this id (revoked or not), or null.</summary>
    Task<ApiKeyRecord?> FindAsync(string id, CancellationToken cancel = default);

    /// <summary>
    /// Revokes the key with this id, or the key not yet revoked with this name; returns it (with its revocation time),
    /// or null when there is no such key. Revoking a revoked key changes nothing and returns it.
    /// </summary>
    Task<ApiKeyRecord?> RevokeAsync(string idOrName, CancellationToken cancel = default);

    /// <summary>Whether the store holds any key, revoked ones included (a server with none, and none configured, is open).</summary>
    Task<bool> AnyAsync(CancellationToken cancel = default);

    /// <summary>
    /// Counts a submitted task against its owner's quota. The record outlives the task: deleting a task does not give
    /// its seconds back, failing or being cancelled does.
    /// </summary>
    Task RecordUsageAsync(string owner, string taskId, double seconds, CancellationToken cancel = default);

    /// <summary>The owner's unfinished tasks, and the seconds of its tasks submitted since <paramref name="since"/> that did not fail or get cancelled.</summary>
    Task<KeyUsage> UsageAsync(string owner, DateTimeOffset since, CancellationToken cancel = default);
}
