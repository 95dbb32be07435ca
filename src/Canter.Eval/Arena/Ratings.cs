namespace Canter.Eval.Arena;

/// <summary>How the leaderboard is computed. The defaults are what <c>canter arena leaderboard</c> uses.</summary>
public sealed record RatingOptions
{
    /// <summary>Bootstrap resamples for the 95 % intervals; 0 leaves the intervals out (NaN).</summary>
    public int Bootstrap { get; init; } = 1000;

    /// <summary>Seed of the bootstrap's resampling: the same votes and seed give the same intervals.</summary>
    public int Seed { get; init; }

    /// <summary>Virtual ties each model plays against a reference of strength 1 (see <see cref="BradleyTerry"/>); must be above 0 here.</summary>
    public double PriorGames { get; init; } = 1;

    /// <summary>The model placed at 1000; null places the mean of the rated models there.</summary>
    public string? Anchor { get; init; }

    public int MaxIterations { get; init; } = 100;

    /// <summary>Convergence: the largest change of a log-strength in the last Newton step (1e-10 is 2e-8 Elo).</summary>
    public double Tolerance { get; init; } = 1e-10;
}

/// <summary>
/// One model on the leaderboard: Elo with its bootstrap 95 % interval (NaN when not rated or not bootstrapped) and its
/// record. <see cref="Games"/> are the rated games (wins, ties, losses); both_bad votes are counted apart.
/// </summary>
public sealed record Rating(string Model, double Elo, double Low, double High, int Wins, int Ties, int Losses, int BothBad)
{
    public int Games => Wins + Ties + Losses;

    /// <summary>False for a model without a won, tied or lost game: it is listed, not rated.</summary>
    public bool Rated => Games > 0;
}

/// <summary>
/// The ratings and what they rest on: vote counts, the number of groups of models never compared with each other
/// (more than one means Elo across groups is set by the prior alone), the anchor, and whether every fit converged.
/// </summary>
public sealed record Leaderboard(IReadOnlyList<Rating> Ratings, int Votes, int Decided, int Ties, int BothBad, int Groups,
    string Anchor, int Bootstrap, bool Converged);

/// <summary>
/// The arena's leaderboard: Bradley-Terry strengths fitted to the votes (<see cref="BradleyTerry"/>), where a tie is
/// half a win for each side and both_bad, which says nothing about which is better, is counted but left out. A
/// model's strength p is shown as Elo = 400 log10(p), shifted so that the anchor (the mean of the rated models, or a
/// named model) is at 1000: a 400-point gap means 10 to 1 odds. The 95 % interval is the 2.5th to 97.5th percentile
/// of the Elo over bootstrap resamples of the votes (drawn with replacement, refitted, re-anchored), from a seeded
/// generator so that the leaderboard of a given set of votes never changes.
/// </summary>
public static class Ratings
{
    private static readonly double EloPerNat = 400 / Math.Log(10);

