using System.Globalization;

namespace Canter.Media;

/// <summary>
/// Decodes untrusted files through ffmpeg with bounded time and memory: the file is probed and
/// checked against <see cref="MediaLimits"/> first, then decoded at the size, frame rate and sample
/// rate the caller asks for.
/// </summary>
public static class MediaReader
{
    /// <summary>Largest decoded picture data accepted in memory (frames x width x height x 3).</summary>
    public const long MaxDecodedBytes = 4L << 30;

    /// <summary>Frames of a video resized to width x height at <paramref name="frameRate"/>, up to <paramref name="maxSeconds"/>.</summary>
    public static VideoClip ReadVideo(string path, int width, int height, double frameRate, double? maxSeconds = null, MediaLimits? limits = null)
    {
        if (width <= 0 || height <= 0 || !(frameRate > 0)) throw new ArgumentException($"cannot decode to {width}x{height} at {frameRate} fps");
        limits ??= MediaLimits.Default;
        var info = MediaProbe.Probe(path, limits);
        if (!info.HasVideo) throw new MediaException($"{path}: has no video stream");
        double seconds = Math.Min(info.Seconds > 0 ? info.Seconds : limits.MaxSeconds, maxSeconds ?? limits.MaxSeconds);
        long frameBytes = (long)width * height * 3;
        long expected = (long)Math.Ceiling(seconds * frameRate + 1) * frameBytes;
        if (expected > MaxDecodedBytes)
            throw new MediaException($"{path}: {seconds:0.#} s at {width}x{height} and {frameRate} fps needs {expected >> 20} MiB decoded, over {MaxDecodedBytes >> 20} MiB");
        string rate = frameRate.ToString(CultureInfo.InvariantCulture);
        var args = new List<string> { "-v", "error", "-nostdin", "-i", path, "-t", seconds.ToString("0.###", CultureInfo.InvariantCulture), "-an",
            "-vf", $"fps={rate},scale={width}:{height}:flags=area", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1" };
        var frames = new List<byte[]>();
        var (p, errors) = Ffmpeg.Start(Ffmpeg.FfmpegPath, args, stdin: false);
        using (p)
        {
            var watchdog = Task.Delay(limits.ProcessTimeout).ContinueWith(_ => Ffmpeg.Kill(p));
            var stream = p.StandardOutput.BaseStream;
            while (true)
            {
                var frame = new byte[frameBytes];
                int read = ReadFully(stream, frame);
                if (read == 0) break;
                if (read < frame.Length) break; // a trailing partial frame is dropped
                frames.Add(frame);
                if ((long)frames.Count * frameBytes > MaxDecodedBytes) { Ffmpeg.Kill(p); throw new MediaException($"{path}: decoded more frames than announced"); }
            }
            p.WaitForExit();
            if (p.ExitCode != 0) throw new MediaException($"{path}: cannot decode the video ({Ffmpeg.LastLine(errors())})");
        }
        if (frames.Count == 0) throw new MediaException($"{path}: the video has no decodable frame");
        // a file cut short still decodes its first part: compare with the length its header announces
        int announced = (int)Math.Floor(seconds * frameRate);
        if (info.Seconds > 0 && frames.Count < 0.9 * announced)
            throw new MediaException($"{path}: truncated or corrupt: {frames.Count} of {announced} frames could be decoded");
        return new VideoClip(width, height, frameRate, frames);
    }

    /// <summary>The audio track as mono floats at <paramref name="sampleRate"/>, up to <paramref name="maxSeconds"/>.</summary>
    public static AudioTrack ReadAudio(string path, int sampleRate, double? maxSeconds = null, MediaLimits? limits = null)
    {
        limits ??= MediaLimits.Default;
        var info = MediaProbe.Probe(path, limits);
        if (!info.HasAudio) throw new MediaException($"{path}: has no audio stream");
        double seconds = Math.Min(info.Seconds > 0 ? info.Seconds : limits.MaxSeconds, maxSeconds ?? limits.MaxSeconds);
        var args = new List<string> { "-v", "error", "-nostdin", "-i", path, "-t", seconds.ToString("0.###", CultureInfo.InvariantCulture), "-vn",
            "-ac", "1", "-ar", sampleRate.ToString(CultureInfo.InvariantCulture), "-f", "f32le", "pipe:1" };
        var (p, errors) = Ffmpeg.Start(Ffmpeg.FfmpegPath, args, stdin: false);
        using (p)
        {
            var watchdog = Task.Delay(limits.ProcessTimeout).ContinueWith(_ => Ffmpeg.Kill(p));
            using var memory = new MemoryStream();
            p.StandardOutput.BaseStream.CopyTo(memory);
            p.WaitForExit();
            if (p.ExitCode != 0 && memory.Length == 0) throw new MediaException($"{path}: cannot decode the audio ({Ffmpeg.LastLine(errors())})");
            var bytes = memory.GetBuffer();
            var samples = new float[memory.Length / 4];
            Buffer.BlockCopy(bytes, 0, samples, 0, samples.Length * 4);
            return new AudioTrack(sampleRate, samples);
        }
    }

    /// <summary>Reads an image (PNG, JPEG, WebP, ... by content) at its own size, or resized when width and height are given.</summary>
    public static RgbImage ReadImage(string path, int? width = null, int? height = null, MediaLimits? limits = null)
    {
        limits ??= MediaLimits.Default;
        var info = MediaProbe.Probe(path, limits);
        if (!info.HasVideo) throw new MediaException($"{path}: is not an image");
        if (info.Seconds > 0.5 && !info.Format.Contains("pipe", StringComparison.Ordinal) && !info.Format.Contains("image2", StringComparison.Ordinal) && info.Format != "webp_pipe")
            throw new MediaException($"{path}: is a video ({info.Format}), not an image");
        int w = width ?? info.Width, h = height ?? info.Height;
        var args = new List<string> { "-v", "error", "-nostdin", "-i", path, "-frames:v", "1" };
        if (w != info.Width || h != info.Height) args.AddRange(["-vf", $"scale={w}:{h}:flags=area"]);
        args.AddRange(["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]);
        var (p, errors) = Ffmpeg.Start(Ffmpeg.FfmpegPath, args, stdin: false);
        using (p)
        {
            var watchdog = Task.Delay(limits.ProcessTimeout).ContinueWith(_ => Ffmpeg.Kill(p));
            var pixels = new byte[(long)w * h * 3];
            int read = ReadFully(p.StandardOutput.BaseStream, pixels);
            p.WaitForExit();
            if (read != pixels.Length) throw new MediaException($"{path}: cannot decode the image ({Ffmpeg.LastLine(errors())})");
            return new RgbImage(w, h, pixels);
        }
    }

    private static int ReadFully(Stream s, byte[] buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int n = s.Read(buffer, total, buffer.Length - total);
            if (n == 0) break;
            total += n;
        }
        return total;
    }
}
