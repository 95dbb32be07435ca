namespace Canter.World.Tests;

/// <summary>The parser's blur: its vector rows and columns give exactly what one pixel at a time gives.</summary>
public sealed class BlurTests
{
    [Theory]
    [InlineData(37, 29, 1.3)]   // interior and edges, rows not a multiple of eight floats
    [InlineData(5, 9, 2.0)]     // narrower than the kernel: every float clamps
    [InlineData(64, 3, 0.4)]    // radius 1
    [InlineData(1, 1, 1.0)]
    public void MatchesThePixelAtATimeBlurBitForBit(int w, int h, double sigma)
    {
        var rng = new Random(w * 1000 + h);
        var picture = new float[w * h * 3];
        for (int i = 0; i < picture.Length; i++) picture[i] = (float)(rng.NextDouble() * 255);
        var expected = (float[])picture.Clone();
        Reference(expected, w, h, sigma);
        SubjectFit.GaussianBlur(picture, w, h, sigma);
        for (int i = 0; i < picture.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(picture[i]), $"float {i}: {picture[i]:R} against {expected[i]:R}");
    }

    /// <summary>The blur as the parser had it: each output one pixel and channel at a time, edges clamped.</summary>
    private static void Reference(float[] rgb, int w, int h, double sigma)
    {
        int radius = Math.Max(1, (int)Math.Ceiling(2 * sigma));
        var kernel = new float[2 * radius + 1];
        for (int i = -radius; i <= radius; i++) kernel[i + radius] = (float)Math.Exp(-i * i / (2 * sigma * sigma));
        float sum = kernel.Sum();
        for (int i = 0; i < kernel.Length; i++) kernel[i] /= sum;
        var tmp = new float[rgb.Length];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++)
                {
                    float s = 0;
                    for (int k = -radius; k <= radius; k++) s += kernel[k + radius] * rgb[(y * w + Math.Clamp(x + k, 0, w - 1)) * 3 + c];
                    tmp[(y * w + x) * 3 + c] = s;
                }
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++)
                {
                    float s = 0;
                    for (int k = -radius; k <= radius; k++) s += kernel[k + radius] * tmp[(Math.Clamp(y + k, 0, h - 1) * w + x) * 3 + c];
                    rgb[(y * w + x) * 3 + c] = s;
                }
    }
}