    public static Leaderboard Compute(IReadOnlyList<Game> games, IReadOnlyList<string> models, RatingOptions options)
    {
        if (options.Bootstrap is < 0 or > 1_000_000) throw new ArgumentException($"the bootstrap takes 0 to 1000000 resamples; got {options.Bootstrap}");
        if (!(options.PriorGames > 0) || double.IsInfinity(options.PriorGames))
            throw new ArgumentException($"the leaderboard needs a prior of more than 0 games (it keeps unbeaten models finite); got {options.PriorGames}");

        // a game of a model against itself cannot come from the store; it would say nothing, so it is not a game
        var counted = games.Where(g => g.Outcome != Outcome.BothBad && g.Left != g.Right).ToList();
        var rated = counted.SelectMany(g => new[] { g.Left, g.Right }).Distinct().Order(StringComparer.Ordinal).ToList();
        var index = rated.Select((m, i) => (m, i)).ToDictionary(x => x.m, x => x.i, StringComparer.Ordinal);
        int anchor = -1;
        if (options.Anchor is { } named)
        {
            if (!index.TryGetValue(named, out anchor))
                throw new ArgumentException(models.Contains(named) || games.Any(g => g.Left == named || g.Right == named)
                    ? $"the anchor '{named}' has no rated game yet" : $"the anchor '{named}' is not a model in this arena");
        }
        var left = counted.Select(g => index[g.Left]).ToArray();
        var right = counted.Select(g => index[g.Right]).ToArray();
        var outcome = counted.Select(g => g.Outcome).ToArray();

        int n = rated.Count;
        var score = new double[n, n];
        for (int k = 0; k < counted.Count; k++) Add(score, left[k], right[k], outcome[k]);
        var fit = BradleyTerry.Fit(score, options.PriorGames, options.MaxIterations, options.Tolerance);
        var elo = Elo(fit.LogStrengths, anchor);
        bool converged = fit.Converged;

        var samples = new double[n][];
        for (int i = 0; i < n; i++) samples[i] = new double[options.Bootstrap];
        if (counted.Count > 0)
        {
            var rng = new Random(options.Seed);
            for (int b = 0; b < options.Bootstrap; b++)
            {
                Array.Clear(score);
                for (int k = 0; k < counted.Count; k++)
                {
                    int pick = rng.Next(counted.Count);
                    Add(score, left[pick], right[pick], outcome[pick]);
                }
                var refit = BradleyTerry.Fit(score, options.PriorGames, options.MaxIterations, options.Tolerance, fit.LogStrengths);
                converged &= refit.Converged;
                var resampled = Elo(refit.LogStrengths, anchor);
                for (int i = 0; i < n; i++) samples[i][b] = resampled[i];
            }
        }
        bool bootstrapped = counted.Count > 0 && options.Bootstrap > 0;

        var record = new Dictionary<string, (int Wins, int Ties, int Losses, int BothBad)>(StringComparer.Ordinal);
        foreach (var m in models.Concat(games.SelectMany(g => new[] { g.Left, g.Right }))) record.TryAdd(m, default);
        foreach (var g in games)
        {
            if (g.Left == g.Right) continue;
            var (l, r) = (record[g.Left], record[g.Right]);
            (record[g.Left], record[g.Right]) = g.Outcome switch
            {
                Outcome.Left => (l with { Wins = l.Wins + 1 }, r with { Losses = r.Losses + 1 }),
                Outcome.Right => (l with { Losses = l.Losses + 1 }, r with { Wins = r.Wins + 1 }),
                Outcome.Tie => (l with { Ties = l.Ties + 1 }, r with { Ties = r.Ties + 1 }),
                _ => (l with { BothBad = l.BothBad + 1 }, r with { BothBad = r.BothBad + 1 }),
            };
        }
        var board = record.Select(kv =>
        {
            var (wins, ties, losses, bad) = kv.Value;
            if (!index.TryGetValue(kv.Key, out int i)) return new Rating(kv.Key, double.NaN, double.NaN, double.NaN, wins, ties, losses, bad);
            var sorted = samples[i].Order().ToArray();
            return new Rating(kv.Key, elo[i], bootstrapped ? Percentile(sorted, 0.025) : double.NaN, bootstrapped ? Percentile(sorted, 0.975) : double.NaN,
                wins, ties, losses, bad);
        });
        var ordered = board.OrderByDescending(r => r.Rated).ThenByDescending(r => r.Rated ? r.Elo : 0).ThenBy(r => r.Model, StringComparer.Ordinal).ToList();
        return new Leaderboard(ordered, games.Count, games.Count(g => g.Outcome is Outcome.Left or Outcome.Right), games.Count(g => g.Outcome == Outcome.Tie),
            games.Count(g => g.Outcome == Outcome.BothBad), Groups(n, left, right), options.Anchor ?? "mean", bootstrapped ? options.Bootstrap : 0, converged);
    }

    /// <summary>Linear interpolation between order statistics (the usual "type 7" percentile).</summary>
    public static double Percentile(IReadOnlyList<double> sorted, double q)
    {
        if (sorted.Count == 0) return double.NaN;
        double at = q * (sorted.Count - 1);
        int below = (int)Math.Floor(at);
        int above = Math.Min(below + 1, sorted.Count - 1);
        return sorted[below] + (at - below) * (sorted[above] - sorted[below]);
    }

    private static void Add(double[,] score, int left, int right, Outcome outcome)
    {
        switch (outcome)
        {
            case Outcome.Left: score[left, right] += 1; break;
            case Outcome.Right: score[right, left] += 1; break;
            case Outcome.Tie: score[left, right] += 0.5; score[right, left] += 0.5; break;
        }
    }

    private static double[] Elo(double[] theta, int anchor)
    {
        if (theta.Length == 0) return [];
        double zero = anchor >= 0 ? theta[anchor] : theta.Average();
        return [.. theta.Select(t => 1000 + EloPerNat * (t - zero))];
    }

    /// <summary>How many groups of rated models are connected by games (union-find).</summary>
    private static int Groups(int n, int[] left, int[] right)
    {
        var parent = Enumerable.Range(0, n).ToArray();
        int Root(int i) { while (parent[i] != i) i = parent[i] = parent[parent[i]]; return i; }
        int groups = n;
        for (int k = 0; k < left.Length; k++)
        {
            int a = Root(left[k]), b = Root(right[k]);
            if (a != b) { parent[a] = b; groups--; }
        }
        return groups;
    }
}
