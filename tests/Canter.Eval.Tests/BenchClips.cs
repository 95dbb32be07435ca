using Canter.Eval.Scoring;
using Canter.Eval.Validation;
using Canter.Media;
using Canter.World;

namespace Canter.Eval.Tests;

/// <summary>
/// The clips the bench is validated on: tiny (96x96, 12 fps, 3 s) so a test takes seconds, scored once and shared.
/// The main scene is written out rather than drawn from a seed, so that it has what each metric needs: a striped red
/// ball that bounces (impacts to sync on, a pattern to lose) and then a blue robot that speaks (a mouth to follow).
/// </summary>
public static class BenchClips
{
    public const int Size = 96;
    public const double Fps = 12;

    public static readonly SceneSpec Scene = new(7, 3f, Background.Studio, Lighting.Day, Camera.Static,
    [
        new SubjectSpec(SubjectClass.Ball, SubjectColor.Red, Pattern.Stripes, 0.18f, 0.3f, 0.55f, Canter.World.Action.Bounce, 0.2f, 1.6f, 11),
        new SubjectSpec(SubjectClass.Robot, SubjectColor.Blue, Pattern.Solid, 0.2f, 0.7f, 0.55f, Canter.World.Action.Speak, 1.5f, 2.9f, 12),
    ]);

    /// <summary>Unseen test scenes that the parser reads well at this size (two walkers; a walker, a speaker and a grower).</summary>
    public static readonly SceneSpec[] TestScenes = [.. new[] { 2, 5 }.Select(i => SceneGenerator.Generate(Splits.Seed(Split.Test, i), 3f))];

    private static readonly Dictionary<(ulong, Damage, bool), ClipScore> Cache = [];

    /// <summary>The scene rendered with a damage, scored against the undamaged scene, with a reference image of subject 0 and the true first frame.</summary>
    public static ClipScore Score(SceneSpec scene, Damage damage)
    {
        bool multiShot = scene.Shots is not null;
        lock (Cache)
        {
            if (Cache.TryGetValue((scene.Seed, damage, multiShot), out var cached)) return cached;
            var (video, audio) = Damages.Render(scene, damage, Size, Size, Fps);
            var clip = new ClipUnderTest($"{scene.Seed}-{damage}", video, audio, scene)
            {
                References = [Variations.Reference(scene, 0, 0, Size, Size)],
                FirstFrame = new RgbImage(Size, Size, Renderer.Render(scene, 0, Size, Size)),
            };
            return Cache[(scene.Seed, damage, multiShot)] = Scorer.Score(clip);
        }
    }
}
