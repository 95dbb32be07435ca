using Canter.Media;
using Canter.World;

namespace Canter.Eval.Metrics;

/// <summary>
/// A clip summed up as a few numbers, each divided by a fixed scale so that all move in about [0, 1]: mean and spread
/// of each colour channel, motion energy (mean |luma change| between frames) and how it varies over time, edge
/// density, colourfulness, and of the sound: loudness, onsets per second and zero-crossing rate. The distribution
/// distance compares these between generated clips and real renders (a Frechet distance, as FVD does on a network's
/// features; here the features are chosen by hand, so it needs no model and says what differs).
/// </summary>
public static class ClipFeatures
{
    public static readonly string[] Names =
    [
        "mean_r", "mean_g", "mean_b", "std_r", "std_g", "std_b", "motion", "motion_std", "edges", "colourfulness",
        "audio_rms", "audio_onsets_per_s", "audio_zero_crossings",
    ];

    public static double[] Of(VideoClip video, AudioTrack? audio)
    {
        video.Validate();
        var f = new double[Names.Length];
        double[] sum = new double[3], squares = new double[3];
        double edges = 0, colour = 0;
        long pixels = 0;
        int w = video.Width, h = video.Height;
        foreach (var frame in video.Frames)
        {
            for (int i = 0; i < frame.Length; i += 3)
            {
                for (int c = 0; c < 3; c++) { sum[c] += frame[i + c]; squares[c] += frame[i + c] * frame[i + c]; }
                colour += Math.Max(frame[i], Math.Max(frame[i + 1], frame[i + 2])) - Math.Min(frame[i], Math.Min(frame[i + 1], frame[i + 2]));
                int p = i / 3, x = p % w;
                if (x + 1 < w) edges += Math.Abs(MotionQuality.Luma(frame, i + 3) - MotionQuality.Luma(frame, i));
                if (p + w < w * h) edges += Math.Abs(MotionQuality.Luma(frame, i + 3 * w) - MotionQuality.Luma(frame, i));
            }
            pixels += w * h;
        }
        for (int c = 0; c < 3; c++)
        {
            double mean = sum[c] / pixels;
            f[c] = mean / 255;
            f[3 + c] = Math.Sqrt(Math.Max(0, squares[c] / pixels - mean * mean)) / 128;
        }
        var energy = new List<double>();
        for (int k = 1; k < video.Frames.Count; k++)
        {
            byte[] a = video.Frames[k - 1], b = video.Frames[k];
            long s = 0;
            for (int i = 0; i < a.Length; i += 3) s += Math.Abs(MotionQuality.Luma(b, i) - MotionQuality.Luma(a, i));
            energy.Add(s / (double)(w * h));
        }
        if (energy.Count > 0)
        {
            double m = energy.Average();
            f[6] = m / 8;
            f[7] = Math.Sqrt(energy.Average(e => (e - m) * (e - m))) / 8;
        }
        f[8] = edges / pixels / 32;
        f[9] = colour / pixels / 255;
        if (audio is not null && audio.Samples.Length > 0)
        {
            var x = audio.Samples;
            f[10] = Math.Sqrt(x.Average(v => (double)v * v)) / 0.2;
            f[11] = Parser.Onsets(audio).Count / Math.Max(0.1, audio.Seconds) / 4;
            int crossings = 0;
            for (int i = 1; i < x.Length; i++) if (x[i - 1] < 0 != x[i] < 0) crossings++;
            f[12] = crossings / audio.Seconds / 2 / 4000;
        }
        return f;
    }
}

/// <summary>Fréchet distance between two sets of feature vectors, each taken as a Gaussian (mean and covariance).</summary>
public static class Frechet
{
    /// <summary>
    /// |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2), covariances with n-1 (zero for a single vector);
    /// 0 for identical sets, in squared feature units.
    /// </summary>
    public static double Distance(IReadOnlyList<double[]> a, IReadOnlyList<double[]> b)
    {
        if (a.Count == 0 || b.Count == 0) return double.NaN;
        int d = a[0].Length;
        if (a.Concat(b).Any(v => v.Length != d)) throw new ArgumentException("feature vectors differ in length");
        var (ma, sa) = Moments(a);
        var (mb, sb) = Moments(b);
        double distance = 0;
        for (int i = 0; i < d; i++) distance += (ma[i] - mb[i]) * (ma[i] - mb[i]) + sa[i, i] + sb[i, i];
        var root = SymmetricFunction(sa, Math.Sqrt);
        var inner = Multiply(Multiply(root, sb), root);
        var (values, _) = Eigen(inner);
        distance -= 2 * values.Sum(v => Math.Sqrt(Math.Max(0, v)));
        return Math.Max(0, distance);
    }

