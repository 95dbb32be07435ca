using Npgsql;
using NpgsqlTypes;

namespace Canter.Server.Tasks;

/// <summary>
/// One PostgreSQL database shared by every server and worker of a scale-out, and the one copy of the plumbing every
/// table on it uses: a pool of connections, calls that survive a database restart (<see cref="RunAsync"/>), commands
/// with parameters, and schema creation per feature under one advisory lock (<see cref="EnsureSchema"/>). The task
/// store and the side tables (<see cref="PostgresTables"/>: keys, webhooks, uploads, expired results) of a process share
/// one instance, so one pool.
/// <code>
/// using var db = new PostgresDatabase(PostgresTaskStore.ConnectionString("postgres://canter:secret@db:5432/canter"));
/// int n = await db.RunAsync(c => PostgresDatabase.ChangeAsync(c, "DELETE FROM uploads WHERE expired", default), default);
/// </code>
/// </summary>
public sealed class PostgresDatabase : IDisposable
{
    /// <summary>Key of the advisory lock that makes schema creation safe when several processes start at once ("canter").</summary>
    public const long SchemaLock = 0x63616e746572;

    private readonly NpgsqlDataSource _source;

    /// <param name="connectionString">An Npgsql connection string (<see cref="PostgresTaskStore.ConnectionString"/> makes one from a URL).</param>
    public PostgresDatabase(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        if (string.IsNullOrEmpty(builder.ApplicationName)) builder.ApplicationName = "canter";
        // the same few statements run all day: prepared once per connection, a status read is not planned again each time
        // (planning its position query costs more than running it)
        if (builder.MaxAutoPrepare == 0) builder.MaxAutoPrepare = 64;
        ConnectionString = builder.ConnectionString;
        _source = NpgsqlDataSource.Create(ConnectionString);
    }

    /// <summary>The connection string, with the application name set.</summary>
    public string ConnectionString { get; }

    /// <summary>
    /// Creates a feature's tables when the database records an older version of them (or none), under the schema
    /// advisory lock so that processes starting together do it once; not on every start, since DDL would lock tables
    /// against the processes using them. A newer recorded version was made by a newer Canter and is not touched.
    /// </summary>
    /// <param name="ddl">Idempotent statements (IF NOT EXISTS, OR REPLACE): a database made before the versions were recorded runs them again.</param>
    public void EnsureSchema(string feature, int version, string ddl)
    {
        using var c = _source.OpenConnection();
        using var tx = c.BeginTransaction();
        using (var lockSchema = Command(c, "SELECT pg_advisory_xact_lock(@key)", ("key", SchemaLock))) lockSchema.ExecuteNonQuery();
        using (var exists = Command(c, "SELECT to_regclass('canter_schemas') IS NOT NULL"))
            if (exists.ExecuteScalar() is not true)
                using (var create = Command(c, "CREATE TABLE canter_schemas (feature text PRIMARY KEY, version integer NOT NULL)")) create.ExecuteNonQuery();
        int known;
        using (var read = Command(c, "SELECT coalesce(max(version), 0) FROM canter_schemas WHERE feature = @feature", ("feature", feature)))
            known = Convert.ToInt32(read.ExecuteScalar());
        if (known > version)
            throw new NotSupportedException($"the database's Canter schema of {feature} is version {known}; this Canter knows up to {version}: upgrade Canter");
        if (known < version)
        {
            using (var create = Command(c, ddl)) create.ExecuteNonQuery();
            using var record = Command(c, """
                INSERT INTO canter_schemas (feature, version) VALUES (@feature, @version) ON CONFLICT (feature) DO UPDATE SET version = excluded.version
                """, ("feature", feature), ("version", version));
            record.ExecuteNonQuery();
        }
        tx.Commit();
    }

