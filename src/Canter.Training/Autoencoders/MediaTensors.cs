using Canter.Media;
using Canter.Models.Autoencoders;
using Canter.Tensors;

namespace Canter.Training.Autoencoders;

/// <summary>
/// Frames and waveforms to and from the autoencoders' tensors. A clip whose frame count or size the video
/// autoencoder cannot take is padded (last frame repeated, edges replicated) and the result cut back, so
/// any clip goes through.
/// </summary>
public static class MediaTensors
{
    /// <summary>The frame count the video autoencoder takes for a clip of <paramref name="frames"/> frames: the next 1 + r k.</summary>
    public static int PaddedFrames(int frames, int ratio) => 1 + (frames - 1 + ratio - 1) / ratio * ratio;

    /// <summary>RGB frames -> (1, 3, T', H', W') in [-1, 1], padded to 1 + r k frames and multiples of s pixels.</summary>
    public static Tensor FromFrames(IReadOnlyList<byte[]> frames, int width, int height, VideoAutoencoderConfig config, IBackend? backend = null)
    {
        if (frames.Count == 0) throw new ArgumentException("a clip needs at least one frame");
        int s = config.SpatialRatio;
        int t = PaddedFrames(frames.Count, config.TemporalRatio);
        int h = (height + s - 1) / s * s, w = (width + s - 1) / s * s;
        int plane = h * w;
        for (int f = 0; f < frames.Count; f++)
            if (frames[f].Length != width * height * 3) throw new ArgumentException($"frame {f} has {frames[f].Length} bytes, {width}x{height} RGB needs {width * height * 3}");
        var data = new float[3 * t * plane];
        Parallel.For(0, t, f =>
        {
            var rgb = frames[Math.Min(f, frames.Count - 1)];
            for (int y = 0; y < h; y++)
            {
                int sy = Math.Min(y, height - 1);
                for (int x = 0; x < w; x++)
                {
                    int src = (sy * width + Math.Min(x, width - 1)) * 3;
                    for (int c = 0; c < 3; c++) data[(c * t + f) * plane + y * w + x] = rgb[src + c] * (2f / 255f) - 1f;
                }
            }
        });
        return Tensor.FromArray(data, [1, 3, t, h, w], backend ?? CpuBackendOf());
    }

    /// <summary>(1, 3, T', H', W') -> the first <paramref name="frames"/> frames cropped to width x height, RGB bytes.</summary>
    public static byte[][] ToFrames(Tensor video, int frames, int width, int height)
    {
        if (video.Rank != 5 || video.Dim(0) != 1 || video.Dim(1) != 3) throw new ArgumentException($"video must be (1, 3, T, H, W); got {video.ShapeString}");
        int t = video.Dim(2), h = video.Dim(3), w = video.Dim(4), plane = h * w;
        if (frames > t || width > w || height > h) throw new ArgumentException($"cannot cut {frames} frames of {width}x{height} from {video.ShapeString}");
        var data = video.ToArray();
        var result = new byte[frames][];
        Parallel.For(0, frames, f =>
        {
            var rgb = new byte[width * height * 3];
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                    for (int c = 0; c < 3; c++)
                        rgb[(y * width + x) * 3 + c] = (byte)Math.Clamp(MathF.Round((data[(c * t + f) * plane + y * w + x] + 1f) * 127.5f), 0f, 255f);
            result[f] = rgb;
        });
        return result;
    }

    /// <summary>Mono samples -> (1, 1, L') padded with silence to whole hops.</summary>
    public static Tensor FromSamples(float[] samples, AudioAutoencoderConfig config, IBackend? backend = null)
    {
        if (samples.Length == 0) throw new ArgumentException("no audio samples");
        int len = config.LatentFrames(samples.Length) * config.Hop;
        var data = new float[len];
        for (int i = 0; i < samples.Length; i++) data[i] = Math.Clamp(samples[i], -1f, 1f);
        return Tensor.FromArray(data, [1, 1, len], backend ?? CpuBackendOf());
    }

    /// <summary>(1, 1, L') -> the first <paramref name="count"/> samples, clamped to [-1, 1].</summary>
    public static float[] ToSamples(Tensor waveform, int count)
    {
        var data = waveform.ToArray();
        if (count > data.Length) throw new ArgumentException($"cannot cut {count} samples from {data.Length}");
        var result = new float[count];
        for (int i = 0; i < count; i++) result[i] = Math.Clamp(data[i], -1f, 1f);
        return result;
    }

    private static IBackend CpuBackendOf() => Device.Cpu.Backend;

    /// <summary>Encodes and decodes a clip through the video autoencoder (tiled), returning frames of the clip's size.</summary>
    public static VideoClip Reconstruct(VideoAutoencoder model, VideoClip clip, TilePlan? plan = null)
    {
        using var scope = Canter.Tensors.Autograd.TensorScope.Begin();
        var x = FromFrames(clip.Frames, clip.Width, clip.Height, model.Config);
        var z = model.EncodeTiled(x, plan);
        var y = model.DecodeTiled(z, plan);
        return new VideoClip(clip.Width, clip.Height, clip.FrameRate, ToFrames(y, clip.Frames.Count, clip.Width, clip.Height));
    }

    /// <summary>Encodes and decodes a sound track through the audio autoencoder (resampling is the caller's: rates must match).</summary>
    public static AudioTrack Reconstruct(AudioAutoencoder model, AudioTrack audio)
    {
        if (audio.SampleRate != model.Config.SampleRate)
            throw new ArgumentException($"audio at {audio.SampleRate} Hz; the audio autoencoder takes {model.Config.SampleRate} Hz");
        using var scope = Canter.Tensors.Autograd.TensorScope.Begin();
        using var noGrad = Canter.Tensors.Autograd.Tape.NoGrad();
        var x = FromSamples(audio.Samples, model.Config);
        var y = model.Decode(model.Encode(x).Mean);
        return new AudioTrack(audio.SampleRate, ToSamples(y, audio.Samples.Length));
    }
}
