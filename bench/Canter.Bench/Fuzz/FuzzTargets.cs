using System.Text;
using Canter.Media;
using Canter.Tensors;
using Canter.Tensors.IO;
using Canter.Training.Unified;

namespace Canter.Bench.Fuzz;

/// <summary>
/// The parsers of untrusted bytes and their seed corpora, made by our own writers: safetensors checkpoints, PNGs,
/// WAVs and MP4s, and the model manifest JSON. The ffmpeg-backed targets (png, video, audio) check our limits and
/// error handling around ffmpeg, not ffmpeg itself, so they run fewer inputs by default.
/// </summary>
public static class FuzzTargets
{
    public static readonly string[] InProcessNames = ["safetensors", "wav", "manifest"];
    public static readonly string[] MediaNames = ["png", "video", "audio"];

    /// <summary>Limits as tight as the server's defaults, so that a bomb is refused rather than decoded.</summary>
    public static MediaLimits Limits { get; } = new(MaxPixels: 4096L * 4096, MaxSeconds: 60, MaxFileBytes: 32L << 20, Timeout: TimeSpan.FromSeconds(10));

    public static FuzzTarget? Create(string name, string scratch) => name switch
    {
        "safetensors" => SafeTensorsTarget(scratch),
        "wav" => WavTarget(scratch),
        "manifest" => ManifestTarget(scratch),
        "png" => PngTarget(scratch),
        "video" => VideoTarget(scratch),
        "audio" => AudioTarget(scratch),
        _ => null,
    };

    private static string Scratch(string dir, string extension)
    {
        Directory.CreateDirectory(dir);
        return Path.Combine(dir, $"{Guid.NewGuid():N}{extension}");
    }

    /// <summary>Writes the input to a scratch file, runs <paramref name="parse"/> on it and deletes it.</summary>
    private static Func<byte[], CancellationToken, Task> OnFile(string dir, string extension, Action<string> parse) => (input, _) =>
    {
        var path = Scratch(dir, extension);
        File.WriteAllBytes(path, input);
        try
        {
            parse(path);
        }
        finally
        {
            File.Delete(path);
        }
        return Task.CompletedTask;
    };

    private static FuzzTarget SafeTensorsTarget(string scratch)
    {
        var seeds = new List<byte[]>();
        foreach (var dtype in new[] { SafeTensorsDType.F32, SafeTensorsDType.F16, SafeTensorsDType.BF16 })
        {
            using var stream = new MemoryStream();
            SafeTensors.Write(stream, new Dictionary<string, Tensor>
            {
                ["a.weight"] = Tensor.FromArray([1f, 2f, 3f, 4f, 5f, 6f], [2, 3]),
                ["b"] = Tensor.FromArray([0.5f], [1]),
            }, new Dictionary<string, string> { ["format"] = "pt" }, dtype);
            seeds.Add(stream.ToArray());
        }
        return new FuzzTarget("safetensors", seeds, OnFile(scratch, ".safetensors", path => SafeTensors.LoadAll(path)),
            e => e is SafeTensorsException, ".safetensors", 2000) { LengthFields = [0, 4] };
    }

    private static byte[] WavBytes(string scratch, AudioTrack audio, bool asFloat)
    {
        var path = Scratch(scratch, ".wav");
        Wav.Write(path, audio, asFloat);
        var bytes = File.ReadAllBytes(path);
        File.Delete(path);
        return bytes;
    }

    private static List<byte[]> WavSeeds(string scratch)
    {
        var audio = new AudioTrack(16000, Enumerable.Range(0, 800).Select(i => MathF.Sin(i * 0.05f) * 0.5f).ToArray());
        return [WavBytes(scratch, audio, false), WavBytes(scratch, audio, true)];
    }

    // RIFF size at 4, fmt chunk size at 16, channels at 22, sample rate at 24, data size at 40
    private static readonly int[] WavFields = [4, 16, 22, 24, 34, 40];

    private static FuzzTarget WavTarget(string scratch) =>
        new("wav", WavSeeds(scratch), OnFile(scratch, ".wav", path => Wav.Read(path, Limits)), e => e is MediaException, ".wav", 3000)
        { LengthFields = WavFields };

    private static FuzzTarget AudioTarget(string scratch) =>
        new("audio", WavSeeds(scratch), OnFile(scratch, ".wav", path => MediaReader.ReadAudio(path, 16000, 5, Limits)),
            e => e is MediaException, ".wav", 60) { LengthFields = WavFields };

    private static FuzzTarget PngTarget(string scratch)
    {
        var seeds = new List<byte[]>();
        foreach (var (w, h) in new[] { (8, 8), (33, 17) })
        {
            var pixels = new byte[w * h * 3];
            for (int i = 0; i < pixels.Length; i++) pixels[i] = (byte)(i * 7);
            using var stream = new MemoryStream();
            Png.Write(stream, new RgbImage(w, h, pixels));
            seeds.Add(stream.ToArray());
        }
        // IHDR length at 8, width at 16, height at 20, first IDAT length at 33
        return new FuzzTarget("png", seeds, OnFile(scratch, ".png", path => MediaReader.ReadImage(path, limits: Limits)),
            e => e is MediaException, ".png", 60) { LengthFields = [8, 16, 20, 33] };
    }

    private static FuzzTarget VideoTarget(string scratch)
    {
        var path = Scratch(scratch, ".mp4");
        var frames = Enumerable.Range(0, 8).Select(f => Enumerable.Range(0, 32 * 32 * 3).Select(i => (byte)(i + f * 9)).ToArray()).ToList();
        Mp4Writer.Write(path, new VideoClip(32, 32, 8, frames), new AudioTrack(16000, new float[16000]));
        var seed = File.ReadAllBytes(path);
        File.Delete(path);
        return new FuzzTarget("video", [seed], OnFile(scratch, ".mp4", p => MediaReader.ReadVideo(p, 32, 32, 8, 2, Limits)),
            e => e is MediaException, ".mp4", 40);
    }

    private static FuzzTarget? ManifestTarget(string scratch)
    {
        var shipped = FindShippedManifest();
        if (shipped is null) return null;
        var seed = File.ReadAllBytes(shipped);
        return new FuzzTarget("manifest", [seed], (input, _) =>
        {
            var dir = Scratch(scratch, "");
            Directory.CreateDirectory(dir);
            try
            {
                File.WriteAllBytes(Path.Combine(dir, "transformer.json"), input);
                ModelBundle.ReadManifest(dir);
            }
            finally
            {
                Directory.Delete(dir, recursive: true);
            }
            return Task.CompletedTask;
        }, e => e is InvalidDataException, ".json", 2000, (m, s) => Encoding.UTF8.GetBytes(m.MutateJson(Encoding.UTF8.GetString(s))));
    }

    /// <summary>models/canter-tiny/transformer.json in this folder or one above it.</summary>
    public static string? FindShippedManifest()
    {
        for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
        {
            var path = Path.Combine(dir.FullName, "models", "canter-tiny", "transformer.json");
            if (File.Exists(path)) return path;
        }
        var home = Environment.GetEnvironmentVariable("CANTER_HOME");
        return home is null ? null : Path.Combine(home, "models", "canter-tiny", "transformer.json") is var p && File.Exists(p) ? p : null;
    }
}
