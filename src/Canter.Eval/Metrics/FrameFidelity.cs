using Canter.Media;

namespace Canter.Eval.Metrics;

/// <summary>First- and last-frame fidelity (image-to-video, first-last-frame-to-video): the frame against the given image.</summary>
public static class FrameFidelity
{
    /// <summary>PSNR above this is reported as this (identical pictures would give infinity).</summary>
    public const double MaxPsnr = 100;

    /// <summary>PSNR (dB, capped) and SSIM of <paramref name="frame"/> against <paramref name="image"/>, resized to the frame's size first.</summary>
    public static (double Psnr, double Ssim) Compare(byte[] frame, int width, int height, RgbImage image)
    {
        var target = Resize(image.Validate(), width, height).Pixels;
        var (sse, count) = MediaMetrics.SquaredError([frame], [target]);
        return (Math.Min(MaxPsnr, MediaMetrics.Psnr(sse, count)), MediaMetrics.Ssim(frame, target, width, height));
    }

    /// <summary>
    /// PSNR (dB, capped) over every frame of <paramref name="clip"/> against the same frames of <paramref name="reference"/>
    /// (same size; the shorter clip's frame count). An edit's result against the world's render of the edited scene.
    /// </summary>
    public static double ClipPsnr(VideoClip clip, VideoClip reference)
    {
        if (clip.Width != reference.Width || clip.Height != reference.Height)
            throw new ArgumentException($"a {clip.Width}x{clip.Height} clip against a {reference.Width}x{reference.Height} one");
        int n = Math.Min(clip.Frames.Count, reference.Frames.Count);
        var (sse, count) = MediaMetrics.SquaredError([.. clip.Frames.Take(n)], [.. reference.Frames.Take(n)]);
        return Math.Min(MaxPsnr, MediaMetrics.Psnr(sse, count));
    }

    /// <summary>Box-filtered resize (each output pixel averages the source pixels it covers); the image itself when sizes agree.</summary>
    public static RgbImage Resize(RgbImage image, int width, int height)
    {
        if (image.Width == width && image.Height == height) return image;
        var pixels = new byte[width * height * 3];
        double sx = (double)image.Width / width, sy = (double)image.Height / height;
        for (int y = 0; y < height; y++)
        {
            int ya = (int)(y * sy), yb = Math.Max(ya + 1, (int)Math.Ceiling((y + 1) * sy));
            for (int x = 0; x < width; x++)
            {
                int xa = (int)(x * sx), xb = Math.Max(xa + 1, (int)Math.Ceiling((x + 1) * sx));
                double r = 0, g = 0, b = 0;
                int n = 0;
                for (int v = ya; v < Math.Min(yb, image.Height); v++)
                    for (int u = xa; u < Math.Min(xb, image.Width); u++)
                    {
                        int o = (v * image.Width + u) * 3;
                        r += image.Pixels[o]; g += image.Pixels[o + 1]; b += image.Pixels[o + 2];
                        n++;
                    }
                int p = (y * width + x) * 3;
                pixels[p] = (byte)Math.Round(r / n);
                pixels[p + 1] = (byte)Math.Round(g / n);
                pixels[p + 2] = (byte)Math.Round(b / n);
            }
        }
        return new RgbImage(width, height, pixels);
    }
}
