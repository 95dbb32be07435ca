using System.Diagnostics;
using System.Text.Json;
using Canter.Media;
using Canter.Models.Unified;
using Canter.Tensors;
using Canter.Tensors.Autograd;
using Canter.Tensors.Optim;
using Canter.Training.Logging;
using Canter.World;

namespace Canter.Training.Unified;

public sealed record ModelTrainingOptions(
    string Out,
    int Steps,
    string Preset = "tiny",
    string Autoencoders = "models/canter-tiny",
    int Batch = 2,
    float LearningRate = 3e-4f,
    int WarmupSteps = 50,
    ulong Seed = 1,
    int CheckpointEvery = 100,
    int LogEvery = 5,
    int SampleEvery = 0,
    int Width = 128,
    int Height = 128,
    float Seconds = 4f,
    float EmaDecay = 0.999f,
    UnifiedConfig? Config = null,
    string Device = "cpu",
    string Data = "world",
    float EditShare = 0.2f,
    string? Init = null,
    float TimeShift = ModelTrainingOptions.DefaultTimeShift,
    float SubjectWeight = 1f,
    long StopAfter = 0)
{
    /// <summary>The flow-time shift of runs that name none (<see cref="TimeShift"/>); runs made before the option used it.</summary>
    public const float DefaultTimeShift = 3f;

    /// <summary>The preset's config unless a config is given (tests and experiments).</summary>
    public UnifiedConfig ModelConfig => Config ?? UnifiedConfig.Preset(Preset);

    public ModelTrainingOptions Validate()
    {
        if (Steps < 1 || Steps > 10_000_000) throw new ArgumentException($"--steps {Steps} must be in [1, 10000000]");
        if (Batch < 1 || Batch > 64) throw new ArgumentException($"--batch {Batch} must be in [1, 64]");
        if (!(LearningRate > 0 && LearningRate < 1)) throw new ArgumentException($"--lr {LearningRate} must be in (0, 1)");
        if (CheckpointEvery < 1 || LogEvery < 1 || SampleEvery < 0) throw new ArgumentException("--checkpoint-every and --log-every must be positive, --sample-every not negative");
        if (!(Seconds > 0.5f && Seconds <= 15f)) throw new ArgumentException($"--seconds {Seconds} must be over 0.5 and at most 15");
        if (!(EmaDecay is >= 0f and < 1f)) throw new ArgumentException($"--ema {EmaDecay} must be in [0, 1)");
        if (!(EditShare is >= 0f and <= 1f)) throw new ArgumentException($"--edit-share {EditShare} must be in [0, 1]");
        if (!(TimeShift is >= 0.25f and <= 32f)) throw new ArgumentException($"--time-shift {TimeShift} must be in [0.25, 32]");
        if (StopAfter < 0 || StopAfter > Steps) throw new ArgumentException($"--stop-after {StopAfter} must be in [0, --steps {Steps}] (0: run to the end)");
        if (!(SubjectWeight is >= 1f and <= 100f)) throw new ArgumentException($"--subject-weight {SubjectWeight} must be in [1, 100]");
        if (SubjectWeight != 1f && Data != "world")
            throw new ArgumentException("--subject-weight needs the world's scenes (it finds the subjects by drawing each scene without them); a folder of clips trains with 1");
        if (Init is not null && !File.Exists(Path.Combine(Init, "transformer.safetensors")))
            throw new ArgumentException($"--init {Init} has no transformer.safetensors: give a model folder (such as models/canter-tiny)");
        UnifiedConfig.Preset(Preset);
        return this;
    }
}

