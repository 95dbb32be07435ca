using Canter.Server.Tasks;

namespace Canter.Server.Uploads;

/// <summary>A file a client put on this server to use as an input: what its content is (image, video or audio) and until when it is kept.</summary>
public sealed record UploadRecord(string Id, string? Owner, string Kind, string Name, long Bytes, string Sha256, string Url, DateTimeOffset CreatedAt,
    DateTimeOffset ExpiresAt, bool Expired);

/// <summary>Uploads: rows in <c>uploads</c> (the server's SQLite file), bytes in uploads/ID under the data folder.</summary>
public sealed class UploadStore : SqliteTables
{
    private const string Columns = "id, owner, kind, name, bytes, sha256, url, created_at, expires_at, expired";
    private readonly TimeProvider _clock;

    public UploadStore(string dataDir, TimeProvider clock) : base(Path.Combine(dataDir, "tasks.db"), """
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
        """)
    {
        _clock = clock;
        Folder = Path.Combine(Path.GetFullPath(dataDir), "uploads");
        Directory.CreateDirectory(Folder);
    }

    public string Folder { get; }

    public static string NewId() => "upload_" + Guid.NewGuid().ToString("N")[..24];

    public static bool IsId(string id) => id.Length == 31 && id.StartsWith("upload_", StringComparison.Ordinal) && id[7..].All(char.IsAsciiHexDigitLower);

    public string PathOf(string id) => IsId(id) ? Path.Combine(Folder, id) : throw new ArgumentException($"'{id}' is not an upload id");

    public Task AddAsync(UploadRecord u, CancellationToken cancel = default) => Locked(() =>
        Change($"INSERT INTO uploads ({Columns}) VALUES (@id, @owner, @kind, @name, @bytes, @sha, @url, @created, @expires, 0)",
            ("@id", u.Id), ("@owner", u.Owner), ("@kind", u.Kind), ("@name", u.Name), ("@bytes", u.Bytes), ("@sha", u.Sha256), ("@url", u.Url),
            ("@created", u.CreatedAt.ToUnixTimeMilliseconds()), ("@expires", u.ExpiresAt.ToUnixTimeMilliseconds())), cancel);

    public Task<UploadRecord?> GetAsync(string id, CancellationToken cancel = default) => Locked(() =>
        Query($"SELECT {Columns} FROM uploads WHERE id = @id", r => new UploadRecord(r.GetString(0), Text(r, 1), r.GetString(2), r.GetString(3), r.GetInt64(4),
            r.GetString(5), r.GetString(6), Time(r, 7)!.Value, Time(r, 8)!.Value, r.GetInt64(9) != 0), ("@id", id)).FirstOrDefault(), cancel);

    /// <summary>Marks the uploads past their expiry as expired and returns their files' paths, for the sweeper to remove.</summary>
    public Task<List<string>> ExpireDueAsync(CancellationToken cancel = default) => Locked(() =>
    {
        var now = _clock.GetUtcNow().ToUnixTimeMilliseconds();
        var ids = Query("SELECT id FROM uploads WHERE expired = 0 AND expires_at <= @now", r => r.GetString(0), ("@now", now));
        Change("UPDATE uploads SET expired = 1 WHERE expired = 0 AND expires_at <= @now", ("@now", now));
        return ids.Select(PathOf).ToList();
    }, cancel);
}
