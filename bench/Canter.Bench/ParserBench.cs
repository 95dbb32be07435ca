using Canter.World;

namespace Canter.Bench;

/// <summary>How well the world's parser recovers the truth from renders of test scenes, clean or degraded.</summary>
public static class ParserBench
{
    public static IReadOnlyList<(string Name, double Value)> Run(int count, int width, int height, TextWriter output, Degradation degradation = Degradation.None)
    {
        var evaluation = new ParserEvaluation();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
        {
            var scene = SceneGenerator.Generate(Splits.Seed(Split.Test, i));
            var clip = WorldClip.Render(scene, width, height, 12);
            evaluation.Add(scene, Parser.Parse(Degradations.Apply(clip.Video, degradation, (ulong)i), clip.Audio), clip.Video.FrameRate);
        }
        output.WriteLine($"parser on {count} test renders ({degradation}) at {width}x{height}, 12 fps ({watch.Elapsed.TotalSeconds:0.0} s)");
        var figures = evaluation.Counts.OrderBy(c => c.Key).Select(c => ($"parser_{c.Key}_accuracy", (double)c.Value.Right / c.Value.Total)).ToList();
        figures.Add(("parser_attribute_accuracy", evaluation.Overall));
        output.WriteLine();
        Measure.Figures(output, figures);
        return figures;
    }
}
