using Canter.Server.Tasks;
using Npgsql;

namespace Canter.Server.Uploads;

/// <summary>A file a client put on this server to use as an input: what its content is (image, video or audio) and until when it is kept.</summary>
public sealed record UploadRecord(string Id, string? Owner, string Kind, string Name, long Bytes, string Sha256, string Url, DateTimeOffset CreatedAt,
    DateTimeOffset ExpiresAt, bool Expired);

/// <summary>
/// The rows of uploads: <see cref="SqliteUploadTable"/> in tasks.db, or <see cref="PostgresUploadTable"/> in the shared
/// database of a scale-out, where an upload sent to one API server is an input of a task submitted to another.
/// </summary>
public interface IUploadTable
{
    Task AddAsync(UploadRecord u, CancellationToken cancel = default);

    Task<UploadRecord?> GetAsync(string id, CancellationToken cancel = default);

    /// <summary>Marks the uploads past their expiry as expired and returns their ids; each id once, to one caller.</summary>
    Task<List<string>> ExpireDueAsync(CancellationToken cancel = default);
}

/// <summary>Uploads: rows in an <see cref="IUploadTable"/>, bytes in uploads/ID under the (shared) data folder.</summary>
public sealed class UploadStore
{
    private readonly IUploadTable _table;

    public UploadStore(string dataDir, IUploadTable table)
    {
        _table = table;
        Folder = Path.Combine(Path.GetFullPath(dataDir), "uploads");
        Directory.CreateDirectory(Folder);
    }

    public string Folder { get; }

    public static string NewId() => "upload_" + Guid.NewGuid().ToString("N")[..24];

    public static bool IsId(string id) => id.Length == 31 && id.StartsWith("upload_", StringComparison.Ordinal) && id[7..].All(char.IsAsciiHexDigitLower);

    public string PathOf(string id) => IsId(id) ? Path.Combine(Folder, id) : throw new ArgumentException($"'{id}' is not an upload id");

    public Task AddAsync(UploadRecord u, CancellationToken cancel = default) => _table.AddAsync(u, cancel);

    public Task<UploadRecord?> GetAsync(string id, CancellationToken cancel = default) => _table.GetAsync(id, cancel);

    /// <summary>Marks the uploads past their expiry as expired and returns their files' paths, for the sweeper to remove.</summary>
    public async Task<List<string>> ExpireDueAsync(CancellationToken cancel = default) => (await _table.ExpireDueAsync(cancel)).Select(PathOf).ToList();
}

/// <summary><see cref="IUploadTable"/> as <c>uploads</c> in the server's SQLite file.</summary>
public sealed class SqliteUploadTable(string path, TimeProvider clock) : SqliteTables(path, """
    CREATE TABLE IF NOT EXISTS uploads (
        id TEXT PRIMARY KEY,
        owner TEXT,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        url TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        expired INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX IF NOT EXISTS uploads_expiry ON uploads (expired, expires_at);
    """), IUploadTable
{
    private const string Columns = "id, owner, kind, name, bytes, sha256, url, created_at, expires_at, expired";

    public Task AddAsync(UploadRecord u, CancellationToken cancel = default) => Locked(() =>
        Change($"INSERT INTO uploads ({Columns}) VALUES (@id, @owner, @kind, @name, @bytes, @sha, @url, @created, @expires, 0)",
            ("@id", u.Id), ("@owner", u.Owner), ("@kind", u.Kind), ("@name", u.Name), ("@bytes", u.Bytes), ("@sha", u.Sha256), ("@url", u.Url),
            ("@created", u.CreatedAt.ToUnixTimeMilliseconds()), ("@expires", u.ExpiresAt.ToUnixTimeMilliseconds())), cancel);

    public Task<UploadRecord?> GetAsync(string id, CancellationToken cancel = default) => Locked(() =>
        Query($"SELECT {Columns} FROM uploads WHERE id = @id", r => new UploadRecord(r.GetString(0), Text(r, 1), r.GetString(2), r.GetString(3), r.GetInt64(4),
            r.GetString(5), r.GetString(6), Time(r, 7)!.Value, Time(r, 8)!.Value, r.GetInt64(9) != 0), ("@id", id)).FirstOrDefault(), cancel);

    public Task<List<string>> ExpireDueAsync(CancellationToken cancel = default) => Locked(() =>
    {
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        var ids = Query("SELECT id FROM uploads WHERE expired = 0 AND expires_at <= @now", r => r.GetString(0), ("@now", now));
        Change("UPDATE uploads SET expired = 1 WHERE expired = 0 AND expires_at <= @now", ("@now", now));
        return ids;
    }, cancel);
}

/// <summary><see cref="IUploadTable"/> as <c>canter_uploads</c> in the shared PostgreSQL database.</summary>
public sealed class PostgresUploadTable(PostgresDatabase db, TimeProvider clock) : PostgresTables(db, "uploads", 1, """
    CREATE TABLE IF NOT EXISTS canter_uploads (
        id text PRIMARY KEY,
        owner text,
        kind text NOT NULL,
        name text NOT NULL,
        bytes bigint NOT NULL,
        sha256 text NOT NULL,
        url text NOT NULL,
        created_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL,
        expired boolean NOT NULL DEFAULT false);
    CREATE INDEX IF NOT EXISTS canter_uploads_expiry ON canter_uploads (expires_at) WHERE NOT expired;
    """), IUploadTable
{
    private const string Columns = "id, owner, kind, name, bytes, sha256, url, created_at, expires_at, expired";

    public Task AddAsync(UploadRecord u, CancellationToken cancel = default) =>
        Change($"INSERT INTO canter_uploads ({Columns}) VALUES (@id, @owner, @kind, @name, @bytes, @sha, @url, @created, @expires, false)", cancel,
            ("id", u.Id), ("owner", u.Owner), ("kind", u.Kind), ("name", u.Name), ("bytes", u.Bytes), ("sha", u.Sha256), ("url", u.Url),
            ("created", u.CreatedAt.ToUniversalTime()), ("expires", u.ExpiresAt.ToUniversalTime()));

    public async Task<UploadRecord?> GetAsync(string id, CancellationToken cancel = default) =>
        (await Query($"SELECT {Columns} FROM canter_uploads WHERE id = @id", Row, cancel, ("id", id))).FirstOrDefault();

    /// <summary>One statement marks and returns: two sweepers at once would each get different ids, never the same twice.</summary>
    public Task<List<string>> ExpireDueAsync(CancellationToken cancel = default) =>
        ChangeReturning("UPDATE canter_uploads SET expired = true WHERE NOT expired AND expires_at <= @now RETURNING id", r => r.GetString(0), cancel,
            ("now", clock.GetUtcNow()));

    private static UploadRecord Row(NpgsqlDataReader r) => new(r.GetString(0), PostgresDatabase.Text(r, 1), r.GetString(2), r.GetString(3), r.GetInt64(4),
        r.GetString(5), r.GetString(6), PostgresDatabase.Time(r, 7)!.Value, PostgresDatabase.Time(r, 8)!.Value, r.GetBoolean(9));
}
