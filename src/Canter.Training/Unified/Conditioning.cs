using Canter.Models.Autoencoders;
using Canter.Models.Unified;
using Canter.Tensors;
using Canter.Tensors.Autograd;
using Canter.Training.Autoencoders;

namespace Canter.Training.Unified;

/// <summary>
/// Per-channel statistics that put latents near zero mean and unit variance before they become tokens (the
/// transformer's flow assumes noise of unit scale). Measured once on training clips and stored with the model.
/// </summary>
public sealed record LatentStats(float[] VideoMean, float[] VideoStd, float[] AudioMean, float[] AudioStd)
{
    public static LatentStats Measure(IReadOnlyList<(float[] Video, int VideoChannels, float[] Audio, int AudioChannels)> samples)
    {
        var (vm, vs) = Moments(samples.Select(s => (s.Video, s.VideoChannels)));
        var (am, asd) = Moments(samples.Select(s => (s.Audio, s.AudioChannels)));
        return new LatentStats(vm, vs, am, asd);
    }

    private static (float[] Mean, float[] Std) Moments(IEnumerable<(float[] Data, int Channels)> items)
    {
        double[]? sum = null, sq = null;
        long[]? count = null;
        foreach (var (data, channels) in items)
        {
            sum ??= new double[channels];
            sq ??= new double[channels];
            count ??= new long[channels];
            int per = data.Length / channels;
            for (int c = 0; c < channels; c++)
                for (int i = 0; i < per; i++)
                {
                    double v = data[c * per + i];
                    sum[c] += v;
                    sq[c] += v * v;
                    count[c]++;
                }
        }
        if (sum is null) throw new ArgumentException("no samples to measure latent statistics on");
        var mean = new float[sum.Length];
        var std = new float[sum.Length];
        for (int c = 0; c < sum.Length; c++)
        {
            double m = sum[c] / count![c];
            mean[c] = (float)m;
            std[c] = (float)Math.Sqrt(Math.Max(1e-8, sq![c] / count[c] - m * m));
        }
        return (mean, std);
    }

    /// <summary>Video latent means (Z, G, h, w) -> normalised tokens (G (h/p) (w/p), Z p p); the latent array is normalised in place.</summary>
    public float[] VideoTokens(float[] latent, int patch, int h, int w)
    {
        Apply(latent, VideoMean, VideoStd);
        return Patches.FromVideo(latent, VideoMean.Length, latent.Length / (VideoMean.Length * h * w), h, w, patch);
    }

    /// <summary>Tokens of <paramref name="groups"/> latent frames -> video latents (Z, G, h, w) for the decoder.</summary>
    public float[] VideoLatent(ReadOnlySpan<float> tokens, int patch, int groups, int h, int w)
    {
        var latent = Patches.ToVideo(tokens, VideoMean.Length, groups, h, w, patch);
        Apply(latent, VideoMean, VideoStd, inverse: true);
        return latent;
    }

    /// <summary>Audio latent means (Za, A) -> normalised tokens (A, Za); the latent array is normalised in place.</summary>
    public float[] AudioTokens(float[] latent)
    {
        Apply(latent, AudioMean, AudioStd);
        return Patches.FromAudio(latent, AudioMean.Length, latent.Length / AudioMean.Length);
    }

    /// <summary>Tokens (A, Za) -> audio latents (Za, A) for the decoder.</summary>
    public float[] AudioLatent(float[] tokens)
    {
        var latent = Patches.ToAudio(tokens, AudioMean.Length, tokens.Length / AudioMean.Length);
        Apply(latent, AudioMean, AudioStd, inverse: true);
        return latent;
    }

    /// <summary>(C, ...) channel-major latents, normalised in place (or back with <paramref name="inverse"/>).</summary>
    public static void Apply(float[] latent, float[] mean, float[] std, bool inverse = false)
    {
        int channels = mean.Length, per = latent.Length / channels;
        for (int c = 0; c < channels; c++)
            for (int i = 0; i < per; i++)
            {
                ref float v = ref latent[c * per + i];
                v = inverse ? v * std[c] + mean[c] : (v - mean[c]) / std[c];
            }
    }
}

