using Canter.Tensors;
using Canter.World;

namespace Canter.Training.Data;

/// <summary>
/// Random training windows for the video autoencoder: each item is <see cref="Frames"/> consecutive frames of a
/// clip rendered (or decoded) at <see cref="RenderWidth"/> x <see cref="RenderHeight"/>, cropped to
/// <see cref="Crop"/> x <see cref="Crop"/> at a random place: with <see cref="DetailCrops"/> over 1, the most detailed
/// (largest mean absolute difference between neighbouring pixels, over the first, middle and last frame) of that many
/// random places, so that small subjects, which plain crops mostly miss, are seen more often. Which clip, window and
/// crop item j of step s gets depends only on (seed, s, j), so a resumed run continues with the same data.
/// </summary>
public sealed record VideoWindows(TrainingClips Clips, int Batch, int Frames, int Crop, int RenderWidth, int RenderHeight, double Fps, ulong Seed, int DetailCrops = 1)
{
    /// <summary>Step <paramref name="step"/>'s batch: (B, 3, T, crop, crop) in [-1, 1].</summary>
    public Tensor Make(long step, IBackend backend)
    {
        int plane = Crop * Crop;
        var data = new float[Batch * 3 * Frames * plane];
        // items are independent (own clip, own random stream): render them in parallel
        Parallel.For(0, Batch, j =>
        {
            var rng = new WorldRandom(Seed ^ (ulong)(step * 7919 + j) * 0x9E3779B97F4A7C15UL);
            long index = step * Batch + j;
            int total = Clips.FrameCount(index, Fps);
            int first = total > Frames ? rng.Next(total - Frames + 1) : 0;
            var clip = Clips.Get(index, first, Frames, RenderWidth, RenderHeight, Fps, 0);
            int x0 = rng.Next(RenderWidth - Crop + 1), y0 = rng.Next(RenderHeight - Crop + 1);
            double best = DetailCrops > 1 ? Detail(clip.Frames, x0, y0) : 0;
            for (int k = 1; k < DetailCrops; k++)
            {
                int x1 = rng.Next(RenderWidth - Crop + 1), y1 = rng.Next(RenderHeight - Crop + 1);
                double d = Detail(clip.Frames, x1, y1);
                if (d > best) (best, x0, y0) = (d, x1, y1);
            }
            for (int f = 0; f < Frames; f++)
            {
                var rgb = clip.Frames[f];
                for (int y = 0; y < Crop; y++)
                    for (int x = 0; x < Crop; x++)
                    {
                        int src = ((y0 + y) * RenderWidth + x0 + x) * 3;
                        for (int c = 0; c < 3; c++)
                            data[((j * 3 + c) * Frames + f) * plane + y * Crop + x] = rgb[src + c] * (2f / 255f) - 1f;
                    }
            }
        });
        return Tensor.FromArray(data, [Batch, 3, Frames, Crop, Crop], backend);
    }

    /// <summary>Sum of |right - left| and |below - above| of all channels in the crop at (x0, y0) of the first, middle and last frame.</summary>
    private double Detail(IReadOnlyList<byte[]> frames, int x0, int y0)
    {
        long sum = 0;
        foreach (int f in new[] { 0, frames.Count / 2, frames.Count - 1 })
        {
            var rgb = frames[f];
            for (int y = y0; y < y0 + Crop - 1; y++)
                for (int x = x0; x < x0 + Crop - 1; x++)
                {
                    int i = (y * RenderWidth + x) * 3;
                    for (int c = 0; c < 3; c++)
                        sum += Math.Abs(rgb[i + c] - rgb[i + 3 + c]) + Math.Abs(rgb[i + c] - rgb[i + RenderWidth * 3 + c]);
                }
        }
        return sum;
    }
}

/// <summary>Random windows of <see cref="Samples"/> samples of clips' sound: (B, 1, L) in [-1, 1]; deterministic per (seed, step, item).</summary>
public sealed record AudioWindows(TrainingClips Clips, int Batch, int Samples, int SampleRate, ulong Seed)
{
    public Tensor Make(long step, IBackend backend)
    {
        var data = new float[Batch * Samples];
        for (int j = 0; j < Batch; j++)
        {
            var rng = new WorldRandom(Seed ^ (ulong)(step * 7919 + j) * 0xD1B54A32D192ED03UL);
            var audio = Clips.Audio(step * Batch + j, SampleRate);
            int first = audio.Length > Samples ? rng.Next(audio.Length - Samples + 1) : 0;
            int n = Math.Min(Samples, audio.Length - first);
            for (int i = 0; i < n; i++) data[j * Samples + i] = Math.Clamp(audio[first + i], -1f, 1f);
        }
        return Tensor.FromArray(data, [Batch, 1, Samples], backend);
    }
}
