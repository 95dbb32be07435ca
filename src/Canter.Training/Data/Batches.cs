using Canter.Tensors;
using Canter.World;

namespace Canter.Training.Data;

/// <summary>
/// Random training windows for the video autoencoder: each item is <see cref="Frames"/> consecutive frames of a
/// clip rendered (or decoded) at <see cref="RenderWidth"/> x <see cref="RenderHeight"/>, cropped to
/// <see cref="Crop"/> x <see cref="Crop"/> at a random place. Which clip, window and crop item j of step s
/// gets depends only on (seed, s, j), so a resumed run continues with the same data.
/// </summary>
public sealed record VideoWindows(TrainingClips Clips, int Batch, int Frames, int Crop, int RenderWidth, int RenderHeight, double Fps, ulong Seed)
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
