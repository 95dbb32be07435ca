using Canter.Models.Unified;
using Canter.World;

namespace Canter.Training.Unified;

/// <summary>How a training item conditions the generation: the modes of DESIGN.md as noise patterns. Append only.</summary>
public enum Mode { TextToVideo, ImageToVideo, FirstLastFrame, Extension, ReferenceToVideo, AudioDriven, Edit }

/// <summary>
/// One encoded training clip: normalised video tokens (G h' w', Dv), audio tokens (A, Da), reference tokens per subject,
/// its captions. An edit pair also has <paramref name="Source"/>, the source video's tokens (G h' w', Dv): then Video is
/// the edited target, Audio the source's sound, the captions the instruction. <paramref name="VideoWeights"/> (G h' w'),
/// when present, weighs each video token's flow loss (see <see cref="WorldExamples.SubjectWeights"/>); absent, all weigh 1.
/// </summary>
public sealed record Example(float[] Video, float[] Audio, IReadOnlyList<float[]> References, IReadOnlyList<string> Captions, int Subjects, float[]? Source = null,
    float[]? VideoWeights = null);

/// <summary>
/// A training clip drawn on the CPU: frames (RGB bytes, H*W*3 each), mono sound at the codec's rate, reference images,
/// captions; for an edit pair the source's frames too (Frames are then the edited target's); the video tokens' loss
/// weights (G h' w') when the run weighs subjects.
/// </summary>
public sealed record RenderedClip(byte[][] Frames, float[] Sound, IReadOnlyList<byte[]> References, IReadOnlyList<string> Captions, byte[][]? SourceFrames = null,
    float[]? TokenWeights = null);

/// <summary>
/// A training clip's latents before normalisation: video (Z, G, h, w), audio (Za, A), references, captions, an edit's
/// source video, and the video tokens' loss weights (G h' w') when the run weighs subjects.
/// </summary>
public sealed record RawExample(float[] Video, float[] Audio, List<float[]> References, IReadOnlyList<string> Captions, float[]? Source = null,
    float[]? TokenWeights = null);

/// <summary>
/// Which training items are edit pairs: a share <paramref name="StepShare"/> of the steps (drawn from the seed) carry
/// edit pairs, in their even batch slots (so such a step mixes edits with the other modes); the other steps have none.
/// Grouping edits into some steps keeps the source block, which doubles the video tokens, out of most steps.
/// Item <c>i</c> is step <c>i / Batch</c>, slot <c>i % Batch</c>, as the trainer numbers them.
/// </summary>
public sealed record EditPlan(ulong Seed, int Batch, float StepShare)
{
    public bool IsEdit(long index)
    {
        if (StepShare <= 0 || index < 0) return false;
        long step = index / Batch;
        if (index % Batch % 2 != 0) return false;
        var rng = new WorldRandom(Seed ^ 0xED17_5EEDUL ^ (ulong)step * 0x9E3779B97F4A7C15UL);
        return rng.NextFloat() < StepShare;
    }

    /// <summary>Whether step <paramref name="step"/> carries edit pairs.</summary>
    public bool EditStep(long step) => IsEdit(step * Batch);
}

/// <summary>The inputs, targets and loss weights of one training batch (see <see cref="ModelTrainer.BuildBatch"/>).</summary>
/// <param name="VideoTarget">(B, Nvideo, Dv) velocity targets e - x0.</param>
/// <param name="VideoWeight">(B, Nvideo) loss weights: 0 for clean video tokens, 1 for noisy ones (or the clip's token weight).</param>
/// <param name="AudioTarget">(B, Na, Da) velocity targets.</param>
/// <param name="AudioWeight">(B, Na) 1 for noisy audio tokens.</param>
public sealed record FlowBatch(SequenceBatch Sequence, float[] VideoTarget, float[] VideoWeight, float[] AudioTarget, float[] AudioWeight, Mode[] Modes, bool[] SourcePresent);

/// <summary>
/// Draws the world's clips ahead of the trainer on the thread pool: the clips of the next <c>lookahead</c> indices are
/// being drawn while the device works, so a GPU is not kept waiting for the CPU. Clips come out in index order, the same
/// as drawn one by one.
/// </summary>
public sealed class ClipPrefetcher(WorldExamples examples, int lookahead)
{
    private readonly Dictionary<long, Task<RenderedClip>> pending = [];

    /// <summary>The clip of <paramref name="index"/>, after starting the draws of the indices that follow it.</summary>
    public RenderedClip Take(long index)
    {
        for (long i = index; i < index + lookahead; i++)
            if (!pending.ContainsKey(i))
            {
                long k = i;
                pending[k] = Task.Run(() => examples.Render(k));
            }
        foreach (var stale in pending.Keys.Where(k => k < index).ToList()) pending.Remove(stale);
        var task = pending[index];
        pending.Remove(index);
        return task.GetAwaiter().GetResult();
    }
}

