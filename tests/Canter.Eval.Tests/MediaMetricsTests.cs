using Canter.Eval.Metrics;

namespace Canter.Eval.Tests;

/// <summary>
/// The reconstruction metrics of <c>canter vae eval</c> at their fixed points (identical inputs) and moving the right
/// way when the input is damaged, so a better autoencoder always scores better.
/// </summary>
public sealed class MediaMetricsTests
{
    private const int Width = 48, Height = 32, SampleRate = 24000;

    /// <summary>A frame with edges and gradients (SSIM of a flat frame says little).</summary>
    private static byte[] Pattern()
    {
        var rgb = new byte[Width * Height * 3];
        for (int y = 0; y < Height; y++)
            for (int x = 0; x < Width; x++)
            {
                int i = (y * Width + x) * 3;
                rgb[i] = (byte)(x * 5);
                rgb[i + 1] = (byte)((x / 8 + y / 8) % 2 == 0 ? 40 : 210);
                rgb[i + 2] = (byte)(y * 7);
            }
        return rgb;
    }

    private static byte[] Noisy(byte[] rgb, int amplitude, int seed)
    {
        var random = new Random(seed);
        return rgb.Select(v => (byte)Math.Clamp(v + random.Next(-amplitude, amplitude + 1), 0, 255)).ToArray();
    }

    private static float[] Tone(double hz, double seconds = 0.5)
    {
        var s = new float[(int)(seconds * SampleRate)];
        for (int i = 0; i < s.Length; i++) s[i] = 0.5f * (float)Math.Sin(2 * Math.PI * hz * i / SampleRate);
        return s;
    }

    [Fact]
    public void PsnrOfIdenticalFramesIsLargeAndFinite()
    {
        var frames = new[] { Pattern(), Noisy(Pattern(), 30, 1) };
        var (sse, count) = MediaMetrics.SquaredError(frames, frames.Select(f => (byte[])f.Clone()).ToArray());
        Assert.Equal(0, sse);
        Assert.Equal(2L * Width * Height * 3, count);
        double psnr = MediaMetrics.Psnr(sse, count);
        Assert.True(double.IsFinite(psnr) && psnr > 100, $"PSNR {psnr}");

        // every byte off by 1: MSE 1, PSNR 20 log10(255) = 48.13 dB
        var (sse1, count1) = MediaMetrics.SquaredError([Pattern()], [Pattern().Select(v => (byte)(v ^ 1)).ToArray()]);
        Assert.Equal(48.1308, MediaMetrics.Psnr(sse1, count1), 3);
        Assert.Throws<ArgumentException>(() => MediaMetrics.SquaredError(frames, [Pattern()]));
    }

    [Fact]
    public void SsimIsOneForIdenticalFramesAndDropsWithNoise()
    {
        var a = Pattern();
        Assert.Equal(1.0, MediaMetrics.Ssim(a, (byte[])a.Clone(), Width, Height), 12);

        double light = MediaMetrics.Ssim(a, Noisy(a, 10, 2), Width, Height);
        double heavy = MediaMetrics.Ssim(a, Noisy(a, 60, 3), Width, Height);
        Assert.True(light < 0.999, $"light noise SSIM {light}");
        Assert.True(heavy < light, $"heavy noise SSIM {heavy} is not below light noise SSIM {light}");
        Assert.True(heavy < 0.7, $"heavy noise SSIM {heavy}");
    }

    [Fact]
    public void LogMelDistanceIsZeroForIdenticalSoundAndGrowsWithPitchChange()
    {
        var a4 = Tone(440);
        Assert.Equal(0, MediaMetrics.LogMelDistance(a4, (float[])a4.Clone(), SampleRate));

        double semitone = MediaMetrics.LogMelDistance(a4, Tone(440 * Math.Pow(2, 1 / 12.0)), SampleRate);
        double fifth = MediaMetrics.LogMelDistance(a4, Tone(440 * 1.5), SampleRate);
        double octave = MediaMetrics.LogMelDistance(a4, Tone(880), SampleRate);
        Assert.True(semitone > 0.05, $"semitone distance {semitone}");
        Assert.True(fifth > semitone, $"fifth {fifth} is not above semitone {semitone}");
        Assert.True(octave > semitone, $"octave {octave} is not above semitone {semitone}");
    }

    [Fact]
    public void MatchOnsetsCountsMissesAndMeasuresTheMatched()
    {
        var (errors, missed) = MediaMetrics.MatchOnsets([0.5f, 1.0f, 2.0f], [0.52f, 1.2f, 3.0f]);
        Assert.Equal(2, missed);                                   // 1.0 (nearest is 0.2 s away) and 2.0
        Assert.Equal(0.02, Assert.Single(errors), 5);

        Assert.Equal(3, MediaMetrics.MatchOnsets([0.5f, 1.0f, 2.0f], []).Missed);
        var exact = MediaMetrics.MatchOnsets([0.5f, 1.0f], [1.0f, 0.5f]);
        Assert.Equal(0, exact.Missed);
        Assert.All(exact.Errors, e => Assert.Equal(0, e));
        Assert.Equal(1, MediaMetrics.MatchOnsets([1.0f], [1.06f]).Missed);       // just past the 50 ms tolerance
        Assert.Equal(0, MediaMetrics.MatchOnsets([1.0f], [1.06f], tolerance: 0.1).Missed);
    }

    [Fact]
    public void CorrelationOfASequenceWithItselfIsOne()
    {
        double[] a = [0.1, 0.7, 0.3, 0.9, 0.2, 0.5];
        Assert.Equal(1.0, MediaMetrics.Correlation(a, a), 12);
        Assert.Equal(-1.0, MediaMetrics.Correlation(a, a.Select(v => 3 - 2 * v).ToArray()), 12);
        Assert.Equal(1.0, MediaMetrics.Correlation(a, a.Select(v => 10 + 4 * v).ToArray()), 12);   // scale and offset do not matter
        Assert.True(double.IsNaN(MediaMetrics.Correlation(a, [1, 1, 1, 1, 1, 1])));                 // undefined for a constant
        Assert.True(double.IsNaN(MediaMetrics.Correlation([1.0], [1.0])));
    }
}
