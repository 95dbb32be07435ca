namespace Canter.Media;

/// <summary>A media file that cannot be read or written: missing tool, corrupt or truncated data, wrong type, over a limit.</summary>
public sealed class MediaException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Video frames in memory: <see cref="Frames"/> holds RGB24 pixels, row-major, 3 bytes per pixel.
/// </summary>
public sealed record VideoClip(int Width, int Height, double FrameRate, IReadOnlyList<byte[]> Frames)
{
    public double Seconds => Frames.Count / FrameRate;

    /// <summary>Checks sizes and frame buffers; throws <see cref="ArgumentException"/> with the first problem.</summary>
    public VideoClip Validate()
    {
        if (Width <= 0 || Height <= 0) throw new ArgumentException($"video size {Width}x{Height} must be positive");
        if (!(FrameRate > 0 && FrameRate <= 240)) throw new ArgumentException($"frame rate {FrameRate} must be in (0, 240]");
        if (Frames.Count == 0) throw new ArgumentException("a video needs at least one frame");
        int bytes = Width * Height * 3;
        for (int i = 0; i < Frames.Count; i++)
            if (Frames[i].Length != bytes) throw new ArgumentException($"frame {i} has {Frames[i].Length} bytes, expected {bytes} ({Width}x{Height} RGB24)");
        return this;
    }
}

/// <summary>Mono audio as float samples in [-1, 1].</summary>
public sealed record AudioTrack(int SampleRate, float[] Samples)
{
    public double Seconds => (double)Samples.Length / SampleRate;

    public AudioTrack Validate()
    {
        if (SampleRate is < 8000 or > 192000) throw new ArgumentException($"sample rate {SampleRate} must be in [8000, 192000]");
        return this;
    }
}

/// <summary>An RGB24 image.</summary>
public sealed record RgbImage(int Width, int Height, byte[] Pixels)
{
    public RgbImage Validate()
    {
        if (Width <= 0 || Height <= 0 || Pixels.Length != Width * Height * 3)
            throw new ArgumentException($"image {Width}x{Height} needs {Width * Height * 3} bytes, has {Pixels.Length}");
        return this;
    }
}

/// <summary>Container metadata written into every MP4 (the AI-generated mark is always set).</summary>
public sealed record Mp4Metadata(string Title = "", string Comment = "", string Generator = "canter");

/// <summary>Bounds on what Canter reads from untrusted files.</summary>
public sealed record MediaLimits(long MaxPixels = 8192L * 8192, double MaxSeconds = 600, long MaxFileBytes = 2L << 30, TimeSpan? Timeout = null)
{
    public static MediaLimits Default { get; } = new();

    public TimeSpan ProcessTimeout => Timeout ?? TimeSpan.FromMinutes(5);
}
