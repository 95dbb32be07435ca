using System.Diagnostics;
using Canter.Media;
using Canter.Models.Unified;
using Canter.Tensors;
using Canter.Tensors.Autograd;

namespace Canter.Training.Unified;

/// <summary>
/// Everything that decides a generation. The same request on the same model gives the same frames and samples.
/// <see cref="Source"/> asks for an edit of that clip (frames at the request's size and 24 fps, at least as long as the
/// request) by the prompt's instruction; its sound (<see cref="SourceAudio"/>, at the audio codec's rate) is kept.
/// <see cref="SourceGuidance"/> 1 reads the source plainly; above 1 pushes further toward it (one more branch).
/// <see cref="Sampler"/> is one of <see cref="Samplers.Names"/>. <see cref="GuidanceUntil"/> T limits classifier-free
/// guidance to flow times t >= T: below T only the conditioned branch runs (batch 1, about half the cost of an evaluation);
/// 0 guides every evaluation. <see cref="GuidanceEvery"/> N runs every branch on every N-th guided evaluation only; on the
/// others the conditioned branch runs alone and the last guidance correction (guided minus conditioned velocity) is
/// added to it, so those cost about half (1: every branch on every guided evaluation). <see cref="Shift"/> bends the time
/// schedule toward noise: t = s u / (1 + (s - 1) u) for evenly spaced u (1: even steps in t). <see cref="EditStrength"/>
/// S below 1 (an edit only) starts the flow at t = S from the source's own tokens, noised to that time
/// ((1 - S) source + S noise), and walks the same shifted schedule from there to 0 in <see cref="Steps"/> steps: the
/// lower S, the more of the source's layout and motion the result keeps by construction (1: from pure noise).
/// </summary>
public sealed record GenerationRequest(
    string Prompt,
    int Width = 128,
    int Height = 128,
    float Seconds = 4f,
    ulong Seed = 0,
    int Steps = 8,
    float Guidance = 3f,
    float ReferenceGuidance = 1.5f,
    string Negative = "",
    bool Audio = true,
    string Sampler = Samplers.Default,
    RgbImage? FirstFrame = null,
    RgbImage? LastFrame = null,
    IReadOnlyList<RgbImage>? References = null,
    float[]? DrivingAudio = null,
    VideoClip? Extend = null,
    float Shift = GenerationRequest.DefaultShift,
    VideoClip? Source = null,
    float[]? SourceAudio = null,
    float SourceGuidance = 1f,
    float GuidanceUntil = 0f,
    int GuidanceEvery = GenerationRequest.DefaultGuidanceEvery,
    float EditStrength = 1f)
{
    /// <summary>The guidance refresh interval of a request that names none (<see cref="GuidanceEvery"/>).</summary>
    public const int DefaultGuidanceEvery = 3;

    /// <summary>Bounds of <see cref="GuidanceEvery"/>.</summary>
    public const int MaxGuidanceEvery = 8;

    /// <summary>Upper bound of every guidance scale (text, reference, source); the lower bound is 0.</summary>
    public const float MaxGuidance = 20f;

    /// <summary>The schedule shift of every generation but the sampler bench's candidates.</summary>
    public const float DefaultShift = 3f;

    /// <summary>Bounds of <see cref="Shift"/>.</summary>
    public const float MinShift = 0.25f, MaxShift = 16f;

    /// <summary>The lowest <see cref="EditStrength"/>: below it the result is the source's reconstruction.</summary>
    public const float MinEditStrength = 0.05f;
}

public sealed record GenerationResult(VideoClip Video, AudioTrack? Audio, double Seconds);

/// <summary>
/// What the sampler ends with, before decoding: the normalised video tokens (latent frames in order) and audio tokens
/// (the given ones where the sound was a condition), the model evaluations it ran and the guidance branches they ran
/// in all (an evaluation with guidance off runs one).
/// </summary>
public sealed record SampledTokens(float[] Video, float[] Audio, bool AudioIsCondition, int Evaluations, int BranchEvaluations);

