using Canter.Models.Unified;
using Canter.Tensors;
using Canter.Tensors.Autograd;
using Canter.World;

namespace Canter.Training.Unified;

/// <summary>One flow time of <see cref="FlowProbe"/>: mean losses over the clips with and without the prompt.</summary>
/// <param name="Time">Flow time (1 is pure noise).</param>
/// <param name="VideoLoss">Video velocity MSE with the prompt.</param>
/// <param name="VideoLossWithoutPrompt">The same with the prompt left out (the unconditional branch of guidance).</param>
/// <param name="AudioLoss">Audio velocity MSE with the prompt.</param>
/// <param name="SubjectLoss">Video velocity MSE over the tokens that show a subject (<see cref="WorldExamples.SubjectTokens"/>), with the prompt.</param>
/// <param name="SubjectLossWithoutPrompt">The same without the prompt.</param>
public sealed record FlowProbeTime(float Time, double VideoLoss, double VideoLossWithoutPrompt, double AudioLoss, double SubjectLoss, double SubjectLossWithoutPrompt)
{
    /// <summary>How much of the video loss the prompt removes: (without - with) / without.</summary>
    public double PromptGain => (VideoLossWithoutPrompt - VideoLoss) / VideoLossWithoutPrompt;

    /// <summary>The same on the subjects' tokens: what a short prompt names (colour, class, action) is drawn there.</summary>
    public double SubjectPromptGain => (SubjectLossWithoutPrompt - SubjectLoss) / SubjectLossWithoutPrompt;
}

/// <summary>What <c>canter bench flow</c> measured; <see cref="UnconditionalError"/> is the mean square of the clean video tokens (the loss at t = 1 of predicting zeros).</summary>
public sealed record FlowProbeReport(int Clips, IReadOnlyList<FlowProbeTime> Times, double UnconditionalError);

/// <summary>
/// The transformer's flow loss on unseen test clips, text-to-video (every video and audio token noisy), at fixed flow
/// times, each with and without the prompt: where in the flow the model reads the prompt. Near t = 1 the noisy tokens
/// show nothing, so only the prompt can lower the loss there; a model whose prompt gain at t = 1 is near zero draws the
/// same picture whatever it is asked. The losses are also taken over the tokens that show a subject alone, a few
/// percent of a clip that the whole-clip loss barely sees. Noise is seeded by the clip, so two models are compared on
/// the same inputs.
/// </summary>
public static class FlowProbe
{
    public static readonly float[] DefaultTimes = [0.3f, 0.6f, 0.9f, 0.97f, 1f];

