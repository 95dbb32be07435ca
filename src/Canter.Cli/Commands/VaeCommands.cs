using System.CommandLine;
using Canter.Media;
using Canter.Training.Autoencoders;
using Canter.World;

namespace Canter.Cli.Commands;

/// <summary><c>canter vae ...</c>: use and measure the autoencoders.</summary>
public static class VaeCommands
{
    /// <summary>The shipped default model's folder: models/canter-tiny under CANTER_HOME (set by ./canter) or the current folder.</summary>
    internal static string DefaultModelDir =>
        Path.Combine(Environment.GetEnvironmentVariable("CANTER_HOME") ?? ".", "models", "canter-tiny");

    public static Command Create()
    {
        var vae = new Command("vae", "Run and measure the video and audio autoencoders.");
        vae.Subcommands.Add(Eval());
        vae.Subcommands.Add(Roundtrip());
        return vae;
    }

    private static Option<string> ModelOption() =>
        new("--model") { Description = "Folder with video_vae.safetensors and audio_vae.safetensors (and their .json).", DefaultValueFactory = _ => DefaultModelDir };

    private static Command Eval()
    {
        var split = new Option<Split>("--split") { Description = "Scenes to measure on (test by default: never trained on).", DefaultValueFactory = _ => Split.Test };
        var count = new Option<int>("--count") { Description = "Number of scenes.", DefaultValueFactory = _ => 20 };
        var size = new Option<string>("--size") { Description = "Frame size.", DefaultValueFactory = _ => "128x128" };
        var fps = new Option<double>("--fps") { Description = "Frame rate.", DefaultValueFactory = _ => 24 };
        var model = ModelOption();
        var command = new Command("eval", "Reconstruct world scenes through both autoencoders and report PSNR, SSIM, parser accuracy ratio, event timing, onset error, log-mel distance, lip-sync.")
            { split, count, size, fps, model };
        command.SetAction(result =>
        {
            var (w, h) = WorldCommands.ParseSize(result.GetValue(size)!);
            int n = result.GetValue(count);
            var report = VaeEvaluation.Run(new VaeEvaluationOptions(result.GetValue(model)!, result.GetValue(split), n, 0, w, h, result.GetValue(fps)),
                done => Console.Error.Write($"\r{done}/{n} scenes"));
            Console.Error.WriteLine();
            foreach (var (name, value) in report.Figures()) Console.WriteLine($"{name}: {value}");
            return 0;
        });
        return command;
    }

    private static Command Roundtrip()
    {
        var input = new Argument<string>("input") { Description = "A video file (its sound is reconstructed too)." };
        var output = new Option<string>("-o", "--output") { Description = "The reconstructed MP4.", Required = true };
        var size = new Option<string?>("--size") { Description = "Decode at this size (default: the file's)." };
        var fps = new Option<double>("--fps") { Description = "Frame rate to decode at.", DefaultValueFactory = _ => 24 };
        var model = ModelOption();
        var command = new Command("roundtrip", "Encode a clip to latents and decode it back, to see what the autoencoders keep.") { input, output, size, fps, model };
        command.SetAction(result =>
        {
            var path = result.GetValue(input)!;
            var info = MediaProbe.Probe(path);
            var (w, h) = result.GetValue(size) is { } s ? WorldCommands.ParseSize(s) : (info.Width, info.Height);
            var dir = result.GetValue(model)!;
            var videoModel = Canter.Models.Autoencoders.AutoencoderFiles.LoadVideo(Path.Combine(dir, "video_vae.safetensors"));
            var audioModel = Canter.Models.Autoencoders.AutoencoderFiles.LoadAudio(Path.Combine(dir, "audio_vae.safetensors"));
            var clip = MediaReader.ReadVideo(path, w, h, result.GetValue(fps), maxSeconds: 60);
            var back = MediaTensors.Reconstruct(videoModel, clip);
            AudioTrack? sound = info.HasAudio ? MediaTensors.Reconstruct(audioModel, MediaReader.ReadAudio(path, audioModel.Config.SampleRate, maxSeconds: 60)) : null;
            Mp4Writer.Write(result.GetValue(output)!, back, sound, new Mp4Metadata("canter vae roundtrip", $"reconstruction of {Path.GetFileName(path)}"));
            var (sse, n) = Canter.Eval.Metrics.MediaMetrics.SquaredError(clip.Frames, back.Frames);
            Console.WriteLine($"wrote {result.GetValue(output)}");
            Console.WriteLine($"video_psnr: {Canter.Eval.Metrics.MediaMetrics.Psnr(sse, n):F2}");
            return 0;
        });
        return command;
    }
}