/// <summary>
/// Samples the rectified flow of the unified transformer: every noisy token starts as seeded noise at t = 1 and an ODE
/// solver (Euler; Heun's second order; or a second-order multistep solver, one evaluation a step: <see cref="Samplers"/>) walks a shifted schedule to t = 0. Condition tokens (first or last frame,
/// references, the clip to extend, the driving sound, an edit's source video and its sound) sit clean at t = 0 the whole
/// time. Guidance mixes the velocity without the prompt (or with the negative prompt), with the prompt, and with the
/// prompt and references; an edit has its source in all three, and with a source guidance other than 1 one more branch,
/// the negative prompt without the source: v = u + g_text (t - u) + g_ref (r - t) + (g_source - 1) (u - u_without_source).
/// </summary>
public static class Generator
{
    /// <summary>Checks a request against a model before any compute; throws ArgumentException with the reason.</summary>
    public static void Validate(ModelBundle model, GenerationRequest r)
    {
        var c = model.Manifest.Config;
        int unit = model.Codec.Video.Config.SpatialRatio * c.Patch;
        if (string.IsNullOrWhiteSpace(r.Prompt)) throw new ArgumentException("the prompt is empty");
        int tokens = TextTokens.Encode(r.Prompt).Count;
        if (tokens > c.TextTokens) throw new ArgumentException($"the prompt is {tokens} tokens; this model reads at most {c.TextTokens}");
        if (TextTokens.Encode(r.Negative).Count > c.TextTokens) throw new ArgumentException($"the negative prompt is over {c.TextTokens} tokens");
        if (r.Width < unit || r.Height < unit || r.Width % unit != 0 || r.Height % unit != 0 || r.Width > 1024 || r.Height > 1024)
            throw new ArgumentException($"size {r.Width}x{r.Height}: this model makes sizes that are multiples of {unit}, up to 1024x1024");
        if (!(r.Seconds >= 0.5f && r.Seconds <= 15f)) throw new ArgumentException($"duration {r.Seconds} s must be in [0.5, 15]");
        if (r.Steps < 1 || r.Steps > 200) throw new ArgumentException($"steps {r.Steps} must be in [1, 200]");
        const float max = GenerationRequest.MaxGuidance;
        if (!(r.Guidance >= 0 && r.Guidance <= max) || !(r.ReferenceGuidance >= 0 && r.ReferenceGuidance <= max) || !(r.SourceGuidance >= 0 && r.SourceGuidance <= max))
            throw new ArgumentException($"guidance scales must be in [0, {max}]");
        if (!Samplers.IsKnown(r.Sampler)) throw new ArgumentException($"sampler '{r.Sampler}' is not {Samplers.Listed}");
        if (!(r.GuidanceUntil >= 0 && r.GuidanceUntil <= 1)) throw new ArgumentException($"guidance-until {r.GuidanceUntil} must be a flow time in [0, 1]");
        if (r.GuidanceEvery is < 1 or > GenerationRequest.MaxGuidanceEvery)
            throw new ArgumentException($"guidance-every {r.GuidanceEvery} must be a whole number in [1, {GenerationRequest.MaxGuidanceEvery}]");
        if (!(r.Shift >= GenerationRequest.MinShift && r.Shift <= GenerationRequest.MaxShift))
            throw new ArgumentException($"schedule shift {r.Shift} must be in [{GenerationRequest.MinShift}, {GenerationRequest.MaxShift}]");
        int refs = r.References?.Count ?? 0;
        if (refs > c.MaxReferences) throw new ArgumentException($"{refs} reference images; this model takes at most {c.MaxReferences}");
        if (r.Extend is not null && (r.FirstFrame is not null || r.LastFrame is not null)) throw new ArgumentException("--extend cannot be combined with --image or --last-frame");
        if (r.DrivingAudio is not null && !r.Audio) throw new ArgumentException("--audio (a driving track) cannot be combined with --no-audio");
        if (r.Source is not null || r.SourceAudio is not null) ValidateEdit(model, r);
        if (!(r.EditStrength >= GenerationRequest.MinEditStrength && r.EditStrength <= 1))
            throw new ArgumentException($"edit strength {r.EditStrength} must be in [{GenerationRequest.MinEditStrength}, 1]");
        if (r.EditStrength != 1 && r.Source is null) throw new ArgumentException("edit strength applies to an edit only (give the source video with --edit)");
        foreach (var img in new[] { r.FirstFrame, r.LastFrame }.Concat(r.References ?? []))
            if (img is not null && (img.Width != r.Width || img.Height != r.Height)) throw new ArgumentException($"condition images must be {r.Width}x{r.Height} (read them at that size)");
    }

