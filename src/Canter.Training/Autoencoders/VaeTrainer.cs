using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Canter.Models.Autoencoders;
using Canter.Tensors;
using Canter.Tensors.Autograd;
using Canter.Tensors.Nn;
using Canter.Tensors.Optim;
using Canter.Training.Data;
using Canter.Training.Logging;

namespace Canter.Training.Autoencoders;

public enum VaeModality { Video, Audio }

/// <summary>
/// Everything a VAE training run needs. Video items are <see cref="Frames"/> frames (1 + r k) cropped to
/// <see cref="Crop"/> pixels from renders of <see cref="RenderWidth"/> x <see cref="RenderHeight"/>; audio items are
/// <see cref="AudioSeconds"/> of sound. <see cref="Data"/> is "world" or a folder of clips.
/// </summary>
public sealed record VaeTrainingOptions(
    VaeModality Modality,
    string Out,
    int Steps,
    string Data = "world",
    int Batch = 8,
    float LearningRate = 4e-4f,
    int WarmupSteps = 100,
    ulong Seed = 1,
    int CheckpointEvery = 200,
    int LogEvery = 10,
    float KlWeight = 1e-5f,
    int Frames = 9,
    int Crop = 64,
    int RenderWidth = 128,
    int RenderHeight = 128,
    double Fps = 24,
    float AudioSeconds = 1f,
    string Device = "cpu",
    VideoAutoencoderConfig? Video = null,
    AudioAutoencoderConfig? Audio = null,
    string? Init = null,
    float EdgeWeight = 0f,
    bool FreezeEncoder = false,
    int DetailCrops = 1)
{
    public VideoAutoencoderConfig VideoConfig => Video ?? VideoAutoencoderConfig.Default;

    public AudioAutoencoderConfig AudioConfig => Audio ?? AudioAutoencoderConfig.Default;

    /// <summary>Checks every setting and throws <see cref="ArgumentException"/> naming the first bad one.</summary>
    public VaeTrainingOptions Validate()
    {
        if (Steps < 1 || Steps > 10_000_000) throw new ArgumentException($"--steps {Steps} must be in [1, 10000000]");
        if (Batch < 1 || Batch > 256) throw new ArgumentException($"--batch {Batch} must be in [1, 256]");
        if (!(LearningRate > 0 && LearningRate < 1)) throw new ArgumentException($"--lr {LearningRate} must be in (0, 1)");
        if (WarmupSteps < 0) throw new ArgumentException("--warmup must not be negative");
        if (CheckpointEvery < 1 || LogEvery < 1) throw new ArgumentException("--checkpoint-every and --log-every must be positive");
        if (!(KlWeight >= 0 && KlWeight < 1)) throw new ArgumentException($"--kl {KlWeight} must be in [0, 1)");
        if (!(EdgeWeight >= 0 && EdgeWeight <= 100)) throw new ArgumentException($"--edge-weight {EdgeWeight} must be in [0, 100]");
        if (DetailCrops < 1 || DetailCrops > 16) throw new ArgumentException($"--detail-crops {DetailCrops} must be in [1, 16]");
        if (FreezeEncoder && Modality != VaeModality.Video) throw new ArgumentException("--freeze-encoder is for the video autoencoder");
        if (FreezeEncoder && Init is null) throw new ArgumentException("--freeze-encoder needs --init: it fine-tunes the decoder of trained weights, whose latents stay as they were");
        if (string.IsNullOrWhiteSpace(Out)) throw new ArgumentException("--out is required");
        if (Modality == VaeModality.Video)
        {
            var c = VideoConfig.Validate();
            c.LatentFrames(Frames);
            c.CheckSize(Crop, Crop);
            if (Crop > RenderWidth || Crop > RenderHeight) throw new ArgumentException($"--crop {Crop} is larger than the render size {RenderWidth}x{RenderHeight}");
            if (!(Fps > 0 && Fps <= 120)) throw new ArgumentException($"--fps {Fps} must be in (0, 120]");
        }
        else
        {
            var c = AudioConfig.Validate();
            int samples = AudioSamples;
            if (samples < c.Hop || samples % c.Hop != 0)
                throw new ArgumentException($"--audio-seconds {AudioSeconds} gives {samples} samples; it must be a positive multiple of the hop ({c.Hop} samples)");
        }
        return this;
    }

    public int AudioSamples => (int)Math.Round(AudioSeconds * AudioConfig.SampleRate);

    public string WeightsPath => System.IO.Path.Combine(Out, Modality == VaeModality.Video ? "video_vae.safetensors" : "audio_vae.safetensors");
}