    /// <summary>
    /// One call on a pooled connection. A broken connection (the database restarted) empties the pool, so the next try
    /// gets a fresh one rather than the next stale one; a read tries once more at once, a write is left to its caller
    /// (whether it was done is unknown).
    /// </summary>
    public async Task<T> RunAsync<T>(Func<NpgsqlConnection, Task<T>> action, CancellationToken cancel, bool readOnly = false)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                await using var c = await OpenAsync(cancel);
                return await action(c);
            }
            catch (NpgsqlException e) when (Broken(e))
            {
                _source.Clear();
                if (!readOnly || attempt > 0) throw;
            }
        }
    }

    /// <summary>A pooled connection; the caller disposes it.</summary>
    public async Task<NpgsqlConnection> OpenAsync(CancellationToken cancel)
    {
        try { return await _source.OpenConnectionAsync(cancel); }
        catch (NpgsqlException) { _source.Clear(); throw; }
    }

    /// <summary>The connection, not the statement, failed: I/O, or the server shutting down or restarting (class 57, 08).</summary>
    public static bool Broken(NpgsqlException e) =>
        e is not PostgresException p || p.SqlState.StartsWith("57", StringComparison.Ordinal) || p.SqlState.StartsWith("08", StringComparison.Ordinal);

    /// <summary>A command with named parameters (<c>@name</c>); a null is a typed NULL of text.</summary>
    public static NpgsqlCommand Command(NpgsqlConnection c, string sql, params (string Name, object? Value)[] args)
    {
        var command = new NpgsqlCommand(sql, c);
        foreach (var (name, value) in args)
            command.Parameters.Add(value is null ? new NpgsqlParameter(name, NpgsqlDbType.Text) { Value = DBNull.Value } : new NpgsqlParameter(name, value));
        return command;
    }

    /// <summary>Runs a statement; the number of rows it changed.</summary>
    public static async Task<int> ChangeAsync(NpgsqlConnection c, string sql, CancellationToken cancel, params (string, object?)[] args)
    {
        await using var command = Command(c, sql, args);
        return await command.ExecuteNonQueryAsync(cancel);
    }

    /// <summary>Every row of a query, each made by <paramref name="row"/>.</summary>
    public static async Task<List<T>> QueryAsync<T>(NpgsqlConnection c, string sql, Func<NpgsqlDataReader, T> row, CancellationToken cancel, params (string, object?)[] args)
    {
        await using var command = Command(c, sql, args);
        await using var r = await command.ExecuteReaderAsync(cancel);
        var list = new List<T>();
        while (await r.ReadAsync(cancel)) list.Add(row(r));
        return list;
    }

    public static string? Text(NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    public static DateTimeOffset? Time(NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : r.GetFieldValue<DateTimeOffset>(i);

    public void Dispose() => _source.Dispose();
}

/// <summary>
/// Base of the tables that sit beside the task store's in the shared PostgreSQL database (keys, webhooks, uploads,
/// expired results), as <see cref="SqliteTables"/> is beside SQLite's: each feature creates its tables through
/// <see cref="PostgresDatabase.EnsureSchema"/> and runs each call on a pooled connection of the shared database.
/// </summary>
public abstract class PostgresTables
{
    protected PostgresTables(PostgresDatabase db, string feature, int version, string schema)
    {
        Db = db;
        db.EnsureSchema(feature, version, schema);
    }

    protected PostgresDatabase Db { get; }

    protected Task<int> Change(string sql, CancellationToken cancel, params (string, object?)[] args) =>
        Db.RunAsync(c => PostgresDatabase.ChangeAsync(c, sql, cancel, args), cancel);

    protected Task<List<T>> Query<T>(string sql, Func<NpgsqlDataReader, T> row, CancellationToken cancel, params (string, object?)[] args) =>
        Db.RunAsync(c => PostgresDatabase.QueryAsync(c, sql, row, cancel, args), cancel, readOnly: true);

    /// <summary>A statement that changes rows and returns some (<c>RETURNING</c>): run once, never retried.</summary>
    protected Task<List<T>> ChangeReturning<T>(string sql, Func<NpgsqlDataReader, T> row, CancellationToken cancel, params (string, object?)[] args) =>
        Db.RunAsync(c => PostgresDatabase.QueryAsync(c, sql, row, cancel, args), cancel);
}
