using Canter.Media;
using Canter.World;

namespace Canter.Eval.Validation;

/// <summary>Deliberate faults that the bench must see, each aimed at one metric. Append only.</summary>
public enum Damage
{
    /// <summary>The clean render.</summary>
    None,
    /// <summary>Frames in a random order (motion smoothness, shot cuts).</summary>
    ShuffleFrames,
    /// <summary>The sound delayed by 120 ms (sync offset, lip-sync).</summary>
    ShiftAudio,
    /// <summary>The first subject drawn in another colour (colour adherence).</summary>
    SwapColor,
    /// <summary>The first subject's pattern changed halfway through (identity consistency, references, pattern adherence).</summary>
    ChangePattern,
    /// <summary>The picture frozen over the middle 40 % of the clip, then jumping back to time (frozen frames).</summary>
    FreezeFrames,
    /// <summary>Brightness alternately raised and lowered by 12 levels frame by frame (temporal flicker).</summary>
    Flicker,
}

/// <summary>
/// Renders a scene with a <see cref="Damage"/>: the validation of the bench scores the damaged clip against the
/// undamaged scene and expects the targeted metric to fall.
/// </summary>
public static class Damages
{
    public const double AudioShiftSeconds = 0.120;

    public static (VideoClip Video, AudioTrack Audio) Render(SceneSpec scene, Damage damage, int width, int height, double fps, ulong seed = 1)
    {
        switch (damage)
        {
            case Damage.SwapColor:
                {
                    var clip = WorldClip.Render(WithColor(scene), width, height, fps);
                    return (clip.Video, clip.Audio);
                }
            case Damage.ChangePattern:
                {
                    var clip = WorldClip.Render(scene, width, height, fps);
                    var changed = WithPattern(scene);
                    // from the middle on, the subject wears another pattern; sound and motion are unchanged
                    var frames = clip.Video.Frames.Select((f, i) => i / fps < scene.Seconds / 2 ? f : Renderer.Render(changed, (float)(i / fps), width, height)).ToList();
                    return (clip.Video with { Frames = frames }, clip.Audio);
                }
            default:
                {
                    var clip = WorldClip.Render(scene, width, height, fps);
                    return (Apply(clip.Video, damage, seed), damage == Damage.ShiftAudio ? Delay(clip.Audio, AudioShiftSeconds) : clip.Audio);
                }
        }
    }

    /// <summary>The damages that work on a decoded picture alone (the others need the scene).</summary>
    public static VideoClip Apply(VideoClip video, Damage damage, ulong seed = 1)
    {
        var frames = video.Frames;
        switch (damage)
        {
            case Damage.ShuffleFrames:
                {
                    var rng = new WorldRandom(seed);
                    var order = Enumerable.Range(0, frames.Count).ToArray();
                    for (int i = order.Length - 1; i > 0; i--)
                    {
                        int j = rng.Next(i + 1);
                        (order[i], order[j]) = (order[j], order[i]);
                    }
                    return video with { Frames = [.. order.Select(i => frames[i])] };
                }
            case Damage.FreezeFrames:
                {
                    int from = (int)(0.3 * frames.Count), to = (int)(0.7 * frames.Count);
                    return video with { Frames = [.. frames.Select((f, i) => i >= from && i < to ? frames[from] : f)] };
                }
            case Damage.Flicker:
                return video with { Frames = [.. frames.Select((f, i) => f.Select(v => (byte)Math.Clamp(v + (i % 2 == 0 ? 12 : -12), 0, 255)).ToArray())] };
            default:
                return video;
        }
    }

    /// <summary>The sound delayed by <paramref name="seconds"/>: silence first, the end cut so the length stays.</summary>
    public static AudioTrack Delay(AudioTrack audio, double seconds)
    {
        int shift = (int)Math.Round(seconds * audio.SampleRate);
        var samples = new float[audio.Samples.Length];
        if (shift < samples.Length) Array.Copy(audio.Samples, 0, samples, shift, samples.Length - shift);
        return audio with { Samples = samples };
    }

    /// <summary>The scene with its first subject in the colour farthest from its own that no subject of its class has.</summary>
    public static SceneSpec WithColor(SceneSpec scene)
    {
        var s = scene.Subjects[0];
        var (r, g, b) = Vocabulary.Rgb(s.Color);
        var color = Enum.GetValues<SubjectColor>()
            .Where(c => c != s.Color && scene.Subjects.All(x => (x.Class, x.Color) != (s.Class, c)))
            .OrderByDescending(c => { var (r2, g2, b2) = Vocabulary.Rgb(c); return Math.Abs(r - r2) + Math.Abs(g - g2) + Math.Abs(b - b2); })
            .First();
        return scene with { Subjects = [s with { Color = color }, .. scene.Subjects.Skip(1)] };
    }

    /// <summary>The scene with its first subject's pattern changed: plain becomes striped, any other pattern plain.</summary>
    public static SceneSpec WithPattern(SceneSpec scene)
    {
        var s = scene.Subjects[0];
        return scene with { Subjects = [s with { Pattern = s.Pattern == Pattern.Solid ? Pattern.Stripes : Pattern.Solid }, .. scene.Subjects.Skip(1)] };
    }
}