/// <summary>What a finished (or interrupted) run reached.</summary>
public sealed record VaeTrainingResult(long Step, double Seconds, double LastLoss, string WeightsPath, bool Interrupted);

/// <summary>
/// Trains the video or audio autoencoder. The output folder holds <c>run.json</c> (the model config; a rerun with
/// another config is refused), <c>checkpoint/</c> (weights, optimizer, step: written to a new folder and swapped in,
/// so a crash never leaves a half checkpoint), <c>losses.csv</c>, <c>losses.png</c>, and at the end the weights with
/// their JSON config. Running the same command again resumes from the checkpoint with the same data.
/// </summary>
public static class VaeTrainer
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public static VaeTrainingResult Run(VaeTrainingOptions o, Action<string> log, CancellationToken cancel = default)
    {
        o.Validate();
        var device = Device.Parse(o.Device);
        Directory.CreateDirectory(o.Out);
        string modelJson = o.Modality == VaeModality.Video ? JsonSerializer.Serialize(o.VideoConfig, Json) : JsonSerializer.Serialize(o.AudioConfig, Json);
        RunFolder.Claim(o.Out, JsonSerializer.Serialize(new { modality = o.Modality.ToString().ToLowerInvariant(), seed = o.Seed, data = RunFolder.DataName(o.Data), init = o.Init, model = JsonDocument.Parse(modelJson).RootElement }, Json));

        Module model = o.Modality == VaeModality.Video ? new VideoAutoencoder(o.VideoConfig, o.Seed) : new AudioAutoencoder(o.AudioConfig, o.Seed);
        var checkpoint = RunFolder.Checkpoint(o.Out);
        long start = 0;
        if (checkpoint is not null)
        {
            start = RunFolder.ReadStep(checkpoint);
            model.Load(Path.Combine(checkpoint, "model.safetensors"));
        }
        else if (o.Init is not null)
        {
            // fine-tuning: start from trained weights, with a fresh optimizer
            Module initial = o.Modality == VaeModality.Video ? AutoencoderFiles.LoadVideo(o.Init) : AutoencoderFiles.LoadAudio(o.Init);
            log(InitFrom(model, initial, o));
        }
        model.To(device);
        // a frozen encoder keeps the latents (and every transformer trained on them) as they were: only the decoder learns
        var trained = o.FreezeEncoder ? model.Parameters().Where(p => p.Name.StartsWith("decoder.", StringComparison.Ordinal)).ToList() : model.Parameters().ToList();
        var optimizer = new AdamW(trained, new AdamWOptions(o.LearningRate, 0.9f, 0.99f, 1e-8f, 0f));
        if (start > 0)
        {
            optimizer.Load(Path.Combine(checkpoint!, "optimizer.safetensors"));
            log($"resuming from step {start} of {o.Steps} ({checkpoint})");
        }
        var schedule = new CosineSchedule(o.LearningRate, o.WarmupSteps, o.Steps);
        var clips = TrainingClips.Open(o.Data);
        log($"training the {o.Modality.ToString().ToLowerInvariant()} autoencoder ({model.ParameterCount:N0} parameters{(o.FreezeEncoder ? $", {trained.Sum(p => (long)p.Value.Count):N0} of them in the decoder, the encoder frozen" : "")}) on {clips.Describe()}, device {device.Name}");

        using var step = o.Modality == VaeModality.Video
            ? (IVaeStep)new VideoStep((VideoAutoencoder)model, new VideoWindows(clips, o.Batch, o.Frames, o.Crop, o.RenderWidth, o.RenderHeight, o.Fps, o.Seed, o.DetailCrops), o.KlWeight, o.EdgeWeight, o.FreezeEncoder)
            : new AudioStep((AudioAutoencoder)model, new AudioWindows(clips, o.Batch, o.AudioSamples, o.AudioConfig.SampleRate, o.Seed), o.KlWeight, device.Backend);
        var csv = new TrainingLog(Path.Combine(o.Out, "losses.csv"), [.. step.Columns, "lr", "grad_norm", "seconds"], start);
        if (Environment.GetEnvironmentVariable("CANTER_PROFILE") == "1") Tape.Profile = [];
        var clock = Stopwatch.StartNew();
        double lastLoss = double.NaN;
        var sums = new double[step.Columns.Count];
        int counted = 0;
        long s = start;
        bool interrupted = false;
        while (s < o.Steps)
        {
            if (cancel.IsCancellationRequested) { interrupted = true; break; }
            s++;
            optimizer.LearningRate = schedule.At(s - 1);
            float gradNorm;
            using (TensorScope.Begin())
            {
                long t0 = Stopwatch.GetTimestamp();
                var (loss, parts) = step.Loss(s, device.Backend);
                long t1 = Stopwatch.GetTimestamp();
                loss.Backward();
                long t2 = Stopwatch.GetTimestamp();
                if (Tape.Profile is not null)
                {
                    Tape.Profile["(forward)"] = Tape.Profile.GetValueOrDefault("(forward)") + Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds;
                    Tape.Profile["(backward)"] = Tape.Profile.GetValueOrDefault("(backward)") + Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds;
                }
                gradNorm = GradClip.ClipByGlobalNorm(trained.Select(p => p.Value), 1f);
                optimizer.Step();
                model.ZeroGrad();
                for (int i = 0; i < parts.Length; i++) sums[i] += parts[i];
                counted++;
                lastLoss = parts[0];
            }
            if (!double.IsFinite(lastLoss)) throw new InvalidOperationException($"loss is {lastLoss} at step {s}; the last checkpoint is intact, lower --lr and resume");
            if (s % o.LogEvery == 0 || s == o.Steps)
            {
                var means = sums.Select(v => v / counted).ToList();
                csv.Append(s, [.. means, optimizer.LearningRate, gradNorm, clock.Elapsed.TotalSeconds]);
                double perStep = clock.Elapsed.TotalSeconds / (s - start);
                log($"step {s}/{o.Steps}  " + string.Join("  ", step.Columns.Select((c, i) => $"{c} {means[i]:G4}")) +
                    $"  lr {optimizer.LearningRate:G3}  {perStep:F2} s/step  eta {TimeSpan.FromSeconds(perStep * (o.Steps - s)):hh\\:mm\\:ss}");
                Array.Clear(sums);
                counted = 0;
            }
            if (s % o.CheckpointEvery == 0 && s < o.Steps) SaveCheckpoint(model, optimizer, s, o, csv, step.Columns);
        }
        SaveCheckpoint(model, optimizer, s, o, csv, step.Columns);
        if (Tape.Profile is not null)
            foreach (var (op, ms) in Tape.Profile.OrderByDescending(p => p.Value)) log($"profile {op}: {ms / Math.Max(1, s - start):F1} ms/step");
        if (!interrupted)
        {
            log($"validation: {step.Validate(o, device.Backend):F4} ({step.ValidationMetric}, 32 windows of {(o.Data == "world" ? "the world's validation split" : "the training folder")})");
            var meta = new Dictionary<string, string> { ["steps"] = s.ToString(CultureInfo.InvariantCulture), ["seed"] = o.Seed.ToString(CultureInfo.InvariantCulture), ["data"] = o.Data };
            if (model is VideoAutoencoder v) AutoencoderFiles.Save(v, o.WeightsPath, meta);
            else AutoencoderFiles.Save((AudioAutoencoder)model, o.WeightsPath, meta);
            log($"wrote {o.WeightsPath}");
        }
        return new VaeTrainingResult(s, clock.Elapsed.TotalSeconds, lastLoss, o.WeightsPath, interrupted);
    }

    /// <summary>
    /// Copies the starting weights into <paramref name="model"/>. The same config loads every tensor. A video config that
    /// differs only in its decoder (a new decoder on a kept encoder, with --freeze-encoder) loads the whole encoder and the
    /// decoder tensors of the same name and shape; the rest start from their initialisation, and the log names them.
    /// </summary>
    private static string InitFrom(Module model, Module initial, VaeTrainingOptions o)
    {
        if (initial is not VideoAutoencoder v || v.Config == o.VideoConfig)
        {
            try { model.LoadStateDict(initial.StateDict()); }
            catch (ArgumentException e) { throw new ArgumentException($"--init {o.Init}: {e.Message}"); }
            return $"starting from {o.Init}";
        }
        var c = o.VideoConfig;
        if (v.Config with { FineUpsamples = c.FineUpsamples, FineChannels = c.FineChannels } != c)
            throw new ArgumentException($"--init {o.Init}: its autoencoder ({v.Config}) differs from this run's ({c}) outside the decoder's fine stages");
        if (!o.FreezeEncoder)
            throw new ArgumentException($"--init {o.Init}: its decoder differs from this run's; a new decoder trains on a kept encoder only with --freeze-encoder");
        var own = model.StateDict();
        var given = initial.StateDict();
        var kept = given.Where(p => own.TryGetValue(p.Key, out var t) && ShapeUtil.SameShape(t.Shape, p.Value.Shape))
            .ToDictionary(p => p.Key, p => p.Value);
        model.LoadStateDict(kept, strict: false);
        var fresh = own.Keys.Where(k => !kept.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
        return $"starting from {o.Init}: the encoder and {kept.Count(p => p.Key.StartsWith("decoder.", StringComparison.Ordinal))} decoder tensors kept, " +
               $"{fresh.Count} new ({string.Join(", ", fresh)})";
    }

    private static void SaveCheckpoint(Module model, AdamW optimizer, long step, VaeTrainingOptions o, TrainingLog csv, IReadOnlyList<string> columns)
    {
        RunFolder.SaveCheckpoint(o.Out, step, dir =>
        {
            model.Save(Path.Combine(dir, "model.safetensors"));
            optimizer.Save(Path.Combine(dir, "optimizer.safetensors"));
        });
        csv.TryPlot(columns, $"{o.Modality.ToString().ToLowerInvariant()} autoencoder");
    }
}

/// <summary>One training step's loss for one modality: the total first, then its parts (as host numbers).</summary>
internal interface IVaeStep : IDisposable
{
    IReadOnlyList<string> Columns { get; }

    (Tensor Loss, double[] Parts) Loss(long step, IBackend backend);

    string ValidationMetric { get; }

    /// <summary>The metric on fixed windows of the world's validation split, with the posterior mean as latent.</summary>
    double Validate(VaeTrainingOptions o, IBackend backend);
}

/// <summary>
/// Video: L1 of the reconstruction, L1 of its horizontal and vertical pixel differences against the original's
/// (weighted by <c>edgeWeight</c>; it keeps edges and small patterns that plain L1 lets blur, since a blurred small
/// subject costs little L1), plus a small KL term.
/// </summary>
internal sealed class VideoStep(VideoAutoencoder model, VideoWindows windows, float klWeight, float edgeWeight, bool freezeEncoder) : IVaeStep
{
    public IReadOnlyList<string> Columns { get; } = ["loss", "l1", "edge", "kl"];

    public (Tensor Loss, double[] Parts) Loss(long step, IBackend backend)
    {
        var x = windows.Make(step, backend);                                  // (B, 3, T, S, S)
        LatentDistribution posterior;
        if (freezeEncoder)
            using (Tape.NoGrad()) posterior = model.Encode(x);
        else posterior = model.Encode(x);
        var recon = model.Decode(posterior.Sample((ulong)step * 31 + 5));     // (B, 3, T, S, S)
        var l1 = Ops.MeanAll(Ops.Abs(Ops.Sub(recon, x)));
        var edge = Ops.Add(EdgeL1(recon, x, 3), EdgeL1(recon, x, 4));
        var kl = posterior.KlMean();
        var loss = Ops.Add(Ops.Add(l1, Ops.Scale(edge, edgeWeight)), Ops.Scale(kl, klWeight));
        return (loss, [loss.Item(), l1.Item(), edge.Item(), kl.Item()]);
    }

    /// <summary>Mean |d(recon) - d(x)| of neighbouring pixels along <paramref name="dim"/> (3: rows, 4: columns).</summary>
    private static Tensor EdgeL1(Tensor recon, Tensor x, int dim)
    {
        int n = x.Dim(dim) - 1;
        var dr = Ops.Sub(Ops.Slice(recon, dim, 1, n), Ops.Slice(recon, dim, 0, n));   // (B, 3, T, S-1, S) or (B, 3, T, S, S-1)
        var dx = Ops.Sub(Ops.Slice(x, dim, 1, n), Ops.Slice(x, dim, 0, n));
        return Ops.MeanAll(Ops.Abs(Ops.Sub(dr, dx)));
    }

    public string ValidationMetric => "video PSNR dB";

    public double Validate(VaeTrainingOptions o, IBackend backend)
    {
        var val = new VideoWindows(VaeValidation.Clips(o), 8, o.Frames, o.Crop, o.RenderWidth, o.RenderHeight, o.Fps, 12345);
        var (sse, count) = VaeValidation.Errors(i => val.Make(i, backend), x => model.Decode(model.Encode(x).Mean),
            (original, back) => Math.Pow((Math.Clamp(back, -1f, 1f) - original) * 127.5, 2));
        return 10 * Math.Log10(255.0 * 255.0 / Math.Max(1e-12, sse / count));
    }

    public void Dispose() { }
}

/// <summary>Audio: waveform L1, multi-resolution log-STFT L1 and a small KL term.</summary>
internal sealed class AudioStep(AudioAutoencoder model, AudioWindows windows, float klWeight, IBackend backend) : IVaeStep
{
    private readonly MultiResolutionStftLoss _spectral = new(backend);
    private readonly EnvelopeLoss _envelope = new(model.Config.SampleRate, backend);

    public IReadOnlyList<string> Columns { get; } = ["loss", "l1", "stft", "envelope", "kl"];

    public (Tensor Loss, double[] Parts) Loss(long step, IBackend b)
    {
        var x = windows.Make(step, b);                                         // (B, 1, L)
        var posterior = model.Encode(x);
        var recon = model.Decode(posterior.Sample((ulong)step * 31 + 7));      // (B, 1, L)
        var l1 = Ops.MeanAll(Ops.Abs(Ops.Sub(recon, x)));
        var stft = _spectral.Forward(recon, x);
        var envelope = _envelope.Forward(recon, x);
        var kl = posterior.KlMean();
        var loss = Ops.Add(Ops.Add(Ops.Add(l1, Ops.Scale(stft, 0.1f)), Ops.Scale(envelope, 0.1f)), Ops.Scale(kl, klWeight));
        return (loss, [loss.Item(), l1.Item(), stft.Item(), envelope.Item(), kl.Item()]);
    }

    public string ValidationMetric => "audio waveform L1";

    public double Validate(VaeTrainingOptions o, IBackend backend)
    {
        var val = new AudioWindows(VaeValidation.Clips(o), 8, o.AudioSamples, o.AudioConfig.SampleRate, 12345);
        var (sum, count) = VaeValidation.Errors(i => val.Make(i, backend), x => model.Decode(model.Encode(x).Mean), (original, back) => Math.Abs(back - original));
        return sum / count;
    }

    public void Dispose()
    {
        _spectral.Dispose();
        _envelope.Dispose();
    }
}

/// <summary>The end-of-run check shared by both modalities: four fixed validation batches through the autoencoder.</summary>
internal static class VaeValidation
{
    /// <summary>The world's validation split, or for a run on a folder that folder's clips (it has no held-out part).</summary>
    public static TrainingClips Clips(VaeTrainingOptions o) => o.Data == "world" ? new WorldClips(4f, Canter.World.Split.Validation) : new FolderClips(o.Data);

    /// <summary>Sum of <paramref name="error"/>(original, reconstruction) over every value of four batches, and the count.</summary>
    public static (double Sum, long Count) Errors(Func<long, Tensor> batch, Func<Tensor, Tensor> reconstruct, Func<float, float, double> error)
    {
        double sum = 0;
        long count = 0;
        using var _ = Tape.NoGrad();
        for (int i = 0; i < 4; i++)
        {
            using var scope = TensorScope.Begin();
            var x = batch(i);
            var a = x.ToArray();
            var b = reconstruct(x).ToArray();
            for (int k = 0; k < a.Length; k++) sum += error(a[k], b[k]);
            count += a.Length;
        }
        return (sum, count);
    }
}