    private static (double[] Mean, double[,] Covariance) Moments(IReadOnlyList<double[]> set)
    {
        int d = set[0].Length, n = set.Count;
        var mean = new double[d];
        foreach (var v in set) for (int i = 0; i < d; i++) mean[i] += v[i] / n;
        var cov = new double[d, d];
        if (n > 1)
            foreach (var v in set)
                for (int i = 0; i < d; i++)
                    for (int j = 0; j < d; j++) cov[i, j] += (v[i] - mean[i]) * (v[j] - mean[j]) / (n - 1);
        return (mean, cov);
    }

    private static double[,] Multiply(double[,] x, double[,] y)
    {
        int n = x.GetLength(0);
        var r = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < n; k++)
                for (int j = 0; j < n; j++) r[i, j] += x[i, k] * y[k, j];
        return r;
    }

    /// <summary>f applied to a symmetric matrix through its eigenvalues (negative ones, from rounding, clipped to 0).</summary>
    private static double[,] SymmetricFunction(double[,] m, Func<double, double> f)
    {
        int n = m.GetLength(0);
        var (values, vectors) = Eigen(m);
        var r = new double[n, n];
        for (int k = 0; k < n; k++)
        {
            double fk = f(Math.Max(0, values[k]));
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) r[i, j] += vectors[i, k] * fk * vectors[j, k];
        }
        return r;
    }

    /// <summary>Eigenvalues and eigenvectors (columns) of a symmetric matrix by cyclic Jacobi rotations.</summary>
    internal static (double[] Values, double[,] Vectors) Eigen(double[,] matrix)
    {
        int n = matrix.GetLength(0);
        var a = (double[,])matrix.Clone();
        // symmetrise: products of symmetric matrices carry rounding asymmetry
        for (int i = 0; i < n; i++) for (int j = i + 1; j < n; j++) a[i, j] = a[j, i] = (a[i, j] + a[j, i]) / 2;
        var v = new double[n, n];
        for (int i = 0; i < n; i++) v[i, i] = 1;
        for (int sweep = 0; sweep < 100; sweep++)
        {
            double off = 0;
            for (int i = 0; i < n; i++) for (int j = i + 1; j < n; j++) off += a[i, j] * a[i, j];
            if (off < 1e-24) break;
            for (int p = 0; p < n; p++)
                for (int q = p + 1; q < n; q++)
                {
                    if (Math.Abs(a[p, q]) < 1e-300) continue;
                    double theta = (a[q, q] - a[p, p]) / (2 * a[p, q]);
                    double t = Math.Sign(theta == 0 ? 1 : theta) / (Math.Abs(theta) + Math.Sqrt(theta * theta + 1));
                    double c = 1 / Math.Sqrt(t * t + 1), s = t * c;
                    for (int k = 0; k < n; k++)
                    {
                        double akp = a[k, p], akq = a[k, q];
                        a[k, p] = c * akp - s * akq;
                        a[k, q] = s * akp + c * akq;
                    }
                    for (int k = 0; k < n; k++)
                    {
                        double apk = a[p, k], aqk = a[q, k];
                        a[p, k] = c * apk - s * aqk;
                        a[q, k] = s * apk + c * aqk;
                    }
                    for (int k = 0; k < n; k++)
                    {
                        double vkp = v[k, p], vkq = v[k, q];
                        v[k, p] = c * vkp - s * vkq;
                        v[k, q] = s * vkp + c * vkq;
                    }
                }
        }
        return (Enumerable.Range(0, n).Select(i => a[i, i]).ToArray(), v);
    }
}
