using System.CommandLine;
using Canter.Bench;

namespace Canter.Cli.Commands;

/// <summary><c>canter bench ...</c>: benchmarks that end with their figures as <c>name: value</c> lines.</summary>
public static class BenchCommands
{
    public static Command Create()
    {
        var bench = new Command("bench", "Benchmarks; each ends with its figures, one per line, as 'name: value'.");
        bench.Subcommands.Add(Engine());
        bench.Subcommands.Add(Conv());
        bench.Subcommands.Add(DeviceParity());
        bench.Subcommands.Add(Attention());
        bench.Subcommands.Add(World());
        bench.Subcommands.Add(ParserAccuracy());
        bench.Subcommands.Add(Generate());
        bench.Subcommands.Add(Sampler());
        bench.Subcommands.Add(AdherenceBench());
        bench.Subcommands.Add(Flow());
        bench.Subcommands.Add(Vae());
        bench.Subcommands.Add(Score());
        bench.Subcommands.Add(Run());
        bench.Subcommands.Add(Server());
        bench.Subcommands.Add(ScaleOut());
        return bench;
    }

    private static Command Engine()
    {
        var threads = new Option<int>("--threads") { Description = "Threads for Canter and PyTorch alike.", DefaultValueFactory = _ => 2 };
        var repeats = new Option<int>("--repeats") { Description = "Timed runs per measurement (the median is reported).", DefaultValueFactory = _ => 5 };
        var quick = new Option<bool>("--quick") { Description = "A small configuration that finishes in seconds (same code paths)." };
        var noTorch = new Option<bool>("--no-torch") { Description = "Skip the PyTorch comparison." };
        var device = DeviceOption();
        var command = new Command("engine", "GEMM against OpenBLAS, DiT forward and training step against PyTorch (width 256, 8 blocks, 4 heads, 4 x 1024 tokens).")
        {
            threads, repeats, quick, noTorch, device,
        };
        command.SetAction(result =>
        {
            int t = result.GetValue(threads), r = result.GetValue(repeats);
            if (t < 1) throw new ArgumentException("--threads must be at least 1");
            if (r < 1) throw new ArgumentException("--repeats must be at least 1");
            var options = result.GetValue(quick) ? EngineBenchOptions.Quick with { Threads = t } : new EngineBenchOptions(Threads: t, Repeats: r);
            EngineBench.Run(options with { SkipTorch = result.GetValue(noTorch), Device = result.GetValue(device)! }, Console.Out);
            return 0;
        });
        return command;
    }

    private static Command Conv()
    {
        var threads = new Option<int>("--threads") { Description = "Threads for Canter and PyTorch alike.", DefaultValueFactory = _ => 2 };
        var repeats = new Option<int>("--repeats") { Description = "Timed runs per measurement (the median is reported).", DefaultValueFactory = _ => 5 };
        var quick = new Option<bool>("--quick") { Description = "Batch 2 and 3 repeats instead of batch 8 (same layers and code paths)." };
        var noTorch = new Option<bool>("--no-torch") { Description = "Skip the PyTorch comparison (and the check of the results against it)." };
        var command = new Command("conv", "The video autoencoder's 3-D convolutions at training shapes (batch 8, 5 x 16x16 / 5 x 8x8; the fine decoder "
            + "stages' 17 frames up to 64x64), forward and forward + backward, against PyTorch's F.conv3d on the same inputs; results checked against PyTorch's. "
            + "conv_forward_vs_torch and conv_train_vs_torch are Canter's time / PyTorch's (geometric mean over the shipped autoencoder's layers; "
            + "conv_fine_... over the fine stages'): lower is better, below 1 is faster.")
        {
            threads, repeats, quick, noTorch,
        };
        command.SetAction(result =>
        {
            int t = result.GetValue(threads), r = result.GetValue(repeats);
            if (t < 1) throw new ArgumentException("--threads must be at least 1");
            if (r < 1) throw new ArgumentException("--repeats must be at least 1");
            var options = result.GetValue(quick) ? ConvBenchOptions.Quick with { Threads = t } : new ConvBenchOptions(Threads: t, Repeats: r);
            ConvBench.Run(options with { SkipTorch = result.GetValue(noTorch) }, Console.Out);
            return 0;
        });
        return command;
    }

