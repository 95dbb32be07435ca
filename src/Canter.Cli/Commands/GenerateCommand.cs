using System.CommandLine;
using Canter.Media;
using Canter.Models.Unified;
using Canter.Training.Unified;

namespace Canter.Cli.Commands;

/// <summary><c>canter generate PROMPT ... -o out.mp4</c>: video with sound from the shipped (or a given) model.</summary>
public static class GenerateCommand
{
    public static Command Create()
    {
        var prompt = new Argument<string>("prompt") { Description = "What to make; timecoded beats ([0s-2s] ... [2s-4s] ...) cut between shots." };
        var output = new Option<string>("-o", "--output") { Description = "The MP4 to write; a poster .png and a .json record go beside it.", Required = true };
        var image = new Option<string?>("--image") { Description = "First frame (image-to-video)." };
        var last = new Option<string?>("--last-frame") { Description = "Last frame (with --image: first and last frame)." };
        var refs = new Option<string[]>("--ref") { Description = "Reference image of a subject (repeatable).", AllowMultipleArgumentsPerToken = false };
        var edit = new Option<string?>("--edit") { Description = "Source video to edit by the prompt's instruction (its sound is kept); needs a model with edit mode." };
        var extend = new Option<string?>("--extend") { Description = "A clip to continue." };
        var audio = new Option<string?>("--audio") { Description = "A sound or speech track the picture follows (audio-driven)." };
        var seconds = new Option<float>("--seconds") { Description = "Duration.", DefaultValueFactory = _ => 4f };
        var size = new Option<string>("--size") { Description = "Width x height.", DefaultValueFactory = _ => "128x128" };
        var fps = new Option<double>("--fps") { Description = "Frame rate (this model makes 24).", DefaultValueFactory = _ => 24 };
        var seed = new Option<ulong>("--seed") { Description = "Noise seed: the same seed and settings give the same file.", DefaultValueFactory = _ => 0UL };
        var steps = new Option<int>("--steps") { Description = "Solver steps.", DefaultValueFactory = _ => 8 };
        var guidance = new Option<float>("--guidance") { Description = "Text guidance scale.", DefaultValueFactory = _ => 3f };
        var refGuidance = new Option<float>("--ref-guidance") { Description = "Reference guidance scale.", DefaultValueFactory = _ => 1.5f };
        var sourceGuidance = new Option<float>("--source-guidance") { Description = "Edit: source guidance scale (1 reads the source plainly; above 1 holds closer to it).", DefaultValueFactory = _ => 1f };
        var editStrength = new Option<float>("--edit-strength")
        {
            Description = "Edit: start the flow at this time from the source, noised to it (lower keeps more of the source's layout and motion); 1 starts from pure noise.",
            DefaultValueFactory = _ => 1f,
        };
        var negative = new Option<string>("--negative") { Description = "Negative prompt.", DefaultValueFactory = _ => "" };
        var noAudio = new Option<bool>("--no-audio") { Description = "Picture only." };
        var sampler = new Option<string>("--sampler") { Description = $"{Samplers.Listed} (dpm++2m and ab2: one model evaluation a step).", DefaultValueFactory = _ => Samplers.Default };
        var guidanceUntil = new Option<float>("--guidance-until")
        {
            Description = "Guidance only for flow times t >= T (1 is noise, 0 clean); below T one branch runs, about half the cost. 0: every step.",
            DefaultValueFactory = _ => 0f,
        };
        var guidanceEvery = new Option<int>("--guidance-every")
        {
            Description = "Run every guidance branch on every N-th guided step only; between, one branch runs and the last guidance correction is reused (about half the cost). 1: every step.",
            DefaultValueFactory = _ => GenerationRequest.DefaultGuidanceEvery,
        };
        var shift = new Option<float>("--shift")
        {
            Description = $"Bend the solver's time steps toward noise, t = s u / (1 + (s - 1) u) over even u (1: even steps in t), in [{GenerationRequest.MinShift}, {GenerationRequest.MaxShift}].",
            DefaultValueFactory = _ => GenerationRequest.DefaultShift,
        };
        var model = new Option<string>("--model") { Description = "Model folder.", DefaultValueFactory = _ => VaeCommands.DefaultModelDir };
        var device = new Option<string>("--device") { Description = "cpu or cuda.", DefaultValueFactory = _ => "cpu" };
        var command = new Command("generate", "Generate a video with synchronized sound: text-, image-, first/last-frame-, reference-to-video, extension, audio-driven.")
            { prompt, output, image, last, refs, edit, extend, audio, seconds, size, fps, seed, steps, guidance, refGuidance, sourceGuidance, editStrength, negative, noAudio, sampler, guidanceUntil, guidanceEvery, shift, model, device };
        command.SetAction((result, cancel) =>
        {
            var (w, h) = WorldCommands.ParseSize(result.GetValue(size)!);
            if (result.GetValue(fps) != 24) throw new ArgumentException("--fps: this model makes 24 frames per second");
            var dir = result.GetValue(model)!;
            // a model without edit mode refuses --edit from its manifest alone: before loading weights or decoding the source
            if (result.GetValue(edit) is not null && !ModelBundle.ReadManifest(dir).Config.Edit) throw new ArgumentException($"--edit: {UnifiedConfig.NoEditMode}");
            var bundle = ModelBundle.Load(dir, Canter.Tensors.Device.Parse(result.GetValue(device)!));
            RgbImage? Read(string? path) => path is null ? null : MediaReader.ReadImage(path, w, h);
            float[]? driving = result.GetValue(audio) is { } a ? MediaReader.ReadAudio(a, bundle.Codec.Audio.Config.SampleRate, maxSeconds: 15).Samples : null;
            VideoClip? toExtend = result.GetValue(extend) is { } e ? MediaReader.ReadVideo(e, w, h, 24, maxSeconds: 15) : null;
            // the source to edit, resized to the asked size at 24 fps; the generator takes its first --seconds (or says it is too short)
            VideoClip? source = result.GetValue(edit) is { } src ? MediaReader.ReadVideo(src, w, h, 24, maxSeconds: 15) : null;
            float[]? sourceSound = result.GetValue(edit) is { } s2 && MediaProbe.Probe(s2).HasAudio
                ? MediaReader.ReadAudio(s2, bundle.Codec.Audio.Config.SampleRate, maxSeconds: 15).Samples : null;
            var request = new GenerationRequest(result.GetValue(prompt)!, w, h, result.GetValue(seconds), result.GetValue(seed), result.GetValue(steps),
                result.GetValue(guidance), result.GetValue(refGuidance), result.GetValue(negative)!, !result.GetValue(noAudio), result.GetValue(sampler)!,
                Read(result.GetValue(image)), Read(result.GetValue(last)), (result.GetValue(refs) ?? []).Select(p => Read(p)!).ToList(), driving, toExtend,
                Source: source, SourceAudio: sourceSound, SourceGuidance: result.GetValue(sourceGuidance), GuidanceUntil: result.GetValue(guidanceUntil),
                GuidanceEvery: result.GetValue(guidanceEvery), EditStrength: result.GetValue(editStrength), Shift: result.GetValue(shift));
            GenerationResult generated;
            try
            {
                // Ctrl+C stops the sampler within one step
                generated = Generator.Generate(bundle, request, (i, n) => Console.Error.Write($"\rstep {i}/{n}"), cancel);
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested)
            {
                Console.Error.WriteLine();
                Console.Error.WriteLine("cancelled: nothing written");
                return Task.FromResult(130);
            }
            Console.Error.WriteLine();
            var path = result.GetValue(output)!;
            var record = GenerationRecord.Of(Path.GetFileName(Path.GetFullPath(dir)), GenerationOutput.WeightsHash(dir), request, result.GetValue(image),
                result.GetValue(last), result.GetValue(refs), result.GetValue(extend), result.GetValue(audio), edit: result.GetValue(edit));
            var stem = Path.ChangeExtension(path, null);
            GenerationOutput.Write(generated, record, path, stem + ".png", stem + ".json");
            Console.WriteLine($"wrote {path}, {stem}.png, {stem}.json");
            Console.WriteLine($"generation_seconds: {generated.Seconds:F2}");
            Console.WriteLine($"seconds_per_generated_second: {generated.Seconds / request.Seconds:F3}");
            return Task.FromResult(0);
        });
        return command;
    }
}
