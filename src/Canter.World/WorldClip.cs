using Canter.Media;

namespace Canter.World;

/// <summary>Ground truth of one frame: where each subject is (pixels), how big, how open its mouth.</summary>
public sealed record FrameTruth(int Frame, float Time, IReadOnlyList<SubjectTruth> Subjects);

public sealed record SubjectTruth(int Index, float X, float Y, float Radius, float Angle, float Mouth);

/// <summary>A rendered scene: picture, sound and the truth of every frame and event.</summary>
public sealed record WorldClip(SceneSpec Scene, VideoClip Video, AudioTrack Audio, IReadOnlyList<FrameTruth> Frames, IReadOnlyList<WorldEvent> Events)
{
    /// <summary>Renders <paramref name="scene"/> at the given size and frame rate.</summary>
    public static WorldClip Render(SceneSpec scene, int width, int height, double fps, int sampleRate = AudioSynth.DefaultSampleRate)
    {
        if (!(fps is > 0 and <= 120)) throw new ArgumentOutOfRangeException(nameof(fps), "frame rate must be in (0, 120]");
        int count = Math.Max(1, (int)Math.Round(scene.Seconds * fps));
        var frames = new List<byte[]>(count);
        var truth = new List<FrameTruth>(count);
        for (int f = 0; f < count; f++)
        {
            float t = (float)(f / fps);
            frames.Add(Renderer.Render(scene, t, width, height));
            var subjects = new List<SubjectTruth>();
            for (int i = 0; i < scene.Subjects.Count; i++)
            {
                var st = Motion.At(scene.Subjects[i], t);
                var (px, py, unit) = Renderer.ToPixel(scene, t, width, height, st.X, st.Y);
                subjects.Add(new SubjectTruth(i, px, py, st.Radius * unit, st.Angle, st.Mouth));
            }
            truth.Add(new FrameTruth(f, t, subjects));
        }
        var audio = new AudioTrack(sampleRate, AudioSynth.Synthesize(scene, sampleRate));
        return new WorldClip(scene, new VideoClip(width, height, fps, frames), audio, truth, Motion.Events(scene));
    }
}