    private static Command World()
    {
        var size = new Option<string>("--size") { Description = "Width x height of the rendered clips.", DefaultValueFactory = _ => "128x128" };
        var fps = new Option<double>("--fps") { Description = "Frames per second.", DefaultValueFactory = _ => 24 };
        var seconds = new Option<float>("--seconds") { Description = "Seconds per clip.", DefaultValueFactory = _ => 4f };
        var count = new Option<int>("--count") { Description = "Clips to render.", DefaultValueFactory = _ => 20 };
        var command = new Command("world", "Clips per second the procedural world renders (picture and sound) at a training size.") { size, fps, seconds, count };
        command.SetAction(result =>
        {
            var (w, h) = WorldCommands.ParseSize(result.GetValue(size)!);
            int n = result.GetValue(count);
            if (n < 1) throw new ArgumentException("--count must be at least 1");
            WorldBench.Run(w, h, result.GetValue(fps), result.GetValue(seconds), n, Console.Out);
            return 0;
        });
        return command;
    }

    private static Command ParserAccuracy()
    {
        var count = new Option<int>("--count") { Description = "Test scenes to render and parse.", DefaultValueFactory = _ => 30 };
        var degrade = new Option<Canter.World.Degradation>("--degrade") { Description = "None, Blur, Noise or Reencode (H.264 at CRF 32).", DefaultValueFactory = _ => Canter.World.Degradation.None };
        var multiShot = new Option<bool>("--multi-shot") { Description = "Cut each scene into 2 or 3 shots (wide, close-up, reverse angle); shot cuts and framings are scored too." };
        var command = new Command("parser", "Accuracy of the world parser on renders of test scenes (clean or degraded), per attribute, event timing and reference identity.") { count, degrade, multiShot };
        command.SetAction(result =>
        {
            ParserBench.Run(Math.Max(1, result.GetValue(count)), 256, 144, Console.Out, result.GetValue(degrade), result.GetValue(multiShot));
            return 0;
        });
        return command;
    }

    private static Command Vae()
    {
        var model = new Option<string>("--model") { Description = "Folder with video_vae.safetensors and audio_vae.safetensors (and their .json).", DefaultValueFactory = _ => VaeCommands.DefaultModelDir };
        var repeats = new Option<int>("--repeats") { Description = "Timed runs per measurement after one warm-up (the median is reported).", DefaultValueFactory = _ => 3 };
        var threads = new Option<int>("--threads") { Description = "Engine threads.", DefaultValueFactory = _ => 2 };
        var command = new Command("vae", "Video encode and decode (tiled) and audio encode and decode of one 4-second world clip at 128x128, 24 fps, with the shipped autoencoders.")
        {
            model, repeats, threads,
        };
        command.SetAction(result =>
        {
            int r = result.GetValue(repeats), t = result.GetValue(threads);
            if (r < 1) throw new ArgumentException("--repeats must be at least 1");
            if (t < 1) throw new ArgumentException("--threads must be at least 1");
            VaeBench.Run(new VaeBenchOptions(result.GetValue(model)!, r, t), Console.Out);
            return 0;
        });
        return command;
    }

    private static Command Score()
    {
        var video = new Argument<string>("video") { Description = "The video to score (MP4 or anything ffmpeg reads), made by any system." };
        var spec = new Option<string>("--spec")
        {
            Description = "The asked scene: the .json that 'canter world preview' writes beside its clip, or a bare scene spec.",
            Required = true,
        };
        var first = new Option<string?>("--first-frame") { Description = "Image the video had to start from (image-to-video)." };
        var last = new Option<string?>("--last-frame") { Description = "Image the video had to end on." };
        var references = new Option<string[]>("--ref") { Description = "Reference image of a subject (reference-to-video); repeat for more." };
        var editSource = new Option<string?>("--edit-source") { Description = "For an edit: the scene before the edit (--spec is the edited scene)." };
        var extends = new Option<string?>("--extends") { Description = "For an extension: the clip the video had to carry on from." };
        var audio = new Option<string?>("--audio") { Description = "For an audio-driven clip: the track the picture had to follow (sync is measured against it)." };
        var output = new Option<string?>("--out") { Description = "Report folder (default: VIDEO's name with .score, beside it)." };
        var command = new Command("score", "Score one generated video against the scene it was asked for: adherence, identity, motion, sync, fidelity. "
            + "Writes report.json, report.md and plots, then prints the figures as 'name: value'.")
        {
            video, spec, first, last, references, editSource, extends, audio, output,
        };
        command.SetAction(result =>
        {
            var path = result.GetValue(video)!;
            var clip = Canter.Eval.Scoring.ClipFiles.Load(path, result.GetValue(spec)!, result.GetValue(first), result.GetValue(last),
                result.GetValue(references) ?? [], result.GetValue(editSource), result.GetValue(audio), result.GetValue(extends));
            var score = Canter.Eval.Scoring.Scorer.Score(clip);
            var report = Canter.Eval.Reports.BenchReport.From([score]);
            var folder = result.GetValue(output) ?? Path.ChangeExtension(path, null) + ".score";
            foreach (var file in Canter.Eval.Reports.ReportWriter.Write(folder, report)) Console.WriteLine($"wrote {file}");
            foreach (var line in report.Figures()) Console.WriteLine(line);
            return 0;
        });
        return command;
    }

