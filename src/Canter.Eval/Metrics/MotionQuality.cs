using Canter.Media;
using Canter.World;

namespace Canter.Eval.Metrics;

/// <summary>
/// Motion quality from the picture: how smoothly tracked subjects move, whether the picture freezes while the asked
/// scene moves, and whether its brightness flickers.
/// </summary>
public static class MotionQuality
{
    /// <summary>Deviation from the neighbours' midpoint, in subject radii, that costs a whole frame.</summary>
    public const double FullPenaltyRadii = 1.0;

    /// <summary>
    /// Motion smoothness in [0, 1] (1 = every tracked subject moves smoothly). Each sighting of a subject is predicted
    /// three ways from its neighbouring frames: the midpoint of the frames before and after (what a frame
    /// interpolator assumes), and constant velocity from the two frames before, or from the two after. The best of
    /// the three predictions misses by a deviation (position and radius, in the subject's median radii) that costs
    /// min(1, deviation / 1 radius) of a frame. Steady or gently curving motion costs nearly nothing, and so does the kink
    /// of a bounce (one side always predicts it); jitter, teleports and shuffled frames miss all three and cost
    /// whole frames. The clip's value is 1 - the mean cost over all predicted sightings of all subjects; NaN when
    /// nothing is tracked for three frames in a row.
    /// </summary>
    public static double Smoothness(ParsedScene parsed)
    {
        double cost = 0;
        int frames = 0;
        foreach (var subject in parsed.Subjects)
        {
            var byFrame = subject.Track.GroupBy(s => s.Frame).ToDictionary(g => g.Key, g => g.First());
            if (byFrame.Count < 3) continue;
            double radius = Math.Max(1e-3, Median(byFrame.Values.Select(s => (double)s.Radius)));
            foreach (var (f, b) in byFrame)
            {
                double best = double.PositiveInfinity;
                if (byFrame.TryGetValue(f - 1, out var a) && byFrame.TryGetValue(f + 1, out var c))
                    best = Math.Min(best, Miss(b, (a.X + c.X) / 2, (a.Y + c.Y) / 2, (a.Radius + c.Radius) / 2));
                if (byFrame.TryGetValue(f - 1, out var p1) && byFrame.TryGetValue(f - 2, out var p2))
                    best = Math.Min(best, Miss(b, 2 * p1.X - p2.X, 2 * p1.Y - p2.Y, 2 * p1.Radius - p2.Radius));
                if (byFrame.TryGetValue(f + 1, out var n1) && byFrame.TryGetValue(f + 2, out var n2))
                    best = Math.Min(best, Miss(b, 2 * n1.X - n2.X, 2 * n1.Y - n2.Y, 2 * n1.Radius - n2.Radius));
                if (double.IsInfinity(best)) continue;
                cost += Math.Min(1, best / radius / FullPenaltyRadii);
                frames++;
            }
        }
        return frames == 0 ? double.NaN : 1 - cost / frames;
    }

    private static double Miss(ParsedSighting s, double x, double y, double radius) =>
        Math.Sqrt((s.X - x) * (s.X - x) + (s.Y - y) * (s.Y - y)) + Math.Abs(s.Radius - radius);

    /// <summary>
    /// Share of frame steps, among those where the asked scene moves by a pixel or more (or its light changes, or it
    /// cuts), in which the picture shows no change: no pixel differs by more than 12 levels in any channel (one pixel
    /// in 20,000 is let through for compression noise). 0 for a clip that moves when asked; NaN if nothing is asked to move.
    /// </summary>
    public static double FrozenShare(VideoClip video, SceneSpec asked)
    {
        int moving = 0, frozen = 0;
        int allowed = video.Width * video.Height / 20000;
        for (int f = 1; f < video.Frames.Count; f++)
        {
            var change = Asked.Between(asked, (float)((f - 1) / video.FrameRate), (float)(f / video.FrameRate), video.Width, video.Height);
            if (!change.Visible) continue;
            moving++;
            if (ChangedPixels(video.Frames[f - 1], video.Frames[f], 12) <= allowed) frozen++;
        }
        return moving == 0 ? double.NaN : (double)frozen / moving;
    }

    /// <summary>
    /// Temporal flicker in 8-bit luma levels (0 = none): the mean over frame steps of |median over pixels of the
    /// luma change|. Moving subjects touch few pixels, so the median sees only a change of the whole picture's
    /// brightness; steps where the asked scene flashes or cuts are left out. NaN when no step is left.
    /// </summary>
    public static double Flicker(VideoClip video, SceneSpec asked)
    {
        double sum = 0;
        int steps = 0;
        var histogram = new int[511];
        for (int f = 1; f < video.Frames.Count; f++)
        {
            var change = Asked.Between(asked, (float)((f - 1) / video.FrameRate), (float)(f / video.FrameRate), video.Width, video.Height);
            if (change.Light || change.Cut) continue;
            Array.Clear(histogram);
            byte[] a = video.Frames[f - 1], b = video.Frames[f];
            for (int i = 0; i < a.Length; i += 3) histogram[Luma(b, i) - Luma(a, i) + 255]++;
            int half = a.Length / 6, seen = 0, median = 0;
            for (int k = 0; k < histogram.Length; k++)
            {
                seen += histogram[k];
                if (seen > half) { median = k - 255; break; }
            }
            sum += Math.Abs(median);
            steps++;
        }
        return steps == 0 ? double.NaN : sum / steps;
    }

    /// <summary>Integer BT.601 luma of the pixel at byte offset i.</summary>
    internal static int Luma(byte[] rgb, int i) => (77 * rgb[i] + 150 * rgb[i + 1] + 29 * rgb[i + 2]) >> 8;

    /// <summary>Pixels where some channel differs by more than <paramref name="threshold"/> levels.</summary>
    internal static int ChangedPixels(byte[] a, byte[] b, int threshold)
    {
        int n = 0;
        for (int i = 0; i < a.Length; i += 3)
            if (Math.Abs(a[i] - b[i]) > threshold || Math.Abs(a[i + 1] - b[i + 1]) > threshold || Math.Abs(a[i + 2] - b[i + 2]) > threshold) n++;
        return n;
    }

    internal static double Median(IEnumerable<double> values)
    {
        var sorted = values.Where(double.IsFinite).Order().ToArray();
        if (sorted.Length == 0) return double.NaN;
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
