namespace Canter.World;

/// <summary>A visual event the parser places in time, in the world's event vocabulary (impact, step, syllable, whoosh, rise).</summary>
public sealed record ParsedEvent(string Kind, float Time);

/// <summary>One subject's measured pose over time: scene units for place and size, radians for turn, 0..1 for the mouth.</summary>
internal sealed record PoseSeries(double[] Time, double[] X, double[] Y, double[] Radius, double[] Angle, double[] Mouth, double[] Dark, double FrameRate)
{
    public int Count => Time.Length;

    public static PoseSeries Of(IReadOnlyList<ParsedSighting> track, double frameRate) =>
        new([.. track.Select(x => (double)x.Time)], [.. track.Select(x => (double)x.X)], [.. track.Select(x => (double)x.Y)], [.. track.Select(x => (double)x.Radius)],
            [.. track.Select(x => (double)x.Angle)], [.. track.Select(x => (double)x.Mouth)], [.. track.Select(x => (double)x.Dark)], frameRate);
}

/// <summary>
/// Reads the action of a subject from its pose series, and when it happened: each action's motion is a known
/// function of time (see <see cref="Motion"/>), so its start and end are fitted to the measured poses, which places
/// them, and the events they imply, well within a frame.
/// </summary>
internal static class ActionFit
{
    public static (Action Action, float Start, float End, IReadOnlyList<ParsedEvent> Events) Fit(PoseSeries p)
    {

        double travel = Spread(p.X), rise = Spread(p.Y);
        double growth = Percentile(p.Radius, 0.9) / Math.Max(1e-6, Percentile(p.Radius, 0.1));
        var turning = Turning(p);
        int spinRun = LongestRun(turning);
        var onsets = Syllables(p);
        // how strongly each action shows, each scaled so that 1 is its full size in the world
        var scores = new Dictionary<Action, double>
        {
            [Action.Grow] = (growth - 1) / 0.6,
            [Action.Move] = travel / 0.3,
            [Action.Jump] = rise / 0.25,
            [Action.Bounce] = rise / 0.15,
            [Action.Speak] = onsets.Count >= 2 ? p.Mouth.Max() : 0,
            [Action.Spin] = Math.Min(1, spinRun / 4.0),
        };
        Action action;
        if (scores[Action.Grow] > 0.5) action = Action.Grow;
        else if (scores[Action.Move] > 0.6) action = Action.Move;
        else if (rise > 0.08) action = Action.Jump; // jump or bounce: told apart by which motion fits
        else if (scores[Action.Speak] >= 0.4) action = Action.Speak;
        else if (spinRun >= 4) action = Action.Spin;
        else if (p.Mouth.Max() < 0.15 && Spread(p.Dark) > 0.03 && Syllables(DarkAsMouth(p)).Count >= 2)
        {
            // a mouth a few pixels wide is not fitted; it still darkens the subject: its share of dark pixels, scaled
            // to 0..1, stands in for the opening
            p = DarkAsMouth(p);
            onsets = Syllables(p);
            action = Action.Speak;
        }
        else action = scores.MaxBy(s => s.Value).Key;
        switch (action)
        {
            case Action.Grow:
                {
                    var (s, e) = FitSpan(p, p.Radius.Select(r => Math.Log(r)).ToArray(), u => Math.Log(1 + 0.6 * u * u * (3 - 2 * u)));
                    return (action, s, e, [new ParsedEvent("rise", s)]);
                }
            case Action.Move:
                {
                    var (s, e) = FitSpan(p, p.X, u => 0.3 * u);
                    var steps = new List<ParsedEvent>();
                    for (float t = s + 0.25f; t < e; t += 0.25f) steps.Add(new ParsedEvent("step", t));
                    return (action, s, e, steps);
                }
            case Action.Jump or Action.Bounce:
                {
                    var (js, je, jr) = FitSpanWithResidual(p, p.Y, u => -0.25 * Math.Sin(Math.PI * u));
                    var (bs, be, br) = FitSpanWithResidual(p, p.Y, u => -0.15 * Math.Abs(Math.Sin(3 * Math.PI * u)));
                    if (jr <= br) return (Action.Jump, js, je, [new ParsedEvent("impact", je)]);
                    return (Action.Bounce, bs, be, [.. Enumerable.Range(1, 3).Select(k => new ParsedEvent("impact", bs + (be - bs) * k / 3))]);
                }
            case Action.Speak:
                {
                    float start = onsets.Count > 0 ? onsets[0].Onset : (float)p.Time[0];
                    float end = onsets.Count > 0 ? onsets[^1].Onset + onsets[^1].Duration : (float)p.Time[^1];
                    return (action, start, end, [.. onsets.Select(o => new ParsedEvent("syllable", o.Onset))]);
                }
            default:
                {
                    var (s, e) = ActiveSpan(p, turning);
                    return (Action.Spin, s, e, [new ParsedEvent("whoosh", s)]);
                }
        }
    }

    private static PoseSeries DarkAsMouth(PoseSeries p)
    {
        double low = Percentile(p.Dark, 0.05), range = Math.Max(1e-6, Spread(p.Dark));
        return p with { Mouth = [.. p.Dark.Select(d => Math.Clamp((d - low) / range, 0, 1))] };
    }

    /// <summary>Spread of a series between its 5th and 95th percentiles (a few bad fits do not count).</summary>
    private static double Spread(double[] v) => Percentile(v, 0.95) - Percentile(v, 0.05);