    private static Command Run()
    {
        var suite = new Option<string>("--suite")
        {
            Description = "quick (2 tasks of every suite, for CI), all, t2v (short, long, multi-shot), i2v (first frame, first and last), r2v, a2v, extend, edit, "
                + "or one suite: T2vShort, T2vLong, MultiShot, I2v, Flf2v, R2v, A2v, Extend, Edit.",
            DefaultValueFactory = _ => "T2vLong",
        };
        var model = new Option<string?>("--model") { Description = "Answer with this model (a model folder)." };
        var world = new Option<bool>("--world") { Description = "Answer with ground-truth renders of the world: the bench's reference point." };
        var damage = new Option<Canter.Eval.Validation.Damage>("--damage")
        {
            Description = "With --world: damage every render (ShuffleFrames, ShiftAudio, SwapColor, ChangePattern, FreezeFrames, Flicker) to see the bench notice.",
            DefaultValueFactory = _ => Canter.Eval.Validation.Damage.None,
        };
        var count = new Option<int>("--count") { Description = "Tasks (unseen test scenes).", DefaultValueFactory = _ => 10 };
        var first = new Option<int>("--first") { Description = "Index of the first test scene.", DefaultValueFactory = _ => 0 };
        var size = new Option<string?>("--size") { Description = "Width x height (default: the model's, or 128x128)." };
        var fps = new Option<double?>("--fps") { Description = "Frames per second (default: the model's, or 24)." };
        var seconds = new Option<float?>("--seconds") { Description = "Seconds per clip (default: the model's, or 4)." };
        var steps = new Option<int>("--steps") { Description = "Solver steps per generation.", DefaultValueFactory = _ => 8 };
        var editStrength = new Option<float>("--edit-strength") { Description = "Edit tasks: the flow's start from the noised source (1: pure noise).", DefaultValueFactory = _ => 1f };
        var output = new Option<string>("--out") { Description = "Run folder: clips/ (inputs and answers as files) and the report.", Required = true };
        var command = new Command("run", "Run a suite of Canter Bench on unseen test scenes: write each task's inputs and answer as files, score every answer, report.")
        {
            suite, model, world, damage, count, first, size, fps, seconds, steps, editStrength, output,
        };
        command.SetAction(result =>
        {
            var modelDir = result.GetValue(model);
            bool useWorld = result.GetValue(world);
            if (useWorld == (modelDir is not null)) throw new ArgumentException("give either --model FOLDER or --world");
            var hurt = result.GetValue(damage);
            if (hurt != Canter.Eval.Validation.Damage.None && !useWorld) throw new ArgumentException("--damage applies to --world renders only");
            int n = result.GetValue(count), from = result.GetValue(first);
            if (n is < 1 or > 10_000) throw new ArgumentException($"--count {n} must be in [1, 10000]");
            if (from < 0) throw new ArgumentException("--first must be 0 or more");
            var plan = Canter.Eval.Scoring.Suites.Plan(result.GetValue(suite)!, n);
            var bundle = modelDir is null ? null : Canter.Training.Unified.ModelBundle.Load(modelDir);
            if (bundle is not null && !bundle.Manifest.Config.Edit)
            {
                // a model without edit mode: a plan of several suites leaves Edit out, asking for it alone is an error
                if (plan.Count == 1 && plan[0].Suite == Canter.Eval.Scoring.BenchSuite.Edit)
                    throw new ArgumentException($"the Edit suite: {Canter.Models.Unified.UnifiedConfig.NoEditMode}; it runs with --world or a model with edit mode");
                if (plan.Count > 1 && plan.Any(p => p.Suite == Canter.Eval.Scoring.BenchSuite.Edit))
                {
                    Console.Error.WriteLine("note: the Edit suite is left out (this model has no edit mode)");
                    plan = [.. plan.Where(p => p.Suite != Canter.Eval.Scoring.BenchSuite.Edit)];
                }
            }
            var (w, h) = result.GetValue(size) is { } text ? WorldCommands.ParseSize(text) : bundle is null ? (128, 128) : (bundle.Manifest.Width, bundle.Manifest.Height);
            double rate = result.GetValue(fps) ?? (bundle is null ? 24 : bundle.Manifest.Config.FrameRate);
            float length = result.GetValue(seconds) ?? (bundle is null ? 4f : bundle.Manifest.Seconds);
            int sampleRate = bundle?.Codec.Audio.Config.SampleRate ?? Canter.World.AudioSynth.DefaultSampleRate;
            int solverSteps = result.GetValue(steps);
            (Canter.Media.VideoClip, Canter.Media.AudioTrack?) Answer(Canter.Eval.Scoring.SuiteTask t)
            {
                if (bundle is null) return Canter.Eval.Validation.Damages.Render(t.Scene, hurt, w, h, rate, t.Scene.Seed);
                // an edit task gives the render of the scene before the edit (picture and sound): the source video
                var source = t.EditSourceClip;
                var request = new Canter.Training.Unified.GenerationRequest(t.Prompt, w, h, length, Seed: t.Scene.Seed, Steps: solverSteps,
                    FirstFrame: t.FirstFrame, LastFrame: t.LastFrame, References: t.References.Count > 0 ? t.References : null,
                    DrivingAudio: t.DrivingAudio?.Samples, Extend: t.Extend, Source: source?.Video, SourceAudio: source?.Audio.Samples,
                    EditStrength: source is null ? 1f : result.GetValue(editStrength));
                var generated = Canter.Training.Unified.Generator.Generate(bundle, request);
                return (generated.Video, generated.Audio);
            }
            var folder = result.GetValue(output)!;
            var reports = new List<(Canter.Eval.Scoring.BenchSuite Suite, Canter.Eval.Reports.BenchReport Report)>();
            foreach (var (kind, tasksOfKind) in plan)
            {
                // one suite: its report in the run folder; several: each in its own subfolder, headline figures at the end
                string where = plan.Count == 1 ? folder : Path.Combine(folder, kind.ToString().ToLowerInvariant());
                var tasks = Enumerable.Range(from, tasksOfKind).Select(i => Canter.Eval.Scoring.Suites.Task(kind, i, w, h, rate, length, sampleRate)).ToList();
                var report = Canter.Eval.Scoring.Suites.Run(where, tasks, Answer, done => Console.Error.Write($"\r{kind}: {done}/{tasksOfKind} tasks"));
                Console.Error.WriteLine();
                Console.WriteLine($"wrote {Path.Combine(where, "clips")} and the report in {where}");
                reports.Add((kind, report));
            }
            if (reports.Count == 1)
                foreach (var line in reports[0].Report.Figures()) Console.WriteLine(line);
            else
                foreach (var (name, value) in Canter.Eval.Scoring.Suites.Headlines(reports))
                    Console.WriteLine($"{name}: {Canter.Eval.Reports.BenchReport.Format(value)}");
            return 0;
        });
        return command;
    }

