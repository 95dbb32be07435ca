using Canter.Eval.Arena;

namespace Canter.Eval.Tests;

/// <summary>The arena's ratings: Bradley-Terry fitted by Newton with a weak prior, shown as Elo, bootstrap intervals.</summary>
public sealed class ArenaRatingsTests
{
    private static readonly double EloPerNat = 400 / Math.Log(10);

    /// <summary>Votes drawn from known Elo (seeded): P(a beats b) = 1 / (1 + 10^((Eb - Ea) / 400)); a random side for each.</summary>
    private static List<Game> Simulated(IReadOnlyDictionary<string, double> elo, int games, int seed, double tieShare = 0, double bothBadShare = 0)
    {
        var rng = new Random(seed);
        var models = elo.Keys.ToArray();
        var list = new List<Game>();
        for (int g = 0; g < games; g++)
        {
            int a = rng.Next(models.Length), b = (a + 1 + rng.Next(models.Length - 1)) % models.Length;
            double pa = 1 / (1 + Math.Pow(10, (elo[models[b]] - elo[models[a]]) / 400));
            double u = rng.NextDouble();
            var outcome = u < bothBadShare ? Outcome.BothBad : u < bothBadShare + tieShare ? Outcome.Tie : rng.NextDouble() < pa ? Outcome.Left : Outcome.Right;
            list.Add(new Game(models[a], models[b], outcome));
        }
        return list;
    }

    private static List<Game> Repeat(string left, string right, Outcome outcome, int times) => [.. Enumerable.Repeat(new Game(left, right, outcome), times)];

    private static Leaderboard Board(IReadOnlyList<Game> games, IReadOnlyList<string>? models = null, int bootstrap = 0, int seed = 0, string? anchor = null) =>
        Ratings.Compute(games, models ?? [.. games.SelectMany(g => new[] { g.Left, g.Right }).Distinct()],
            new RatingOptions { Bootstrap = bootstrap, Seed = seed, Anchor = anchor });

    private static Rating Of(Leaderboard board, string model) => board.Ratings.Single(r => r.Model == model);

    [Fact]
    public void TwoModelFitIsTheClosedForm()
    {
        // without the prior, the two-model MLE is p_a / (p_a + p_b) = wins_a / games: 30 of 40 gives odds 3, an Elo gap of 400 log10 3
        var score = new double[2, 2];
        score[0, 1] = 30;
        score[1, 0] = 10;
        var fit = BradleyTerry.Fit(score, priorGames: 0);
        Assert.True(fit.Converged);
        Assert.Equal(0.75, BradleyTerry.Sigmoid(fit.LogStrengths[0] - fit.LogStrengths[1]), 12);
        Assert.Equal(400 * Math.Log10(3), EloPerNat * (fit.LogStrengths[0] - fit.LogStrengths[1]), 9);

        // ten ties more are five wins each: 35 of 50
        score[0, 1] += 5;
        score[1, 0] += 5;
        var withTies = BradleyTerry.Fit(score, priorGames: 0);
        Assert.Equal(0.7, BradleyTerry.Sigmoid(withTies.LogStrengths[0] - withTies.LogStrengths[1]), 12);

        // the leaderboard's prior (one virtual tie each against strength 1) pulls the 30-10 gap in, by a few points only
        var board = Board([.. Repeat("a", "b", Outcome.Left, 30), .. Repeat("b", "a", Outcome.Left, 10)]);
        double gap = Of(board, "a").Elo - Of(board, "b").Elo;
        Assert.InRange(gap, 400 * Math.Log10(3) - 12, 400 * Math.Log10(3) - 0.5);
        Assert.Equal(1000, (Of(board, "a").Elo + Of(board, "b").Elo) / 2, 9);
        Assert.Equal((40, 30, 0, 10), (Of(board, "a").Games, Of(board, "a").Wins, Of(board, "a").Ties, Of(board, "a").Losses));
    }

    [Fact]
    public void ATieIsHalfAWinForEachSide()
    {
        // a: 3 wins, b: 1 win, 2 ties  ==  a: 4 wins, b: 2 wins (with the same prior): the fits are the same
        var withTies = Board([.. Repeat("a", "b", Outcome.Left, 3), .. Repeat("a", "b", Outcome.Right, 1), .. Repeat("b", "a", Outcome.Tie, 2)]);
        var asWins = Board([.. Repeat("a", "b", Outcome.Left, 4), .. Repeat("a", "b", Outcome.Right, 2)]);
        Assert.Equal(Of(asWins, "a").Elo, Of(withTies, "a").Elo, 9);
        Assert.Equal(Of(asWins, "b").Elo, Of(withTies, "b").Elo, 9);
        Assert.Equal((3, 2, 1), (Of(withTies, "a").Wins, Of(withTies, "a").Ties, Of(withTies, "a").Losses));
        // ties alone leave two models level
        var level = Board(Repeat("a", "b", Outcome.Tie, 10));
        Assert.Equal(1000, Of(level, "a").Elo, 9);
        Assert.Equal(1000, Of(level, "b").Elo, 9);
    }

