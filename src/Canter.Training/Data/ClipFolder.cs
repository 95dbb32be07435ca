using System.Text.Json;

namespace Canter.Training.Data;

/// <summary>One training clip of a folder: its video file and its caption (empty when the folder has none), and an edit of it if the folder has one.</summary>
public sealed record ClipEntry(string VideoPath, string Caption, ClipEdit? Edit = null);

/// <summary>An edit pair's other half: the edited clip (same length and motion) and the instruction that asks for it.</summary>
public sealed record ClipEdit(string VideoPath, string Instruction);

/// <summary>
/// A user's folder of clips in the layout video datasets use: a <c>metadata.jsonl</c> with one JSON object a
/// line naming the clip (<c>video</c> or <c>file_name</c>, relative to the folder) and its caption
/// (<c>caption</c> or <c>text</c>); without that file, every .mp4/.mov/.webm/.mkv under the folder, uncaptioned.
/// An entry may carry an edit pair, <c>"edit": {"video": ..., "instruction": ...}</c>: the entry's clip is the source,
/// that video the edited target. <c>canter world export</c> writes exactly this layout.
/// </summary>
public static class ClipFolder
{
    private static readonly string[] VideoExtensions = [".mp4", ".mov", ".webm", ".mkv"];

    public static IReadOnlyList<ClipEntry> Read(string folder)
    {
        if (!Directory.Exists(folder)) throw new DirectoryNotFoundException($"clip folder '{folder}' does not exist");
        var metadata = Path.Combine(folder, "metadata.jsonl");
        var entries = new List<ClipEntry>();
        if (File.Exists(metadata))
        {
            int lineNumber = 0;
            foreach (var line in File.ReadLines(metadata))
            {
                lineNumber++;
                if (string.IsNullOrWhiteSpace(line)) continue;
                JsonDocument doc;
                try { doc = JsonDocument.Parse(line); }
                catch (JsonException e) { throw new InvalidDataException($"{metadata}:{lineNumber}: not JSON ({e.Message})"); }
                using (doc)
                {
                    var root = doc.RootElement;
                    if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{metadata}:{lineNumber}: expected a JSON object");
                    string? video = Text(root, "video") ?? Text(root, "file_name");
                    if (video is null) throw new InvalidDataException($"{metadata}:{lineNumber}: no \"video\" or \"file_name\"");
                    var full = Inside(folder, video, $"{metadata}:{lineNumber}");
                    ClipEdit? edit = null;
                    if (root.TryGetProperty("edit", out var e) && e.ValueKind == JsonValueKind.Object)
                    {
                        string? editVideo = Text(e, "video"), instruction = Text(e, "instruction");
                        if (editVideo is null || string.IsNullOrWhiteSpace(instruction))
                            throw new InvalidDataException($"{metadata}:{lineNumber}: an \"edit\" needs a \"video\" and an \"instruction\"");
                        edit = new ClipEdit(Inside(folder, editVideo, $"{metadata}:{lineNumber}"), instruction);
                    }
                    entries.Add(new ClipEntry(full, Text(root, "caption") ?? Text(root, "text") ?? "", edit));
                }
            }
        }
        else
        {
            entries.AddRange(Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
                .Where(f => VideoExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                .Order(StringComparer.Ordinal)
                .Select(f => new ClipEntry(Path.GetFullPath(f), "")));
        }
        if (entries.Count == 0) throw new InvalidDataException($"'{folder}' has no clips (no metadata.jsonl entries and no video files)");
        return entries;
    }

    /// <summary>The full path of <paramref name="video"/> under <paramref name="folder"/>; an error when it points outside or is missing.</summary>
    private static string Inside(string folder, string video, string where)
    {
        var full = Path.GetFullPath(Path.Combine(folder, video));
        var relative = Path.GetRelativePath(Path.GetFullPath(folder), full);
        if (relative == ".." || relative.StartsWith(".." + Path.DirectorySeparatorChar, StringComparison.Ordinal) || Path.IsPathRooted(relative))
            throw new InvalidDataException($"{where}: '{video}' points outside the folder");
        if (!File.Exists(full)) throw new FileNotFoundException($"{where}: '{video}' does not exist", full);
        return full;
    }

    private static string? Text(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
