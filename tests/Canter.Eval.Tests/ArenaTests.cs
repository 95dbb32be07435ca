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
        var board = Ratings.Leaderboard(Simulated(truth, 4000, seed: 1), [.. truth.Keys], bootstrap: 200, seed: 2);
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
        var board = Ratings.Leaderboard(games, ["a", "b"], bootstrap: 0);
        double gap = board[0].Elo - board[1].Elo;
        Assert.InRange(gap, 170, 190.8);
        Assert.Equal((40, 30, 0, 10), (board[0].Games, board[0].Wins, board[0].Ties, board[0].Losses));
        // ties are half a win each: 10 ties alone leave two models level
        var level = Ratings.Leaderboard(Enumerable.Repeat(new Game("a", "b", Outcome.Tie), 10).ToList(), ["a", "b"], bootstrap: 0);
        Assert.True(Math.Abs(level[0].Elo - level[1].Elo) < 1e-6);
    }

    [Fact]
    public void AnUnbeatenModelStaysFiniteAndBothBadIsNotAGame()
    {
        var games = Enumerable.Repeat(new Game("a", "b", Outcome.Left), 50).Append(new Game("a", "b", Outcome.BothBad)).ToList();
        var board = Ratings.Leaderboard(games, ["a", "b", "c"], bootstrap: 50, seed: 3);
        Assert.True(double.IsFinite(board[0].Elo) && board[0].Elo > board[1].Elo);
        Assert.Equal(50, board[0].Games);
        Assert.False(board.Single(r => r.Model == "c").Rated);
        // the bootstrap is the seed's
        Assert.Equal(board, Ratings.Leaderboard(games, ["a", "b", "c"], bootstrap: 50, seed: 3));
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
}
