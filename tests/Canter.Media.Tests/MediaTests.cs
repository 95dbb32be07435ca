using System.Diagnostics;

namespace Canter.Media.Tests;

public sealed class MediaTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("canter-media-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    /// <summary>A bright square moving right on a dark background, and a 440 Hz tone with a click every half second.</summary>
    private static (VideoClip Video, AudioTrack Audio) Scene(int width, int height, double fps, double seconds)
    {
        int n = (int)Math.Round(seconds * fps);
        var frames = new List<byte[]>();
        for (int f = 0; f < n; f++)
        {
            var px = new byte[width * height * 3];
            int x0 = (int)(f * (width - 12.0) / Math.Max(1, n - 1)), y0 = height / 3;
            for (int y = 0; y < height; y++)
                for (int x = 0; x < width; x++)
                {
                    bool inside = x >= x0 && x < x0 + 12 && y >= y0 && y < y0 + 12;
                    int o = (y * width + x) * 3;
                    px[o] = inside ? (byte)230 : (byte)20;
                    px[o + 1] = inside ? (byte)60 : (byte)30;
                    px[o + 2] = inside ? (byte)40 : (byte)(40 + y % 50);
                }
            frames.Add(px);
        }
        int rate = 16000;
        var samples = new float[(int)(seconds * rate)];
        for (int i = 0; i < samples.Length; i++)
            samples[i] = 0.3f * MathF.Sin(2 * MathF.PI * 440 * i / rate) + (i % (rate / 2) < 80 ? 0.6f : 0f);
        return (new VideoClip(width, height, fps, frames), new AudioTrack(rate, samples));
    }

    private static double Psnr(byte[] a, byte[] b)
    {
        double mse = 0;
        for (int i = 0; i < a.Length; i++) mse += (a[i] - b[i]) * (double)(a[i] - b[i]);
        mse /= a.Length;
        return mse == 0 ? 99 : 10 * Math.Log10(255.0 * 255.0 / mse);
    }

    [Theory]
    [InlineData(64, 48)]
    [InlineData(65, 49)] // odd sizes: padded to even for yuv420p
    public void WritesMp4ThatFfprobeReadsAndThatReadsBack(int width, int height)
    {
        var (video, audio) = Scene(width, height, 24, 2.0);
        var path = PathOf($"clip{width}.mp4");
        Mp4Writer.Write(path, video, audio, new Mp4Metadata("a red square", "seed=7 steps=20"));
        var info = MediaProbe.Probe(path);
        Assert.Equal("h264", info.VideoCodec);
        Assert.Equal("aac", info.AudioCodec);
        Assert.Equal(width + width % 2, info.Width);
        Assert.Equal(height + height % 2, info.Height);
        Assert.InRange(info.Seconds, 1.9, 2.15);
        Assert.Equal(24, info.FrameRate, 2);
        Assert.Equal("true", info.Tags["ai_generated"]);
        Assert.Equal("a red square", info.Tags["title"]);
        Assert.Equal("seed=7 steps=20", info.Tags["comment"]);

        // read at the stored size; an odd picture sits in the top-left corner of its even frame
        var back = MediaReader.ReadVideo(path, info.Width, info.Height, 24);
        Assert.Equal(48, back.Frames.Count);
        var decoded = Crop(back.Frames[10], info.Width, width, height);
        Assert.True(Psnr(video.Frames[10], decoded) > 30, $"PSNR {Psnr(video.Frames[10], decoded):0.0} dB");
        var sound = MediaReader.ReadAudio(path, 16000);
        Assert.InRange(sound.Seconds, 1.9, 2.2);
        // the tone survives AAC: correlation with the original over the middle second
        double dot = 0, na = 0, nb = 0;
        int shift = FindLag(audio.Samples, sound.Samples);
        for (int i = 8000; i < 24000; i++) { double a = audio.Samples[i], b = sound.Samples[i + shift]; dot += a * b; na += a * a; nb += b * b; }
        Assert.True(dot / Math.Sqrt(na * nb) > 0.9, $"audio correlation {dot / Math.Sqrt(na * nb):0.00}");
        Assert.Empty(Directory.GetFiles(_dir, "*.partial*"));
    }

    private static byte[] Crop(byte[] frame, int frameWidth, int width, int height)
    {
        var result = new byte[width * height * 3];
        for (int y = 0; y < height; y++) Buffer.BlockCopy(frame, y * frameWidth * 3, result, y * width * 3, width * 3);
        return result;
    }

    private static int FindLag(float[] a, float[] b)
    {
        int best = 0;
        double bestDot = double.NegativeInfinity;
        for (int lag = 0; lag < 3000 && 24000 + lag < b.Length; lag++)
        {
            double dot = 0;
            for (int i = 8000; i < 24000; i += 4) dot += a[i] * b[i + lag];
            if (dot > bestDot) { bestDot = dot; best = lag; }
        }
        return best;
    }

    [Fact]
    public void ReadsImagesByContentAndWritesPng()
    {
        var (video, _) = Scene(40, 30, 10, 0.1);
        var png = PathOf("frame.png");
        Png.Write(png, new RgbImage(40, 30, video.Frames[0]));
        var image = MediaReader.ReadImage(png);
        Assert.Equal(video.Frames[0], image.Pixels); // lossless
        // the same picture as JPEG and WebP, with misleading names
        foreach (var (codec, name) in new[] { ("mjpeg", "photo.webp"), ("libwebp", "photo.png") })
        {
            var path = PathOf(name);
            RunFfmpeg("-v", "error", "-y", "-i", png, "-c:v", codec, "-f", codec == "mjpeg" ? "image2" : "webp", path);
            var decoded = MediaReader.ReadImage(path);
            Assert.Equal(40, decoded.Width);
            Assert.True(Psnr(video.Frames[0], decoded.Pixels) > 25, $"{codec}: PSNR {Psnr(video.Frames[0], decoded.Pixels):0.0}");
        }
        var small = MediaReader.ReadImage(png, 20, 15);
        Assert.Equal(20 * 15 * 3, small.Pixels.Length);
    }

    [Fact]
    public void WavRoundTripsAndRejectsTruncation()
    {
        var (_, audio) = Scene(16, 16, 10, 0.5);
        var path = PathOf("a.wav");
        Wav.Write(path, audio);
        var back = Wav.Read(path);
        Assert.Equal(audio.Samples.Length, back.Samples.Length);
        for (int i = 0; i < 100; i++) Assert.True(Math.Abs(audio.Samples[i] - back.Samples[i]) < 1e-4f, $"sample {i}");
        Wav.Write(PathOf("f.wav"), audio, asFloat: true);
        Assert.Equal(audio.Samples, Wav.Read(PathOf("f.wav")).Samples);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(PathOf("cut.wav"), bytes[..(bytes.Length / 2)]);
        Assert.Contains("truncated", Assert.Throws<MediaException>(() => Wav.Read(PathOf("cut.wav"))).Message);
        File.WriteAllText(PathOf("text.wav"), "hello");
        Assert.Contains("not a WAV", Assert.Throws<MediaException>(() => Wav.Read(PathOf("text.wav"))).Message);
    }

    [Fact]
    public void PosterAndContactSheet()
    {
        var (video, audio) = Scene(32, 24, 12, 1.0);
        ContactSheet.WritePoster(PathOf("poster.png"), video);
        Assert.Equal(video.Frames[0], MediaReader.ReadImage(PathOf("poster.png")).Pixels);
        var sheet = ContactSheet.Build(video, audio, columns: 3, rows: 2, waveHeight: 40);
        Png.Write(PathOf("sheet.png"), sheet);
        var read = MediaReader.ReadImage(PathOf("sheet.png"));
        Assert.Equal(3 * 32 + 4 * 2, read.Width);
        Assert.Equal(2 * 24 + 3 * 2 + 42, read.Height);
        // the waveform strip has drawn pixels
        int strip = (read.Height - 22) * read.Width * 3;
        Assert.Contains(read.Pixels.Skip(strip).Take(read.Width * 3), b => b == 200);
    }

    [Fact]
    public void CorruptTruncatedAndMislabelledFilesGiveClearErrors()
    {
        var (video, audio) = Scene(32, 32, 12, 1.0);
        var good = PathOf("good.mp4");
        Mp4Writer.Write(good, video, audio);
        var bytes = File.ReadAllBytes(good);
        File.WriteAllBytes(PathOf("truncated.mp4"), bytes[..(bytes.Length / 3)]);
        File.WriteAllText(PathOf("notes.mp4"), "this is a text file, not a video\n");
        var noise = new byte[20000];
        new Random(1).NextBytes(noise);
        File.WriteAllBytes(PathOf("noise.png"), noise);
        foreach (var name in new[] { "truncated.mp4", "notes.mp4", "noise.png" })
        {
            var sw = Stopwatch.StartNew();
            var e = Assert.ThrowsAny<MediaException>(() => MediaReader.ReadVideo(PathOf(name), 16, 16, 12));
            Assert.Contains(name, e.Message);
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(20), $"{name} took {sw.Elapsed}");
        }
        Assert.Throws<MediaException>(() => MediaReader.ReadImage(PathOf("missing.png")));
    }

    [Fact]
    public void OversizedInputsAreRefusedBeforeDecoding()
    {
        // a PNG whose header claims 30000 x 30000 (a decompression bomb's shape): refused from its header
        var huge = PathOf("huge.png");
        Png.Write(huge, new RgbImage(8, 8, new byte[8 * 8 * 3]));
        var bytes = File.ReadAllBytes(huge);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(16), 30000);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(bytes.AsSpan(20), 30000);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(29), Crc32(bytes.AsSpan(12, 17)));
        File.WriteAllBytes(huge, bytes);
        var sw = Stopwatch.StartNew();
        var e = Assert.Throws<MediaException>(() => MediaReader.ReadImage(huge));
        Assert.Contains("30000x30000", e.Message);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10));
        // a two-hour video: refused from its duration
        var longVideo = PathOf("long.mp4");
        RunFfmpeg("-v", "error", "-y", "-f", "lavfi", "-i", "color=c=gray:s=16x16:r=1:d=7200", "-c:v", "libx264", "-preset", "ultrafast", "-g", "600", longVideo);
        sw.Restart();
        e = Assert.Throws<MediaException>(() => MediaReader.ReadVideo(longVideo, 16, 16, 24));
        Assert.Contains("over the limit", e.Message);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(10));
    }

    [Fact]
    public void MissingFfmpegIsNamed()
    {
        var saved = Environment.GetEnvironmentVariable("CANTER_FFPROBE");
        try
        {
            Environment.SetEnvironmentVariable("CANTER_FFPROBE", "/nonexistent/ffprobe");
            var e = Assert.Throws<MediaException>(() => MediaProbe.Probe(typeof(MediaTests).Assembly.Location));
            Assert.Contains("CANTER_FFPROBE", e.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable("CANTER_FFPROBE", saved);
        }
    }

    [Fact]
    public void FailedEncodesLeaveNothingBehind()
    {
        var (video, audio) = Scene(32, 32, 12, 0.5);
        int tempsBefore = Directory.GetDirectories(Path.GetTempPath(), "canter-mp4-*").Length;
        var target = PathOf("out/fails.mp4");
        // an encoder that writes half a file, reads none of its input and fails
        var fake = PathOf("fake-ffmpeg");
        File.WriteAllText(fake, "#!/bin/sh\nfor last; do :; done\necho partial > \"$last\"\necho 'simulated encoder failure' >&2\nexit 1\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(fake, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var saved = Environment.GetEnvironmentVariable("CANTER_FFMPEG");
        try
        {
            Environment.SetEnvironmentVariable("CANTER_FFMPEG", fake);
            var e = Assert.Throws<MediaException>(() => Mp4Writer.Write(target, video, audio));
            Assert.Contains("simulated encoder failure", e.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable("CANTER_FFMPEG", saved);
        }
        Assert.Empty(Directory.GetFiles(PathOf("out")));
        Assert.Equal(tempsBefore, Directory.GetDirectories(Path.GetTempPath(), "canter-mp4-*").Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => Mp4Writer.Write(PathOf("q.mp4"), video, null, crf: 99));
        // video without sound works too
        Mp4Writer.Write(PathOf("silent.mp4"), video, null);
        Assert.False(MediaProbe.Probe(PathOf("silent.mp4")).HasAudio);
    }

    [Fact]
    public void BadClipsAreRefusedBeforeFfmpegRuns()
    {
        var clip = new VideoClip(4, 4, 24, [new byte[10]]);
        Assert.Throws<ArgumentException>(() => Mp4Writer.Write(PathOf("x.mp4"), clip, null));
        Assert.False(File.Exists(PathOf("x.mp4")));
    }

    private static uint Crc32(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (var b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
        }
        return crc ^ 0xFFFFFFFF;
    }

    private static void RunFfmpeg(params string[] args)
    {
        var psi = new ProcessStartInfo(Ffmpeg.FfmpegPath) { RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, err);
    }

    // found by `canter fuzz --target wav`: a chunk claiming about 4 GB moved the chunk walk's int position past
    // int.MaxValue, where it wrapped negative and the next read threw ArgumentOutOfRangeException
    [Fact]
    public void WavWithAChunkSizeNear4GbIsRefusedClearly()
    {
        var bytes = new byte[44];
        "RIFF"u8.CopyTo(bytes);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), 36);
        "WAVE"u8.CopyTo(bytes.AsSpan(8));
        "LIST"u8.CopyTo(bytes.AsSpan(12));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(16), 0xFFFFFFF0);
        File.WriteAllBytes(PathOf("huge-chunk.wav"), bytes);
        Assert.Contains("no data chunk", Assert.Throws<MediaException>(() => Wav.Read(PathOf("huge-chunk.wav"))).Message);
    }

    // found by `canter fuzz --target wav --seed 1` (input #1556, replayed byte for byte): a 61-byte WAV cut after its fmt
    // chunk, whose next chunk claims 0xBE358F37 bytes (about 3.2 GB). The old walk clamped the position to int.MaxValue,
    // where "pos + 8" wrapped negative and the next read threw ArgumentOutOfRangeException.
    [Fact]
    public void FuzzFindingWithAChunkSizeNear4GbIsRefusedClearly()
    {
        File.WriteAllBytes(PathOf("fuzz-1556.wav"), Convert.FromHexString(
            "524946466406000057415645666d742010000000010001003ff93e533e853d90" +
            "3c743b313aca383e378f35be33cc31b92f882d3a2bd1284d26b123fe20"));
        Assert.Contains("no data chunk", Assert.Throws<MediaException>(() => Wav.Read(PathOf("fuzz-1556.wav"))).Message);
    }
}
