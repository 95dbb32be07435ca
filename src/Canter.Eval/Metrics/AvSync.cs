using Canter.Media;
using Canter.World;

namespace Canter.Eval.Metrics;

/// <summary>
/// Audio-video synchrony: the offset between what is seen to happen and what is heard, and how well speaking
/// subjects' mouths follow the loudness of the sound.
/// </summary>
/// <remarks>
/// The offset compares two event signals on a 10 ms grid. Heard: the rise of the audio's RMS loudness from one 10 ms
/// window to the next (impacts jump at once; a syllable rises with its envelope). Seen: for each tracked subject, the
/// downward speed it loses at each frame (<see cref="Impact"/>, scene units per second: a bounce's contact or a
/// landing is a spike; a take-off or the end of a sideways move, which make no sound, are not) plus ten times the
/// rise of its dark share (a mouth opening). Both are smoothed by the same Gaussian (0.6 frame) so that the frame grid does not quantise the answer,
/// and the lag in [-500, 500] ms with the highest normalised cross-correlation (or, when events repeat, the nearest
/// to zero of the peaks nearly as high: <see cref="AliasShare"/>), refined by a parabola through its neighbours, is
/// the offset: positive when the sound comes after the picture.
/// </remarks>
public static class AvSync
{
    public const double GridRate = 100;
    public const double MaxLagSeconds = 0.5;

    /// <summary>Weight of a mouth's dark-share rise against a change of velocity (scene units per second).</summary>
    public const double MouthWeight = 10;

    /// <summary>
    /// Downward speed (scene units per second) a subject must lose at a frame to count as struck: the parser's position
    /// jitter stays under it, a landing of the world's jump (about 1 unit/s) or a bounce's contact (2 to 4) are well
    /// over it. What is over it counts.
    /// </summary>
    public const double MinImpactSpeed = 0.3;

    /// <summary>
    /// Correlation peak below which a clip has no usable events and its offset is NaN: sounds without a visible cause
    /// (footsteps of a steady walk, a whoosh) line up with nothing, and clean renders of such scenes peak under 0.3.
    /// </summary>
    public const double MinPeak = 0.3;

    /// <summary>Offset (ms, + = audio late) and the correlation at the peak; NaN when the clip has no events to line up.</summary>
    public static (double OffsetMs, double Peak) Offset(ParsedScene parsed, AudioTrack audio, double frameRate, double seconds)
    {
        int length = (int)Math.Ceiling(seconds * GridRate) + 1;
        var seen = VisualEvents(parsed, frameRate, length);
        var heard = AudioEvents(audio, length);
        double sigma = 0.6 / frameRate * GridRate;
        return Lag(Smooth(seen, sigma), Smooth(heard, sigma));
    }

    /// <summary>Rise of the RMS loudness between consecutive 10 ms windows, placed at the boundary between them.</summary>
    public static double[] AudioEvents(AudioTrack audio, int length)
    {
        var result = new double[length];
        int hop = (int)(audio.SampleRate / GridRate);
        double previous = double.NaN;
        for (int k = 0; k < length; k++)
        {
            int from = k * hop, to = Math.Min(audio.Samples.Length, from + hop);
            if (to <= from) break;
            double s = 0;
            for (int i = from; i < to; i++) s += audio.Samples[i] * audio.Samples[i];
            double rms = Math.Sqrt(s / (to - from));
            if (k > 0 && !double.IsNaN(previous)) result[k] = Math.Max(0, rms - previous);
            previous = rms;
        }
        return result;
    }

    /// <summary>Velocity changes and mouth openings of every tracked subject, each frame's value spread linearly onto the grid.</summary>
    public static double[] VisualEvents(ParsedScene parsed, double frameRate, int length)
    {
        var result = new double[length];
        foreach (var subject in parsed.Subjects)
        {
            var track = subject.Track;
            for (int i = 1; i < track.Count; i++)
            {
                var (a, b) = (track[i - 1], track[i]);
                if (b.Frame - a.Frame != 1) continue;
                double value = MouthWeight * Math.Max(0, b.Dark - a.Dark);
                if (i + 1 < track.Count && track[i + 1].Frame - b.Frame == 1)
                    value += Math.Max(0, Impact(a.Y, b.Y, track[i + 1].Y) * frameRate - MinImpactSpeed);
                Spread(result, b.Frame / frameRate * GridRate, value);
            }
        }
        return result;
    }

    /// <summary>
    /// Downward speed lost at the middle of three sightings (y grows downwards; scene units per frame): what a landing
    /// or a bounce's contact stops, and what makes it heard. A take-off, a start or a stop of sideways motion, or a
    /// turn at the top of a jump loses none, since nothing is struck there.
    /// </summary>
    public static double Impact(double yBefore, double y, double yAfter) =>
        Math.Max(0, Math.Max(0, y - yBefore) - Math.Max(0, yAfter - y));

    private static void Spread(double[] grid, double position, double value)
    {
        int k = (int)Math.Floor(position);
        double u = position - k;
        if (k >= 0 && k < grid.Length) grid[k] += value * (1 - u);
        if (k + 1 >= 0 && k + 1 < grid.Length) grid[k + 1] += value * u;
    }

