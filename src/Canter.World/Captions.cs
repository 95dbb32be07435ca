namespace Canter.World;

/// <summary>Captions of a scene, from short ("a red ball bounces") to long multi-beat prompts; several wordings per scene.</summary>
public static class Captions
{
    private static string Describe(SubjectSpec s, bool pattern) =>
        pattern && s.Pattern != Pattern.Solid ? $"{Vocabulary.Word(s.Pattern)} {Vocabulary.Word(s.Color)} {Vocabulary.Word(s.Class)}" : $"{Vocabulary.Word(s.Color)} {Vocabulary.Word(s.Class)}";

    private static string Article(string noun) => "aeiou".Contains(noun[0]) ? "an " + noun : "a " + noun;

    /// <summary>One sentence naming each subject and its action.</summary>
    public static string Short(SceneSpec scene, int wording = 0)
    {
        var parts = scene.Subjects.Select(s => $"{Article(Describe(s, wording % 2 == 1))} {Vocabulary.Verb(s.Action)}").ToList();
        string text = parts.Count switch
        {
            1 => parts[0],
            2 => $"{parts[0]} and {parts[1]}",
            _ => $"{string.Join(", ", parts.Take(parts.Count - 1))} and {parts[^1]}",
        };
        return char.ToUpperInvariant(text[0]) + text[1..];
    }

    /// <summary>A multi-sentence prompt: place, lighting, camera, then the events in order.</summary>
    public static string Long(SceneSpec scene, int wording = 0)
    {
        string[] order = ["First", "Then", "Finally"];
        var sentences = new List<string>
        {
            wording % 2 == 0
                ? Sentence($"{Vocabulary.Word(scene.Background)} {Vocabulary.Word(scene.Lighting)}; {Vocabulary.Word(scene.Camera)}")
                : Sentence($"{Vocabulary.Word(scene.Camera)}, {Vocabulary.Word(scene.Background)} {Vocabulary.Word(scene.Lighting)}"),
        };
        for (int i = 0; i < scene.Subjects.Count; i++)
        {
            var s = scene.Subjects[i];
            string lead = scene.Subjects.Count == 1 ? "" : (i == scene.Subjects.Count - 1 && i > 0 ? order[2] : order[Math.Min(i, 1)]) + ", ";
            string subject = $"the {Describe(s, pattern: true)}";
            sentences.Add(Sentence($"{lead}{subject} {Vocabulary.Verb(s.Action)}"));
        }
        return string.Join(" ", sentences);
    }

    private static string Sentence(string text) => char.ToUpperInvariant(text[0]) + text[1..] + ".";
}