/// <summary>
/// Training clips encoded with the model's autoencoders: scenes of the world's train split (rendered, with reference
/// images of their subjects) or, given a folder, the user's clips and captions (decoded at the training size and rate;
/// they have no references, so reference-to-video items train as text-to-video). Items that <paramref name="edits"/>
/// marks are edit pairs: of the world (<see cref="Variations.Edit"/>: the source scene and the edited one both drawn)
/// or of the folder (entries with an <c>edit</c>), with the source's sound and the instruction as the caption. A
/// <paramref name="subjectWeight"/> other than 1 gives the world's video tokens that show a subject that weight in the
/// flow loss (<see cref="SubjectWeights"/>).
/// </summary>
public sealed class WorldExamples(LatentCodec codec, UnifiedConfig config, int width, int height, float seconds, Canter.Training.Data.FolderClips? folder = null,
    EditPlan? edits = null, float subjectWeight = 1f)
{
    public int Width => width;
    public int Height => height;

    /// <summary>Frames per clip: the largest 1 + r k that fits in <c>seconds</c>.</summary>
    public int Frames => 1 + (int)Math.Floor(seconds * config.FrameRate / config.TemporalRatio) * config.TemporalRatio;

    public int Samples => (int)Math.Round(seconds * codec.Audio.Config.SampleRate / codec.Audio.Config.Hop) * codec.Audio.Config.Hop;

    public static IEnumerable<string> CaptionsOf(SceneSpec scene)
    {
        yield return Captions.Short(scene, 0);
        yield return Captions.Short(scene, 1);
        yield return Captions.Long(scene, 0);
        yield return Captions.Long(scene, 1);
        if (scene.Shots is not null) yield return Variations.TimecodedCaption(scene);
    }

    /// <summary>
    /// Scene <paramref name="index"/> of the train split drawn and voiced on the CPU (frames, sound, reference images, captions):
    /// safe to call from many threads at once, so the trainer draws the next batches while the device trains on this one.
    /// </summary>
    public RenderedClip Render(long index)
    {
        ulong seed = Splits.Seed(Split.Train, index);
        var scene = SceneGenerator.Generate(seed, seconds);
        if (seed % 3 == 0) scene = Variations.MultiShot(scene);
        var pair = edits?.IsEdit(index) == true ? Variations.Edit(scene, seed) : null;
        var shown = pair?.Target ?? scene;
        var frames = Draw(shown);
        var weights = subjectWeight == 1f ? null
            : SubjectWeights(frames, Draw(shown, subjects: false), width, height, codec.Video.Config.SpatialRatio * config.Patch, config.TemporalRatio, subjectWeight);
        var sound = AudioSynth.Synthesize(scene, codec.Audio.Config.SampleRate);   // an edit keeps the source's sound
        Array.Resize(ref sound, Samples);
        var references = Enumerable.Range(0, Math.Min(shown.Subjects.Count, config.MaxReferences))
            .Select(s => Variations.Reference(shown, s, (int)(index % 3), width, height).Pixels).ToList();
        return pair is null
            ? new RenderedClip(frames, sound, references, [.. CaptionsOf(scene)], TokenWeights: weights)
            : new RenderedClip(frames, sound, references, [pair.Instruction], Draw(pair.Source), weights);
    }

    /// <summary>The clip's frames of <paramref name="scene"/> at this size and rate (RGB24, H*W*3 each), drawn in parallel; without its subjects if asked.</summary>
    public byte[][] Draw(SceneSpec scene, bool subjects = true)
    {
        var frames = new byte[Frames][];
        Parallel.For(0, Frames, f => frames[f] = Renderer.Render(scene, (float)(f / config.FrameRate), width, height, subjects));
        return frames;
    }

    /// <summary>
    /// Which of a clip's video tokens (G h' w') show a subject: token (g, y, x) covers the frames of latent group g (the
    /// first frame alone, then <paramref name="temporalRatio"/> at a time) and the <paramref name="tokenPixels"/>-square
    /// block at (y, x), and shows a subject where some pixel of those frames differs from the scene drawn without its
    /// subjects (by more than 8 of 255 in a channel: a subject, its pattern or its edge).
    /// </summary>
    public static bool[] SubjectTokens(byte[][] frames, byte[][] backgrounds, int width, int height, int tokenPixels, int temporalRatio)
    {
        if (frames.Length != backgrounds.Length || frames.Length < 1 || (frames.Length - 1) % temporalRatio != 0)
            throw new ArgumentException($"{frames.Length} frames against {backgrounds.Length} backgrounds: both need 1 + {temporalRatio} k frames");
        if (width % tokenPixels != 0 || height % tokenPixels != 0) throw new ArgumentException($"{width}x{height} is not a multiple of {tokenPixels}-pixel tokens");
        int rows = height / tokenPixels, cols = width / tokenPixels, groups = 1 + (frames.Length - 1) / temporalRatio;
        var marked = new bool[groups * rows * cols];
        for (int f = 0; f < frames.Length; f++)
        {
            int g = f == 0 ? 0 : 1 + (f - 1) / temporalRatio;
            byte[] a = frames[f], b = backgrounds[f];   // (H, W, 3)
            for (int i = 0; i < a.Length; i++)
            {
                if (Math.Abs(a[i] - b[i]) <= 8) continue;
                int pixel = i / 3, y = pixel / width, x = pixel % width;
                marked[(g * rows + y / tokenPixels) * cols + x / tokenPixels] = true;
            }
        }
        return marked;
    }

    /// <summary>
    /// Loss weights of a clip's video tokens (G h' w'): <paramref name="weight"/> for those that show a subject
    /// (<see cref="SubjectTokens"/>), else 1. A subject covers a few percent of a world frame, so an unweighted loss is
    /// almost all background and lighting; the weight makes what the prompt names about the subjects count.
    /// </summary>
    public static float[] SubjectWeights(byte[][] frames, byte[][] backgrounds, int width, int height, int tokenPixels, int temporalRatio, float weight) =>
        [.. SubjectTokens(frames, backgrounds, width, height, tokenPixels, temporalRatio).Select(m => m ? weight : 1f)];

    /// <summary>Whether <see cref="Render"/> serves this source (the world; a folder of clips is decoded at encode time).</summary>
    public bool Renders => folder is null;

    /// <summary>Latents of scene <paramref name="index"/> of the train split, before normalisation (for statistics and for examples).</summary>
    public RawExample EncodeRaw(long index) =>
        folder is not null ? EncodeFolderClip(index) : EncodeRaw([Render(index)])[0];

    /// <summary>
    /// Latents of drawn clips, encoded as one batch per modality (video with the edit pairs' sources, sound, all reference
    /// images together) on the codec's device.
    /// </summary>
    private List<RawExample> EncodeRaw(IReadOnlyList<RenderedClip> clips)
    {
        var sources = clips.Where(c => c.SourceFrames is not null).Select(c => (IReadOnlyList<byte[]>)c.SourceFrames!).ToList();
        var video = codec.EncodeFrames([.. clips.Select(c => (IReadOnlyList<byte[]>)c.Frames), .. sources], width, height);
        var audio = codec.EncodeAudio([.. clips.Select(c => c.Sound)]);
        var references = codec.EncodeFrames([.. clips.SelectMany(c => c.References).Select(r => (IReadOnlyList<byte[]>)[r])], width, height);
        var result = new List<RawExample>(clips.Count);
        int next = 0, nextSource = clips.Count;
        for (int i = 0; i < clips.Count; i++)
        {
            var source = clips[i].SourceFrames is null ? null : video[nextSource++];
            result.Add(new RawExample(video[i], audio[i], references.Skip(next).Take(clips[i].References.Count).ToList(), clips[i].Captions, source, clips[i].TokenWeights));
            next += clips[i].References.Count;
        }
        return result;
    }

    private RawExample EncodeFolderClip(long index)
    {
        var clip = folder!.Get(index, 0, Frames, width, height, config.FrameRate, 0);
        var video = codec.EncodeFrames(clip.Frames, width, height);
        var sound = folder.Audio(index, codec.Audio.Config.SampleRate);
        Array.Resize(ref sound, Samples);
        var entry = folder.Entries[(int)(index % folder.Entries.Count)];
        if (entry.Edit is not null && edits?.IsEdit(index) == true)
        {
            // the folder's edit pair: its clip is the source (with its sound), the edit video the target, the instruction the caption
            var target = codec.EncodeFrames(folder.EditFrames(index, 0, Frames, width, height, config.FrameRate), width, height);
            return new RawExample(target, codec.EncodeAudio(sound), [], [entry.Edit.Instruction], video);
        }
        return new RawExample(video, codec.EncodeAudio(sound), [], [entry.Caption]);
    }

    public Example Encode(long index, LatentStats stats) => Normalise(EncodeRaw(index), stats);

    /// <summary>Drawn clips encoded as one batch per modality: what a GPU trains on.</summary>
    public IReadOnlyList<Example> Encode(IReadOnlyList<RenderedClip> clips, LatentStats stats) => [.. EncodeRaw(clips).Select(raw => Normalise(raw, stats))];

    private Example Normalise(RawExample raw, LatentStats stats)
    {
        var (video, audio, references, captions, source, weights) = raw;
        int p = config.Patch, s = codec.Video.Config.SpatialRatio, h = height / s, w = width / s;
        return new Example(stats.VideoTokens(video, p, h, w), stats.AudioTokens(audio), references.Select(r => stats.VideoTokens(r, p, h, w)).ToList(),
            captions, references.Count, source is null ? null : stats.VideoTokens(source, p, h, w), weights);
    }
}
