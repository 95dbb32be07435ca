using Canter.World;

namespace Canter.Bench;

/// <summary>
/// How well the world's parser recovers the truth from renders of test scenes, clean or degraded, single- or
/// multi-shot: every attribute, the timing of visual events (share within one frame, median error), and the identity
/// read from each subject's reference image (class, colour and pattern).
/// </summary>
public static class ParserBench
{
    public static IReadOnlyList<(string Name, double Value)> Run(int count, int width, int height, TextWriter output,
        Degradation degradation = Degradation.None, bool multiShot = false, double fps = 12)
    {
        var evaluation = new ParserEvaluation();
        int references = 0, referencesRight = 0;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < count; i++)
        {
            var scene = SceneGenerator.Generate(Splits.Seed(Split.Test, i));
            if (multiShot) scene = Variations.MultiShot(scene);
            var clip = WorldClip.Render(scene, width, height, fps);
            evaluation.Add(scene, Parser.Parse(Degradations.Apply(clip.Video, degradation, (ulong)i), clip.Audio), fps);
            for (int s = 0; s < scene.Subjects.Count; s++)
            {
                var truth = scene.Subjects[s];
                var found = Parser.ParseImage(Variations.Reference(scene, s, 0, width, width)).FirstOrDefault();
                references++;
                if (found is not null && found.Class == truth.Class && found.Color == truth.Color && found.Pattern == truth.Pattern) referencesRight++;
            }
        }
        double seconds = watch.Elapsed.TotalSeconds;
        output.WriteLine($"parser on {count} test renders ({degradation}{(multiShot ? ", multi-shot" : "")}) at {width}x{height}, {fps} fps ({seconds:0.0} s)");
        var figures = evaluation.Counts.OrderBy(c => c.Key).Select(c => ($"parser_{c.Key}_accuracy", (double)c.Value.Right / c.Value.Total)).ToList();
        figures.Add(("parser_attribute_accuracy", evaluation.Overall));
        figures.Add(("parser_event_time_median_ms", evaluation.MedianEventError * 1000));
        figures.Add(("parser_reference_identity_accuracy", (double)referencesRight / Math.Max(1, references)));
        figures.Add(("parser_seconds_per_clip", seconds / count));
        output.WriteLine();
        Measure.Figures(output, figures);
        return figures;
    }
}