    private static Option<string> DeviceOption() =>
        new("--device") { Description = "cpu, cuda (first NVIDIA GPU) or ilgpu-cpu (GPU kernels emulated on the CPU).", DefaultValueFactory = _ => "cpu" };

    private static Command Flow()
    {
        var model = new Option<string>("--model") { Description = "Model folder.", DefaultValueFactory = _ => VaeCommands.DefaultModelDir };
        var count = new Option<int>("--count") { Description = "Test scenes (clips).", DefaultValueFactory = _ => 8 };
        var longPrompts = new Option<bool>("--long") { Description = "Long multi-beat captions (they name background, light and camera) instead of short ones." };
        var command = new Command("flow", "The transformer's flow loss on unseen test clips at fixed flow times, with and without the prompt: where in the flow it reads the prompt.")
            { model, count, longPrompts };
        command.SetAction(result =>
        {
            var bundle = Canter.Training.Unified.ModelBundle.Load(result.GetValue(model)!);
            int n = result.GetValue(count);
            var report = Canter.Training.Unified.FlowProbe.Run(bundle, n, result.GetValue(longPrompts), progress: i => Console.Error.Write($"\r{i}/{n} clips"));
            Console.Error.WriteLine();
            Console.WriteLine($"clips: {report.Clips}");
            Console.WriteLine($"video_mean_square: {report.UnconditionalError:F4}");
            foreach (var t in report.Times)
            {
                string at = t.Time.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture);
                Console.WriteLine($"video_loss_t{at}: {t.VideoLoss:F4}");
                Console.WriteLine($"video_loss_without_prompt_t{at}: {t.VideoLossWithoutPrompt:F4}");
                Console.WriteLine($"prompt_gain_t{at}: {t.PromptGain:F4}");
                Console.WriteLine($"audio_loss_t{at}: {t.AudioLoss:F4}");
                Console.WriteLine($"subject_loss_t{at}: {t.SubjectLoss:F4}");
                Console.WriteLine($"subject_prompt_gain_t{at}: {t.SubjectPromptGain:F4}");
            }
            return 0;
        });
        return command;
    }

    private static Command AdherenceBench()
    {
        var model = new Option<string>("--model") { Description = "Model folder.", DefaultValueFactory = _ => VaeCommands.DefaultModelDir };
        var count = new Option<int>("--count") { Description = "Test scenes (prompts).", DefaultValueFactory = _ => 20 };
        var steps = new Option<int>("--steps") { Description = "Solver steps per generation.", DefaultValueFactory = _ => 8 };
        var longPrompts = new Option<bool>("--long") { Description = "Long multi-beat captions instead of short ones." };
        var sampler = new Option<string?>("--sampler") { Description = $"{Canter.Training.Unified.Samplers.Listed} (default: generation's)." };
        var guidance = new Option<float?>("--guidance") { Description = "Text guidance scale (default: generation's)." };
        var shift = new Option<float?>("--shift") { Description = "Schedule shift of the solver's steps (default: generation's)." };
        var command = new Command("adherence", "Text-to-video prompt adherence on unseen test scenes, read back by the world parser.") { model, count, steps, longPrompts, sampler, guidance, shift };
        command.SetAction(result =>
        {
            var bundle = Canter.Training.Unified.ModelBundle.Load(result.GetValue(model)!);
            int n = result.GetValue(count);
            var report = Canter.Training.Unified.Adherence.Run(bundle, n, result.GetValue(longPrompts), result.GetValue(steps), i => Console.Error.Write($"\r{i}/{n} prompts"), result.GetValue(sampler),
                result.GetValue(guidance), result.GetValue(shift));
            Console.Error.WriteLine();
            string kind = report.Long ? "long" : "short";
            Console.WriteLine($"prompts: {report.Prompts}");
            Console.WriteLine($"skipped_prompts: {report.Skipped}");
            foreach (var (name, value) in report.PerAttribute) Console.WriteLine($"{kind}_{name}: {value:F3}");
            Console.WriteLine($"adherence_{kind}: {report.Adherence:F3}");
            Console.WriteLine($"adherence_{kind}_mismatched: {report.Mismatched:F3}");
            Console.WriteLine($"seconds_per_generated_second: {report.SecondsPerGeneratedSecond:F3}");
            return 0;
        });
        return command;
    }

    private static Command Generate()
    {
        var model = new Option<string>("--model") { Description = "Model folder.", DefaultValueFactory = _ => VaeCommands.DefaultModelDir };
        var steps = new Option<int>("--steps") { Description = "Solver steps.", DefaultValueFactory = _ => 8 };
        var sampler = new Option<string>("--sampler") { Description = $"{Canter.Training.Unified.Samplers.Listed}.", DefaultValueFactory = _ => Canter.Training.Unified.Samplers.Default };
        var repeats = new Option<int>("--repeats") { Description = "Timed generations after one warm-up (the median counts).", DefaultValueFactory = _ => 2 };
        var guidanceEvery = new Option<int>("--guidance-every")
        {
            Description = "Every guidance branch on every N-th step only (as generate's option).", DefaultValueFactory = _ => Canter.Training.Unified.GenerationRequest.DefaultGuidanceEvery,
        };
        var command = new Command("generate", "Time a 4-second 128x128 generation with sound (text-to-video) on this machine.") { model, steps, sampler, repeats, guidanceEvery };
        command.SetAction(result =>
        {
            int n = result.GetValue(repeats);
            if (n < 1) throw new ArgumentException("--repeats must be at least 1");
            var bundle = Canter.Training.Unified.ModelBundle.Load(result.GetValue(model)!);
            var request = new Canter.Training.Unified.GenerationRequest("A red ball bounces", Seconds: 4f, Seed: 1, Steps: result.GetValue(steps), Sampler: result.GetValue(sampler)!,
                GuidanceEvery: result.GetValue(guidanceEvery));
            Canter.Training.Unified.Generator.Generate(bundle, request);
            var times = new List<double>();
            for (int i = 0; i < n; i++) times.Add(Canter.Training.Unified.Generator.Generate(bundle, request).Seconds);
            times.Sort();
            double median = times[times.Count / 2];
            Console.WriteLine($"generation of 4 s at 128x128 with sound, {request.Steps} {request.Sampler} steps, guidance every {request.GuidanceEvery}, {Canter.Tensors.Engine.Threads} threads: {string.Join(", ", times.Select(t => t.ToString("F2", System.Globalization.CultureInfo.InvariantCulture)))} s");
            Console.WriteLine($"generation_seconds: {median:F2}");
            Console.WriteLine($"seconds_per_generated_second: {median / 4.0:F3}");
            Console.WriteLine($"peak_rss_mb: {Canter.Bench.Measure.PeakRssMb():F0}");
            return 0;
        });
        return command;
    }

    private static Command Sampler()
    {
        var model = new Option<string>("--model") { Description = "Model folder.", DefaultValueFactory = _ => VaeCommands.DefaultModelDir };
        var cases = new Option<int>("--cases") { Description = "Test prompts (each with its own seed).", DefaultValueFactory = _ => 3 };
        var referenceSteps = new Option<int>("--reference-steps") { Description = "Heun steps of the reference solution.", DefaultValueFactory = _ => 32 };
        var candidates = new Option<string>("--candidates")
        {
            Description = "Comma-separated SAMPLER:STEPS[:GUIDANCE_UNTIL[:SHIFT[:GUIDANCE_EVERY]]] settings to measure (SHIFT bends the time schedule; generation uses 3; "
                + "GUIDANCE_EVERY runs every guidance branch on every N-th step only, 1 when left out).", DefaultValueFactory = _ => SamplerBenchOptions.DefaultCandidates,
        };
        var command = new Command("sampler", "Accuracy of sampler settings against a fine Heun solution (final video and audio tokens, relative RMS), "
            + "with each setting's model evaluations: for choosing the fewest evaluations that keep today's error.") { model, cases, referenceSteps, candidates };
        command.SetAction(result =>
        {
            var list = result.GetValue(candidates)!.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(SamplerCandidate.Parse).ToList();
            return SamplerBench.Run(new SamplerBenchOptions(result.GetValue(model)!, result.GetValue(cases), result.GetValue(referenceSteps), list), Console.Out, Console.Error);
        });
        return command;
    }

    private static Command Server()
    {
        var model = new Option<string>("--model") { Description = "Model folder.", DefaultValueFactory = _ => VaeCommands.DefaultModelDir };
        var clients = new Option<int>("--clients") { Description = "Concurrent clients of the latency phase.", DefaultValueFactory = _ => 200 };
        var reads = new Option<int>("--status-reads") { Description = "Status reads per client.", DefaultValueFactory = _ => 10 };
        var generations = new Option<int>("--generations") { Description = "Generations per worker count in the throughput phase (0: skip it).", DefaultValueFactory = _ => 4 };
        var seconds = new Option<float>("--seconds") { Description = "Seconds per generated clip.", DefaultValueFactory = _ => 1f };
        var steps = new Option<int>("--steps") { Description = "Sampling steps per generation.", DefaultValueFactory = _ => 8 };
        var command = new Command("server", "The service under load on loopback: submit, status and cancel latency under concurrent clients (against a "
            + "trivial route in the same run), and generation throughput with 1 and 2 workers; counts failed requests and lost tasks.")
        {
            model, clients, reads, generations, seconds, steps,
        };
        command.SetAction(async (result, cancel) =>
        {
            var options = new Canter.Bench.ServerBenchOptions(result.GetValue(model)!, result.GetValue(clients), result.GetValue(reads),
                result.GetValue(generations), result.GetValue(seconds), result.GetValue(steps));
            return await Canter.Bench.ServerBench.RunAsync(options, Console.Out);
        });
        return command;
    }

    private static Command ScaleOut()
    {
        var model = new Option<string>("--model") { Description = "Model folder.", DefaultValueFactory = _ => VaeCommands.DefaultModelDir };
        var store = new Option<string?>("--store") { Description = "A PostgreSQL URL (postgres://user:password@host:port/database); without it a throwaway PostgreSQL is started." };
        var tasks = new Option<int>("--tasks") { Description = "Tasks submitted in all.", DefaultValueFactory = _ => 500 };
        var clients = new Option<int>("--clients") { Description = "Concurrent clients sharing the tasks out.", DefaultValueFactory = _ => 50 };
        var servers = new Option<int>("--servers") { Description = "API server processes (canter serve --no-workers).", DefaultValueFactory = _ => 2 };
        var workers = new Option<int>("--workers") { Description = "Worker processes (canter worker).", DefaultValueFactory = _ => 3 };
        var size = new Option<string>("--size") { Description = "Width x height of each clip.", DefaultValueFactory = _ => "32x32" };
        var seconds = new Option<float>("--seconds") { Description = "Seconds per clip.", DefaultValueFactory = _ => 0.5f };
        var steps = new Option<int>("--steps") { Description = "Sampling steps per generation.", DefaultValueFactory = _ => 1 };
        var command = new Command("scaleout", "Scale-out under load, as processes: API servers and workers on one PostgreSQL store, concurrent clients "
            + "submitting with idempotency keys and polling; checks every task ends succeeded, none lost, none run twice; submit and status latency.")
        {
            model, store, tasks, clients, servers, workers, size, seconds, steps,
        };
        command.SetAction(async (result, cancel) =>
        {
            var options = new ScaleoutBenchOptions(result.GetValue(model)!, result.GetValue(store), result.GetValue(tasks), result.GetValue(clients),
                result.GetValue(servers), result.GetValue(workers), result.GetValue(size)!, result.GetValue(seconds), result.GetValue(steps));
            return await ScaleoutBench.RunAsync(options, Console.Out, cancel);
        });
        return command;
    }

    private static Command Attention()
    {
        var repeats = new Option<int>("--repeats") { Description = "Timed runs per measurement (the median is reported).", DefaultValueFactory = _ => 10 };
        var quick = new Option<bool>("--quick") { Description = "Small shapes that finish in seconds (also on ilgpu-cpu; same code paths)." };
        var noTorch = new Option<bool>("--no-torch") { Description = "Skip the PyTorch comparison." };
        var device = DeviceOption();
        device.DefaultValueFactory = _ => "cuda";
        var command = new Command("attention", "Flash attention kernels against the cuBLAS path and PyTorch (float32, D = 64), forward and forward + backward, on a GPU.")
        {
            repeats, quick, noTorch, device,
        };
        command.SetAction(result =>
        {
            int r = result.GetValue(repeats);
            if (r < 1) throw new ArgumentException("--repeats must be at least 1");
            AttentionBench.Run(new AttentionBenchOptions(result.GetValue(device)!, r, SkipTorch: result.GetValue(noTorch), Quick: result.GetValue(quick)), Console.Out);
            return 0;
        });
        return command;
    }

    private static Command DeviceParity()
    {
        var device = DeviceOption();
        var command = new Command("device", "Every GPU kernel against the CPU backend (forward and gradients), on the given device.") { device };
        command.SetAction(result =>
        {
            var d = Canter.Tensors.Device.Parse(result.GetValue(device)!);
            return DeviceCheck.RunAll(d, Console.Out) ? 0 : 1;
        });
        return command;
    }
}