    /// <summary>The edit part of <see cref="Validate"/>: the model has edit mode, the source fits the request, nothing clashes with it.</summary>
    private static void ValidateEdit(ModelBundle model, GenerationRequest r)
    {
        var c = model.Manifest.Config;
        if (!c.Edit) throw new ArgumentException(UnifiedConfig.NoEditMode);
        if (r.Source is null) throw new ArgumentException("a source sound needs its source video (edit)");
        if (r.FirstFrame is not null || r.LastFrame is not null || r.Extend is not null || r.DrivingAudio is not null)
            throw new ArgumentException("--edit cannot be combined with --image, --last-frame, --extend or --audio (references are allowed)");
        if (r.Source.Width != r.Width || r.Source.Height != r.Height) throw new ArgumentException($"the source video must be {r.Width}x{r.Height} (read it at that size)");
        if (Math.Abs(r.Source.FrameRate - c.FrameRate) > 1e-6) throw new ArgumentException($"the source video must be read at {c.FrameRate} frames per second");
        // a clip of S seconds has S x 24 frames, the model's clips 1 + 4 k: a source short of less than one latent frame
        // (a 4 s clip for a 4 s edit) has its last frame held
        int frames = FrameCount(c, r.Seconds);
        if (r.Source.Frames.Count < frames - (c.TemporalRatio - 1))
        {
            // the longest edit this source covers: 1 + r k frames with at most r - 1 of them held
            double longest = (r.Source.Frames.Count + c.TemporalRatio - 2) / c.TemporalRatio * c.TemporalRatio / c.FrameRate;
            throw new ArgumentException($"the source video has {r.Source.Frames.Count} frames ({r.Source.Frames.Count / r.Source.FrameRate:0.##} s); "
                + $"an edit of {r.Seconds} s needs {frames - (c.TemporalRatio - 1)}: "
                + (longest >= 0.5 ? $"ask for --seconds {Math.Ceiling(longest * 100) / 100:0.##} or less" : "it is too short to edit (0.5 s at least)"));
        }
    }

    /// <summary>Frames of a clip of <paramref name="seconds"/>: the largest 1 + r k that fits.</summary>
    private static int FrameCount(UnifiedConfig c, float seconds) => 1 + (int)Math.Floor(seconds * c.FrameRate / c.TemporalRatio) * c.TemporalRatio;

