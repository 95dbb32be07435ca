using Canter.Models.Unified;
using Canter.World;

namespace Canter.Training.Unified;

/// <summary>How a training item conditions the generation: the modes of DESIGN.md as noise patterns.</summary>
public enum Mode { TextToVideo, ImageToVideo, FirstLastFrame, Extension, ReferenceToVideo, AudioDriven }

/// <summary>One encoded training clip: normalised video tokens (G h' w', Dv), audio tokens (A, Da), reference tokens per subject, its captions.</summary>
public sealed record Example(float[] Video, float[] Audio, IReadOnlyList<float[]> References, IReadOnlyList<string> Captions, int Subjects);

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

    /// <summary>Latents of scene <paramref name="index"/> of the train split, before normalisation (for statistics and for examples).</summary>
    public (float[] Video, float[] Audio, List<float[]> References, IReadOnlyList<string> Captions) EncodeRaw(long index)
    {
        if (folder is not null) return EncodeFolderClip(index);
        ulong seed = Splits.Seed(Split.Train, index);
        var scene = SceneGenerator.Generate(seed, seconds);
        if (seed % 3 == 0) scene = Variations.MultiShot(scene);
        var frames = new byte[Frames][];
        Parallel.For(0, Frames, f => frames[f] = Renderer.Render(scene, (float)(f / config.FrameRate), width, height));
        var video = codec.EncodeFrames(frames, width, height);
        var sound = AudioSynth.Synthesize(scene, codec.Audio.Config.SampleRate);
        Array.Resize(ref sound, Samples);
        var audio = codec.EncodeAudio(sound);
        var references = new List<float[]>();
        for (int s = 0; s < Math.Min(scene.Subjects.Count, config.MaxReferences); s++)
            references.Add(codec.EncodeFrames([Variations.Reference(scene, s, (int)(index % 3), width, height).Pixels], width, height));
        return (video, audio, references, [.. CaptionsOf(scene)]);
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

    public Example Encode(long index, LatentStats stats)
    {
        var (video, audio, references, captions) = EncodeRaw(index);
        int p = config.Patch, s = codec.Video.Config.SpatialRatio, h = height / s, w = width / s;
        return new Example(stats.VideoTokens(video, p, h, w), stats.AudioTokens(audio), references.Select(r => stats.VideoTokens(r, p, h, w)).ToList(),
            captions, references.Count);
    }
}