    public static FlowProbeReport Run(ModelBundle model, int count, bool longPrompts, IReadOnlyList<float>? times = null, Action<int>? progress = null)
    {
        if (count < 1 || count > 1000) throw new ArgumentException($"--count {count} must be in [1, 1000]");
        times ??= DefaultTimes;
        if (times.Count == 0 || times.Any(t => !(t > 0 && t <= 1))) throw new ArgumentException("flow times must be in (0, 1]");
        var m = model.Manifest;
        var c = m.Config;
        var codec = model.Codec;
        int s = codec.Video.Config.SpatialRatio, p = c.Patch;
        var clip = new WorldExamples(codec, c, m.Width, m.Height, m.Seconds);     // the frames and sample counts training uses
        int frames = clip.Frames, samples = clip.Samples, rate = codec.Audio.Config.SampleRate, audioCount = samples / codec.Audio.Config.Hop;
        int groups = codec.Video.Config.LatentFrames(frames);
        var layout = new SequenceLayout(c, groups, m.Height / s / p, m.Width / s / p, audioCount, referenceSlots: 0);
        var rope = layout.Rope();
        int dv = c.VisualTokenSize, da = c.AudioLatentChannels, n = layout.Count, nv = layout.VisualCount;
        var backend = model.Transformer.TextTable.Backend;
        var sums = new double[times.Count, 5];
        double unconditional = 0;
        int clips = 0;
        for (int i = 0; i < count; i++)
        {
            var scene = SceneGenerator.Generate(Splits.Seed(Split.Test, i), m.Seconds);
            string prompt = longPrompts ? Captions.Long(scene) : Captions.Short(scene);
            if (TextTokens.Encode(prompt).Count > layout.TextCount) continue;
            var pictures = clip.Draw(scene);
            var subject = WorldExamples.SubjectTokens(pictures, clip.Draw(scene, subjects: false), m.Width, m.Height, s * p, c.TemporalRatio);   // (Nvideo)
            var sound = AudioSynth.Synthesize(scene, rate);
            Array.Resize(ref sound, samples);
            var video = model.Stats.VideoTokens(codec.EncodeFrames(pictures, m.Width, m.Height), p, m.Height / s, m.Width / s);   // (Nvideo, Dv)
            var audio = model.Stats.AudioTokens(codec.EncodeAudio(sound));                                                      // (Na, Da)
            var noise = new float[video.Length + audio.Length];
            Canter.Tensors.Rng.Philox.FillNormal(noise, 0xF10F_0000UL + (ulong)i, 0, 1f);
            var (rows, length) = model.Text.ToRows(prompt, layout.TextCount);
            var allRows = rows.Concat(new int[layout.TextCount]).ToArray();           // the prompt, then none
            var segments = layout.Segments([length, 0], [0, 0]);
            unconditional += video.Average(v => (double)v * v);
            for (int k = 0; k < times.Count; k++)
            {
                float t = times[k];
                using var scope = TensorScope.Begin();
                using var noGrad = Tape.NoGrad();
                var visual = new float[2 * nv * dv];
                var sounds = new float[2 * audioCount * da];
                for (int b = 0; b < 2; b++)
                {
                    for (int j = 0; j < video.Length; j++) visual[(b * nv + layout.VideoOffset) * dv + j] = (1 - t) * video[j] + t * noise[j];
                    for (int j = 0; j < audio.Length; j++) sounds[b * audio.Length + j] = (1 - t) * audio[j] + t * noise[video.Length + j];
                }
                var flowTimes = new float[2 * n];
                for (int b = 0; b < 2; b++)
                    for (int j = layout.TextCount + layout.VideoOffset; j < n; j++) flowTimes[b * n + j] = t;
                var batch = new SequenceBatch(allRows, Tensor.FromArray(visual, [2, nv, dv], backend), Tensor.FromArray(sounds, [2, audioCount, da], backend), flowTimes, segments);
                var (pv, pa) = model.Transformer.Forward(batch, layout, rope);
                var v = pv.ToArray();                                                 // (2, Nvideo, Dv)
                var a = pa.ToArray();                                                 // (2, Na, Da)
                sums[k, 0] += Mse(v.AsSpan(0, video.Length), video, noise, 0);
                sums[k, 1] += Mse(v.AsSpan(video.Length, video.Length), video, noise, 0);
                sums[k, 2] += Mse(a.AsSpan(0, audio.Length), audio, noise, video.Length);
                sums[k, 3] += Mse(v.AsSpan(0, video.Length), video, noise, 0, subject, dv);
                sums[k, 4] += Mse(v.AsSpan(video.Length, video.Length), video, noise, 0, subject, dv);
            }
            clips++;
            progress?.Invoke(i + 1);
        }
        if (clips == 0) throw new ArgumentException("every prompt is longer than the model reads");
        var result = Enumerable.Range(0, times.Count).Select(k => new FlowProbeTime(times[k], sums[k, 0] / clips, sums[k, 1] / clips, sums[k, 2] / clips,
            sums[k, 3] / clips, sums[k, 4] / clips)).ToList();
        return new FlowProbeReport(clips, result, unconditional / clips);
    }

    /// <summary>
    /// Mean of (prediction - (noise - clean))^2, the velocity target of rectified flow, over every value or over the
    /// tokens (rows of <paramref name="width"/> values) that <paramref name="tokens"/> marks (0 when it marks none).
    /// </summary>
    private static double Mse(ReadOnlySpan<float> prediction, float[] clean, float[] noise, int noiseOffset, bool[]? tokens = null, int width = 1)
    {
        double sum = 0;
        int counted = 0;
        for (int j = 0; j < clean.Length; j++)
        {
            if (tokens is not null && !tokens[j / width]) continue;
            double d = prediction[j] - (noise[noiseOffset + j] - clean[j]);
            sum += d * d;
            counted++;
        }
        return counted == 0 ? 0 : sum / counted;
    }
}
