using Canter.World;

namespace Canter.Bench;

/// <summary>
/// How fast the world makes training data: scenes generated, rendered and voiced per second at a
/// training size (no encoding: training reads frames and samples directly).
/// </summary>
public static class WorldBench
{
    public static IReadOnlyList<(string Name, double Value)> Run(int width, int height, double fps, float seconds, int count, TextWriter output)
    {
        output.WriteLine($"world: {count} scenes of {seconds} s at {width}x{height}, {fps} fps, audio at {AudioSynth.DefaultSampleRate} Hz");
        WorldClip.Render(SceneGenerator.Generate(Splits.Seed(Split.Train, 0), seconds), width, height, fps); // warm-up
        var watch = System.Diagnostics.Stopwatch.StartNew();
        long frames = 0;
        for (int i = 0; i < count; i++)
        {
            var clip = WorldClip.Render(SceneGenerator.Generate(Splits.Seed(Split.Train, i + 1), seconds), width, height, fps);
            frames += clip.Video.Frames.Count;
        }
        double elapsed = watch.Elapsed.TotalSeconds;
        var figures = new List<(string, double)>
        {
            ("world_clips_per_second", count / elapsed),
            ("world_frames_per_second", frames / elapsed),
            ("world_seconds_of_video_per_second", count * seconds / elapsed),
        };
        output.WriteLine();
        Measure.Figures(output, figures);
        return figures;
    }
}
