using Canter.Media;

namespace Canter.World;

/// <summary>Ways a generated video differs from a clean render, to check that the parser still reads it. Append only.</summary>
public enum Degradation { None, Blur, Noise, Reencode }

/// <summary>Applies a <see cref="Degradation"/> to a clip's frames (deterministically).</summary>
public static class Degradations
{
    public static VideoClip Apply(VideoClip clip, Degradation kind, ulong seed = 1)
    {
        switch (kind)
        {
            case Degradation.Blur:
                return clip with { Frames = [.. clip.Frames.Select(f => BoxBlur(BoxBlur(f, clip.Width, clip.Height), clip.Width, clip.Height))] };
            case Degradation.Noise:
                {
                    var rng = new WorldRandom(seed);
                    return clip with
                    {
                        Frames = [.. clip.Frames.Select(f =>
                        {
                            var g = new byte[f.Length];
                            for (int i = 0; i < f.Length; i++)
                            {
                                // roughly normal noise of standard deviation 8 (sum of uniforms)
                                float n = (rng.NextFloat() + rng.NextFloat() + rng.NextFloat() - 1.5f) * 16f;
                                g[i] = (byte)Math.Clamp((int)MathF.Round(f[i] + n), 0, 255);
                            }
                            return g;
                        })],
                    };
                }
            case Degradation.Reencode:
                {
                    var path = Path.Combine(Path.GetTempPath(), $"canter-degrade-{Environment.ProcessId}-{seed}.mp4");
                    try
                    {
                        Mp4Writer.Write(path, clip, null, crf: 32);
                        return MediaReader.ReadVideo(path, clip.Width, clip.Height, clip.FrameRate);
                    }
                    finally
                    {
                        File.Delete(path);
                    }
                }
            default:
                return clip;
        }
    }

    private static byte[] BoxBlur(byte[] rgb, int w, int h)
    {
        var blurred = Parser.Blur([.. rgb.Select(v => (float)v)], w, h);
        return [.. blurred.Select(v => (byte)Math.Clamp((int)MathF.Round(v), 0, 255))];
    }
}
