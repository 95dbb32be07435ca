using Canter.Models.Autoencoders;
using Canter.Tensors;
using Canter.Tensors.Autograd;
using Canter.Training.Autoencoders;
using Canter.World;

namespace Canter.Bench;

/// <summary>Settings of <see cref="VaeBench"/>: the shipped autoencoders' folder and the clip they are timed on.</summary>
public sealed record VaeBenchOptions(string ModelDir, int Repeats = 3, int Threads = 2, int Width = 128, int Height = 128, double Fps = 24, float Seconds = 4f);

/// <summary>
/// How fast the shipped autoencoders turn one world clip into latents and back on this machine: video encode and
/// decode as generation runs them (tiled, <see cref="TilePlan.Default"/>), audio encode and decode in one piece. The
/// real-time factor is the decode time (what every generated clip pays) over the clip's duration: below 1, decoding
/// keeps up with playback.
/// </summary>
public static class VaeBench
{
    public static IReadOnlyList<(string Name, double Value)> Run(VaeBenchOptions o, TextWriter output)
    {
        if (o.Repeats < 1) throw new ArgumentException("--repeats must be at least 1");
        var videoPath = Path.Combine(o.ModelDir, "video_vae.safetensors");
        var audioPath = Path.Combine(o.ModelDir, "audio_vae.safetensors");
        foreach (var path in new[] { videoPath, audioPath })
            if (!File.Exists(path))
                throw new FileNotFoundException($"autoencoder weights '{Path.GetFullPath(path)}' do not exist; pass --model with the folder holding video_vae.safetensors and audio_vae.safetensors (or set CANTER_HOME)", path);
        Engine.Threads = o.Threads;
        var videoModel = AutoencoderFiles.LoadVideo(videoPath);
        var audioModel = AutoencoderFiles.LoadAudio(audioPath);

        var scene = SceneGenerator.Generate(Splits.Seed(Split.Test, 0), o.Seconds);
        var clip = WorldClip.Render(scene, o.Width, o.Height, o.Fps, audioModel.Config.SampleRate);
        // the frames the autoencoder takes (1 + r k, the last one repeated) are the duration decoding produces
        var video = MediaTensors.FromFrames(clip.Video.Frames, o.Width, o.Height, videoModel.Config);   // (1, 3, T, H, W)
        var audio = MediaTensors.FromSamples(clip.Audio.Samples, audioModel.Config);                    // (1, 1, L)
        double clipSeconds = video.Dim(2) / o.Fps;
        output.WriteLine($"vae: {o.ModelDir}, engine threads {Engine.Threads}, median of {o.Repeats} after one warm-up");
        output.WriteLine(FormattableString.Invariant(
            $"clip: {clip.Video.Frames.Count} frames padded to {video.Dim(2)} at {o.Width}x{o.Height}, {o.Fps} fps ({clipSeconds:0.###} s); {audio.Dim(2)} samples at {audioModel.Config.SampleRate} Hz"));

        using var noGrad = Tape.NoGrad();
        // outside any scope: these live to the end, as the inputs of the decode timings
        var videoLatents = videoModel.EncodeTiled(video);                   // (1, Z, G, H/s, W/s)
        var audioLatents = audioModel.Encode(audio).Mean;                   // (1, Z, L/hop)

        double videoEncode = Timed(() => videoModel.EncodeTiled(video), o.Repeats);
        double videoDecode = Timed(() => videoModel.DecodeTiled(videoLatents), o.Repeats);
        double audioEncode = Timed(() => audioModel.Encode(audio).Mean, o.Repeats);
        double audioDecode = Timed(() => audioModel.Decode(audioLatents), o.Repeats);

        output.WriteLine();
        output.WriteLine("                 seconds   x real time   shape out");
        Row(output, "video encode", videoEncode, clipSeconds, videoLatents.ShapeString);
        Row(output, "video decode", videoDecode, clipSeconds, $"(1, 3, {video.Dim(2)}, {o.Height}, {o.Width})");
        Row(output, "audio encode", audioEncode, clipSeconds, audioLatents.ShapeString);
        Row(output, "audio decode", audioDecode, clipSeconds, audio.ShapeString);
        output.WriteLine();

        var figures = new List<(string, double)>
        {
            ("video_encode_seconds", videoEncode),
            ("video_decode_seconds", videoDecode),
            ("audio_encode_seconds", audioEncode),
            ("audio_decode_seconds", audioDecode),
            ("clip_seconds", clipSeconds),
            ("decode_realtime_factor", (videoDecode + audioDecode) / clipSeconds),
            ("peak_rss_mb", Measure.PeakRssMb()),
        };
        Measure.Figures(output, figures);
        return figures;
    }

    /// <summary>Median seconds of <paramref name="run"/>; each run's tensors go back to the allocator before the next.</summary>
    private static double Timed(Func<Tensor> run, int repeats) =>
        Measure.Median(() =>
        {
            using var scope = TensorScope.Begin();
            run();
        }, warmup: 1, repeats);

    private static void Row(TextWriter output, string name, double seconds, double clipSeconds, string shape) =>
        output.WriteLine(FormattableString.Invariant($"{name,-14} {seconds,9:0.000}   {seconds / clipSeconds,11:0.000}   {shape}"));
}