/// <summary>
/// Trains the unified transformer with rectified flow on the world: every batch mixes the modes (text-, image-,
/// first-and-last-frame-, reference-to-video, extension, audio-driven and, for a config with edit mode, edit pairs of the
/// world, or of a folder's entries with an edit, in a share of the steps (<see cref="EditPlan"/>)) as patterns of clean
/// and noisy tokens; flow times are logit-normal with a shift; prompts, references and edit sources are dropped at
/// random for guidance; EMA weights are what it
/// ships. Checkpoints (weights, EMA, optimizer, step) resume exactly; per-modality losses go to losses.csv and .png;
/// with --sample-every it renders a validation prompt to samples/step-N.mp4 with the EMA weights.
/// </summary>
public static class ModelTrainer
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public static long Run(ModelTrainingOptions o, Action<string> log, CancellationToken cancel = default)
    {
        o.Validate();
        var config = o.ModelConfig.Validate();
        var device = Canter.Tensors.Device.Parse(o.Device);
        var codec = LatentCodec.Load(o.Autoencoders, device);
        if (o.Config is null) config = config.ForSpatialRatio(codec.Video.Config.SpatialRatio);
        if (codec.Video.Config.LatentChannels != config.VideoLatentChannels || codec.Audio.Config.LatentChannels != config.AudioLatentChannels)
            throw new ArgumentException($"the autoencoders in {o.Autoencoders} make {codec.Video.Config.LatentChannels}/{codec.Audio.Config.LatentChannels} latent channels; preset {o.Preset} expects {config.VideoLatentChannels}/{config.AudioLatentChannels}");
        int unit = codec.Video.Config.SpatialRatio * config.Patch;
        if (o.Width % unit != 0 || o.Height % unit != 0) throw new ArgumentException($"--size must be a multiple of {unit} on both sides");
        var folder = o.Data == "world" ? null : new Canter.Training.Data.FolderClips(o.Data);
        // edit pairs come from the world or from a folder's entries that have one: a run without them trains no edit mode
        bool pairs = folder is null || folder.Entries.Any(e => e.Edit is not null);
        var edits = config.Edit && pairs && o.EditShare > 0 ? new EditPlan(o.Seed, o.Batch, o.EditShare) : null;
        if (config.Edit && edits is null) config = config with { Edit = false };
        var init = o.Init is null ? null : TransformerInit.Read(o.Init, config);
        var claim = config.Edit
            ? JsonSerializer.Serialize(new { o.Preset, o.Seed, o.Width, o.Height, o.Seconds, o.Batch, Data = RunFolder.DataName(o.Data), config, o.EditShare }, Json)
            : JsonSerializer.Serialize(new { o.Preset, o.Seed, o.Width, o.Height, o.Seconds, o.Batch, Data = RunFolder.DataName(o.Data), config }, Json);
        if (init is not null || o.TimeShift != ModelTrainingOptions.DefaultTimeShift || o.SubjectWeight != 1f)
        {
            // written only when set, so that run folders made before these options still resume
            var node = System.Text.Json.Nodes.JsonNode.Parse(claim)!.AsObject();
            if (init is not null) node["Init"] = init.Folder;
            if (o.TimeShift != ModelTrainingOptions.DefaultTimeShift) node["TimeShift"] = o.TimeShift;
            if (o.SubjectWeight != 1f) node["SubjectWeight"] = o.SubjectWeight;
            claim = node.ToJsonString(Json);
        }
        RunFolder.Claim(o.Out, claim);
        var examples = new WorldExamples(codec, config, o.Width, o.Height, o.Seconds, folder, edits, o.SubjectWeight);
        int ratio = codec.Video.Config.SpatialRatio;
        SequenceLayout Layout(bool source) => new(config, codec.Video.Config.LatentFrames(examples.Frames), o.Height / ratio / config.Patch, o.Width / ratio / config.Patch,
            examples.Samples / codec.Audio.Config.Hop, config.MaxReferences, source);
        var layout = Layout(source: false);
        var editLayout = config.Edit ? Layout(source: true) : null;

        // vocabulary and latent statistics: fixed at the first start, kept in the run folder
        var vocabPath = Path.Combine(o.Out, "vocabulary.json");
        var statsPath = Path.Combine(o.Out, "latent_stats.json");
        // a run that starts from a model reads text with that model's vocabulary (its embedding rows are trained for it)
        if (!File.Exists(vocabPath) && init is not null) File.WriteAllText(vocabPath, JsonSerializer.Serialize(init.Manifest.TextIds));
        if (!File.Exists(vocabPath))
        {
            var captions = Enumerable.Range(0, 3000).SelectMany(i =>
            {
                ulong seed = Splits.Seed(Split.Train, i);
                var scene = SceneGenerator.Generate(seed, o.Seconds);
                return WorldExamples.CaptionsOf(i % 3 == 0 ? Variations.MultiShot(scene) : scene).Append(Variations.Edit(scene, seed).Instruction);
            }).Concat(folder?.Entries.Select(e => e.Caption) ?? []);
            File.WriteAllText(vocabPath, JsonSerializer.Serialize(TextTokens.Build(captions, config.TextRows).Ids));
        }
        var text = new TextTokens(JsonSerializer.Deserialize<int[]>(File.ReadAllText(vocabPath)) ?? throw new InvalidDataException($"{vocabPath} is empty"));
        // a run that starts from a model with the same autoencoders keeps that model's latent statistics: its weights
        // were trained on latents scaled by them (statistics re-measured on a few clips would shift every input a little)
        if (!File.Exists(statsPath) && init is not null && init.SameAutoencoders(o.Autoencoders))
        {
            File.WriteAllText(statsPath, JsonSerializer.Serialize(init.Manifest.Stats));
            log($"latent statistics from {init.Folder} (the same autoencoders)");
        }
        if (!File.Exists(statsPath))
        {
            var raw = Enumerable.Range(0, 8).Select(i => examples.EncodeRaw(folder is null ? 1_000_000 + i : i))
                .Select(e => (e.Video, config.VideoLatentChannels, e.Audio, config.AudioLatentChannels)).ToList();
            File.WriteAllText(statsPath, JsonSerializer.Serialize(LatentStats.Measure(raw)));
        }
        var stats = JsonSerializer.Deserialize<LatentStats>(File.ReadAllText(statsPath)) ?? throw new InvalidDataException($"{statsPath} is empty");

        var checkpointFolder = RunFolder.Checkpoint(o.Out);
        var model = new UnifiedTransformer(config, o.Seed);
        if (checkpointFolder is not null) model.Load(Path.Combine(checkpointFolder, "model.safetensors"));
        else if (init is not null) log(init.LoadInto(model));
        model.To(device);
        var ema = new Ema(model, o.EmaDecay);
        var optimizer = new AdamW(model.Parameters(), new AdamWOptions(o.LearningRate, 0.9f, 0.99f, 1e-8f, 0.01f));
        long start = 0, rampFrom = -1;
        if (checkpointFolder is not null)
        {
            start = RunFolder.ReadStep(checkpointFolder);
            ema.Load(Path.Combine(checkpointFolder, "ema.safetensors"));
            var moments = Path.Combine(checkpointFolder, "optimizer.safetensors");
            if (File.Exists(moments)) optimizer.Load(moments);
            else
            {
                // a checkpoint carried without its optimizer state (to a GPU machine, say): the moments start from zero
                // and the learning rate ramps up again over the warmup steps
                rampFrom = start;
                log($"{moments} is absent: AdamW's moments start fresh, the learning rate ramps up again over {o.WarmupSteps} steps");
            }
            log($"resuming from step {start} of {o.Steps}");
        }
        log($"training canter {o.Preset} ({model.ParameterCount:N0} parameters, {text.Rows} text rows) on {(folder is null ? "the world" : folder.Describe())} at {o.Width}x{o.Height}, {examples.Frames} frames, batch {o.Batch}, device {device.Name}, "
            + (edits is null ? "no edit pairs" : $"edit pairs in {o.EditShare:P0} of the steps"));

        var schedule = new CosineSchedule(o.LearningRate, o.WarmupSteps, o.Steps);
        var csv = new TrainingLog(Path.Combine(o.Out, "losses.csv"), ["loss", "video", "audio", "lr", "seconds"], start);
        var clock = Stopwatch.StartNew();
        var sums = new double[3];
        int counted = 0;
        double dataSeconds = 0, drawSeconds = 0;   // waiting for the batch: all of it, and the part spent waiting for drawn clips
        long s = start;
        bool interrupted = false;
        TransformerManifest Manifest(long steps) => new(config, [.. text.Ids], stats, o.Width, o.Height, o.Seconds, steps, o.Seed);
        void Save(long step) => RunFolder.SaveCheckpoint(o.Out, step, dir =>
        {
            model.Save(Path.Combine(dir, "model.safetensors"));
            ema.Save(Path.Combine(dir, "ema.safetensors"));
            optimizer.Save(Path.Combine(dir, "optimizer.safetensors"));
        });
        var prefetch = examples.Renders ? new ClipPrefetcher(examples, Math.Max(4, 3 * o.Batch)) : null;
        // --stop-after ends the run early on the schedule of --steps (a stop that a later command can repeat exactly)
        long end = o.StopAfter > 0 ? o.StopAfter : o.Steps;
        while (s < end)
        {
            if (cancel.IsCancellationRequested) { interrupted = true; break; }
            s++;
            optimizer.LearningRate = schedule.At(s - 1) * (rampFrom < 0 ? 1f : Math.Min(1f, (s - rampFrom) / (float)Math.Max(1, o.WarmupSteps)));
            using (TensorScope.Begin())
            {
                long first = s * o.Batch;
                var dataClock = Stopwatch.StartNew();
                var drawn = prefetch is null ? null : Enumerable.Range(0, o.Batch).Select(j => prefetch.Take(first + j)).ToList();
                drawSeconds += dataClock.Elapsed.TotalSeconds;
                var items = drawn is null
                    ? Enumerable.Range(0, o.Batch).Select(j => examples.Encode(first + j, stats)).ToList()
                    : examples.Encode(drawn, stats);
                dataSeconds += dataClock.Elapsed.TotalSeconds;
                var (loss, video, audio) = Step(model, config, text, items, items.Any(e => e.Source is not null) ? editLayout! : layout, s, o);
                loss.Backward();
                GradClip.ClipByGlobalNorm(model.Parameters().Select(p => p.Value), 1f);
                optimizer.Step();
                model.ZeroGrad();
                ema.Update(s - 1);   // the average starts with the run (at --init's weights or a fresh model)
                sums[0] += loss.Item();
                sums[1] += video;
                sums[2] += audio;
                counted++;
            }
            if (!double.IsFinite(sums[0])) throw new InvalidOperationException($"loss is not finite at step {s}; the last checkpoint is intact, lower --lr and resume");
            if (s % o.LogEvery == 0 || s == end)
            {
                var means = sums.Select(v => v / counted).ToArray();
                csv.Append(s, [.. means, optimizer.LearningRate, clock.Elapsed.TotalSeconds]);
                double perStep = clock.Elapsed.TotalSeconds / (s - start);
                log($"step {s}/{o.Steps}  loss {means[0]:G4}  video {means[1]:G4}  audio {means[2]:G4}  {perStep:F2} s/step ({dataSeconds / (s - start):F2} data, {drawSeconds / (s - start):F2} of it waiting for drawn clips)  eta {TimeSpan.FromSeconds(perStep * (end - s)):hh\\:mm\\:ss}");
                Array.Clear(sums);
                counted = 0;
            }
            if (s % o.CheckpointEvery == 0 && s < end)
            {
                Save(s);
                csv.TryPlot(["loss", "video", "audio"], "unified transformer");
            }
            if (o.SampleEvery > 0 && s % o.SampleEvery == 0) RenderSample(o, ema, codec, Manifest(s), s, log);
        }
        Save(s);
        csv.TryPlot(["loss", "video", "audio"], "unified transformer");
        if (!interrupted)
        {
            var shipped = new UnifiedTransformer(config);
            shipped.To(device);
            ema.CopyTo(shipped);
            ModelBundle.Save(o.Out, shipped, Manifest(s));
            log($"wrote {Path.Combine(o.Out, "transformer.safetensors")} (EMA weights) and transformer.json");
        }
        return s;
    }

    private static void RenderSample(ModelTrainingOptions o, Ema ema, LatentCodec codec, TransformerManifest manifest, long step, Action<string> log)
    {
        var shadow = new UnifiedTransformer(manifest.Config);
        shadow.To(Canter.Tensors.Device.Parse(o.Device));
        ema.CopyTo(shadow);
        var bundle = new ModelBundle(shadow, codec, manifest);
        var scene = SceneGenerator.Generate(Splits.Seed(Split.Validation, 0), o.Seconds);
        var result = Generator.Generate(bundle, new GenerationRequest(Captions.Short(scene), o.Width, o.Height, o.Seconds, Seed: 7, Steps: 8));
        var dir = Path.Combine(o.Out, "samples");
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, $"step-{step}.mp4");
        Mp4Writer.Write(path, result.Video, result.Audio, new Mp4Metadata(Captions.Short(scene), $"canter training sample step={step}"));
        log($"sample: {path} ({Captions.Short(scene)})");
    }

    /// <summary>One batch: builds the sequences of the items' modes, runs the model, returns the loss and its per-modality parts.</summary>
    internal static (Tensor Loss, double Video, double Audio) Step(UnifiedTransformer model, UnifiedConfig config, TextTokens text, IReadOnlyList<Example> items,
        SequenceLayout layout, long step, ModelTrainingOptions o)
    {
        var fb = BuildBatch(config, text, items, layout, step, o.Seed, model.TextTable.Backend, o.TimeShift);
        int b = items.Count, dv = config.VisualTokenSize, da = config.AudioLatentChannels;
        var (pv, pa) = model.Forward(fb.Sequence, layout, layout.Rope());   // (B, Nvideo, Dv), (B, Na, Da)
        var backend = model.TextTable.Backend;
        var videoLoss = WeightedMse(pv, Tensor.FromArray(fb.VideoTarget, [b, layout.VideoCount, dv], backend), fb.VideoWeight, [b, layout.VideoCount, 1]);
        var audioLoss = WeightedMse(pa, Tensor.FromArray(fb.AudioTarget, [b, layout.AudioCount, da], backend), fb.AudioWeight, [b, layout.AudioCount, 1]);
        var loss = Ops.Add(videoLoss, audioLoss);
        return (loss, videoLoss.Item(), audioLoss.Item());
    }

    /// <summary>
    /// The sequences of one batch: each item's mode drawn (an item with a source video is an edit), its prompt (dropped
    /// 10 % of the time for guidance), references, source, flow time and noise; the velocity targets and the loss
    /// weights of the video and audio tokens (0 for clean ones). Conditions (references, an edit's source video) are
    /// put in clean, at flow time 0, and have no target: the model predicts video and audio tokens only.
    /// </summary>
    public static FlowBatch BuildBatch(UnifiedConfig config, TextTokens text, IReadOnlyList<Example> items, SequenceLayout layout, long step, ulong seed,
        IBackend backend, float timeShift = ModelTrainingOptions.DefaultTimeShift)
    {
        int b = items.Count;
        int dv = config.VisualTokenSize, da = config.AudioLatentChannels;
        int perImage = layout.TokensPerImage, videoCount = layout.VideoCount, audioCount = layout.AudioCount, groups = layout.VideoGroups;
        foreach (var item in items)
        {
            if (item.Video.Length != videoCount * dv || item.Audio.Length != audioCount * da)
                throw new InvalidDataException("a training clip's latents do not fit the sequence layout (clips must share size and duration)");
            if (item.VideoWeights is not null && item.VideoWeights.Length != videoCount)
                throw new InvalidDataException($"a training clip has {item.VideoWeights.Length} video token weights for {videoCount} tokens");
            if (item.Source is not null && (!layout.HasSource || item.Source.Length != videoCount * dv))
                throw new InvalidDataException("an edit pair's source video does not fit the sequence layout (the layout needs a source block of the target's size)");
        }
        int n = layout.Count, nv = layout.VisualCount;
        var rows = new int[b * layout.TextCount];
        var visual = new float[b * nv * dv];
        var target = new float[b * videoCount * dv];
        var visualWeight = new float[b * videoCount];
        var audio = new float[b * audioCount * da];
        var audioTarget = new float[b * audioCount * da];
        var audioWeight = new float[b * audioCount];
        var times = new float[b * n];
        var textLengths = new int[b];
        var refsPresent = new int[b];
        var sourcePresent = new bool[b];
        var modes = new Mode[b];
        for (int j = 0; j < b; j++)
        {
            var item = items[j];
            var rng = new WorldRandom(seed * 0x9E3779B97F4A7C15UL ^ (ulong)(step * 131 + j));
            double u = rng.NextFloat();
            var mode = item.Source is not null ? Mode.Edit : u switch
            {
                < 0.40 => Mode.TextToVideo,
                < 0.55 => Mode.ImageToVideo,
                < 0.65 => Mode.FirstLastFrame,
                < 0.75 => Mode.Extension,
                < 0.90 => Mode.ReferenceToVideo,
                _ => Mode.AudioDriven,
            };
            modes[j] = mode;
            string caption = item.Captions[rng.Next(item.Captions.Count)];
            var (r, len) = TextTokens.Encode(caption).Count <= layout.TextCount ? text.ToRows(caption, layout.TextCount) : text.ToRows(item.Captions[0], layout.TextCount);
            if (rng.NextFloat() < 0.1f) { r = new int[layout.TextCount]; len = 0; }   // prompt dropped: the unconditional branch of guidance
            Array.Copy(r, 0, rows, j * layout.TextCount, layout.TextCount);
            textLengths[j] = len;
            // references: most reference-to-video items, and some edits (an edit may come with references of the result)
            int refs = mode == Mode.ReferenceToVideo && rng.NextFloat() >= 0.1f ? Math.Min(item.References.Count, config.MaxReferences) : 0;
            if (mode == Mode.Edit && rng.NextFloat() < 0.3f) refs = Math.Min(item.References.Count, config.MaxReferences);
            refsPresent[j] = refs;
            for (int k = 0; k < refs; k++) Array.Copy(item.References[k], 0, visual, (j * nv + k * perImage) * dv, perImage * dv);
            if (mode == Mode.Edit)
            {
                // the source video, clean at t = 0 (times stay 0), unless dropped for the source's guidance branch
                sourcePresent[j] = rng.NextFloat() >= 0.1f;
                if (sourcePresent[j]) Array.Copy(item.Source!, 0, visual, (j * nv + layout.SourceOffset) * dv, videoCount * dv);
            }

            // logit-normal flow time, shifted toward noise: a clip's many redundant tokens show its layout through all but
            // the last few percent of noise, so only near t = 1 must the prompt alone say what to draw
            double normal = Math.Sqrt(-2 * Math.Log(Math.Max(1e-7, rng.NextFloat()))) * Math.Cos(2 * Math.PI * rng.NextFloat());
            float t = Samplers.Shifted((float)(1 / (1 + Math.Exp(-normal))), timeShift);
            var cleanGroups = new bool[groups];
            if (mode is Mode.ImageToVideo or Mode.FirstLastFrame) cleanGroups[0] = true;
            if (mode == Mode.FirstLastFrame) cleanGroups[groups - 1] = true;
            if (mode == Mode.Extension) for (int g = 0; g < 1 + rng.Next(Math.Max(1, groups / 2)); g++) cleanGroups[g] = true;
            // audio-driven and edit: the given sound (an edit keeps the source's sound) is a clean condition
            bool audioClean = mode is Mode.AudioDriven or Mode.Edit;

            var noise = new float[videoCount * dv + audioCount * da];
            Canter.Tensors.Rng.Philox.FillNormal(noise, seed ^ 0xA5A5UL, (ulong)((step * b + j) * noise.Length), 1f);
            for (int tok = 0; tok < videoCount; tok++)
            {
                bool clean = cleanGroups[tok / perImage];
                int vi = layout.VideoOffset + tok;
                times[j * n + layout.TextCount + vi] = clean ? 0 : t;
                visualWeight[j * videoCount + tok] = clean ? 0 : item.VideoWeights?[tok] ?? 1;
                for (int k = 0; k < dv; k++)
                {
                    float x0 = item.Video[tok * dv + k], e = noise[tok * dv + k];
                    visual[(j * nv + vi) * dv + k] = clean ? x0 : (1 - t) * x0 + t * e;
                    target[(j * videoCount + tok) * dv + k] = e - x0;
                }
            }
            for (int a = 0; a < audioCount; a++)
            {
                times[j * n + layout.TextCount + nv + a] = audioClean ? 0 : t;
                audioWeight[j * audioCount + a] = audioClean ? 0 : 1;
                for (int k = 0; k < da; k++)
                {
                    float x0 = item.Audio[a * da + k], e = noise[videoCount * dv + a * da + k];
                    audio[(j * audioCount + a) * da + k] = audioClean ? x0 : (1 - t) * x0 + t * e;
                    audioTarget[(j * audioCount + a) * da + k] = e - x0;
                }
            }
        }
        var sequence = new SequenceBatch(rows, Tensor.FromArray(visual, [b, nv, dv], backend), Tensor.FromArray(audio, [b, audioCount, da], backend), times,
            layout.Segments(textLengths, refsPresent, sourcePresent));
        return new FlowBatch(sequence, target, visualWeight, audioTarget, audioWeight, modes, sourcePresent);
    }

    /// <summary>Weighted mean squared error over the tokens (clean ones weigh 0): sum(w (p - y)^2) / (sum(w) D).</summary>
    private static Tensor WeightedMse(Tensor prediction, Tensor target, float[] weights, int[] shape)
    {
        float total = Math.Max(1f, weights.Sum()) * prediction.Dim(2);
        var w = Tensor.FromArray(weights, shape, prediction.Backend);
        var squared = Ops.Mul(Ops.Square(Ops.Sub(prediction, target)), w);
        return Ops.Scale(Ops.SumAll(squared), 1f / total);
    }
}
