using Canter.Media;

namespace Canter.Eval.Metrics;

/// <summary>
/// Video extension: does the result carry on from the clip it was asked to extend? A result may hold the given clip
/// followed by the new part, or the new part alone; both are recognised.
/// </summary>
public static class Extension
{
    /// <summary>PSNR (dB) over which the result's first frames count as the given clip itself.</summary>
    public const double KeptPsnr = 30;

    /// <summary>
    /// Continuity in [0, 1] and, when the result holds the given clip, the PSNR of that part (else NaN).
    /// Continuity compares the step across the seam (the given clip's last frame to the first new frame) with the
    /// largest of the two steps on either side of it: (nearby step + 1) / (seam step + 1), in mean absolute levels
    /// per channel, capped at 1. A result that moves on as the clip moved scores 1; a jump to another picture scores
    /// near 0.
    /// </summary>
    public static (double Continuity, double PrefixPsnr) Score(VideoClip given, VideoClip result)
    {
        if (given.Width != result.Width || given.Height != result.Height)
            given = given with { Frames = [.. given.Frames.Select(f => FrameFidelity.Resize(new RgbImage(given.Width, given.Height, f), result.Width, result.Height).Pixels)], Width = result.Width, Height = result.Height };
        int n = Math.Min(given.Frames.Count, result.Frames.Count);
        var (sse, count) = MediaMetrics.SquaredError(given.Frames.Take(n).ToList(), result.Frames.Take(n).ToList());
        double prefixPsnr = Math.Min(FrameFidelity.MaxPsnr, MediaMetrics.Psnr(sse, count));
        bool kept = prefixPsnr >= KeptPsnr && result.Frames.Count > given.Frames.Count;
        int seam = kept ? given.Frames.Count : 0;
        if (seam >= result.Frames.Count) return (double.NaN, kept ? prefixPsnr : double.NaN);
        // the steps just before the seam (in the given clip) and just after it (in the result)
        var near = new List<double>();
        for (int f = Math.Max(1, given.Frames.Count - 2); f < given.Frames.Count; f++) near.Add(Step(given.Frames[f - 1], given.Frames[f]));
        for (int f = seam + 1; f < Math.Min(result.Frames.Count, seam + 3); f++) near.Add(Step(result.Frames[f - 1], result.Frames[f]));
        double seamStep = Step(given.Frames[^1], result.Frames[seam]);
        double typical = near.Count == 0 ? 0 : near.Max();
        return (Math.Min(1, (typical + 1) / (seamStep + 1)), kept ? prefixPsnr : double.NaN);
    }

    private static double Step(byte[] a, byte[] b)
    {
        long sum = 0;
        for (int i = 0; i < a.Length; i++) sum += Math.Abs(a[i] - b[i]);
        return (double)sum / a.Length;
    }
}
