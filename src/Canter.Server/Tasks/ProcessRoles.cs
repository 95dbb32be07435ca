using Microsoft.Extensions.Logging;
using Npgsql;

namespace Canter.Server.Tasks;

/// <summary>Background work that one process of a deployment does at a time. The values are lock keys: append only.</summary>
public enum ProcessRole
{
    /// <summary>Removes expired results and uploads (<see cref="Retention.RetentionSweeper"/>).</summary>
    RetentionSweeper = 1,

    /// <summary>POSTs the recorded webhook deliveries (<see cref="Webhooks.WebhookDispatcher"/>), so none is sent twice at once.</summary>
    WebhookDelivery = 2,
}

/// <summary>
/// Whether this process holds a <see cref="ProcessRole"/>. With SQLite there is one process, which holds every role
/// (<see cref="LocalRoles"/>); with PostgreSQL the first process to ask takes a session advisory lock on a connection
/// of its own and keeps it while it lives (<see cref="PostgresRoles"/>): when it dies or loses the database the lock goes,
/// and the next process to ask takes the role over.
/// </summary>
public interface IProcessRoles
{
    /// <summary>Whether other processes share the work (a holder of a role may be elsewhere, and work may be recorded elsewhere).</summary>
    bool Shared { get; }

    /// <summary>True while this process holds <paramref name="role"/>, taking it when free. Call before each round of the work.</summary>
    Task<bool> HoldAsync(ProcessRole role, CancellationToken cancel);
}

/// <summary>The one process of an SQLite deployment: it holds every role.</summary>
public sealed class LocalRoles : IProcessRoles
{
    public bool Shared => false;

    public Task<bool> HoldAsync(ProcessRole role, CancellationToken cancel) => Task.FromResult(true);
}

/// <summary>Roles as PostgreSQL session advisory locks (key: <see cref="PostgresDatabase.SchemaLock"/> + the role), one connection per role held.</summary>
public sealed class PostgresRoles(PostgresDatabase db, ILogger<PostgresRoles> log) : IProcessRoles, IDisposable
{
    private readonly Dictionary<ProcessRole, NpgsqlConnection> _held = [];
    private readonly SemaphoreSlim _gate = new(1, 1);

    public bool Shared => true;

    public static long Key(ProcessRole role) => PostgresDatabase.SchemaLock + (long)role;

    public async Task<bool> HoldAsync(ProcessRole role, CancellationToken cancel)
    {
        await _gate.WaitAsync(cancel);
        try
        {
            if (_held.TryGetValue(role, out var held))
            {
                try
                {
                    // the lock lives as long as this session: a session that answers still holds it
                    await using var alive = PostgresDatabase.Command(held, "SELECT 1");
                    await alive.ExecuteScalarAsync(cancel);
                    return true;
                }
                catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
                {
                    log.LogWarning("lost the {Role} role with its connection ({Reason}); asking for it again", role, e.Message);
                    _held.Remove(role);
                    await held.DisposeAsync();
                }
            }
            // its own connection, out of the pool: closing it must end the session, and so release the lock
            var c = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(db.ConnectionString) { Pooling = false, KeepAlive = 5 }.ConnectionString);
            bool kept = false;
            try
            {
                await c.OpenAsync(cancel);
                await using var take = PostgresDatabase.Command(c, "SELECT pg_try_advisory_lock(@key)", ("key", Key(role)));
                if (await take.ExecuteScalarAsync(cancel) is true)
                {
                    _held[role] = c;
                    kept = true;
                    log.LogInformation("this process holds the {Role} role", role);
                    return true;
                }
            }
            catch (NpgsqlException e) { log.LogWarning("could not ask for the {Role} role ({Reason})", role, e.Message); }
            finally
            {
                if (!kept) await c.DisposeAsync();
            }
            return false;
        }
        finally { _gate.Release(); }
    }

    public void Dispose()
    {
        foreach (var c in _held.Values) c.Dispose();
        _held.Clear();
        _gate.Dispose();
    }
}