    /// <summary>Gaussian smoothing of a grid signal (sigma in grid steps; under half a step leaves it as it is).</summary>
    public static double[] Smooth(double[] x, double sigma)
    {
        if (sigma < 0.5) return x;
        int reach = (int)Math.Ceiling(3 * sigma);
        var kernel = Enumerable.Range(-reach, 2 * reach + 1).Select(i => Math.Exp(-0.5 * i * i / (sigma * sigma))).ToArray();
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            if (x[i] == 0) continue;
            for (int j = -reach; j <= reach; j++)
                if (i + j >= 0 && i + j < y.Length) y[i + j] += x[i] * kernel[j + reach];
        }
        return y;
    }

    /// <summary>The lag (ms) of <paramref name="heard"/> behind <paramref name="seen"/> at the normalised cross-correlation peak.</summary>
    public static (double OffsetMs, double Peak) Lag(double[] seen, double[] heard)
    {
        int n = Math.Min(seen.Length, heard.Length), maxLag = (int)(MaxLagSeconds * GridRate);
        double ms = seen.Take(n).Average(), mh = heard.Take(n).Average();
        var v = seen.Take(n).Select(x => x - ms).ToArray();
        var a = heard.Take(n).Select(x => x - mh).ToArray();
        double norm = Math.Sqrt(v.Sum(x => x * x) * a.Sum(x => x * x));
        if (!(norm > 0)) return (double.NaN, 0);
        var scores = new double[2 * maxLag + 1];
        for (int lag = -maxLag; lag <= maxLag; lag++)
        {
            double s = 0;
            for (int t = Math.Max(0, -lag); t < n && t + lag < n; t++) s += v[t] * a[t + lag];
            scores[lag + maxLag] = s / norm;
        }
        int best = Nearest(scores, maxLag);
        double peak = scores[best], refined = best;
        if (best > 0 && best < scores.Length - 1)
        {
            double l = scores[best - 1], r = scores[best + 1], denominator = l - 2 * peak + r;
            if (denominator < 0) refined = best + 0.5 * (l - r) / denominator;
        }
        if (peak < MinPeak) return (double.NaN, peak);
        return ((refined - maxLag) / GridRate * 1000, peak);
    }

    /// <summary>
    /// Share of the highest correlation that another local peak needs to be taken instead of it when it lies nearer to
    /// zero lag. Periodic events (a subject that bounces every 0.43 s) make the correlation periodic: the true lag and
    /// its aliases a period away peak about as high, and on a 2-second clip the alias can win by a little because fewer
    /// events overlap at the true lag's edges. No measure tells an offset from the same offset plus a period, so the
    /// nearest of the near-highest peaks is taken; an offset of half an event period or more is read as the smaller one.
    /// </summary>
    public const double AliasShare = 0.8;

    /// <summary>Index of the peak taken: among local maxima within <see cref="AliasShare"/> of the highest, the one nearest to <paramref name="zero"/>.</summary>
    private static int Nearest(double[] scores, int zero)
    {
        double top = scores.Max();
        int chosen = Array.IndexOf(scores, top);
        if (!(top > 0)) return chosen;
        for (int i = 0; i < scores.Length; i++)
        {
            bool local = (i == 0 || scores[i] >= scores[i - 1]) && (i == scores.Length - 1 || scores[i] >= scores[i + 1]);
            if (local && scores[i] >= AliasShare * top && Math.Abs(i - zero) < Math.Abs(chosen - zero)) chosen = i;
        }
        return chosen;
    }

    /// <summary>
    /// Lip-sync correlation in [-1, 1] (1 = the mouth opens exactly as loud as the voice): for each asked speaking
    /// subject, the tracked subject of its colour (and class, if one has both), its dark share (the open mouth
    /// darkens it) against the audio's RMS loudness within half a frame of each frame, over the frames of its asked
    /// speech; the mean over speakers. NaN when no speaker is asked or found.
    /// </summary>
    public static double LipSync(SceneSpec asked, ParsedScene parsed, AudioTrack audio, double frameRate)
    {
        var values = new List<double>();
        foreach (var speaker in asked.Subjects.Where(s => s.Action == Canter.World.Action.Speak))
        {
            var match = parsed.Subjects.FirstOrDefault(p => p.Color == speaker.Color && p.Class == speaker.Class)
                ?? parsed.Subjects.FirstOrDefault(p => p.Color == speaker.Color);
            if (match is null) continue;
            var frames = match.Track.Where(s => s.Time >= speaker.Start && s.Time <= speaker.End).ToList();
            if (frames.Count < 3) continue;
            var loudness = MediaMetrics.LoudnessAt(audio.Samples, audio.SampleRate, [.. frames.Select(s => s.Time)], frameRate);
            double r = MediaMetrics.Correlation([.. frames.Select(s => (double)s.Dark)], loudness);
            if (double.IsFinite(r)) values.Add(r);
        }
        return values.Count == 0 ? double.NaN : values.Average();
    }
}