    [Fact]
    public void TheFitSolvesTheScoreEquationsWithThePrior()
    {
        // at the maximum, every model's expected score equals its observed one, the prior's virtual ties included:
        // W_i + c/2 = sum_j n_ij σ(θi - θj) + c σ(θi). Checked on an uneven five-model table, with a perfect winner in it.
        double[,] score =
        {
            { 0, 7, 3, 0, 12 },
            { 2, 0, 5.5, 1, 0 },
            { 4, 1.5, 0, 9, 2 },
            { 0, 3, 6, 0, 0 },
            { 0, 0, 1, 4, 0 },
        };
        const double prior = 1.5;
        var fit = BradleyTerry.Fit(score, prior);
        Assert.True(fit.Converged);
        Assert.InRange(fit.Iterations, 1, 20);
        var t = fit.LogStrengths;
        for (int i = 0; i < 5; i++)
        {
            double observed = prior / 2, expected = prior * BradleyTerry.Sigmoid(t[i]);
            for (int j = 0; j < 5; j++)
            {
                if (j == i) continue;
                observed += score[i, j];
                expected += (score[i, j] + score[j, i]) * BradleyTerry.Sigmoid(t[i] - t[j]);
            }
            Assert.Equal(observed, expected, 9);
        }
        // and it is the maximum: any small move lowers the log-likelihood
        double best = BradleyTerry.LogLikelihood(score, prior, t);
        var rng = new Random(5);
        for (int k = 0; k < 20; k++)
        {
            var moved = t.Select(x => x + (rng.NextDouble() - 0.5) * 0.02).ToArray();
            Assert.True(BradleyTerry.LogLikelihood(score, prior, moved) < best);
        }
    }

    [Fact]
    public void APerfectWinnerStaysFinite()
    {
        // a beats b 50 times and c 50 times, never loses: the MLE is at infinity; the prior keeps it finite
        var games = new List<Game>([.. Repeat("a", "b", Outcome.Left, 50), .. Repeat("c", "a", Outcome.Right, 50), .. Repeat("b", "c", Outcome.Left, 10), .. Repeat("b", "c", Outcome.Right, 10)]);
        var board = Board(games, bootstrap: 100, seed: 1);
        Assert.True(board.Converged);
        Assert.Equal("a", board.Ratings[0].Model);
        foreach (var r in board.Ratings) Assert.True(double.IsFinite(r.Elo) && double.IsFinite(r.Low) && double.IsFinite(r.High), r.ToString());
        double gap = Of(board, "a").Elo - Of(board, "b").Elo;
        Assert.InRange(gap, 400, 1200);  // 50-0 is strong evidence, not infinite evidence
        // without the prior the same table has no maximum: the fit does not converge, which is why the leaderboard uses one
        var score = new double[3, 3];
        score[0, 1] = score[0, 2] = 50;
        score[1, 2] = score[2, 1] = 10;
        Assert.False(BradleyTerry.Fit(score, priorGames: 0).Converged);
        Assert.Throws<ArgumentException>(() => Ratings.Compute(games, ["a", "b", "c"], new RatingOptions { PriorGames = 0 }));
    }

    [Fact]
    public void SimulatedVotesGiveBackTheirEloInsideTheIntervals()
    {
        // four models 100 Elo apart (mean 1000, as the leaderboard anchors), 4000 votes of which 5 % both_bad. No ties here:
        // ties that come regardless of strength, counted as half a win each, pull every gap in (by 10 % at a 10 % tie rate)
        var truth = new Dictionary<string, double> { ["a"] = 1150, ["b"] = 1050, ["c"] = 950, ["d"] = 850 };
        var games = Simulated(truth, 4000, seed: 1, bothBadShare: 0.05);
        var board = Board(games, bootstrap: 300, seed: 2);
        Assert.Equal(["a", "b", "c", "d"], board.Ratings.Select(r => r.Model));
        Assert.Equal(games.Count(g => g.Outcome == Outcome.BothBad), board.BothBad);
        foreach (var r in board.Ratings)
        {
            // about 1900 rated games each: the standard error of an Elo is near 8, so 25 is three of them
            Assert.True(Math.Abs(r.Elo - truth[r.Model]) < 25, $"{r.Model}: {r.Elo:0.0} vs {truth[r.Model]}");
            Assert.True(r.Low <= truth[r.Model] && truth[r.Model] <= r.High, $"{r.Model}: {truth[r.Model]} outside {r.Low:0.0}..{r.High:0.0}");
            Assert.True(r.High - r.Low is > 10 and < 60, $"{r.Model}: interval {r.Low:0.0}..{r.High:0.0}");
            Assert.True(r.Low <= r.Elo && r.Elo <= r.High);
        }
        // the differences too: a - d is 300
        Assert.InRange(Of(board, "a").Elo - Of(board, "d").Elo, 300 - 35, 300 + 35);
    }

