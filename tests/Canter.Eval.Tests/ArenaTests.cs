using Canter.Eval.Arena;

namespace Canter.Eval.Tests;

public sealed class ArenaTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), $"canter-arena-{Guid.NewGuid():N}");

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }

    /// <summary>Votes drawn from known Elo strengths (seeded): P(a beats b) = 1 / (1 + 10^((Eb - Ea) / 400)).</summary>
    private static List<Game> Simulated(IReadOnlyDictionary<string, double> elo, int games, int seed, double tieShare = 0)
    {
        var rng = new Random(seed);
        var models = elo.Keys.ToArray();
        var list = new List<Game>();
        for (int g = 0; g < games; g++)
        {
            int a = rng.Next(models.Length), b = (a + 1 + rng.Next(models.Length - 1)) % models.Length;
            double pa = 1 / (1 + Math.Pow(10, (elo[models[b]] - elo[models[a]]) / 400));
            var outcome = rng.NextDouble() < tieShare ? Outcome.Tie : rng.NextDouble() < pa ? Outcome.Left : Outcome.Right;
            list.Add(new Game(models[a], models[b], outcome));
        }
        return list;
    }

    [Fact]
    public void RatingsRecoverKnownStrengthsInsideTheirIntervals()
    {
        var truth = new Dictionary<string, double> { ["a"] = 1150, ["b"] = 1050, ["c"] = 950, ["d"] = 850 };
        var board = BradleyTerry.Leaderboard(Simulated(truth, 4000, seed: 1), [.. truth.Keys], bootstrap: 200, seed: 2);
        Assert.Equal(["a", "b", "c", "d"], board.Select(r => r.Model));
        foreach (var r in board)
        {
            Assert.True(Math.Abs(r.Elo - truth[r.Model]) < 25, $"{r.Model}: {r.Elo:0} vs {truth[r.Model]}");
            Assert.True(r.Low <= truth[r.Model] + 5 && truth[r.Model] - 5 <= r.High, $"{r.Model}: {truth[r.Model]} outside {r.Low:0}..{r.High:0}");
            Assert.True(r.High - r.Low is > 5 and < 80, $"{r.Model}: interval {r.Low:0}..{r.High:0}");
        }
    }

    [Fact]
    public void TwoModelsFollowTheClosedFormUpToThePrior()
    {
        // 30 wins and 10 losses: p_a / p_b = 3 without a prior (Elo gap 400 log10 3 = 190.8); the prior's virtual tie pulls it in a little
        var games = Enumerable.Repeat(new Game("a", "b", Outcome.Left), 30).Concat(Enumerable.Repeat(new Game("b", "a", Outcome.Left), 10)).ToList();
        var board = BradleyTerry.Leaderboard(games, ["a", "b"], bootstrap: 0);
        double gap = board[0].Elo - board[1].Elo;
        Assert.InRange(gap, 170, 190.8);
        Assert.Equal((40, 30, 0, 10), (board[0].Games, board[0].Wins, board[0].Ties, board[0].Losses));
        // ties are half a win each: 10 ties alone leave two models level
        var level = BradleyTerry.Leaderboard(Enumerable.Repeat(new Game("a", "b", Outcome.Tie), 10).ToList(), ["a", "b"], bootstrap: 0);
        Assert.True(Math.Abs(level[0].Elo - level[1].Elo) < 1e-6);
        // and a tie is worth half a win: 10 wins and 10 ties rate as 15 wins and 5 losses
        var withTies = Enumerable.Repeat(new Game("a", "b", Outcome.Left), 10).Concat(Enumerable.Repeat(new Game("b", "a", Outcome.Tie), 10)).ToList();
        var asHalves = Enumerable.Repeat(new Game("a", "b", Outcome.Left), 15).Concat(Enumerable.Repeat(new Game("a", "b", Outcome.Right), 5)).ToList();
        double tieGap = BradleyTerry.Leaderboard(withTies, ["a", "b"], bootstrap: 0) is [var ta, var tb] ? ta.Elo - tb.Elo : double.NaN;
        double halfGap = BradleyTerry.Leaderboard(asHalves, ["a", "b"], bootstrap: 0) is [var ha, var hb] ? ha.Elo - hb.Elo : double.NaN;
        Assert.InRange(tieGap, halfGap - 1e-6, halfGap + 1e-6);
        Assert.InRange(tieGap, 150, 400 * Math.Log10(3));
    }

    [Fact]
    public void AnUnbeatenModelStaysFiniteAndBothBadIsNotAGame()
    {
        var games = Enumerable.Repeat(new Game("a", "b", Outcome.Left), 50).Append(new Game("a", "b", Outcome.BothBad)).ToList();
        var board = BradleyTerry.Leaderboard(games, ["a", "b", "c"], bootstrap: 50, seed: 3);
        Assert.True(double.IsFinite(board[0].Elo) && board[0].Elo > board[1].Elo);
        Assert.Equal(50, board[0].Games);
        Assert.False(board.Single(r => r.Model == "c").Rated);
        // the bootstrap is the seed's
        Assert.Equal(board, BradleyTerry.Leaderboard(games, ["a", "b", "c"], bootstrap: 50, seed: 3));
    }

    [Fact]
    public void MatchupsPairDifferentModelsOnOnePromptAndVotesPersist()
    {
        using (var store = ArenaStore.Open(_folder))
        {
            store.AddEntry("m1", "a red ball bounces", 1, "a.mp4");
            store.AddEntry("m1", "a blue cube spins", 1, "b.mp4");
            store.AddEntry("m2", "a red ball bounces", 1, "c.mp4");
            store.AddEntry("m3", "a red ball bounces", 1, "d.mp4");
            var seen = new List<Matchup>();
            while (store.NextMatchup("v1") is { } m)
            {
                Assert.NotEqual(m.Left.Model, m.Right.Model);
                Assert.Equal(m.Left.Prompt, m.Right.Prompt);
                store.Vote(m.Id, Outcome.Left, "v1");
                seen.Add(m);
            }
            Assert.Equal(3, seen.Count);                              // m1-m2, m1-m3, m2-m3 on the one shared prompt
            Assert.NotNull(store.NextMatchup("v2"));                   // another voter still has them all
        }
        using (var reopened = ArenaStore.Open(_folder))
        {
            Assert.Equal(3, reopened.Games().Count);
            Assert.Equal(["m1", "m2", "m3"], reopened.Models());
        }
    }

    [Fact]
    public void ASecondVoteOrAnUnknownMatchupIsRefusedAndChangesNothing()
    {
        using var store = ArenaStore.Open(_folder);
        store.AddEntry("m1", "p", 1, "a.mp4");
        store.AddEntry("m2", "p", 1, "b.mp4");
        var m = store.NextMatchup("v")!;
        store.Vote(m.Id, Outcome.Right, "v");
        Assert.Throws<ArgumentException>(() => store.Vote(m.Id, Outcome.Left, "v"));
        Assert.Throws<ArgumentException>(() => store.Vote(m.Id + 100, Outcome.Left, "v"));
        Assert.Throws<ArgumentException>(() => store.AddEntry(" ", "p", 1, "c.mp4"));
        Assert.Equal([new Game(m.Left.Model, m.Right.Model, Outcome.Right)], store.Games());
        Assert.Null(store.NextMatchup("v"));
    }

    [Fact]
    public void TheFitSolvesTheLikelihoodEquationsWithThePrior()
    {
        // at the maximum, each model's wins (ties as halves, plus the prior's half) equal its expected wins:
        // W_i + 1/2 = sum_j n_ij p_i / (p_i + p_j) + p_i / (p_i + 1), the last term the virtual tie against strength 1
        var games = Simulated(new Dictionary<string, double> { ["a"] = 1200, ["b"] = 1000, ["c"] = 900 }, 300, seed: 5, tieShare: 0.2)
            .Append(new Game("a", "c", Outcome.BothBad)).ToList();
        string[] models = ["a", "b", "c"];
        var p = BradleyTerry.Fit(games, models);
        foreach (var m in models)
        {
            double won = 0.5, expected = p[m] / (p[m] + 1);
            foreach (var g in games.Where(g => g.Outcome != Outcome.BothBad && (g.Left == m || g.Right == m)))
            {
                string other = g.Left == m ? g.Right : g.Left;
                won += g.Outcome == Outcome.Tie ? 0.5 : (g.Outcome == Outcome.Left) == (g.Left == m) ? 1 : 0;
                expected += p[m] / (p[m] + p[other]);
            }
            Assert.True(Math.Abs(won - expected) < 1e-6, $"{m}: {won} wins against {expected} expected");
        }
        // the prior is one game in many: at 300 wins to 100 the gap is the closed form's 400 log10 3 within 2 points
        var many = Enumerable.Repeat(new Game("a", "b", Outcome.Left), 300).Concat(Enumerable.Repeat(new Game("a", "b", Outcome.Right), 100)).ToList();
        var board = BradleyTerry.Leaderboard(many, ["a", "b"], bootstrap: 0);
        Assert.InRange(board[0].Elo - board[1].Elo, 400 * Math.Log10(3) - 2, 400 * Math.Log10(3));
    }

    [Fact]
    public void EntriesAndVotesReadBackWithWhatWasStored()
    {
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);
        using (var store = ArenaStore.Open(_folder))
        {
            store.AddEntry("m1", "a red ball bounces", 7, "/clips/a.mp4");
            store.AddEntry("m2", "a red ball bounces", 8, "/clips/b.mp4");
            var m = store.NextMatchup("v1")!;
            store.Vote(m.Id, Outcome.Tie, "v1");
            store.Vote(m.Id, Outcome.BothBad, "v2");
        }
        using var reopened = ArenaStore.Open(_folder);
        var entries = reopened.Entries();
        Assert.Equal([("m1", "a red ball bounces", 7L, "/clips/a.mp4"), ("m2", "a red ball bounces", 8L, "/clips/b.mp4")],
            entries.Select(e => (e.Model, e.Prompt, e.Seed, e.Path)));
        Assert.All(entries, e => Assert.InRange(e.Created, before, DateTimeOffset.UtcNow));
        var votes = reopened.Votes();
        Assert.Equal([(Outcome.Tie, "v1"), (Outcome.BothBad, "v2")], votes.Select(v => (v.Outcome, v.Voter)));
        Assert.All(votes, v => Assert.InRange(v.Time, before, DateTimeOffset.UtcNow));
        Assert.Single(votes.Select(v => v.Matchup).Distinct());
    }

    [Fact]
    public void LeftAndRightAreDrawnSoTheNewEntryIsNotAlwaysOnOneSide()
    {
        using var store = ArenaStore.Open(_folder);
        for (int i = 0; i < 40; i++) store.AddEntry($"rival{i}", "p", 1, $"r{i}.mp4");
        var newest = store.AddEntry("newest", "p", 1, "n.mp4");
        var sides = new List<bool>();
        while (store.NextMatchup("v") is { } m)
        {
            if (m.Left.Id == newest.Id || m.Right.Id == newest.Id) sides.Add(m.Left.Id == newest.Id);
            store.Vote(m.Id, Outcome.Tie, "v");
        }
        Assert.Equal(40, sides.Count);
        // a fixed order would put it on one side 40 times out of 40; a fair draw does so with probability 2^-39
        Assert.Contains(true, sides);
        Assert.Contains(false, sides);
    }

    [Fact]
    public void NextMatchupIsTheLeastVotedOneThisVoterHasNotJudged()
    {
        using var store = ArenaStore.Open(_folder);
        store.AddEntry("m1", "first", 1, "a.mp4");
        store.AddEntry("m2", "first", 1, "b.mp4");
        store.AddEntry("m1", "second", 1, "c.mp4");
        store.AddEntry("m2", "second", 1, "d.mp4");
        var first = store.NextMatchup("v1")!;
        store.Vote(first.Id, Outcome.Left, "v1");
        var forV2 = store.NextMatchup("v2")!;
        Assert.NotEqual(first.Id, forV2.Id);                          // the unvoted matchup comes before the voted one
        store.Vote(forV2.Id, Outcome.Left, "v2");
        Assert.Equal(forV2.Id, store.NextMatchup("v1")!.Id);          // v1 has judged the other
        Assert.Equal(first.Id, store.NextMatchup("v2")!.Id);
    }

    [Fact]
    public void AnArenaOfAnotherSchemaVersionIsRefused()
    {
        using (ArenaStore.Open(_folder)) { }
        using (var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(_folder, "arena.db")};Pooling=False"))
        {
            db.Open();
            using var c = db.CreateCommand();
            c.CommandText = "UPDATE meta SET value = '2' WHERE key = 'schema'";
            Assert.Equal(1, c.ExecuteNonQuery());
        }
        var e = Assert.Throws<InvalidDataException>(() => ArenaStore.Open(_folder));
        Assert.Contains("schema 2", e.Message);
    }
}
