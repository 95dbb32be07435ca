using System.CommandLine;
using Canter.Models.Autoencoders;
using Canter.Training.Autoencoders;

namespace Canter.Cli.Commands;

/// <summary><c>canter train ...</c>: training runs that checkpoint and resume.</summary>
public static class TrainCommands
{
    public static Command Create()
    {
        var train = new Command("train", "Train Canter's models on the world or on a folder of clips (rerun the same command to resume).");
        train.Subcommands.Add(Vae());
        train.Subcommands.Add(Model());
        return train;
    }

    private static Command Model()
    {
        var output = new Option<string>("--out") { Description = "Run folder: checkpoint/, losses.csv/.png, samples/, and at the end transformer.safetensors + transformer.json.", Required = true };
        var steps = new Option<int>("--steps") { Description = "Total optimizer steps.", DefaultValueFactory = _ => 2000 };
        var preset = new Option<string>("--preset") { Description = "tiny (the default model), small or base.", DefaultValueFactory = _ => "tiny" };
        var autoencoders = new Option<string>("--autoencoders") { Description = "Folder with the trained video_vae and audio_vae.", DefaultValueFactory = _ => VaeCommands.DefaultModelDir };
        var batch = new Option<int>("--batch") { Description = "Clips per step.", DefaultValueFactory = _ => 2 };
        var lr = new Option<float>("--lr") { Description = "Peak learning rate.", DefaultValueFactory = _ => 3e-4f };
        var seed = new Option<ulong>("--seed") { Description = "Initialisation, data and noise seed.", DefaultValueFactory = _ => 1UL };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "Steps between checkpoints.", DefaultValueFactory = _ => 100 };
        var logEvery = new Option<int>("--log-every") { Description = "Steps between log lines.", DefaultValueFactory = _ => 5 };
        var sampleEvery = new Option<int>("--sample-every") { Description = "Steps between validation samples (0: none).", DefaultValueFactory = _ => 0 };
        var size = new Option<string>("--size") { Description = "Training clip size.", DefaultValueFactory = _ => "128x128" };
        var seconds = new Option<float>("--seconds") { Description = "Training clip duration.", DefaultValueFactory = _ => 4f };
        var modelDevice = new Option<string>("--device") { Description = "cpu or cuda.", DefaultValueFactory = _ => "cpu" };
        var modelData = new Option<string>("--data") { Description = "\"world\" or a folder of clips with metadata.jsonl captions.", DefaultValueFactory = _ => "world" };
        var emaDecay = new Option<float>("--ema") { Description = "EMA decay of the shipped weights: the cap of a warmed-up decay, min(decay, (1 + n) / (10 + n)) at the n-th step of the run.", DefaultValueFactory = _ => 0.999f };
        var editShare = new Option<float>("--edit-share")
        {
            Description = "Share of steps that carry world edit pairs (edit mode); 0 trains a model without edit mode (and resumes runs made before edit mode).",
            DefaultValueFactory = _ => 0.2f,
        };
        var modelInit = new Option<string?>("--init")
        {
            Description = "Start from this model folder's transformer (and its vocabulary), e.g. models/canter-tiny to fine-tune it on your own clips; "
                + "tensors whose shape changed (the visual projections, after a new video autoencoder) start fresh, and the log names them.",
        };
        var timeShift = new Option<float>("--time-shift")
        {
            Description = "Shift of the logit-normal flow times toward noise, t = s u / (1 + (s - 1) u): the higher, the more steps near pure noise, where only the prompt tells what to draw.",
            DefaultValueFactory = _ => Canter.Training.Unified.ModelTrainingOptions.DefaultTimeShift,
        };
        var subjectWeight = new Option<float>("--subject-weight")
        {
            Description = "Flow-loss weight of the video tokens that show a subject (the world only; 1: every token alike). Subjects cover a few percent of a frame, "
                + "so an even loss is mostly background; the logged video loss is then the weighted one.",
            DefaultValueFactory = _ => 1f,
        };
        var stopAfter = new Option<long>("--stop-after")
        {
            Description = "End after this step, checkpointed and exported (EMA weights), with the learning-rate schedule of --steps: rerun without it to go on (0: run to --steps).",
            DefaultValueFactory = _ => 0,
        };
        var command = new Command("model", "Train the unified transformer on the world with rectified flow, all modes mixed (rerun to resume).")
            { output, steps, preset, autoencoders, batch, lr, seed, checkpointEvery, logEvery, sampleEvery, size, seconds, emaDecay, modelDevice, modelData, editShare, modelInit, timeShift, subjectWeight, stopAfter };
        command.SetAction((result, cancel) =>
        {
            var (w, h) = WorldCommands.ParseSize(result.GetValue(size)!);
            var options = new Canter.Training.Unified.ModelTrainingOptions(result.GetValue(output)!, result.GetValue(steps), result.GetValue(preset)!,
                result.GetValue(autoencoders)!, result.GetValue(batch), result.GetValue(lr), 50, result.GetValue(seed), result.GetValue(checkpointEvery),
                result.GetValue(logEvery), result.GetValue(sampleEvery), w, h, result.GetValue(seconds), result.GetValue(emaDecay), null, result.GetValue(modelDevice)!, result.GetValue(modelData)!,
                result.GetValue(editShare), result.GetValue(modelInit), result.GetValue(timeShift), result.GetValue(subjectWeight), result.GetValue(stopAfter));
            var clock = System.Diagnostics.Stopwatch.StartNew();
            long done = Canter.Training.Unified.ModelTrainer.Run(options, Console.WriteLine, cancel);
            Console.WriteLine($"steps: {done}");
            Console.WriteLine($"seconds: {clock.Elapsed.TotalSeconds:F1}");
            return Task.FromResult(cancel.IsCancellationRequested ? 130 : 0);
        });
        return command;
    }

    private static Command Vae()
    {
        var modality = new Option<VaeModality>("--modality") { Description = "video or audio.", Required = true };
        var data = new Option<string>("--data") { Description = "\"world\" (the train split) or a folder of clips with metadata.jsonl.", DefaultValueFactory = _ => "world" };
        var output = new Option<string>("--out") { Description = "Run folder: checkpoint/, losses.csv, losses.png and the final weights.", Required = true };
        var steps = new Option<int>("--steps") { Description = "Total optimizer steps.", DefaultValueFactory = _ => 3000 };
        var batch = new Option<int>("--batch") { Description = "Items per step.", DefaultValueFactory = _ => 8 };
        var lr = new Option<float>("--lr") { Description = "Peak learning rate (warmup then cosine).", DefaultValueFactory = _ => 4e-4f };
        var warmup = new Option<int>("--warmup") { Description = "Warmup steps.", DefaultValueFactory = _ => 100 };
        var seed = new Option<ulong>("--seed") { Description = "Initialisation and data seed.", DefaultValueFactory = _ => 1UL };
        var checkpointEvery = new Option<int>("--checkpoint-every") { Description = "Steps between checkpoints.", DefaultValueFactory = _ => 200 };
        var logEvery = new Option<int>("--log-every") { Description = "Steps between log lines and CSV rows.", DefaultValueFactory = _ => 10 };
        var kl = new Option<float>("--kl") { Description = "Weight of the KL term.", DefaultValueFactory = _ => 1e-5f };
        var frames = new Option<int>("--frames") { Description = "Video frames per item (1 + 4k).", DefaultValueFactory = _ => 9 };
        var crop = new Option<int>("--crop") { Description = "Square crop per item, pixels (a multiple of the spatial ratio).", DefaultValueFactory = _ => 64 };
        var size = new Option<string>("--size") { Description = "Render (or decode) size the crops come from.", DefaultValueFactory = _ => "128x128" };
        var fps = new Option<double>("--fps") { Description = "Frame rate of the training clips.", DefaultValueFactory = _ => 24 };
        var audioSeconds = new Option<float>("--audio-seconds") { Description = "Seconds of sound per audio item.", DefaultValueFactory = _ => 1f };
        var latent = new Option<int>("--latent-channels") { Description = "Latent channels (default 16).", DefaultValueFactory = _ => 16 };
        var ratio = new Option<int>("--spatial-ratio") { Description = "Video spatial compression: 4, 8 or 16.", DefaultValueFactory = _ => 8 };
        var channels = new Option<int>("--channels") { Description = "Video: channels at the first level (the levels below have twice as many).", DefaultValueFactory = _ => VideoAutoencoderConfig.Default.Channels };
        var blocks = new Option<int>("--blocks") { Description = "Video: residual blocks per level, 0 to 4.", DefaultValueFactory = _ => VideoAutoencoderConfig.Default.BlocksPerLevel };
        var fineUp = new Option<int>("--fine-upsamples") { Description = "Video: decoder stages that each double every frame's size with a convolution at the new size (0: the last conv unfolds whole patches; 2: up to full size with patch 4).", DefaultValueFactory = _ => 0 };
        var fineChannels = new Option<int>("--fine-channels") { Description = "Video, with --fine-upsamples: channels per frame before the first fine stage (halved at each stage).", DefaultValueFactory = _ => VideoAutoencoderConfig.Default.FineChannels };
        var freeze = new Option<bool>("--freeze-encoder") { Description = "Video, with --init: train only the decoder, so the latents (and a transformer trained on them) stay as they were." };
        var detail = new Option<int>("--detail-crops") { Description = "Video: pick each crop as the most detailed of this many random places (1: any place).", DefaultValueFactory = _ => 1 };
        var edge = new Option<float>("--edge-weight") { Description = "Video: weight of the L1 of pixel differences (edges, small patterns) beside the plain L1.", DefaultValueFactory = _ => 0f };
        var device = new Option<string>("--device") { Description = "cpu or cuda.", DefaultValueFactory = _ => "cpu" };
        var init = new Option<string?>("--init") { Description = "Start from these trained weights (.safetensors with its .json), e.g. to fine-tune on your own clips." };
        var command = new Command("vae", "Train the video or audio autoencoder, with checkpoint and resume, losses to CSV and PNG.")
            { modality, data, output, steps, batch, lr, warmup, seed, checkpointEvery, logEvery, kl, frames, crop, size, fps, audioSeconds, latent, ratio, channels, blocks, fineUp, fineChannels, edge, freeze, detail, device, init };
        command.SetAction((result, cancel) =>
        {
            var (w, h) = WorldCommands.ParseSize(result.GetValue(size)!);
            int spatial = result.GetValue(ratio);
            if (spatial is not (4 or 8 or 16)) throw new ArgumentException($"--spatial-ratio {spatial} must be 4, 8 or 16");
            int width = result.GetValue(channels);
            var video = VideoAutoencoderConfig.Default with
            {
                LatentChannels = result.GetValue(latent), Downsamples = spatial switch { 4 => 0, 8 => 1, _ => 2 },
                Channels = width, InnerChannels = 2 * width, BlocksPerLevel = result.GetValue(blocks),
                FineUpsamples = result.GetValue(fineUp), FineChannels = result.GetValue(fineChannels),
            };
            var audio = AudioAutoencoderConfig.Default with { LatentChannels = result.GetValue(latent) };
            var options = new VaeTrainingOptions(result.GetValue(modality), result.GetValue(output)!, result.GetValue(steps), result.GetValue(data)!,
                result.GetValue(batch), result.GetValue(lr), result.GetValue(warmup), result.GetValue(seed), result.GetValue(checkpointEvery),
                result.GetValue(logEvery), result.GetValue(kl), result.GetValue(frames), result.GetValue(crop), w, h, result.GetValue(fps),
                result.GetValue(audioSeconds), result.GetValue(device)!, video, audio, result.GetValue(init), result.GetValue(edge), result.GetValue(freeze), result.GetValue(detail));
            var outcome = VaeTrainer.Run(options, Console.WriteLine, cancel);
            Console.WriteLine(outcome.Interrupted ? $"stopped at step {outcome.Step}; rerun the same command to resume" : $"done: {outcome.Step} steps");
            Console.WriteLine($"steps: {outcome.Step}");
            Console.WriteLine($"seconds: {outcome.Seconds:F1}");
            Console.WriteLine($"final_loss: {outcome.LastLoss:G5}");
            return Task.FromResult(outcome.Interrupted ? 130 : 0);
        });
        return command;
    }
}