    [Fact]
    public void TheIntervalsCoverTheTruthAboutNineteenTimesInTwenty()
    {
        // 60 arenas of 400 votes each, four models: of the 240 intervals, about 95 % should hold the true Elo
        var truth = new Dictionary<string, double> { ["a"] = 1120, ["b"] = 1040, ["c"] = 960, ["d"] = 880 };
        int inside = 0, total = 0;
        for (int arena = 0; arena < 60; arena++)
        {
            var board = Board(Simulated(truth, 400, seed: 100 + arena), bootstrap: 200, seed: arena);
            foreach (var r in board.Ratings)
            {
                total++;
                if (r.Low <= truth[r.Model] && truth[r.Model] <= r.High) inside++;
            }
        }
        double coverage = (double)inside / total;
        Assert.InRange(coverage, 0.88, 0.99);
    }

    [Fact]
    public void IntervalsNarrowAsVotesGrow()
    {
        // four times the votes, half the width (1/sqrt(n))
        var truth = new Dictionary<string, double> { ["a"] = 1100, ["b"] = 1000, ["c"] = 900 };
        double Width(int votes) => Board(Simulated(truth, votes, seed: 7), bootstrap: 300, seed: 1).Ratings.Average(r => r.High - r.Low);
        double ratio = Width(4000) / Width(1000);
        Assert.InRange(ratio, 0.4, 0.62);
    }

    [Fact]
    public void TheBootstrapIsTheSeeds()
    {
        var truth = new Dictionary<string, double> { ["a"] = 1050, ["b"] = 1000, ["c"] = 950 };
        var games = Simulated(truth, 300, seed: 3);
        var first = Board(games, bootstrap: 200, seed: 9);
        Assert.Equal(first.Ratings, Board(games, bootstrap: 200, seed: 9).Ratings);
        var other = Board(games, bootstrap: 200, seed: 10);
        Assert.NotEqual(first.Ratings.Select(r => r.Low), other.Ratings.Select(r => r.Low));
        Assert.Equal(first.Ratings.Select(r => r.Elo), other.Ratings.Select(r => r.Elo)); // the point estimate does not depend on the seed
    }

    [Fact]
    public void BothBadIsCountedButNotRatedAndModelsWithoutGamesAreListed()
    {
        var games = new List<Game>([.. Repeat("a", "b", Outcome.Left, 6), .. Repeat("b", "a", Outcome.Left, 4), .. Repeat("a", "c", Outcome.BothBad, 3)]);
        var board = Board(games, ["a", "b", "c", "d"], bootstrap: 50);
        var without = Board([.. games.Where(g => g.Outcome != Outcome.BothBad)], ["a", "b"], bootstrap: 50);
        Assert.Equal(Of(without, "a").Elo, Of(board, "a").Elo, 9);
        Assert.Equal(Of(without, "a").Low, Of(board, "a").Low, 9);
        Assert.Equal((13, 10, 3), (board.Votes, board.Decided, board.BothBad));
        Assert.Equal((10, 3), (Of(board, "a").Games, Of(board, "a").BothBad));
        var c = Of(board, "c");
        Assert.False(c.Rated);
        Assert.Equal(3, c.BothBad);
        Assert.True(double.IsNaN(c.Elo));
        Assert.False(Of(board, "d").Rated);
        Assert.Equal(["a", "b", "c", "d"], board.Ratings.Select(r => r.Model));  // rated first, by Elo; then the rest by name
    }

    [Fact]
    public void ANamedAnchorSitsAt1000()
    {
        var truth = new Dictionary<string, double> { ["a"] = 1100, ["b"] = 1000, ["c"] = 900 };
        var games = Simulated(truth, 600, seed: 4);
        var byMean = Board(games, bootstrap: 50);
        var byB = Board(games, bootstrap: 50, anchor: "b");
        Assert.Equal(1000, Of(byB, "b").Elo, 9);
        Assert.Equal((1000.0, 1000.0), (Of(byB, "b").Low, Of(byB, "b").High));
        // the gaps do not depend on the anchor
        Assert.Equal(Of(byMean, "a").Elo - Of(byMean, "c").Elo, Of(byB, "a").Elo - Of(byB, "c").Elo, 9);
        Assert.Throws<ArgumentException>(() => Board(games, anchor: "nobody"));
    }

    [Fact]
    public void ModelsThatNeverMetAreReportedAsSeparateGroups()
    {
        var games = new List<Game>([.. Repeat("a", "b", Outcome.Left, 5), .. Repeat("c", "d", Outcome.Left, 5), new Game("b", "a", Outcome.Left)]);
        Assert.Equal(2, Board(games).Groups);
        games.Add(new Game("b", "c", Outcome.Tie));
        Assert.Equal(1, Board(games).Groups);
    }
}
