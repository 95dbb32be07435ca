using System.Text;
using Canter.Eval.Arena;
using Canter.Media;
using Microsoft.Data.Sqlite;

namespace Canter.Eval.Tests;

/// <summary>Tiny real videos (16x16, half a second, a solid colour each) for the arena store; made once per test class.</summary>
public sealed class ArenaClips : IDisposable
{
    public string Folder { get; } = Directory.CreateTempSubdirectory("canter-arena-clips-").FullName;

    /// <summary>Five different clips; each carries metadata naming a model, as a generator's output would.</summary>
    public IReadOnlyList<string> Videos { get; }

    public ArenaClips()
    {
        Videos = [.. Enumerable.Range(0, 5).Select(i =>
        {
            var frame = new byte[16 * 16 * 3];
            for (int p = 0; p < frame.Length; p += 3) (frame[p], frame[p + 1], frame[p + 2]) = ((byte)(40 * i), (byte)(200 - 30 * i), 90);
            var path = Path.Combine(Folder, $"clip{i}.mp4");
            Mp4Writer.Write(path, new VideoClip(16, 16, 12, Enumerable.Repeat(frame, 6).ToList()), null,
                new Mp4Metadata("secret-model-title", "{\"model\":\"secret-model\"}"));
            return path;
        })];
    }

    public void Dispose() => Directory.Delete(Folder, recursive: true);
}

