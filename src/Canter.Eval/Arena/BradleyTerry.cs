namespace Canter.Eval.Arena;

/// <summary>One model's place on the leaderboard: Elo with its bootstrap 95 % interval, and its record.</summary>
public sealed record Rating(string Model, double Elo, double Low, double High, int Games, int Wins, int Ties, int Losses)
{
    /// <summary>False for a model without a decided or tied game: it is listed, not rated.</summary>
    public bool Rated => Games > 0;
}

/// <summary>
/// Bradley-Terry ratings from arena games: P(i beats j) = p_i / (p_i + p_j), fitted by maximum likelihood with
/// Hunter's MM algorithm. A tie counts as half a win for each side; both_bad says nothing about which is better and is
/// left out. Every model also plays one virtual tie against a fixed opponent of strength 1, a weak prior that keeps an
/// unbeaten (or winless) model's strength finite. Shown as Elo: 400 log10(p), shifted so that the rated models average
/// 1000. Confidence intervals come from a bootstrap over the games (resampled with replacement, refitted).
/// </summary>
public static class BradleyTerry
{
    public static IReadOnlyList<Rating> Leaderboard(IReadOnlyList<Game> games, IReadOnlyList<string> models, int bootstrap = 1000, int seed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bootstrap);
        var counted = games.Where(g => g.Outcome != Outcome.BothBad && g.Left != g.Right).ToList();
        var rated = counted.SelectMany(g => new[] { g.Left, g.Right }).Distinct().Order(StringComparer.Ordinal).ToList();
        var elo = Elo(Fit(counted, rated));
        var samples = rated.ToDictionary(m => m, _ => new List<double>());
        var rng = new Random(seed);
        for (int b = 0; b < bootstrap && counted.Count > 0; b++)
        {
            var resample = Enumerable.Range(0, counted.Count).Select(_ => counted[rng.Next(counted.Count)]).ToList();
            var fitted = Elo(Fit(resample, rated));
            foreach (var m in rated) samples[m].Add(fitted[m]);
        }
        var board = new List<Rating>();
        foreach (var m in models.Union(rated).Distinct())
        {
            int wins = counted.Count(g => g.Left == m && g.Outcome == Outcome.Left || g.Right == m && g.Outcome == Outcome.Right);
            int ties = counted.Count(g => (g.Left == m || g.Right == m) && g.Outcome == Outcome.Tie);
            int played = counted.Count(g => g.Left == m || g.Right == m);
            if (!elo.TryGetValue(m, out var value)) { board.Add(new Rating(m, double.NaN, double.NaN, double.NaN, 0, 0, 0, 0)); continue; }
            var s = samples[m].Order().ToArray();
            double low = s.Length > 0 ? s[(int)Math.Floor(0.025 * (s.Length - 1))] : value, high = s.Length > 0 ? s[(int)Math.Ceiling(0.975 * (s.Length - 1))] : value;
            board.Add(new Rating(m, value, low, high, played, wins, ties, played - wins - ties));
        }
        return [.. board.OrderByDescending(r => r.Rated).ThenByDescending(r => r.Elo).ThenBy(r => r.Model, StringComparer.Ordinal)];
    }

    /// <summary>Strengths by the MM iteration: p_i = W_i / sum_j n_ij / (p_i + p_j), the prior's tie included.</summary>
    public static Dictionary<string, double> Fit(IReadOnlyList<Game> games, IReadOnlyList<string> models, int iterations = 10_000, double tolerance = 1e-10)
    {
        int n = models.Count;
        var index = models.Select((m, i) => (m, i)).ToDictionary(x => x.m, x => x.i);
        var wins = new double[n];
        var played = new double[n, n];
        foreach (var g in games)
        {
            if (g.Outcome == Outcome.BothBad) continue;
            int l = index[g.Left], r = index[g.Right];
            played[l, r]++;
            played[r, l]++;
            wins[l] += g.Outcome switch { Outcome.Left => 1, Outcome.Tie => 0.5, _ => 0 };
            wins[r] += g.Outcome switch { Outcome.Right => 1, Outcome.Tie => 0.5, _ => 0 };
        }
        var p = Enumerable.Repeat(1.0, n).ToArray();
        for (int it = 0; it < iterations; it++)
        {
            double change = 0;
            var next = new double[n];
            for (int i = 0; i < n; i++)
            {
                double denominator = 1 / (p[i] + 1); // the prior: one game against a fixed opponent of strength 1
                for (int j = 0; j < n; j++) if (played[i, j] > 0) denominator += played[i, j] / (p[i] + p[j]);
                next[i] = (wins[i] + 0.5) / denominator;
                change = Math.Max(change, Math.Abs(Math.Log(next[i] / p[i])));
            }
            p = next;
            if (change < tolerance) break;
        }
        return models.Select((m, i) => (m, p[i])).ToDictionary(x => x.m, x => x.Item2);
    }

    private static Dictionary<string, double> Elo(Dictionary<string, double> strengths)
    {
        if (strengths.Count == 0) return [];
        var elo = strengths.ToDictionary(s => s.Key, s => 400 * Math.Log10(s.Value));
        double mean = elo.Values.Average();
        return elo.ToDictionary(e => e.Key, e => 1000 + e.Value - mean);
    }
}