    private static double Percentile(double[] v, double q)
    {
        var sorted = v.Order().ToArray();
        return sorted[Math.Clamp((int)Math.Round(q * (sorted.Length - 1)), 0, sorted.Length - 1)];
    }

    /// <summary>
    /// Whether the subject turned between each sighting and the one before (the first is false), in the direction most
    /// turns go: a spin turns one way (under 180 degrees a frame), while a pose fit that wavers (a small subject whose
    /// mouth opens) turns back and forth.
    /// </summary>
    private static bool[] Turning(PoseSeries p)
    {
        var turns = new double[p.Count];
        for (int i = 1; i < p.Count; i++)
        {
            double d = Math.IEEERemainder(p.Angle[i] - p.Angle[i - 1], 2 * Math.PI);
            turns[i] = Math.Abs(d) > 8 * Math.PI / 180 ? d : 0;
        }
        int sign = turns.Count(d => d > 0) >= turns.Count(d => d < 0) ? 1 : -1;
        return [.. turns.Select(d => d * sign > 0)];
    }

    private static int LongestRun(bool[] flags)
    {
        int best = 0, run = 0;
        foreach (var f in flags) { run = f ? run + 1 : 0; best = Math.Max(best, run); }
        return best;
    }

    /// <summary>
    /// The span (start, end) whose activity best agrees with the flags: sighting i is active when the interval from the
    /// sighting before it overlaps the span. Ends land half-way between the last still and first moving sighting.
    /// </summary>
    private static (float, float) ActiveSpan(PoseSeries p, bool[] active)
    {
        int bestI = 1, bestJ = p.Count - 1, bestScore = int.MinValue;
        for (int i = 1; i < p.Count; i++)
            for (int j = i; j < p.Count; j++)
            {
                int score = 0;
                for (int k = 1; k < p.Count; k++) score += (k >= i && k <= j) == active[k] ? 1 : 0;
                // prefer the longer span on ties: a spin's symmetric frames can look unturned inside the span
                if (score > bestScore || score == bestScore && j - i > bestJ - bestI) { bestScore = score; bestI = i; bestJ = j; }
            }
        return ((float)((p.Time[bestI - 1] + p.Time[bestI]) / 2), (float)(bestJ + 1 < p.Count ? (p.Time[bestJ] + p.Time[bestJ + 1]) / 2 : p.Time[bestJ]));
    }

    private static (float, float) FitSpan(PoseSeries p, double[] observed, Func<double, double> motion)
    {
        var (s, e, _) = FitSpanWithResidual(p, observed, motion);
        return (s, e);
    }

    /// <summary>
    /// Start and end of an action whose measured quantity is <c>rest + motion(u)</c>, u going from 0 to 1 between
    /// start and end: a grid over (start, end) at a quarter frame, then a finer one around the best; the rest value is
    /// the median offset and the residual a clipped absolute one, so that a few bad sightings do not move the fit.
    /// </summary>
    private static (float Start, float End, double Residual) FitSpanWithResidual(PoseSeries p, double[] observed, Func<double, double> motion)
    {
        double t0 = p.Time[0] - 1 / p.FrameRate, t1 = p.Time[^1] + 1 / p.FrameRate;
        double scale = Math.Max(1e-6, Spread(observed));
        double Residual(double s, double e)
        {
            var offsets = new double[p.Count];
            var predicted = new double[p.Count];
            for (int i = 0; i < p.Count; i++)
            {
                double u = Math.Clamp((p.Time[i] - s) / (e - s), 0, 1);
                predicted[i] = motion(u);
                offsets[i] = observed[i] - predicted[i];
            }
            var sorted = (double[])offsets.Clone();
            Array.Sort(sorted);
            double rest = sorted[sorted.Length / 2], r = 0;
            for (int i = 0; i < p.Count; i++) r += Math.Min(Math.Abs(offsets[i] - rest), scale);
            return r;
        }
        double step = 0.25 / p.FrameRate;
        var best = (S: t0, E: t1, R: double.MaxValue);
        for (double s = t0; s < t1; s += step)
            for (double e = s + 0.3; e <= t1; e += step)
            {
                double r = Residual(s, e);
                if (r < best.R) best = (s, e, r);
            }
        double fine = step / 5;
        var coarse = best;
        for (double s = coarse.S - step; s <= coarse.S + step; s += fine)
            for (double e = coarse.E - step; e <= coarse.E + step; e += fine)
            {
                if (e - s < 0.2) continue;
                double r = Residual(s, e);
                if (r < best.R) best = (s, e, r);
            }
        return ((float)best.S, (float)best.E, best.R / (p.Count * scale));
    }

    /// <summary>
    /// Syllables from the mouth: each opening after a closed sighting, its onset placed by inverting the voice's
    /// sin^2 envelope at the first open sighting (a syllable lasts about 0.16 s).
    /// </summary>
    private static List<(float Onset, float Duration)> Syllables(PoseSeries p)
    {
        const double open = 0.15, duration = 0.16;
        var list = new List<(float, float)>();
        for (int i = 1; i < p.Count; i++)
        {
            if (p.Mouth[i] < open || p.Mouth[i - 1] >= open) continue;
            double into = duration / Math.PI * Math.Asin(Math.Sqrt(Math.Min(1, p.Mouth[i])));
            double onset = Math.Max(p.Time[i - 1], p.Time[i] - into);
            list.Add(((float)onset, (float)duration));
        }
        return list;
    }
}
