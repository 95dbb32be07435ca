using Canter.Eval.Metrics;
using Canter.Eval.Scoring;
using Canter.Eval.Validation;
using Canter.World;
using Xunit.Abstractions;

namespace Canter.Eval.Tests;

public sealed class Explore(ITestOutputHelper output)
{
    [Fact]
    public void PrintAll()
    {
        int size = int.Parse(Environment.GetEnvironmentVariable("EX_SIZE") ?? "96");
        double fps = double.Parse(Environment.GetEnvironmentVariable("EX_FPS") ?? "12");
        var scenes = new List<SceneSpec>
        {
            new(7, 3f, Background.Studio, Lighting.Day, Camera.Static,
            [
                new SubjectSpec(SubjectClass.Ball, SubjectColor.Red, Pattern.Stripes, 0.18f, 0.3f, 0.55f, Canter.World.Action.Bounce, 0.2f, 1.6f, 11),
                new SubjectSpec(SubjectClass.Robot, SubjectColor.Blue, Pattern.Solid, 0.2f, 0.7f, 0.55f, Canter.World.Action.Speak, 1.5f, 2.9f, 12),
            ]),
        };
        foreach (var i in (Environment.GetEnvironmentVariable("EX_SEEDS") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries))
            scenes.Add(SceneGenerator.Generate(Splits.Seed(Split.Test, int.Parse(i)), 3f));
        var damages = (Environment.GetEnvironmentVariable("EX_DAMAGES") ?? "None,ShuffleFrames,ShiftAudio,SwapColor,ChangePattern,FreezeFrames,Flicker").Split(',').Select(Enum.Parse<Damage>).ToList();
        if (Environment.GetEnvironmentVariable("EX_MULTI") == "1") scenes = [.. scenes.Select(Variations.MultiShot)];
        foreach (var scene in scenes)
        {
            output.WriteLine($"shots: {string.Join(", ", (scene.Shots ?? []).Select(s => $"{s.Start} {s.Framing}"))}");
            output.WriteLine($"scene {scene.Seed}: {Captions.Long(scene)}");
            var refs = new[] { Variations.Reference(scene, 0, 0, size, size) };
            foreach (var damage in damages)
            {
                var watch = System.Diagnostics.Stopwatch.StartNew();
                var (video, audio) = Damages.Render(scene, damage, size, size, fps);
                var clip = new ClipUnderTest(damage.ToString(), video, audio, scene)
                {
                    References = refs,
                    FirstFrame = new Canter.Media.RgbImage(size, size, Renderer.Render(scene, 0, size, size)),
                };
                var score = Scorer.Score(clip);
                output.WriteLine($"   cuts: {string.Join(", ", ShotCuts.Detect(video))}");
                if (Environment.GetEnvironmentVariable("EX_DIFFS") == "1")
                    output.WriteLine("   diffs: " + string.Join(" ", ShotCuts.Changes(video).Select(c => c.ToString("0.00"))));
                output.WriteLine($"  {damage} ({watch.Elapsed.TotalSeconds:0.0}s): " + string.Join(", ", score.Values.OrderBy(v => v.Key).Select(v => $"{v.Key}={v.Value:0.###}")));
                if (Environment.GetEnvironmentVariable("EX_TRACKS") == "1")
                    foreach (var sub in score.Parsed.Subjects)
                        output.WriteLine($"     {sub.Color} {sub.Class} smooth={MotionQuality.Smoothness(score.Parsed with { Subjects = [sub] }):0.000}: " + string.Join(" ", sub.Track.Select(t => $"{t.Frame}:({t.X:0.000},{t.Y:0.000},{t.Radius:0.000},{t.Dark:0.00})")));
                output.WriteLine($"     sync peak {AvSync.Offset(score.Parsed, audio, fps, video.Seconds).Peak:0.00}; parsed: " + string.Join("; ", score.Parsed.Subjects.Select(s => $"{s.Color} {s.Class} {s.Pattern} {s.Action} {s.Start:0.00}-{s.End:0.00} n={s.Frames}")));
            }
        }
    }
}
