using Microsoft.Data.Sqlite;

namespace Canter.Server.Tasks;

/// <summary>
/// A connection of its own to the server's SQLite file (tasks.db): the task store's and those of the tables that sit
/// beside it (keys, webhooks, uploads, expired results). Each creates its tables with CREATE TABLE IF NOT EXISTS; only
/// the task store writes the tasks table. WAL mode with full sync lets these connections share the file and a finished
/// write survive a crash; one call at a time on each connection (a gate).
/// </summary>
public abstract class SqliteTables : IDisposable
{
    private readonly SqliteConnection _db;
    private readonly SemaphoreSlim _gate = new(1, 1);

    protected SqliteTables(string path, string schema)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        _db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        _db.Open();
        using (var pragma = Command("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;")) pragma.ExecuteNonQuery();
        using var create = Command(schema);
        create.ExecuteNonQuery();
    }

    public void Dispose()
    {
        _db.Dispose();
        _gate.Dispose();
        GC.SuppressFinalize(this);
    }

    protected async Task<T> Locked<T>(Func<T> action, CancellationToken cancel)
    {
        await _gate.WaitAsync(cancel);
        try { return action(); }
        finally { _gate.Release(); }
    }

    /// <summary>Runs a statement that writes; the count of rows it changed.</summary>
    protected virtual int Change(string sql, params (string Name, object? Value)[] args)
    {
        using var c = Command(sql, args);
        return c.ExecuteNonQuery();
    }

    protected List<T> Query<T>(string sql, Func<SqliteDataReader, T> row, params (string Name, object? Value)[] args)
    {
        using var c = Command(sql, args);
        using var r = c.ExecuteReader();
        var list = new List<T>();
        while (r.Read()) list.Add(row(r));
        return list;
    }

    protected static string? Text(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    protected static DateTimeOffset? Time(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(i));

    private SqliteCommand Command(string sql, params (string Name, object? Value)[] args)
    {
        var c = _db.CreateCommand();
        c.CommandText = sql;
        foreach (var (name, value) in args) c.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return c;
    }
}
