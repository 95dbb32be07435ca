using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Canter.Eval.Arena;

/// <summary>How a voter judged a matchup. Stored as text: append only.</summary>
public enum Outcome { Left, Right, Tie, BothBad }

/// <summary>A generated file entered into the arena: which model made it from which prompt.</summary>
public sealed record ArenaEntry(long Id, string Model, string Prompt, long Seed, string Path, DateTimeOffset Created);

/// <summary>Two generations of one prompt by two models, in the order the voter sees them (left, right).</summary>
public sealed record Matchup(long Id, string Prompt, ArenaEntry Left, ArenaEntry Right);

/// <summary>One voter's judgement of one matchup, as stored.</summary>
public sealed record ArenaVote(long Matchup, Outcome Outcome, string Voter, DateTimeOffset Time);

/// <summary>One decided or tied game between two models, as the ratings read it.</summary>
public sealed record Game(string Left, string Right, Outcome Outcome);

/// <summary>
/// The arena's votes, durable in an SQLite file (<c>arena.db</c> in a data folder): entries, matchups and votes.
/// A matchup pairs two entries of the same prompt from two different models; which one is shown on the left is drawn
/// once, when the matchup is made, so the voter cannot tell the models apart and every voter sees the same order.
/// Each voter votes once on a matchup. The web studio's arena page uses the same store.
/// </summary>
/// <example>
/// <code>
/// using var arena = ArenaStore.Open("canter-data");
/// arena.AddEntry("canter-tiny", "A red ball bounces", 1, "a.mp4");
/// arena.AddEntry("other", "A red ball bounces", 1, "b.mp4");
/// var matchup = arena.NextMatchup("me")!;
/// arena.Vote(matchup.Id, Outcome.Left, "me");
/// </code>
/// </example>
public sealed class ArenaStore : IDisposable
{
    private const int SchemaVersion = 1;
    private readonly SqliteConnection _db;

    private ArenaStore(SqliteConnection db) => _db = db;