public sealed class ArenaStoreTests(ArenaClips clips) : IClassFixture<ArenaClips>, IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"canter-arena-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }

    private string Clip(int i) => clips.Videos[i];

    /// <summary>Everything the store holds, as text: what "changes nothing" is checked against.</summary>
    private string Snapshot()
    {
        using var db = new SqliteConnection($"Data Source={Path.Combine(_folder, ArenaStore.FileName)};Pooling=False;Mode=ReadOnly");
        db.Open();
        var text = new StringBuilder();
        foreach (var table in new[] { "meta", "entries", "matchups", "votes" })
        {
            using var q = db.CreateCommand();
            q.CommandText = $"SELECT * FROM {table} ORDER BY rowid";
            using var row = q.ExecuteReader();
            while (row.Read())
                for (int c = 0; c < row.FieldCount; c++) text.Append(row.GetValue(c)).Append(c + 1 < row.FieldCount ? '|' : '\n');
        }
        var media = Path.Combine(_folder, ArenaStore.MediaFolder);
        if (Directory.Exists(media)) text.AppendJoin('\n', Directory.GetFiles(media).Order());
        return text.ToString();
    }

    [Fact]
    public void MatchupsPairTwoModelsOfOnePromptAndNeverAModelWithItself()
    {
        using var store = ArenaStore.Open(_folder, create: true);
        store.AddEntry("m1", "a red ball bounces", 1, Clip(0));
        store.AddEntry("m1", "a red ball bounces", 2, Clip(1));      // a second seed of the same model: never paired with the first
        store.AddEntry("m2", " a red ball bounces ", 1, Clip(2));    // prompts are trimmed
        store.AddEntry("m3", "a red ball bounces", 1, Clip(0));      // the same file by another model is another entry
        store.AddEntry("m1", "a blue cube spins", 1, Clip(3));
        store.AddEntry("m2", "a green cone grows", 1, Clip(4));      // no other model has this prompt: no matchup
        var seen = new List<Matchup>();
        while (store.NextMatchup("v") is { } m)
        {
            Assert.NotEqual(m.Left.Model, m.Right.Model);
            Assert.Equal(m.Left.Prompt, m.Right.Prompt);
            Assert.Equal("a red ball bounces", m.Prompt);
            store.Vote(m.Id, Outcome.Tie, "v");
            seen.Add(m);
        }
        // m1 (2 entries) x m2, m1 (2) x m3, m2 x m3
        Assert.Equal(5, seen.Count);
        Assert.Equal(5, seen.Select(m => (Math.Min(m.Left.Id, m.Right.Id), Math.Max(m.Left.Id, m.Right.Id))).Distinct().Count());
        Assert.Equal(new ArenaCounts(6, 5, 5, 1), store.Counts());
        Assert.Equal(["m1", "m2", "m3"], store.Models());
        // the store's leaderboard is the ratings of its games
        var options = new RatingOptions { Bootstrap = 20 };
        Assert.Equal(Ratings.Compute(store.Games(), store.Models(), options).Ratings, store.Leaderboard(options).Ratings);
    }

    [Fact]
    public void NextMatchupServesTheLeastVotedFirst()
    {
        using var store = ArenaStore.Open(_folder, create: true);
        foreach (var (model, i) in new[] { ("m1", 0), ("m2", 1), ("m3", 2), ("m4", 3) }) store.AddEntry(model, "p", 1, Clip(i));
        var votes = new Dictionary<long, int>();
        for (int voter = 0; voter < 12; voter++)
        {
            var m = store.NextMatchup($"v{voter}")!;
            int fewest = Enumerable.Range(1, 6).Min(id => votes.GetValueOrDefault(id));
            Assert.Equal(fewest, votes.GetValueOrDefault(m.Id));
            store.Vote(m.Id, Outcome.Left, $"v{voter}");
            votes[m.Id] = votes.GetValueOrDefault(m.Id) + 1;
        }
        // six matchups of four models: twelve voters give each exactly two votes
        Assert.Equal(6, votes.Count);
        Assert.All(votes.Values, n => Assert.Equal(2, n));
        // a voter is never offered what they judged; asking again without voting gives the same matchup
        var first = store.NextMatchup("v0")!;
        Assert.DoesNotContain(first.Id, store.VotesOf("v0").Select(v => v.Matchup));
        Assert.Equal(first, store.NextMatchup("v0"));
    }

    [Fact]
    public void SidesAreDrawnOnceAndTheStoreSurvivesReopening()
    {
        var sides = new Dictionary<long, (string Left, string Right)>();
        int newerOnLeft = 0;
        using (var store = ArenaStore.Open(_folder, create: true, sides: new Random(11)))
        {
            for (int k = 0; k < 10; k++) store.AddEntry($"m{k}", "p", 1, Clip(k % 2));   // 45 matchups
            foreach (var id in Enumerable.Range(1, 45))
            {
                var m = store.Find(id)!;
                sides[id] = (m.Left.Model, m.Right.Model);
                if (m.Left.Id > m.Right.Id) newerOnLeft++;
            }
            store.Vote(3, Outcome.Right, "v");
            store.Vote(4, Outcome.BothBad, "w");
        }
        // the entry added later is on either side: a voter cannot learn "the newer model is on the left"
        Assert.InRange(newerOnLeft, 12, 33);
        using var reopened = ArenaStore.Open(_folder);
        Assert.Equal(new ArenaCounts(10, 45, 2, 2), reopened.Counts());
        foreach (var (id, (left, right)) in sides)
        {
            var m = reopened.Find(id)!;
            Assert.Equal((left, right), (m.Left.Model, m.Right.Model));
            Assert.True(File.Exists(m.Left.Path) && File.Exists(m.Right.Path));
        }
        Assert.Equal([new Game(sides[3].Left, sides[3].Right, Outcome.Right), new Game(sides[4].Left, sides[4].Right, Outcome.BothBad)], reopened.Games());
        Assert.Throws<ArgumentException>(() => reopened.Vote(3, Outcome.Left, "v"));
    }

    [Fact]
    public void AnEntryIsAnAnonymousCopyWithoutItsSourceMetadata()
    {
        using var store = ArenaStore.Open(_folder, create: true);
        var entry = store.AddEntry("secret-model", "p", 5, Clip(2));
        Assert.Equal(Clip(2), entry.Source);
        Assert.StartsWith(Path.Combine(_folder, ArenaStore.MediaFolder), entry.Path);
        Assert.DoesNotContain("secret", Path.GetFileName(entry.Path));
        Assert.DoesNotContain("clip", Path.GetFileName(entry.Path));
        var source = MediaProbe.Probe(Clip(2));
        Assert.Equal("secret-model-title", source.Tags["title"]);
        var copy = MediaProbe.Probe(entry.Path);
        Assert.Equal((source.Width, source.Height, source.VideoCodec), (copy.Width, copy.Height, copy.VideoCodec));
        Assert.Equal(source.Seconds, copy.Seconds, 2);
        Assert.False(copy.Tags.ContainsKey("title") || copy.Tags.ContainsKey("comment") || copy.Tags.ContainsKey("encoder"), string.Join(", ", copy.Tags));
        Assert.Equal("true", copy.Tags["ai_generated"]);
        // nothing in the bytes names the model or the encoder (x264 writes its settings into the stream)
        var bytes = Encoding.Latin1.GetString(File.ReadAllBytes(entry.Path));
        Assert.DoesNotContain("secret", bytes);
        Assert.DoesNotContain("x264", bytes);
        Assert.DoesNotContain("Lavf", bytes);
    }

    [Fact]
    public void ABadEntryIsRefusedAndChangesNothing()
    {
        using var store = ArenaStore.Open(_folder, create: true);
        store.AddEntry("m1", "p", 1, Clip(0));
        var before = Snapshot();
        var text = Path.Combine(_folder, "notes.mp4");
        File.WriteAllText(text, "not a video at all");
        var png = Path.Combine(_folder, "still.png");
        Png.Write(png, new RgbImage(8, 8, new byte[8 * 8 * 3]));
        Assert.Throws<FileNotFoundException>(() => store.AddEntry("m2", "p", 1, Path.Combine(_folder, "missing.mp4")));
        Assert.Throws<MediaException>(() => store.AddEntry("m2", "p", 1, text));
        Assert.Throws<InvalidDataException>(() => store.AddEntry("m2", "p", 1, png));
        Assert.Throws<ArgumentException>(() => store.AddEntry(" ", "p", 1, Clip(1)));
        Assert.Throws<ArgumentException>(() => store.AddEntry("m2", "", 1, Clip(1)));
        Assert.Throws<ArgumentException>(() => store.AddEntry("m1", " p", 2, Clip(0)));   // already entered for this model and prompt
        Assert.Equal(before, Snapshot());
    }

    [Fact]
    public void ASecondVoteIsRefusedAndChangesNothing()
    {
        using var store = ArenaStore.Open(_folder, create: true);
        store.AddEntry("m1", "p", 1, Clip(0));
        store.AddEntry("m2", "p", 1, Clip(1));
        var m = store.NextMatchup("v")!;
        store.Vote(m.Id, Outcome.Right, "v");
        var before = Snapshot();
        Assert.Contains("already voted", Assert.Throws<ArgumentException>(() => store.Vote(m.Id, Outcome.Left, "v")).Message);
        Assert.Throws<ArgumentException>(() => store.Vote(m.Id, Outcome.Left, " v "));          // the same voter, spaced
        Assert.Contains("no matchup 99", Assert.Throws<ArgumentException>(() => store.Vote(99, Outcome.Left, "w")).Message);
        Assert.Throws<ArgumentException>(() => store.Vote(m.Id, (Outcome)7, "w"));
        Assert.Throws<ArgumentException>(() => store.Vote(m.Id, Outcome.Left, ""));
        Assert.Throws<ArgumentException>(() => Outcomes.Parse("leftish"));
        Assert.Equal(before, Snapshot());
        Assert.Equal([new Game(m.Left.Model, m.Right.Model, Outcome.Right)], store.Games());
        Assert.Null(store.NextMatchup("v"));
        Assert.Equal(Outcome.BothBad, Outcomes.Parse(" Both_Bad"));
    }

    [Fact]
    public void ConcurrentWritersLoseNothingAndCorruptNothing()
    {
        using (var store = ArenaStore.Open(_folder, create: true))
            for (int k = 0; k < 6; k++) store.AddEntry($"m{k}", "p", 1, Clip(k % 5));   // 15 matchups
        // eight voters, each through its own connection (as separate processes would be), all at once
        var refused = 0;
        Parallel.For(0, 8, new ParallelOptions { MaxDegreeOfParallelism = 8 }, voter =>
        {
            using var store = ArenaStore.Open(_folder);
            long last = 0;
            while (store.NextMatchup($"v{voter}") is { } m)
            {
                store.Vote(m.Id, (Outcome)(voter % 4), $"v{voter}");
                last = m.Id;
            }
            try { store.Vote(last, Outcome.Left, $"v{voter}"); }
            catch (ArgumentException) { Interlocked.Increment(ref refused); }
        });
        // four more models entered at once on a new prompt: each pair exactly once, whichever commits first
        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, k =>
        {
            using var store = ArenaStore.Open(_folder);
            store.AddEntry($"x{k}", "q", 1, Clip(k));
        });
        Assert.Equal(8, refused);
        using var check = ArenaStore.Open(_folder);
        Assert.Equal(new ArenaCounts(10, 15 + 6, 8 * 15, 8), check.Counts());
        using var db = new SqliteConnection($"Data Source={Path.Combine(_folder, ArenaStore.FileName)};Pooling=False");
        db.Open();
        using var integrity = db.CreateCommand();
        integrity.CommandText = "PRAGMA integrity_check";
        Assert.Equal("ok", integrity.ExecuteScalar());
        using var journal = db.CreateCommand();
        journal.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", journal.ExecuteScalar());
    }

    [Fact]
    public void OpeningAMissingArenaWithoutCreateWritesNothing()
    {
        Assert.Throws<FileNotFoundException>(() => ArenaStore.Open(_folder));
        Assert.False(Directory.Exists(_folder));
    }

    [Fact]
    public void ASchemaOneArenaIsBroughtUpToDateAndANewerOneIsRefused()
    {
        // an arena as the first version wrote it: absolute paths, no copies, no hashes
        Directory.CreateDirectory(_folder);
        var file = Path.Combine(_folder, ArenaStore.FileName);
        Run(file, $"""
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
            CREATE TABLE entries (id INTEGER PRIMARY KEY, model TEXT NOT NULL, prompt TEXT NOT NULL, seed INTEGER NOT NULL, path TEXT NOT NULL, created TEXT NOT NULL);
            CREATE TABLE matchups (id INTEGER PRIMARY KEY, left_entry INTEGER NOT NULL REFERENCES entries(id), right_entry INTEGER NOT NULL REFERENCES entries(id), UNIQUE (left_entry, right_entry));
            CREATE TABLE votes (matchup INTEGER NOT NULL REFERENCES matchups(id), voter TEXT NOT NULL, outcome TEXT NOT NULL, time TEXT NOT NULL, PRIMARY KEY (matchup, voter));
            INSERT INTO meta VALUES ('schema', '1');
            INSERT INTO entries VALUES (1, 'old1', 'p', 3, '{Clip(0)}', '2026-01-01T00:00:00.0000000Z');
            INSERT INTO entries VALUES (2, 'old2', 'p', 4, '{Clip(1)}', '2026-01-01T00:00:01.0000000Z');
            INSERT INTO matchups VALUES (1, 2, 1);
            INSERT INTO votes VALUES (1, 'v', 'Left', '2026-01-01T00:00:02.0000000Z');
            """);
        using (var store = ArenaStore.Open(_folder))
        {
            Assert.Equal([new Game("old2", "old1", Outcome.Left)], store.Games());
            var m = store.Find(1)!;
            Assert.Equal((Clip(1), Clip(0)), (m.Left.Path, m.Right.Path));
            Assert.Null(m.Left.Source);
            var added = store.AddEntry("new", "p", 1, Clip(2));
            Assert.Equal(3, added.Id);
            Assert.Equal(new ArenaCounts(3, 3, 1, 1), store.Counts());
        }
        Assert.Equal("2", Query(file, "SELECT value FROM meta WHERE key = 'schema'"));

        // a newer arena than this code knows is refused and left as it is
        Run(file, "UPDATE meta SET value = '3' WHERE key = 'schema'");
        var before = Snapshot();
        Assert.Contains("schema 3", Assert.Throws<InvalidDataException>(() => ArenaStore.Open(_folder)).Message);
        Assert.Equal(before, Snapshot());

        // neither is a file that is not an arena
        var other = Path.Combine(_folder, "other");
        Directory.CreateDirectory(other);
        File.WriteAllText(Path.Combine(other, ArenaStore.FileName), "this is not a database, it is a text file of some length....................................");
        Assert.Throws<InvalidDataException>(() => ArenaStore.Open(other));
    }

    private static void Run(string file, string sql)
    {
        using var db = new SqliteConnection($"Data Source={file};Pooling=False");
        db.Open();
        using var c = db.CreateCommand();
        c.CommandText = sql;
        c.ExecuteNonQuery();
    }

    private static string? Query(string file, string sql)
    {
        using var db = new SqliteConnection($"Data Source={file};Pooling=False");
        db.Open();
        using var c = db.CreateCommand();
        c.CommandText = sql;
        return c.ExecuteScalar()?.ToString();
    }
}
