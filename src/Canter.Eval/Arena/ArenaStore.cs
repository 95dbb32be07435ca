using Microsoft.Data.Sqlite;

namespace Canter.Eval.Arena;

/// <summary>How a voter judged a matchup. Stored as text: append only.</summary>
public enum Outcome { Left, Right, Tie, BothBad }

/// <summary>A generated file entered into the arena: which model made it from which prompt.</summary>
public sealed record ArenaEntry(long Id, string Model, string Prompt, long Seed, string Path);

/// <summary>Two generations of one prompt by two models, in the order the voter sees them (left, right).</summary>
public sealed record Matchup(long Id, string Prompt, ArenaEntry Left, ArenaEntry Right);

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
        store.Execute("""
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS entries (id INTEGER PRIMARY KEY, model TEXT NOT NULL, prompt TEXT NOT NULL, seed INTEGER NOT NULL,
                path TEXT NOT NULL, created TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS matchups (id INTEGER PRIMARY KEY, left_entry INTEGER NOT NULL REFERENCES entries(id),
                right_entry INTEGER NOT NULL REFERENCES entries(id), UNIQUE (left_entry, right_entry));
            CREATE TABLE IF NOT EXISTS votes (matchup INTEGER NOT NULL REFERENCES matchups(id), voter TEXT NOT NULL, outcome TEXT NOT NULL,
                time TEXT NOT NULL, PRIMARY KEY (matchup, voter));
            INSERT OR IGNORE INTO meta VALUES ('schema', '1');
            """);
        using var check = db.CreateCommand();
        check.CommandText = "SELECT value FROM meta WHERE key = 'schema'";
        var version = Convert.ToInt32(check.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
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
        using var tx = _db.BeginTransaction();
        long id = Scalar(tx, "INSERT INTO entries (model, prompt, seed, path, created) VALUES ($m, $p, $s, $f, $t) RETURNING id",
            ("$m", model), ("$p", prompt), ("$s", seed), ("$f", path), ("$t", DateTime.UtcNow.ToString("O")));
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
        return new ArenaEntry(id, model, prompt, seed, path);
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
            SELECT m.id, l.id, l.model, l.prompt, l.seed, l.path, r.id, r.model, r.prompt, r.seed, r.path
            FROM matchups m JOIN entries l ON l.id = m.left_entry JOIN entries r ON r.id = m.right_entry WHERE m.id = $id
            """, ("$id", matchup));
        using var row = q.ExecuteReader();
        if (!row.Read()) return null;
        var left = new ArenaEntry(row.GetInt64(1), row.GetString(2), row.GetString(3), row.GetInt64(4), row.GetString(5));
        var right = new ArenaEntry(row.GetInt64(6), row.GetString(7), row.GetString(8), row.GetInt64(9), row.GetString(10));
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
            ("$m", matchup), ("$v", voter), ("$o", outcome.ToString()), ("$t", DateTime.UtcNow.ToString("O"))))
        {
            // another process may have recorded this voter's vote between the check and here: the key refuses it
            try { insert.ExecuteNonQuery(); }
            catch (SqliteException e) when (e.SqliteErrorCode == 19) { throw new ArgumentException($"voter '{voter}' has already voted on matchup {matchup}"); }
        }
        tx.Commit();
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

    private void Execute(string sql)
    {
        using var c = _db.CreateCommand();
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
        return Convert.ToInt64(c.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