    /// <summary>
    /// Generates one clip. <paramref name="progress"/> hears (step, steps) after each solver step; <paramref name="cancel"/> is
    /// checked before every transformer evaluation, so a cancelled generation stops within one step with an
    /// <see cref="OperationCanceledException"/>.
    /// </summary>
    public static GenerationResult Generate(ModelBundle model, GenerationRequest r, Action<int, int>? progress = null, CancellationToken cancel = default)
    {
        var clock = Stopwatch.StartNew();
        var run = Run(model, r, progress, cancel);
        var c = model.Manifest.Config;
        int dv = c.VisualTokenSize, rate = model.Codec.Audio.Config.SampleRate;

        // tokens -> latents -> frames and sound
        cancel.ThrowIfCancellationRequested();
        var videoLatent = model.Stats.VideoLatent(run.Visual.AsSpan(run.Layout.VideoOffset * dv), c.Patch, run.Groups, run.LatentHeight, run.LatentWidth);
        var pictures = model.Codec.DecodeFrames(videoLatent, run.Groups, run.LatentHeight, run.LatentWidth, run.Frames, r.Width, r.Height);
        AudioTrack? sound = null;
        if (r.Audio)
        {
            int samples = run.Samples;
            if (run.Given is { } given) sound = new AudioTrack(rate, given.Take(samples).Concat(new float[Math.Max(0, samples - given.Length)]).ToArray());
            else
            {
                sound = new AudioTrack(rate, model.Codec.DecodeAudio(model.Stats.AudioLatent(run.Audio), run.AudioCount, samples));
            }
        }
        return new GenerationResult(new VideoClip(r.Width, r.Height, c.FrameRate, pictures), sound, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Samples as <see cref="Generate"/> does and stops before decoding: the final tokens and what they cost. For
    /// measuring samplers against each other without the decoders' time (<c>canter bench sampler</c>).
    /// </summary>
    public static SampledTokens Sample(ModelBundle model, GenerationRequest r, Action<int, int>? progress = null, CancellationToken cancel = default)
    {
        var run = Run(model, r, progress, cancel);
        int dv = model.Manifest.Config.VisualTokenSize;
        return new SampledTokens(run.Visual[(run.Layout.VideoOffset * dv)..], run.Audio, run.Given is not null, run.Evaluations, run.BranchEvaluations);
    }

    /// <summary>The sampler's final state (every visual token, the audio tokens) and the geometry decoding needs.</summary>
    private sealed record Sampling(float[] Visual, float[] Audio, SequenceLayout Layout, int Frames, int Groups, int LatentHeight, int LatentWidth,
        int AudioCount, int Samples, float[]? Given, int Evaluations, int BranchEvaluations);

    /// <summary>Validates, builds the conditions and the noise, and walks the flow from t = 1 to 0.</summary>
    private static Sampling Run(ModelBundle model, GenerationRequest r, Action<int, int>? progress, CancellationToken cancel)
    {
        Validate(model, r);
        cancel.ThrowIfCancellationRequested();
        var c = model.Manifest.Config;
        var vae = model.Codec.Video.Config;
        int p = c.Patch, s = vae.SpatialRatio;
        int frames = FrameCount(c, r.Seconds);
        int groups = vae.LatentFrames(frames), lh = r.Height / s, lw = r.Width / s;
        int hop = model.Codec.Audio.Config.Hop, rate = model.Codec.Audio.Config.SampleRate;
        int samples = (int)Math.Round(r.Seconds * rate / hop) * hop, audioCount = samples / hop;
        int refs = r.References?.Count ?? 0;
        bool edit = r.Source is not null;
        // only the reference slots the request fills, and the text positions its longer prompt fills: empty slots and
        // prompt padding are masked out, so leaving them out changes nothing but the cost
        var (promptRows, promptLength) = model.Text.ToRows(r.Prompt, c.TextTokens);
        var (negativeRows, negativeLength) = model.Text.ToRows(r.Negative, c.TextTokens);
        int textCount = Math.Max(1, Math.Max(promptLength, negativeLength));
        promptRows = promptRows[..textCount];
        negativeRows = negativeRows[..textCount];
        var layout = new SequenceLayout(c, groups, lh / p, lw / p, audioCount, refs, source: edit, textTokens: textCount);
        int dv = c.VisualTokenSize, da = c.AudioLatentChannels;

        // condition tokens and which visual / audio tokens are clean
        var visualClean = new float[layout.VisualCount * dv];
        var visualIsClean = new bool[layout.VisualCount];
        for (int i = 0; i < refs; i++)
        {
            var tokens = FrameTokens(model, [r.References![i].Pixels], r.Width, r.Height);
            Array.Copy(tokens, 0, visualClean, i * layout.TokensPerImage * dv, tokens.Length);
            for (int k = 0; k < layout.TokensPerImage; k++) visualIsClean[i * layout.TokensPerImage + k] = true;
        }
        int perGroup = layout.TokensPerImage;
        void SetGroup(int g, float[] tokens, int from)
        {
            Array.Copy(tokens, from * perGroup * dv, visualClean, (layout.VideoOffset + g * perGroup) * dv, perGroup * dv);
            for (int k = 0; k < perGroup; k++) visualIsClean[layout.VideoOffset + g * perGroup + k] = true;
        }
        if (r.FirstFrame is not null) SetGroup(0, FrameTokens(model, [r.FirstFrame.Pixels], r.Width, r.Height), 0);
        // the last latent frame of a still clip of the last frame is what a video ending on it encodes to
        if (r.LastFrame is not null)
            SetGroup(groups - 1, FrameTokens(model, Enumerable.Repeat(r.LastFrame.Pixels, frames).ToList(), r.Width, r.Height), groups - 1);
        if (edit)
        {
            // the source's latent frames sit on the positions of the target's, clean, marked as source by their kind
            var sourceFrames = Enumerable.Range(0, frames).Select(f => r.Source!.Frames[Math.Min(f, r.Source.Frames.Count - 1)]).ToList();
            var tokens = FrameTokens(model, sourceFrames, r.Width, r.Height);
            Array.Copy(tokens, 0, visualClean, layout.SourceOffset * dv, tokens.Length);
            for (int k = 0; k < layout.SourceCount; k++) visualIsClean[layout.SourceOffset + k] = true;
        }
        if (r.Extend is not null)
        {
            // the clip's first latent frames (at most all but one) become clean conditions; the rest continues it
            int keep = Math.Min(groups - 1, 1 + (r.Extend.Frames.Count - 1) / c.TemporalRatio);
            if (keep < 1) throw new ArgumentException("the clip to extend is too short, or the duration leaves nothing to add");
            var tokens = FrameTokens(model, r.Extend.Frames.Take(vae.VideoFrames(keep)).ToList(), r.Width, r.Height);
            for (int g = 0; g < keep; g++) SetGroup(g, tokens, g);
        }
        // seeded noise for every token; clean ones are overwritten by their condition
        var visual = new float[layout.VisualCount * dv];
        var audio = new float[audioCount * da];
        Canter.Tensors.Rng.Philox.FillNormal(visual, r.Seed, 0, 1f);
        Canter.Tensors.Rng.Philox.FillNormal(audio, r.Seed, (ulong)visual.Length, 1f);
        for (int i = 0; i < layout.VisualCount; i++)
            if (visualIsClean[i] || (i < layout.VideoOffset)) Array.Copy(visualClean, i * dv, visual, i * dv, dv);
        // an edit below full strength starts at t = S from its source's tokens (same positions), noised to that time
        float start = r.EditStrength;
        if (edit && start < 1)
            for (int k = 0; k < layout.VideoCount; k++)
            {
                int at = (layout.VideoOffset + k) * dv, from = (layout.SourceOffset + k) * dv;
                for (int j = 0; j < dv; j++) visual[at + j] = (1 - start) * visualClean[from + j] + start * visual[at + j];
            }
        // a driving track, or an edit's source sound, is a clean condition and comes out as given
        var given = r.DrivingAudio ?? r.SourceAudio;
        bool audioIsClean = given is not null;
        if (audioIsClean)
        {
            var track = new float[samples];
            Array.Copy(given!, track, Math.Min(samples, given!.Length));
            audio = model.Stats.AudioTokens(model.Codec.EncodeAudio(track));
        }

        // guidance branches: [negative/empty prompt], [prompt without references], [prompt with references], each with the
        // source when editing; then [negative/empty prompt without the source] for a source guidance other than 1
        var allBranches = new List<(int[] Rows, int Length, int References, bool Source)>
            { (negativeRows, negativeLength, 0, edit), (promptRows, promptLength, 0, edit) };
        if (refs > 0) allBranches.Add((promptRows, promptLength, refs, edit));
        bool sourceBranch = edit && r.SourceGuidance != 1f;
        if (sourceBranch) allBranches.Add((negativeRows, negativeLength, 0, false));
        var segments = layout.Segments(allBranches.Select(b => b.Length).ToList(), allBranches.Select(b => b.References).ToList(), allBranches.Select(b => b.Source).ToList());
        var guidance = new Guidance(r.Guidance, refs > 0 ? r.ReferenceGuidance : null, sourceBranch ? r.SourceGuidance : null);
        // below GuidanceUntil only the conditioned branch runs: the prompt with the references (and the source), which is
        // what the mix gives with every scale at 1
        int conditionedIndex = refs > 0 ? 2 : 1;
        var conditioned = allBranches.GetRange(conditionedIndex, 1);
        var conditionedSegments = layout.Segments([conditioned[0].Length], [conditioned[0].References], [conditioned[0].Source]);
        var rope = layout.Rope();
        int evaluations = 0, branchEvaluations = 0, guidedEvaluations = 0;
        // the guidance correction of the last evaluation that ran every branch: mixed minus conditioned velocity
        float[]? videoCorrection = null, audioCorrection = null;

        float[] Velocity(float[] visual, float[] audio, float t, out float[] audioVelocity)
        {
            cancel.ThrowIfCancellationRequested();
            using var scope = TensorScope.Begin();
            using var noGrad = Tape.NoGrad();
            bool guided = t >= r.GuidanceUntil;
            // between refreshes (every GuidanceEvery-th guided evaluation) the conditioned branch runs alone and the last
            // correction stands in for the other branches
            bool reuse = guided && videoCorrection is not null && guidedEvaluations % r.GuidanceEvery != 0;
            if (guided) guidedEvaluations++;
            bool full = guided && !reuse;   // every branch runs
            var branches = full ? allBranches : conditioned;
            evaluations++;
            branchEvaluations += branches.Count;
            int nb = branches.Count, n = layout.Count;
            var times = new float[nb * n];
            var vis = new float[nb * visual.Length];
            var aud = new float[nb * audio.Length];
            for (int b = 0; b < nb; b++)
            {
                Array.Copy(visual, 0, vis, b * visual.Length, visual.Length);
                Array.Copy(audio, 0, aud, b * audio.Length, audio.Length);
                for (int i = 0; i < layout.VisualCount; i++)
                    times[b * n + layout.TextCount + i] = i < layout.VideoOffset || visualIsClean[i] ? 0 : t;
                for (int j = 0; j < audioCount; j++) times[b * n + layout.TextCount + layout.VisualCount + j] = audioIsClean ? 0 : t;
            }
            var backend = model.Transformer.TextTable.Backend;
            var batch = new SequenceBatch(branches.SelectMany(b => b.Rows).ToArray(), Tensor.FromArray(vis, [nb, layout.VisualCount, dv], backend),
                Tensor.FromArray(aud, [nb, audioCount, da], backend), times, full ? segments : conditionedSegments);
            var (pv, pa) = model.Transformer.Forward(batch, layout, rope);
            var v = pv.ToArray();
            var a = pa.ToArray();
            if (reuse)
            {
                AddScaled(v, videoCorrection!, 1f);
                AddScaled(a, audioCorrection!, 1f);
            }
            if (!full)
            {
                audioVelocity = a;
                return v;
            }
            int videoSize = layout.VideoCount * dv;
            audioVelocity = guidance.Mix(a, audio.Length);
            var mixed = guidance.Mix(v, videoSize);
            if (r.GuidanceEvery > 1)
            {
                // mixed - conditioned
                videoCorrection = (float[])mixed.Clone();
                AddScaled(videoCorrection, v.AsSpan(conditionedIndex * videoSize, videoSize), -1f);
                audioCorrection = (float[])audioVelocity.Clone();
                AddScaled(audioCorrection, a.AsSpan(conditionedIndex * audio.Length, audio.Length), -1f);
            }
            return mixed;
        }

        // evenly spaced u from the start's u (1 for t = 1) to 0, bent by the shift
        float startU = start == 1 ? 1f : Samplers.Unshifted(start, r.Shift);
        var schedule = Enumerable.Range(0, r.Steps + 1).Select(i => Samplers.Shifted(startU * (1f - (float)i / r.Steps), r.Shift)).ToArray();
        bool multistep = r.Sampler is Samplers.DpmPlusPlus2M or Samplers.AdamsBashforth2;
        var videoSolver = new MultistepSolver(r.Sampler);
        var audioSolver = new MultistepSolver(r.Sampler);
        for (int step = 0; step < r.Steps; step++)
        {
            float t = schedule[step], next = schedule[step + 1], dt = next - t;
            var v1 = Velocity(visual, audio, t, out var a1);
            if (r.Sampler == Samplers.Heun && next > 0)
            {
                // Heun: a trial Euler step, the velocity there, and the average of the two
                var vx = (float[])visual.Clone();
                var ax = (float[])audio.Clone();
                Step(vx, v1, dt, visualIsClean, dv, layout.VideoOffset);
                if (!audioIsClean) AddScaled(ax, a1, dt);
                var v2 = Velocity(vx, ax, next, out var a2);
                for (int i = 0; i < v1.Length; i++) v1[i] = 0.5f * (v1[i] + v2[i]);
                for (int i = 0; i < a1.Length; i++) a1[i] = 0.5f * (a1[i] + a2[i]);
            }
            else if (multistep)
            {
                // one evaluation a step: the previous one supplies the second order
                v1 = videoSolver.Direction(visual.AsSpan(layout.VideoOffset * dv), v1, t, next);
                if (!audioIsClean) a1 = audioSolver.Direction(audio, a1, t, next);
            }
            Step(visual, v1, dt, visualIsClean, dv, layout.VideoOffset);
            if (!audioIsClean) AddScaled(audio, a1, dt);
            progress?.Invoke(step + 1, r.Steps);
        }

        return new Sampling(visual, audio, layout, frames, groups, lh, lw, audioCount, samples, given, evaluations, branchEvaluations);
    }

    /// <summary>x += dt v over the noisy video tokens (clean ones, the reference slots and the source stay); v covers the video tokens only.</summary>
    private static void Step(float[] x, float[] v, float dt, bool[] clean, int dim, int videoOffset)
    {
        for (int token = videoOffset; token < clean.Length; token++)
            if (!clean[token]) AddScaled(x.AsSpan(token * dim, dim), v.AsSpan((token - videoOffset) * dim, dim), dt);
    }

    private static void AddScaled(Span<float> x, ReadOnlySpan<float> v, float dt)
    {
        for (int i = 0; i < x.Length; i++) x[i] += dt * v[i];
    }

    /// <summary>
    /// Classifier-free guidance over the branches' velocities, concatenated in branch order: u (negative prompt), t (prompt),
    /// then r (prompt and references) when <see cref="Reference"/> is set, then u0 (negative prompt without the source)
    /// when <see cref="Source"/> is set.
    /// </summary>
    private sealed record Guidance(float Text, float? Reference, float? Source)
    {
        public float[] Mix(float[] all, int size)
        {
            int branches = 2 + (Reference is null ? 0 : 1) + (Source is null ? 0 : 1);
            if (all.Length != branches * size) throw new InvalidOperationException($"{all.Length} velocities for {branches} branches of {size}");
            var v = new float[size];
            int without = Reference is null ? 2 : 3;
            for (int i = 0; i < size; i++)
            {
                float u = all[i], t = all[size + i];
                v[i] = u + Text * (t - u);
                if (Reference is { } g) v[i] += g * (all[2 * size + i] - t);
                if (Source is { } s) v[i] += (s - 1) * (u - all[without * size + i]);
            }
            return v;
        }
    }

    /// <summary>RGB frames (1 + r k of them) -> normalised visual tokens of their latent frames.</summary>
    private static float[] FrameTokens(ModelBundle model, IReadOnlyList<byte[]> frames, int width, int height)
    {
        int s = model.Codec.Video.Config.SpatialRatio;
        return model.Stats.VideoTokens(model.Codec.EncodeFrames(frames, width, height), model.Manifest.Config.Patch, height / s, width / s);
    }
}