/// <summary>The autoencoders of a model, with helpers that turn media into normalised tokens and back.</summary>
public sealed class LatentCodec(VideoAutoencoder video, AudioAutoencoder audio)
{
    public VideoAutoencoder Video { get; } = video;
    public AudioAutoencoder Audio { get; } = audio;

    public static LatentCodec Load(string modelDir, Device? device = null) => new(
        AutoencoderFiles.LoadVideo(Path.Combine(modelDir, "video_vae.safetensors"), device),
        AutoencoderFiles.LoadAudio(Path.Combine(modelDir, "audio_vae.safetensors"), device));

    /// <summary>Where the autoencoders' weights live; inputs are made there.</summary>
    public IBackend Backend => Video.EncIn.Weight.Backend;

    /// <summary>RGB frames (1 + r k of them, sizes multiples of the spatial ratio) -> latent means (Z, G, h, w) on the host.</summary>
    public float[] EncodeFrames(IReadOnlyList<byte[]> frames, int width, int height)
    {
        using var scope = TensorScope.Begin();
        var x = MediaTensors.FromFrames(frames, width, height, Video.Config, Backend);
        return Video.EncodeTiled(x).ToArray();
    }

    /// <summary>
    /// Several clips of the same frame count and size -> latent means (Z, G, h, w) of each, encoded as one batch. Off
    /// the CPU the pieces are as large as the clip (a GPU has the memory, and fewer, larger pieces keep it busy).
    /// </summary>
    public float[][] EncodeFrames(IReadOnlyList<IReadOnlyList<byte[]>> clips, int width, int height)
    {
        if (clips.Count == 0) return [];
        using var scope = TensorScope.Begin();
        var x = Ops.Concat([.. clips.Select(c => MediaTensors.FromFrames(c, width, height, Video.Config))], 0);        // (N, 3, T, H, W) on the host
        int s = Video.Config.SpatialRatio;
        var plan = Backend is Canter.Tensors.Backends.Cpu.CpuBackend
            ? Video.PlanFor(Video.Config.LatentFrames(x.Dim(2)), height / s, width / s) : new TilePlan(MaxGroups: 64, MaxLatentSide: 64);
        return Split(Video.EncodeTiled(Tensor.FromArray(x.ToArray(), x.Shape, Backend), plan).ToArray(), clips.Count);
    }

    /// <summary>Several sounds of the same length -> latent means (Za, A) of each, encoded as one batch.</summary>
    public float[][] EncodeAudio(IReadOnlyList<float[]> sounds)
    {
        if (sounds.Count == 0) return [];
        using var scope = TensorScope.Begin();
        using var noGrad = Tape.NoGrad();
        var x = Ops.Concat([.. sounds.Select(s => MediaTensors.FromSamples(s, Audio.Config))], 0);                      // (N, 1, L) on the host
        return Split(Audio.Encode(Tensor.FromArray(x.ToArray(), x.Shape, Backend)).Mean.ToArray(), sounds.Count);
    }

    private static float[][] Split(float[] all, int count)
    {
        int per = all.Length / count;
        return [.. Enumerable.Range(0, count).Select(i => all.AsSpan(i * per, per).ToArray())];
    }

    /// <summary>Samples at the audio autoencoder's rate -> latent means (Za, A) on the host.</summary>
    public float[] EncodeAudio(float[] samples)
    {
        using var scope = TensorScope.Begin();
        using var noGrad = Tape.NoGrad();
        return Audio.Encode(MediaTensors.FromSamples(samples, Audio.Config, Backend)).Mean.ToArray();
    }

    public byte[][] DecodeFrames(float[] latent, int groups, int h, int w, int frames, int width, int height)
    {
        using var scope = TensorScope.Begin();
        var z = Tensor.FromArray(latent, [1, Video.Config.LatentChannels, groups, h, w], Backend);
        return MediaTensors.ToFrames(Video.DecodeTiled(z, Video.PlanFor(groups, h, w)), frames, width, height);
    }

    public float[] DecodeAudio(float[] latent, int count, int samples)
    {
        using var scope = TensorScope.Begin();
        using var noGrad = Tape.NoGrad();
        var z = Tensor.FromArray(latent, [1, Audio.Config.LatentChannels, count], Backend);
        return MediaTensors.ToSamples(Audio.Decode(z), samples);
    }
}
