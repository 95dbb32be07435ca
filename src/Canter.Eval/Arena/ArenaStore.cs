using System.Globalization;
using Canter.Media;
using Microsoft.Data.Sqlite;

namespace Canter.Eval.Arena;

/// <summary>
/// The arena, durable in a data folder: <c>arena.db</c> (SQLite) holds entries, matchups and votes, and
/// <c>arena-media/</c> the arena's copies of the entered videos. A copy has a random name and none of its source's
/// metadata, so neither its path nor its tags tell a voter which model made it.
/// <para>
/// Entering a generation pairs it with every entry of the same prompt by another model; which of the two is shown on
/// the left is drawn once, when the matchup is made, and kept. Each voter votes once on a matchup: a second vote, an
/// unknown matchup or a bad argument is an <see cref="ArgumentException"/> and leaves the store as it was.
/// </para>
/// <para>
/// Safe to share between threads (one connection behind a lock, as a web server would hold it) and between
/// processes: the journal is in WAL mode, every change is one IMMEDIATE transaction (writers queue, with a busy
/// timeout) and the keys refuse what a race could let through.
/// </para>
/// </summary>
/// <example>
/// <code>
/// using var arena = ArenaStore.Open("canter-data", create: true);
/// arena.AddEntry("canter-tiny", "A red ball bounces", 1, "a.mp4");
/// arena.AddEntry("other", "A red ball bounces", 1, "b.mp4");
/// var matchup = arena.NextMatchup("me")!;          // show matchup.Prompt, matchup.Left.Path, matchup.Right.Path
/// arena.Vote(matchup.Id, Outcome.Left, "me");
/// var board = arena.Leaderboard(new RatingOptions());
/// </code>
/// </example>
public sealed class ArenaStore : IDisposable
{
    public const string FileName = "arena.db";
    public const string MediaFolder = "arena-media";

    /// <summary>1: entries, matchups, votes. 2: entries keep their source path and content hash (the arena keeps copies).</summary>
    public const int SchemaVersion = 2;

    private const int ConstraintFailed = 19; // SQLITE_CONSTRAINT
    private const int MaxNameLength = 200;
    private const int MaxPromptLength = 20_000;

    private readonly SqliteConnection _db;
    private readonly Lock _gate = new();
    private readonly Random _sides;

    /// <summary>The data folder (full path); entry paths are resolved against it, so the folder can move.</summary>
    public string DataFolder { get; }

    private ArenaStore(SqliteConnection db, string dataFolder, Random sides)
    {
        _db = db;
        DataFolder = dataFolder;
        _sides = sides;
    }