    public static ArenaStore Open(string dataFolder)
    {
        Directory.CreateDirectory(dataFolder);
        var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(dataFolder, "arena.db"), Pooling = false }.ToString());
        db.Open();
        var store = new ArenaStore(db);
        store.Execute("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;");
        // the schema and its version are made in one transaction, so two processes opening a new folder at once agree
        using var setup = db.BeginTransaction();
        store.Execute("""
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS entries (id INTEGER PRIMARY KEY, model TEXT NOT NULL, prompt TEXT NOT NULL, seed INTEGER NOT NULL,
                path TEXT NOT NULL, created TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS matchups (id INTEGER PRIMARY KEY, left_entry INTEGER NOT NULL REFERENCES entries(id),
                right_entry INTEGER NOT NULL REFERENCES entries(id), UNIQUE (left_entry, right_entry));
            CREATE TABLE IF NOT EXISTS votes (matchup INTEGER NOT NULL REFERENCES matchups(id), voter TEXT NOT NULL, outcome TEXT NOT NULL,
                time TEXT NOT NULL, PRIMARY KEY (matchup, voter));
            INSERT OR IGNORE INTO meta VALUES ('schema', '1');
            """, setup);
        setup.Commit();
        using var check = db.CreateCommand();
        check.CommandText = "SELECT value FROM meta WHERE key = 'schema'";
        var version = Convert.ToInt32(check.ExecuteScalar(), CultureInfo.InvariantCulture);
        if (version != SchemaVersion)
        {
            db.Dispose();
            throw new InvalidDataException($"{Path.Combine(dataFolder, "arena.db")} has arena schema {version}; this version of Canter reads {SchemaVersion}");
        }
        return store;
    }

    /// <summary>Enters a generation and makes its matchups with every entry of the same prompt by another model.</summary>
    public ArenaEntry AddEntry(string model, string prompt, long seed, string path)
    {
        if (string.IsNullOrWhiteSpace(model)) throw new ArgumentException("an arena entry needs a model name");
        if (string.IsNullOrWhiteSpace(prompt)) throw new ArgumentException("an arena entry needs the prompt it was generated from");
        if (string.IsNullOrWhiteSpace(path)) throw new ArgumentException("an arena entry needs the path of its video");
        var created = DateTimeOffset.UtcNow;
        using var tx = _db.BeginTransaction();
        long id = Scalar(tx, "INSERT INTO entries (model, prompt, seed, path, created) VALUES ($m, $p, $s, $f, $t) RETURNING id",
            ("$m", model), ("$p", prompt), ("$s", seed), ("$f", path), ("$t", Stamp(created)));
        var rivals = new List<long>();
        using (var q = Command(tx, "SELECT id FROM entries WHERE prompt = $p AND model <> $m", ("$p", prompt), ("$m", model)))
        using (var r = q.ExecuteReader())
            while (r.Read()) rivals.Add(r.GetInt64(0));
        foreach (var rival in rivals)
        {
            bool newOnLeft = Random.Shared.Next(2) == 0;
            Scalar(tx, "INSERT INTO matchups (left_entry, right_entry) VALUES ($l, $r) RETURNING id", ("$l", newOnLeft ? id : rival), ("$r", newOnLeft ? rival : id));
        }
        tx.Commit();
        return new ArenaEntry(id, model, prompt, seed, path, created);
    }

    /// <summary>The matchup with the fewest votes that this voter has not judged yet; null when none is left.</summary>
    public Matchup? NextMatchup(string voter)
    {
        using var q = Command(null, """
            SELECT m.id FROM matchups m
            WHERE NOT EXISTS (SELECT 1 FROM votes v WHERE v.matchup = m.id AND v.voter = $v)
            ORDER BY (SELECT COUNT(*) FROM votes v WHERE v.matchup = m.id), m.id LIMIT 1
            """, ("$v", voter));
        var id = q.ExecuteScalar();
        return id is null ? null : Find((long)id);
    }

    public Matchup? Find(long matchup)
    {
        using var q = Command(null, """
            SELECT m.id, l.id, l.model, l.prompt, l.seed, l.path, l.created, r.id, r.model, r.prompt, r.seed, r.path, r.created
            FROM matchups m JOIN entries l ON l.id = m.left_entry JOIN entries r ON r.id = m.right_entry WHERE m.id = $id
            """, ("$id", matchup));
        using var row = q.ExecuteReader();
        if (!row.Read()) return null;
        var left = ReadEntry(row, 1);
        var right = ReadEntry(row, 7);
        return new Matchup(row.GetInt64(0), left.Prompt, left, right);
    }

    /// <summary>Records a vote; a second vote of one voter on one matchup, or an unknown matchup, is an error that changes nothing.</summary>
    public void Vote(long matchup, Outcome outcome, string voter)
    {
        if (string.IsNullOrWhiteSpace(voter)) throw new ArgumentException("a vote needs a voter id");
        if (!Enum.IsDefined(outcome)) throw new ArgumentException($"unknown outcome {outcome}");
        if (Find(matchup) is null) throw new ArgumentException($"no matchup {matchup} in this arena");
        using var tx = _db.BeginTransaction();
        long already = Scalar(tx, "SELECT COUNT(*) FROM votes WHERE matchup = $m AND voter = $v", ("$m", matchup), ("$v", voter));
        if (already > 0) throw new ArgumentException($"voter '{voter}' has already voted on matchup {matchup}");
        using (var insert = Command(tx, "INSERT INTO votes (matchup, voter, outcome, time) VALUES ($m, $v, $o, $t)",
            ("$m", matchup), ("$v", voter), ("$o", outcome.ToString()), ("$t", Stamp(DateTimeOffset.UtcNow))))
        {
            // another process may have recorded this voter's vote between the check and here: the key refuses it
            try { insert.ExecuteNonQuery(); }
            catch (SqliteException e) when (e.SqliteErrorCode == 19) { throw new ArgumentException($"voter '{voter}' has already voted on matchup {matchup}"); }
        }
        tx.Commit();
    }

    /// <summary>Every entry, oldest first.</summary>
    public IReadOnlyList<ArenaEntry> Entries()
    {
        using var q = Command(null, "SELECT id, model, prompt, seed, path, created FROM entries ORDER BY id");
        using var row = q.ExecuteReader();
        var entries = new List<ArenaEntry>();
        while (row.Read()) entries.Add(ReadEntry(row, 0));
        return entries;
    }

    /// <summary>Every vote in the order it was cast.</summary>
    public IReadOnlyList<ArenaVote> Votes()
    {
        using var q = Command(null, "SELECT matchup, outcome, voter, time FROM votes ORDER BY rowid");
        using var row = q.ExecuteReader();
        var votes = new List<ArenaVote>();
        while (row.Read()) votes.Add(new ArenaVote(row.GetInt64(0), Enum.Parse<Outcome>(row.GetString(1)), row.GetString(2), ParseStamp(row.GetString(3))));
        return votes;
    }

    /// <summary>Every vote as a game between the two models (both_bad included; the ratings leave it out).</summary>
    public IReadOnlyList<Game> Games()
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

    /// <summary>Every model with an entry (rated or not).</summary>
    public IReadOnlyList<string> Models()
    {
        using var q = Command(null, "SELECT DISTINCT model FROM entries ORDER BY model");
        using var row = q.ExecuteReader();
        var models = new List<string>();
        while (row.Read()) models.Add(row.GetString(0));
        return models;
    }

    public void Dispose() => _db.Dispose();

    private static ArenaEntry ReadEntry(SqliteDataReader row, int first) => new(row.GetInt64(first), row.GetString(first + 1),
        row.GetString(first + 2), row.GetInt64(first + 3), row.GetString(first + 4), ParseStamp(row.GetString(first + 5)));

    // times are stored as round-trip UTC text so that they sort and read back the same on any machine
    private static string Stamp(DateTimeOffset time) => time.UtcDateTime.ToString("O", CultureInfo.InvariantCulture);

    private static DateTimeOffset ParseStamp(string text) => DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);

    private void Execute(string sql, SqliteTransaction? tx = null)
    {
        using var c = _db.CreateCommand();
        c.Transaction = tx;
        c.CommandText = sql;
        c.ExecuteNonQuery();
    }

    private SqliteCommand Command(SqliteTransaction? tx, string sql, params (string Name, object Value)[] parameters)
    {
        var c = _db.CreateCommand();
        c.Transaction = tx;
        c.CommandText = sql;
        foreach (var (name, value) in parameters) c.Parameters.AddWithValue(name, value);
        return c;
    }

    private long Scalar(SqliteTransaction tx, string sql, params (string Name, object Value)[] parameters)
    {
        using var c = Command(tx, sql, parameters);
        return Convert.ToInt64(c.ExecuteScalar(), CultureInfo.InvariantCulture);
    }
}
