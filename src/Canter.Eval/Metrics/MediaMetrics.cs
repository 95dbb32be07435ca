namespace Canter.Eval.Metrics;

/// <summary>Reconstruction metrics on frames and waveforms: PSNR, SSIM, log-mel distance, onset matching, lip-sync correlation.</summary>
public static class MediaMetrics
{
    /// <summary>Sum of squared errors and count over RGB bytes (for a PSNR over many frames).</summary>
    public static (double Sse, long Count) SquaredError(IReadOnlyList<byte[]> a, IReadOnlyList<byte[]> b)
    {
        if (a.Count != b.Count) throw new ArgumentException($"{a.Count} frames against {b.Count}");
        double sse = 0;
        long n = 0;
        for (int f = 0; f < a.Count; f++)
        {
            var x = a[f];
            var y = b[f];
            for (int i = 0; i < x.Length; i++)
            {
                double d = x[i] - y[i];
                sse += d * d;
            }
            n += x.Length;
        }
        return (sse, n);
    }

    public static double Psnr(double sse, long count) => 10 * Math.Log10(255.0 * 255.0 / Math.Max(1e-10, sse / count));

    /// <summary>
    /// Mean SSIM of the luma (BT.601) of two frames over 8x8 windows with stride 4, with the usual constants
    /// (K1 = 0.01, K2 = 0.03, L = 255).
    /// </summary>
    public static double Ssim(byte[] a, byte[] b, int width, int height)
    {
        var ya = Luma(a, width, height);
        var yb = Luma(b, width, height);
        const double c1 = 0.01 * 255 * 0.01 * 255, c2 = 0.03 * 255 * 0.03 * 255;
        const int win = 8;
        double sum = 0;
        int windows = 0;
        for (int y0 = 0; y0 + win <= height; y0 += 4)
            for (int x0 = 0; x0 + win <= width; x0 += 4)
            {
                double ma = 0, mb = 0;
                for (int y = y0; y < y0 + win; y++)
                    for (int x = x0; x < x0 + win; x++) { ma += ya[y * width + x]; mb += yb[y * width + x]; }
                ma /= win * win;
                mb /= win * win;
                double va = 0, vb = 0, cov = 0;
                for (int y = y0; y < y0 + win; y++)
                    for (int x = x0; x < x0 + win; x++)
                    {
                        double da = ya[y * width + x] - ma, db = yb[y * width + x] - mb;
                        va += da * da;
                        vb += db * db;
                        cov += da * db;
                    }
                int n = win * win - 1;
                va /= n;
                vb /= n;
                cov /= n;
                sum += (2 * ma * mb + c1) * (2 * cov + c2) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
                windows++;
            }
        return windows == 0 ? 1 : sum / windows;
    }

    private static double[] Luma(byte[] rgb, int width, int height)
    {
        var y = new double[width * height];
        for (int i = 0; i < y.Length; i++) y[i] = 0.299 * rgb[3 * i] + 0.587 * rgb[3 * i + 1] + 0.114 * rgb[3 * i + 2];
        return y;
    }

    /// <summary>
    /// Log-mel spectrogram: 1024-sample Hann frames every 256 samples, 64 triangular mel bands up to half the
    /// sample rate, natural log of band power + 1e-5. Returns [frame][band].
    /// </summary>
    public static double[][] LogMel(float[] samples, int sampleRate, int bands = 64)
    {
        const int size = 1024, hop = 256;
        int frames = Math.Max(1, (samples.Length - size) / hop + 1);
        var filters = MelFilters(bands, size, sampleRate);
        var window = new double[size];
        for (int i = 0; i < size; i++) window[i] = 0.5 - 0.5 * Math.Cos(2 * Math.PI * i / size);
        var result = new double[frames][];
        Parallel.For(0, frames, f =>
        {
            var re = new double[size];
            var im = new double[size];
            for (int i = 0; i < size; i++) re[i] = (f * hop + i < samples.Length ? samples[f * hop + i] : 0) * window[i];
            Fft(re, im);
            var power = new double[size / 2 + 1];
            for (int k = 0; k <= size / 2; k++) power[k] = re[k] * re[k] + im[k] * im[k];
            var mel = new double[bands];
            for (int m = 0; m < bands; m++)
            {
                double s = 0;
                foreach (var (k, w) in filters[m]) s += power[k] * w;
                mel[m] = Math.Log(s + 1e-5);
            }
            result[f] = mel;
        });
        return result;
    }