    /// <summary>
    /// Opens the arena in <paramref name="dataFolder"/>. Without <paramref name="create"/> a missing arena is a
    /// <see cref="FileNotFoundException"/> and nothing is written; with it the folder and database are made.
    /// An arena of an older schema is brought up to date; a newer one is refused. <paramref name="sides"/> draws
    /// left and right for new matchups (a seeded one makes tests repeatable).
    /// </summary>
    public static ArenaStore Open(string dataFolder, bool create = false, Random? sides = null)
    {
        var folder = Path.GetFullPath(dataFolder);
        var file = Path.Combine(folder, FileName);
        if (!File.Exists(file))
        {
            if (!create) throw new FileNotFoundException($"no arena in {folder} (no {FileName}); `canter arena add` starts one");
            Directory.CreateDirectory(folder);
        }
        var db = new SqliteConnection(new SqliteConnectionStringBuilder
        {
            DataSource = file,
            Pooling = false,
            Mode = create ? SqliteOpenMode.ReadWriteCreate : SqliteOpenMode.ReadWrite,
        }.ToString());
        try
        {
            db.Open();
            Execute(db, null, "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;");
            Migrate(db, file);
            return new ArenaStore(db, folder, sides ?? Random.Shared);
        }
        catch (SqliteException e) when (e.SqliteErrorCode is 26 or 11) // SQLITE_NOTADB, SQLITE_CORRUPT
        {
            db.Dispose();
            throw new InvalidDataException($"{file} is not a readable arena database ({e.Message})", e);
        }
        catch
        {
            db.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Enters a generation: checks that <paramref name="file"/> is a video, copies it into the arena without its
    /// metadata and pairs it with every entry of the same prompt by another model. The same file entered twice for
    /// one model and prompt is refused. Model and prompt are trimmed; prompts must match exactly to be paired.
    /// </summary>
    public ArenaEntry AddEntry(string model, string prompt, long seed, string file)
    {
        var info = CheckEntry(ref model, ref prompt, file);
        var source = Path.GetFullPath(file);
        var sha = ArenaMedia.Sha256(source);
        lock (_gate) RefuseDuplicate(null, model, prompt, sha, source);

        // the copy is made outside the lock (it runs ffmpeg); if the entry cannot be written it is removed again
        var relative = $"{MediaFolder}/{Guid.NewGuid():N}.mp4";
        var copy = Resolve(relative);
        Mp4Remux.WithoutMetadata(source, copy, info);
        try
        {
            lock (_gate)
            {
                using var tx = _db.BeginTransaction();
                RefuseDuplicate(tx, model, prompt, sha, source);
                var created = DateTimeOffset.UtcNow;
                long id = Scalar(tx, """
                    INSERT INTO entries (model, prompt, seed, path, created, source, sha256) VALUES ($m, $p, $s, $f, $t, $src, $sha) RETURNING id
                    """, ("$m", model), ("$p", prompt), ("$s", seed), ("$f", relative), ("$t", created.ToString("O", CultureInfo.InvariantCulture)),
                    ("$src", source), ("$sha", sha));
                var rivals = new List<long>();
                using (var q = Command(tx, "SELECT id FROM entries WHERE prompt = $p AND model <> $m ORDER BY id", ("$p", prompt), ("$m", model)))
                using (var r = q.ExecuteReader())
                    while (r.Read()) rivals.Add(r.GetInt64(0));
                foreach (var rival in rivals)
                {
                    bool newOnLeft = _sides.Next(2) == 0;
                    Execute(_db, tx, "INSERT INTO matchups (left_entry, right_entry) VALUES ($l, $r)", ("$l", newOnLeft ? id : rival), ("$r", newOnLeft ? rival : id));
                }
                tx.Commit();
                return new ArenaEntry(id, model, prompt, seed, copy, source, created);
            }
        }
        catch
        {
            File.Delete(copy);
            throw;
        }
    }

    /// <summary>
    /// What <see cref="AddEntry"/> checks before it touches the store: a model name and a prompt (trimmed, not empty,
    /// not too long) and a video file. A caller that would otherwise create an arena for a bad entry checks first.
    /// </summary>
    public static MediaInfo CheckEntry(string model, string prompt, string file) => CheckEntry(ref model, ref prompt, file);

    private static MediaInfo CheckEntry(ref string model, ref string prompt, string file)
    {
        model = RequireName(model, "model name");
        prompt = (prompt ?? "").Trim();
        if (prompt.Length == 0) throw new ArgumentException("an arena entry needs the prompt it was generated from");
        if (prompt.Length > MaxPromptLength) throw new ArgumentException($"the prompt is over {MaxPromptLength} characters");
        return ArenaMedia.RequireVideo(Path.GetFullPath(file));
    }

    /// <summary>
    /// The matchup this voter should judge next, or null when they have judged them all. Coverage first: the
    /// matchups with the fewest votes, among them the pair of models with the fewest votes, then the prompt with the
    /// fewest; what is still level is ordered by a hash of voter and matchup, so that voters spread out.
    /// </summary>
    public Matchup? NextMatchup(string voter)
    {
        voter = RequireName(voter, "voter id");
        lock (_gate)
        {
            using var q = Command(null, """
                WITH tally AS (
                    SELECT m.id, l.prompt, min(l.model, r.model) AS a, max(l.model, r.model) AS b,
                           (SELECT COUNT(*) FROM votes v WHERE v.matchup = m.id) AS n
                    FROM matchups m JOIN entries l ON l.id = m.left_entry JOIN entries r ON r.id = m.right_entry),
                by_prompt AS (SELECT prompt, SUM(n) AS n FROM tally GROUP BY prompt),
                by_pair AS (SELECT a, b, SUM(n) AS n FROM tally GROUP BY a, b)
                SELECT t.id FROM tally t JOIN by_prompt p ON p.prompt = t.prompt JOIN by_pair q ON q.a = t.a AND q.b = t.b
                WHERE NOT EXISTS (SELECT 1 FROM votes v WHERE v.matchup = t.id AND v.voter = $v)
                ORDER BY t.n, q.n, p.n, (t.id * 2654435761 + $salt) % 4294967311, t.id
                LIMIT 1
                """, ("$v", voter), ("$salt", Salt(voter)));
            return q.ExecuteScalar() is long id ? FindLocked(id) : null;
        }
    }

    /// <summary>A matchup by id, or null.</summary>
    public Matchup? Find(long matchup)
    {
        lock (_gate) return FindLocked(matchup);
    }

    /// <summary>Records a vote. An unknown matchup, a bad outcome or a second vote by the same voter changes nothing.</summary>
    public ArenaVote Vote(long matchup, Outcome outcome, string voter)
    {
        voter = RequireName(voter, "voter id");
        if (!Enum.IsDefined(outcome)) throw new ArgumentException($"unknown outcome {(int)outcome}");
        lock (_gate)
        {
            using var tx = _db.BeginTransaction();
            if (Scalar(tx, "SELECT COUNT(*) FROM matchups WHERE id = $id", ("$id", matchup)) == 0)
                throw new ArgumentException($"no matchup {matchup} in this arena");
            var time = DateTimeOffset.UtcNow;
            try
            {
                Execute(_db, tx, "INSERT INTO votes (matchup, voter, outcome, time) VALUES ($m, $v, $o, $t)",
                    ("$m", matchup), ("$v", voter), ("$o", outcome.ToString()), ("$t", time.ToString("O", CultureInfo.InvariantCulture)));
            }
            catch (SqliteException e) when (e.SqliteErrorCode == ConstraintFailed)
            {
                throw new ArgumentException($"voter '{voter}' has already voted on matchup {matchup}", e);
            }
            tx.Commit();
            return new ArenaVote(matchup, outcome, voter, time);
        }
    }

    /// <summary>Every vote in the order cast, as a game between the two models (both_bad included; the ratings leave it out).</summary>
    public IReadOnlyList<Game> Games()
    {
        lock (_gate)
        {
            using var q = Command(null, """
                SELECT l.model, r.model, v.outcome FROM votes v JOIN matchups m ON m.id = v.matchup
                JOIN entries l ON l.id = m.left_entry JOIN entries r ON r.id = m.right_entry ORDER BY v.rowid
                """);
            using var row = q.ExecuteReader();
            var games = new List<Game>();
            while (row.Read()) games.Add(new Game(row.GetString(0), row.GetString(1), Enum.Parse<Outcome>(row.GetString(2))));
            return games;
        }
    }

    /// <summary>Every vote a voter has cast, in order.</summary>
    public IReadOnlyList<ArenaVote> VotesOf(string voter)
    {
        lock (_gate)
        {
            using var q = Command(null, "SELECT matchup, outcome, voter, time FROM votes WHERE voter = $v ORDER BY rowid", ("$v", voter));
            using var row = q.ExecuteReader();
            var votes = new List<ArenaVote>();
            while (row.Read())
                votes.Add(new ArenaVote(row.GetInt64(0), Enum.Parse<Outcome>(row.GetString(1)), row.GetString(2), ParseTime(row.GetString(3))));
            return votes;
        }
    }

    /// <summary>Every model with an entry, rated or not, in ordinal order.</summary>
    public IReadOnlyList<string> Models()
    {
        lock (_gate)
        {
            using var q = Command(null, "SELECT DISTINCT model FROM entries ORDER BY model COLLATE BINARY");
            using var row = q.ExecuteReader();
            var models = new List<string>();
            while (row.Read()) models.Add(row.GetString(0));
            return models;
        }
    }

    public ArenaCounts Counts()
    {
        lock (_gate)
            return new ArenaCounts((int)Scalar(null, "SELECT COUNT(*) FROM entries"), (int)Scalar(null, "SELECT COUNT(*) FROM matchups"),
                (int)Scalar(null, "SELECT COUNT(*) FROM votes"), (int)Scalar(null, "SELECT COUNT(DISTINCT voter) FROM votes"));
    }

    /// <summary>The ratings of every model from the votes so far (see <see cref="Ratings"/>).</summary>
    public Leaderboard Leaderboard(RatingOptions options) => Ratings.Compute(Games(), Models(), options);

    public void Dispose()
    {
        lock (_gate) _db.Dispose();
    }

    /// <summary>Brings the schema to <see cref="SchemaVersion"/>, step by step, in one transaction that waits for other writers.</summary>
    private static void Migrate(SqliteConnection db, string file)
    {
        // the usual case, an arena already up to date, needs no write lock
        if (ReadVersion(db, null, file) == SchemaVersion) return;
        using var tx = db.BeginTransaction();
        int version = ReadVersion(db, tx, file);
        if (version < 1)
            Execute(db, tx, """
                CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE entries (id INTEGER PRIMARY KEY, model TEXT NOT NULL, prompt TEXT NOT NULL, seed INTEGER NOT NULL,
                    path TEXT NOT NULL, created TEXT NOT NULL);
                CREATE TABLE matchups (id INTEGER PRIMARY KEY, left_entry INTEGER NOT NULL REFERENCES entries(id),
                    right_entry INTEGER NOT NULL REFERENCES entries(id), UNIQUE (left_entry, right_entry));
                CREATE TABLE votes (matchup INTEGER NOT NULL REFERENCES matchups(id), voter TEXT NOT NULL, outcome TEXT NOT NULL,
                    time TEXT NOT NULL, PRIMARY KEY (matchup, voter));
                INSERT INTO meta VALUES ('schema', '1');
                """);
        if (version < 2)
            Execute(db, tx, """
                ALTER TABLE entries ADD COLUMN source TEXT;
                ALTER TABLE entries ADD COLUMN sha256 TEXT;
                CREATE UNIQUE INDEX entries_file ON entries (model, prompt, sha256) WHERE sha256 IS NOT NULL;
                CREATE INDEX entries_prompt ON entries (prompt, model);
                CREATE INDEX votes_voter ON votes (voter);
                UPDATE meta SET value = '2' WHERE key = 'schema';
                """);
        tx.Commit();
    }

    private static int ReadVersion(SqliteConnection db, SqliteTransaction? tx, string file)
    {
        int version;
        if (Scalar(db, tx, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'") == 1)
            version = (int)Scalar(db, tx, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'schema'");
        else if (Scalar(db, tx, "SELECT COUNT(*) FROM sqlite_master") == 0)
            version = 0;
        else
            throw new InvalidDataException($"{file} is an SQLite database but not an arena (it has no schema version)");
        if (version > SchemaVersion)
            throw new InvalidDataException($"{file} has arena schema {version}; this version of Canter reads up to {SchemaVersion}");
        return version;
    }

    private void RefuseDuplicate(SqliteTransaction? tx, string model, string prompt, string sha, string source)
    {
        using var q = Command(tx, "SELECT id FROM entries WHERE model = $m AND prompt = $p AND sha256 = $sha", ("$m", model), ("$p", prompt), ("$sha", sha));
        if (q.ExecuteScalar() is long id)
            throw new ArgumentException($"{source} is already in the arena as entry {id} for model '{model}' and this prompt");
    }

    private Matchup? FindLocked(long matchup)
    {
        using var q = Command(null, """
            SELECT m.id, l.id, l.model, l.prompt, l.seed, l.path, l.source, l.created, r.id, r.model, r.prompt, r.seed, r.path, r.source, r.created
            FROM matchups m JOIN entries l ON l.id = m.left_entry JOIN entries r ON r.id = m.right_entry WHERE m.id = $id
            """, ("$id", matchup));
        using var row = q.ExecuteReader();
        if (!row.Read()) return null;
        var left = ReadEntry(row, 1);
        var right = ReadEntry(row, 8);
        return new Matchup(row.GetInt64(0), left.Prompt, left, right);
    }

    private ArenaEntry ReadEntry(SqliteDataReader row, int at) => new(row.GetInt64(at), row.GetString(at + 1), row.GetString(at + 2), row.GetInt64(at + 3),
        Resolve(row.GetString(at + 4)), row.IsDBNull(at + 5) ? null : row.GetString(at + 5), ParseTime(row.GetString(at + 6)));

    /// <summary>A stored path is relative to the data folder (entries of schema 1 hold absolute paths, which stay as they are).</summary>
    private string Resolve(string stored) => Path.GetFullPath(Path.Combine(DataFolder, stored));

    private static DateTimeOffset ParseTime(string text) => DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);

    private static string RequireName(string? value, string what)
    {
        var name = (value ?? "").Trim();
        if (name.Length == 0) throw new ArgumentException($"the {what} is empty");
        if (name.Length > MaxNameLength) throw new ArgumentException($"the {what} is over {MaxNameLength} characters");
        if (name.Any(char.IsControl)) throw new ArgumentException($"the {what} has control characters");
        return name;
    }

    /// <summary>A stable 32-bit hash of the voter (FNV-1a; string.GetHashCode changes from run to run).</summary>
    private static long Salt(string voter)
    {
        uint h = 2166136261;
        foreach (char c in voter) h = (h ^ c) * 16777619;
        return h;
    }

    private SqliteCommand Command(SqliteTransaction? tx, string sql, params (string Name, object Value)[] parameters) =>
        Command(_db, tx, sql, parameters);

    private static SqliteCommand Command(SqliteConnection db, SqliteTransaction? tx, string sql, params (string Name, object Value)[] parameters)
    {
        var c = db.CreateCommand();
        c.Transaction = tx;
        c.CommandText = sql;
        foreach (var (name, value) in parameters) c.Parameters.AddWithValue(name, value);
        return c;
    }

    private static void Execute(SqliteConnection db, SqliteTransaction? tx, string sql, params (string Name, object Value)[] parameters)
    {
        using var c = Command(db, tx, sql, parameters);
        c.ExecuteNonQuery();
    }

    private long Scalar(SqliteTransaction? tx, string sql, params (string Name, object Value)[] parameters) => Scalar(_db, tx, sql, parameters);

    private static long Scalar(SqliteConnection db, SqliteTransaction? tx, string sql, params (string Name, object Value)[] parameters)
    {
        using var c = Command(db, tx, sql, parameters);
        return Convert.ToInt64(c.ExecuteScalar(), CultureInfo.InvariantCulture);
    }
}
