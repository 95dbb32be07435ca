using System.Diagnostics;
using Canter.Media;
using Canter.Models.Unified;
using Canter.Tensors;
using Canter.Tensors.Autograd;

namespace Canter.Training.Unified;

/// <summary>Everything that decides a generation. The same request on the same model gives the same frames and samples.</summary>
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
    string Sampler = "heun",
    RgbImage? FirstFrame = null,
    RgbImage? LastFrame = null,
    IReadOnlyList<RgbImage>? References = null,
    float[]? DrivingAudio = null,
    VideoClip? Extend = null,
    float Shift = 3f);

public sealed record GenerationResult(VideoClip Video, AudioTrack? Audio, double Seconds);

/// <summary>
/// Samples the rectified flow of the unified transformer: every noisy token starts as seeded noise at t = 1 and an ODE
/// solver (Euler, or Heun's second order) walks a shifted schedule to t = 0. Condition tokens (first or last frame,
/// references, the clip to extend, the driving sound) sit clean at t = 0 the whole time. Guidance mixes the velocity
/// without the prompt (or with the negative prompt), with the prompt, and with the prompt and references.
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
        if (!(r.Guidance >= 0 && r.Guidance <= 20) || !(r.ReferenceGuidance >= 0 && r.ReferenceGuidance <= 20)) throw new ArgumentException("guidance scales must be in [0, 20]");
        if (r.Sampler is not ("euler" or "heun")) throw new ArgumentException($"sampler '{r.Sampler}' is not euler or heun");
        int refs = r.References?.Count ?? 0;
        if (refs > c.MaxReferences) throw new ArgumentException($"{refs} reference images; this model takes at most {c.MaxReferences}");
        if (r.Extend is not null && (r.FirstFrame is not null || r.LastFrame is not null)) throw new ArgumentException("--extend cannot be combined with --image or --last-frame");
        if (r.DrivingAudio is not null && !r.Audio) throw new ArgumentException("--audio (a driving track) cannot be combined with --no-audio");
        foreach (var img in new[] { r.FirstFrame, r.LastFrame }.Concat(r.References ?? []))
            if (img is not null && (img.Width != r.Width || img.Height != r.Height)) throw new ArgumentException($"condition images must be {r.Width}x{r.Height} (read them at that size)");
    }

    /// <summary>
    /// Generates one clip. <paramref name="progress"/> hears (step, steps) after each solver step; <paramref name="cancel"/> is
    /// checked before every transformer evaluation, so a cancelled generation stops within one step with an
    /// <see cref="OperationCanceledException"/>.
    /// </summary>
    public static GenerationResult Generate(ModelBundle model, GenerationRequest r, Action<int, int>? progress = null, CancellationToken cancel = default)
    {
        Validate(model, r);
        cancel.ThrowIfCancellationRequested();
        var clock = Stopwatch.StartNew();
        var c = model.Manifest.Config;
        var vae = model.Codec.Video.Config;
        int p = c.Patch, s = vae.SpatialRatio;
        int frames = 1 + (int)Math.Floor(r.Seconds * c.FrameRate / c.TemporalRatio) * c.TemporalRatio;
        int groups = vae.LatentFrames(frames), lh = r.Height / s, lw = r.Width / s;
        int hop = model.Codec.Audio.Config.Hop, rate = model.Codec.Audio.Config.SampleRate;
        int samples = (int)Math.Round(r.Seconds * rate / hop) * hop, audioCount = samples / hop;
        int refs = r.References?.Count ?? 0;
        var layout = new SequenceLayout(c, groups, lh / p, lw / p, audioCount, c.MaxReferences);
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
        bool audioIsClean = r.DrivingAudio is not null;
        if (audioIsClean)
        {
            var track = new float[samples];
            Array.Copy(r.DrivingAudio!, track, Math.Min(samples, r.DrivingAudio!.Length));
            audio = model.Stats.AudioTokens(model.Codec.EncodeAudio(track));
        }

        // guidance branches: [negative/empty prompt], [prompt without references], [prompt with references]
        var (promptRows, promptLength) = model.Text.ToRows(r.Prompt, c.TextTokens);
        var (negativeRows, negativeLength) = model.Text.ToRows(r.Negative, c.TextTokens);
        var branches = new List<(int[] Rows, int Length, int References)> { (negativeRows, negativeLength, 0), (promptRows, promptLength, 0) };
        if (refs > 0) branches.Add((promptRows, promptLength, refs));
        var segments = layout.Segments(branches.Select(b => b.Length).ToList(), branches.Select(b => b.References).ToList());
        var rope = layout.Rope();

        float[] Velocity(float[] visual, float[] audio, float t, out float[] audioVelocity)
        {
            cancel.ThrowIfCancellationRequested();
            using var scope = TensorScope.Begin();
            using var noGrad = Tape.NoGrad();
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
                Tensor.FromArray(aud, [nb, audioCount, da], backend), times, segments);
            var (pv, pa) = model.Transformer.Forward(batch, layout, rope);
            var v = pv.ToArray();
            var a = pa.ToArray();
            audioVelocity = Mix(a, audio.Length, refs > 0, r.Guidance, r.ReferenceGuidance);
            return Mix(v, visual.Length, refs > 0, r.Guidance, r.ReferenceGuidance);
        }

        var schedule = Enumerable.Range(0, r.Steps + 1).Select(i => Shifted(1f - (float)i / r.Steps, r.Shift)).ToArray();
        for (int step = 0; step < r.Steps; step++)
        {
            float t = schedule[step], next = schedule[step + 1], dt = next - t;
            var v1 = Velocity(visual, audio, t, out var a1);
            if (r.Sampler == "heun" && next > 0)
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
            Step(visual, v1, dt, visualIsClean, dv, layout.VideoOffset);
            if (!audioIsClean) AddScaled(audio, a1, dt);
            progress?.Invoke(step + 1, r.Steps);
        }

        // tokens -> latents -> frames and sound
        cancel.ThrowIfCancellationRequested();
        var videoLatent = model.Stats.VideoLatent(visual.AsSpan(layout.VideoOffset * dv), p, groups, lh, lw);
        var pictures = model.Codec.DecodeFrames(videoLatent, groups, lh, lw, frames, r.Width, r.Height);
        AudioTrack? sound = null;
        if (r.Audio)
        {
            if (audioIsClean) sound = new AudioTrack(rate, r.DrivingAudio!.Take(samples).Concat(new float[Math.Max(0, samples - r.DrivingAudio!.Length)]).ToArray());
            else
            {
                sound = new AudioTrack(rate, model.Codec.DecodeAudio(model.Stats.AudioLatent(audio), audioCount, samples));
            }
        }
        return new GenerationResult(new VideoClip(r.Width, r.Height, c.FrameRate, pictures), sound, clock.Elapsed.TotalSeconds);
    }

    private static float Shifted(float u, float shift) => shift * u / (1 + (shift - 1) * u);

    /// <summary>x += dt v over the noisy video tokens (clean ones and the reference slots stay).</summary>
    private static void Step(float[] x, float[] v, float dt, bool[] clean, int dim, int videoOffset)
    {
        for (int token = videoOffset; token < clean.Length; token++)
            if (!clean[token]) AddScaled(x.AsSpan(token * dim, dim), v.AsSpan(token * dim, dim), dt);
    }

    private static void AddScaled(Span<float> x, ReadOnlySpan<float> v, float dt)
    {
        for (int i = 0; i < x.Length; i++) x[i] += dt * v[i];
    }

    /// <summary>Classifier-free guidance over the branches' velocities (each <paramref name="size"/> long, concatenated).</summary>
    private static float[] Mix(float[] all, int size, bool withReferences, float text, float reference)
    {
        var v = new float[size];
        for (int i = 0; i < size; i++)
        {
            float u = all[i], t = all[size + i];
            v[i] = u + text * (t - u);
            if (withReferences) v[i] += reference * (all[2 * size + i] - t);
        }
        return v;
    }

    /// <summary>RGB frames (1 + r k of them) -> normalised visual tokens of their latent frames.</summary>
    private static float[] FrameTokens(ModelBundle model, IReadOnlyList<byte[]> frames, int width, int height)
    {
        int s = model.Codec.Video.Config.SpatialRatio;
        return model.Stats.VideoTokens(model.Codec.EncodeFrames(frames, width, height), model.Manifest.Config.Patch, height / s, width / s);
    }
}
