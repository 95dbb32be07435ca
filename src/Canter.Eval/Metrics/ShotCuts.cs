using Canter.Media;
using Canter.World;

namespace Canter.Eval.Metrics;

/// <summary>Shot cuts of a multi-shot clip: where the picture changes at once, against the asked cut times.</summary>
public static class ShotCuts
{
    /// <summary>
    /// Times (s, at the first frame of the new shot) where the picture's structure changes at once: each frame's luma
    /// is standardised (mean 0, standard deviation 1, so that a flash or a dark scene changes nothing by itself),
    /// and a cut is a step whose mean absolute change is over <see cref="MinChange"/>, over 3 times the clip's
    /// median step and over twice the steps on either side (a cut is one step; fast motion in a close-up lasts).
    /// </summary>
    public static IReadOnlyList<float> Detect(VideoClip video)
    {
        var changes = Changes(video);
        double median = MotionQuality.Median(changes.Skip(1));
        var cuts = new List<float>();
        for (int f = 1; f < changes.Length; f++)
        {
            double neighbours = Math.Max(f > 1 ? changes[f - 1] : 0, f + 1 < changes.Length ? changes[f + 1] : 0);
            if (changes[f] > MinChange && changes[f] > 3 * median && changes[f] > 2 * neighbours) cuts.Add((float)(f / video.FrameRate));
        }
        return cuts;
    }

    /// <summary>Mean absolute change of standardised luma a cut must exceed (moving subjects stay well under it).</summary>
    public const double MinChange = 0.2;

    /// <summary>Per step (index f: from frame f-1 to f; 0 for the first frame), the mean absolute change of standardised luma.</summary>
    public static double[] Changes(VideoClip video)
    {
        var standard = video.Frames.Select(Standardise).ToArray();
        var changes = new double[standard.Length];
        for (int f = 1; f < standard.Length; f++)
        {
            double sum = 0;
            for (int i = 0; i < standard[f].Length; i++) sum += Math.Abs(standard[f][i] - standard[f - 1][i]);
            changes[f] = sum / standard[f].Length;
        }
        return changes;
    }

    private static float[] Standardise(byte[] rgb)
    {
        var y = new float[rgb.Length / 3];
        for (int i = 0; i < y.Length; i++) y[i] = MotionQuality.Luma(rgb, 3 * i);
        double mean = y.Average(), std = Math.Sqrt(y.Average(v => (v - mean) * (v - mean)));
        float scale = (float)(1 / Math.Max(2, std));   // a flat frame stays flat, not amplified noise
        for (int i = 0; i < y.Length; i++) y[i] = (float)((y[i] - mean) * scale);
        return y;
    }

    /// <summary>
    /// F1 in [0, 1] of detected cuts against asked ones: a detected cut within max(0.1 s, 1.5 frames) of an unmatched
    /// asked cut matches it. NaN when none is asked and none is seen (a single shot, held).
    /// </summary>
    public static double F1(IReadOnlyList<float> asked, IReadOnlyList<float> detected, double frameRate)
    {
        if (asked.Count == 0 && detected.Count == 0) return double.NaN;
        double tolerance = Math.Max(0.1, 1.5 / frameRate);
        var free = detected.ToList();
        int matched = 0;
        foreach (var t in asked)
        {
            var nearest = free.OrderBy(d => Math.Abs(d - t)).Cast<float?>().FirstOrDefault();
            if (nearest is null || Math.Abs(nearest.Value - t) > tolerance) continue;
            free.Remove(nearest.Value);
            matched++;
        }
        return matched == 0 ? 0 : 2.0 * matched / (asked.Count + detected.Count);
    }

    /// <summary>The asked cut times: each shot's start after the first.</summary>
    public static IReadOnlyList<float> AskedCuts(SceneSpec scene) =>
        [.. (scene.Shots ?? []).Select(s => s.Start).Where(t => t > 0 && t < scene.Seconds).Distinct().Order()];
}
