using Canter.Media;

namespace Canter.World;

/// <summary>What an edit pair changes. Append only.</summary>
public enum EditKind { Color, Background, Lighting, SwapSubject }

/// <summary>A source scene, the edited scene with one attribute changed, and the instruction that asks for it.</summary>
public sealed record EditPair(SceneSpec Source, SceneSpec Target, EditKind Kind, string Instruction);

/// <summary>
/// Everything derived from a scene for the other modes: multi-shot versions with timecoded captions,
/// reference images of its subjects, and edit pairs.
/// </summary>
public static class Variations
{
    /// <summary>The scene cut into 2 or 3 shots (wide, close-up on a subject, reverse angle) at times drawn from the seed.</summary>
    public static SceneSpec MultiShot(SceneSpec scene)
    {
        var rng = new WorldRandom(scene.Seed ^ 0x5107UL);
        int count = 2 + rng.Next(2);
        var shots = new List<ShotSpec> { new(0, Framing.Wide) };
        float step = scene.Seconds / count;
        for (int i = 1; i < count; i++)
        {
            var framing = rng.Next(2) == 0 ? Framing.CloseUp : Framing.Reverse;
            if (framing == shots[^1].Framing) framing = framing == Framing.CloseUp ? Framing.Reverse : Framing.CloseUp;
            // cut on a whole tenth of a second so that captions can name the time exactly
            float start = MathF.Round(i * step * 10) / 10;
            shots.Add(new ShotSpec(start, framing, rng.Next(scene.Subjects.Count)));
        }
        return scene with { Shots = shots };
    }

    /// <summary>A caption with timecoded beats, one per shot: "[0s-2s] wide shot, ... [2s-4s] close-up on the red ball, ...".</summary>
    public static string TimecodedCaption(SceneSpec scene)
    {
        var shots = scene.Shots ?? [new ShotSpec(0, Framing.Wide)];
        var beats = new List<string>();
        for (int i = 0; i < shots.Count; i++)
        {
            float start = shots[i].Start, end = i + 1 < shots.Count ? shots[i + 1].Start : scene.Seconds;
            var s = scene.Subjects[Math.Clamp(shots[i].Subject, 0, scene.Subjects.Count - 1)];
            string framing = shots[i].Framing switch
            {
                Framing.Wide => "wide shot",
                Framing.CloseUp => $"close-up on the {Vocabulary.Word(s.Color)} {Vocabulary.Word(s.Class)}",
                _ => "reverse angle",
            };
            var acting = scene.Subjects.Where(x => x.Start < end && x.End > start).Select(x => $"the {Vocabulary.Word(x.Color)} {Vocabulary.Word(x.Class)} {Vocabulary.Verb(x.Action)}");
            beats.Add($"[{Seconds(start)}-{Seconds(end)}] {framing}, {string.Join(", ", acting.DefaultIfEmpty("the scene holds"))}");
        }
        return string.Join(" ", beats);
    }

    private static string Seconds(float s) => s.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture) + "s";

    /// <summary>
    /// A reference image of one subject: the same identity in another pose and size, on another background,
    /// centred, under daylight. Variant 0, 1, 2... give different views.
    /// </summary>
    public static RgbImage Reference(SceneSpec scene, int subject, int variant, int width, int height)
    {
        var s = scene.Subjects[subject];
        var rng = new WorldRandom(scene.Seed ^ ((ulong)subject << 32) ^ (ulong)variant * 0x9E37UL);
        var backgrounds = Enum.GetValues<Background>().Where(b => b != scene.Background).ToArray();
        var posed = s with { X = 0.5f, Y = 0.5f, Size = rng.Range(0.3f, 0.5f), Action = Action.Spin, Start = 0, End = 1 };
        var single = new SceneSpec(scene.Seed, 1f, backgrounds[rng.Next(backgrounds.Length)], Lighting.Day, Camera.Static, [posed]);
        // a spin frozen at a random instant is a rotated pose
        return new RgbImage(width, height, Renderer.Render(single, rng.Range(0.05f, 0.95f), width, height));
    }

    /// <summary>The scene with one attribute changed, and the instruction that describes the change.</summary>
    public static EditPair Edit(SceneSpec scene, ulong seed)
    {
        var rng = new WorldRandom(seed ^ scene.Seed ^ 0xED17UL);
        var kind = rng.PickEnum<EditKind>();
        int i = rng.Next(scene.Subjects.Count);
        var s = scene.Subjects[i];
        string name = $"the {Vocabulary.Word(s.Color)} {Vocabulary.Word(s.Class)}";
        switch (kind)
        {
            case EditKind.Color:
                {
                    var color = Other(rng, s.Color, c => scene.Subjects.All(x => (x.Class, x.Color) != (s.Class, c)));
                    return new EditPair(scene, Replace(scene, i, s with { Color = color }), kind, $"Make {name} {Vocabulary.Word(color)}.");
                }
            case EditKind.Background:
                {
                    var background = Other(rng, scene.Background, _ => true);
                    return new EditPair(scene, scene with { Background = background }, kind, $"Move the scene {Vocabulary.Word(background)}.");
                }
            case EditKind.Lighting:
                {
                    var lighting = Other(rng, scene.Lighting, _ => true);
                    return new EditPair(scene, scene with { Lighting = lighting }, kind, $"Change the lighting: {Vocabulary.Word(lighting)}.");
                }
            default:
                {
                    var cls = Other(rng, s.Class, c => scene.Subjects.All(x => (x.Class, x.Color) != (c, s.Color)));
                    return new EditPair(scene, Replace(scene, i, s with { Class = cls }), kind,
                        $"Replace {name} with a {Vocabulary.Word(s.Color)} {Vocabulary.Word(cls)}.");
                }
        }
    }

    private static SceneSpec Replace(SceneSpec scene, int index, SubjectSpec subject) =>
        scene with { Subjects = [.. scene.Subjects.Select((x, j) => j == index ? subject : x)] };

    private static T Other<T>(WorldRandom rng, T current, Func<T, bool> allowed) where T : struct, Enum
    {
        var options = Enum.GetValues<T>().Where(v => !v.Equals(current) && allowed(v)).ToArray();
        return options[rng.Next(options.Length)];
    }
}