    /// <summary>Mean absolute difference of two log-mel spectrograms (natural log units) over the frames both have.</summary>
    public static double LogMelDistance(float[] a, float[] b, int sampleRate)
    {
        var ma = LogMel(a, sampleRate);
        var mb = LogMel(b, sampleRate);
        int frames = Math.Min(ma.Length, mb.Length);
        double sum = 0;
        for (int f = 0; f < frames; f++)
            for (int m = 0; m < ma[f].Length; m++) sum += Math.Abs(ma[f][m] - mb[f][m]);
        return sum / (frames * ma[0].Length);
    }

    private static List<(int Bin, double Weight)>[] MelFilters(int bands, int size, int sampleRate)
    {
        static double ToMel(double hz) => 2595 * Math.Log10(1 + hz / 700);
        static double ToHz(double mel) => 700 * (Math.Pow(10, mel / 2595) - 1);
        double top = ToMel(sampleRate / 2.0);
        var edges = Enumerable.Range(0, bands + 2).Select(i => ToHz(top * i / (bands + 1)) * size / sampleRate).ToArray();
        var filters = new List<(int, double)>[bands];
        for (int m = 0; m < bands; m++)
        {
            filters[m] = [];
            for (int k = (int)Math.Floor(edges[m]); k <= (int)Math.Ceiling(edges[m + 2]) && k <= size / 2; k++)
            {
                double w = k < edges[m + 1] ? (k - edges[m]) / (edges[m + 1] - edges[m]) : (edges[m + 2] - k) / (edges[m + 2] - edges[m + 1]);
                if (w > 0) filters[m].Add((k, w));
            }
        }
        return filters;
    }

    /// <summary>In-place radix-2 complex FFT (length a power of two).</summary>
    private static void Fft(double[] re, double[] im)
    {
        int n = re.Length;
        for (int i = 1, j = 0; i < n; i++)
        {
            int bit = n >> 1;
            for (; (j & bit) != 0; bit >>= 1) j ^= bit;
            j ^= bit;
            if (i < j) { (re[i], re[j]) = (re[j], re[i]); (im[i], im[j]) = (im[j], im[i]); }
        }
        for (int len = 2; len <= n; len <<= 1)
        {
            double angle = -2 * Math.PI / len;
            for (int i = 0; i < n; i += len)
                for (int k = 0; k < len / 2; k++)
                {
                    double wr = Math.Cos(angle * k), wi = Math.Sin(angle * k);
                    int a = i + k, b = i + k + len / 2;
                    double xr = re[b] * wr - im[b] * wi, xi = re[b] * wi + im[b] * wr;
                    re[b] = re[a] - xr;
                    im[b] = im[a] - xi;
                    re[a] += xr;
                    im[a] += xi;
                }
        }
    }

    /// <summary>
    /// Matches each reference onset to the nearest candidate onset within <paramref name="tolerance"/> seconds.
    /// Returns the absolute errors of the matched ones and how many were missed.
    /// </summary>
    public static (List<double> Errors, int Missed) MatchOnsets(IReadOnlyList<float> reference, IReadOnlyList<float> candidate, double tolerance = 0.05)
    {
        var errors = new List<double>();
        int missed = 0;
        foreach (var t in reference)
        {
            double best = candidate.Count == 0 ? double.MaxValue : candidate.Min(c => Math.Abs(c - t));
            if (best <= tolerance) errors.Add(best);
            else missed++;
        }
        return (errors, missed);
    }

    /// <summary>RMS loudness of the samples within half a frame of each given time.</summary>
    public static double[] LoudnessAt(float[] samples, int sampleRate, IReadOnlyList<float> times, double frameRate)
    {
        int half = (int)(sampleRate / frameRate / 2);
        return times.Select(t =>
        {
            int c = (int)(t * sampleRate), from = Math.Max(0, c - half), to = Math.Min(samples.Length, c + half);
            double s = 0;
            for (int i = from; i < to; i++) s += samples[i] * samples[i];
            return to > from ? Math.Sqrt(s / (to - from)) : 0;
        }).ToArray();
    }

    public static double Correlation(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        int n = Math.Min(a.Count, b.Count);
        if (n < 2) return double.NaN;
        double ma = a.Take(n).Average(), mb = b.Take(n).Average(), sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < n; i++)
        {
            sab += (a[i] - ma) * (b[i] - mb);
            saa += (a[i] - ma) * (a[i] - ma);
            sbb += (b[i] - mb) * (b[i] - mb);
        }
        return saa <= 0 || sbb <= 0 ? double.NaN : sab / Math.Sqrt(saa * sbb);
    }
}
