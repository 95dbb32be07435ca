using Canter.Models.Unified;
using Canter.World;

namespace Canter.Training.Unified;

/// <summary>How a training item conditions the generation: the modes of DESIGN.md as noise patterns.</summary>
public enum Mode { TextToVideo, ImageToVideo, FirstLastFrame, Extension, ReferenceToVideo, AudioDriven }

/// <summary>One encoded training clip: normalised video tokens (G h' w', Dv), audio tokens (A, Da), reference tokens per subject, its captions.</summary>
public sealed record Example(float[] Video, float[] Audio, IReadOnlyList<float[]> References, IReadOnlyList<string> Captions, int Subjects);

/// <summary>A training clip drawn on the CPU: frames (RGB bytes, H*W*3 each), mono sound at the codec's rate, reference images, captions.</summary>
public sealed record RenderedClip(byte[][] Frames, float[] Sound, IReadOnlyList<byte[]> References, IReadOnlyList<string> Captions);

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
/// they have no references, so reference-to-video items train as text-to-video).
/// </summary>
public sealed class WorldExamples(LatentCodec codec, UnifiedConfig config, int width, int height, float seconds, Canter.Training.Data.FolderClips? folder = null)
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
        var frames = new byte[Frames][];
        Parallel.For(0, Frames, f => frames[f] = Renderer.Render(scene, (float)(f / config.FrameRate), width, height));
        var sound = AudioSynth.Synthesize(scene, codec.Audio.Config.SampleRate);
        Array.Resize(ref sound, Samples);
        var references = Enumerable.Range(0, Math.Min(scene.Subjects.Count, config.MaxReferences))
            .Select(s => Variations.Reference(scene, s, (int)(index % 3), width, height).Pixels).ToList();
        return new RenderedClip(frames, sound, references, [.. CaptionsOf(scene)]);
    }

    /// <summary>Whether <see cref="Render"/> serves this source (the world; a folder of clips is decoded at encode time).</summary>
    public bool Renders => folder is null;

    /// <summary>Latents of scene <paramref name="index"/> of the train split, before normalisation (for statistics and for examples).</summary>
    public (float[] Video, float[] Audio, List<float[]> References, IReadOnlyList<string> Captions) EncodeRaw(long index) =>
        folder is not null ? EncodeFolderClip(index) : EncodeRaw([Render(index)])[0];

    /// <summary>Latents of drawn clips, encoded as one batch per modality (video, sound, all reference images together) on the codec's device.</summary>
    private List<(float[] Video, float[] Audio, List<float[]> References, IReadOnlyList<string> Captions)> EncodeRaw(IReadOnlyList<RenderedClip> clips)
    {
        var video = codec.EncodeFrames([.. clips.Select(c => (IReadOnlyList<byte[]>)c.Frames)], width, height);
        var audio = codec.EncodeAudio([.. clips.Select(c => c.Sound)]);
        var references = codec.EncodeFrames([.. clips.SelectMany(c => c.References).Select(r => (IReadOnlyList<byte[]>)[r])], width, height);
        var result = new List<(float[], float[], List<float[]>, IReadOnlyList<string>)>(clips.Count);
        int next = 0;
        for (int i = 0; i < clips.Count; i++)
        {
            result.Add((video[i], audio[i], references.Skip(next).Take(clips[i].References.Count).ToList(), clips[i].Captions));
            next += clips[i].References.Count;
        }
        return result;
    }

    private (float[] Video, float[] Audio, List<float[]> References, IReadOnlyList<string> Captions) EncodeFolderClip(long index)
    {
        var clip = folder!.Get(index, 0, Frames, width, height, config.FrameRate, 0);
        var video = codec.EncodeFrames(clip.Frames, width, height);
        var sound = folder.Audio(index, codec.Audio.Config.SampleRate);
        Array.Resize(ref sound, Samples);
        var caption = folder.Entries[(int)(index % folder.Entries.Count)].Caption;
        return (video, codec.EncodeAudio(sound), [], [caption]);
    }

    public Example Encode(long index, LatentStats stats) => Normalise(EncodeRaw(index), stats);

    /// <summary>Drawn clips encoded as one batch per modality: what a GPU trains on.</summary>
    public IReadOnlyList<Example> Encode(IReadOnlyList<RenderedClip> clips, LatentStats stats) => [.. EncodeRaw(clips).Select(raw => Normalise(raw, stats))];

    private Example Normalise((float[] Video, float[] Audio, List<float[]> References, IReadOnlyList<string> Captions) raw, LatentStats stats)
    {
        var (video, audio, references, captions) = raw;
        int p = config.Patch, s = codec.Video.Config.SpatialRatio, h = height / s, w = width / s;
        return new Example(stats.VideoTokens(video, p, h, w), stats.AudioTokens(audio), references.Select(r => stats.VideoTokens(r, p, h, w)).ToList(),
            captions, references.Count);
    }
}
