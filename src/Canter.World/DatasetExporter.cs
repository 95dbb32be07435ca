using System.Text.Json;
using System.Text.Json.Serialization;
using Canter.Media;

namespace Canter.World;

/// <summary>Settings of a dataset export.</summary>
public sealed record ExportOptions(Split Split, int Count, int Width, int Height, double Fps, float Seconds, int First = 0);

/// <summary>
/// Writes a folder in the layout video datasets use: <c>clips/NNNNNN.mp4</c> and one line per clip in
/// <c>metadata.jsonl</c> (captions, references, an edit pair, the path of its frame-by-frame annotation),
/// so that a user's own folder of clips and captions drops in the same way. Every third scene is multi-shot.
/// </summary>
public static class DatasetExporter
{
    public static readonly JsonSerializerOptions Json = new() { Converters = { new JsonStringEnumConverter() }, WriteIndented = false };

    public static void Export(string folder, ExportOptions o, Action<int>? progress = null)
    {
        if (o.Count <= 0) throw new ArgumentOutOfRangeException(nameof(o), "count must be positive");
        foreach (var sub in new[] { "clips", "references", "edits", "annotations" }) Directory.CreateDirectory(Path.Combine(folder, sub));
        var metadataPath = Path.Combine(folder, "metadata.jsonl");
        using var metadata = new StreamWriter(metadataPath, append: File.Exists(metadataPath));
        for (int i = 0; i < o.Count; i++)
        {
            ulong seed = Splits.Seed(o.Split, o.First + i);
            var scene = SceneGenerator.Generate(seed, o.Seconds);
            if (seed % 3 == 0) scene = Variations.MultiShot(scene);
            string id = $"{o.Split.ToString().ToLowerInvariant()}-{seed}";
            var clip = WorldClip.Render(scene, o.Width, o.Height, o.Fps);
            string video = $"clips/{id}.mp4";
            Mp4Writer.Write(Path.Combine(folder, video), clip.Video, clip.Audio, new Mp4Metadata(Captions.Short(scene), $"canter world seed={seed}"));

            var references = new List<object>();
            for (int s = 0; s < scene.Subjects.Count; s++)
                for (int v = 0; v < 2; v++)
                {
                    string path = $"references/{id}-s{s}-v{v}.png";
                    Png.Write(Path.Combine(folder, path), Variations.Reference(scene, s, v, o.Width, o.Height));
                    references.Add(new { subject = s, image = path });
                }

            var edit = Variations.Edit(scene, seed);
            var edited = WorldClip.Render(edit.Target, o.Width, o.Height, o.Fps);
            string editVideo = $"edits/{id}.mp4";
            Mp4Writer.Write(Path.Combine(folder, editVideo), edited.Video, edited.Audio, new Mp4Metadata(edit.Instruction, $"canter world edit of seed={seed}"));

            string annotation = $"annotations/{id}.json";
            File.WriteAllText(Path.Combine(folder, annotation), JsonSerializer.Serialize(new { scene, frames = clip.Frames, events = clip.Events }, Json));

            metadata.WriteLine(JsonSerializer.Serialize(new
            {
                video,
                caption = Captions.Long(scene, (int)(seed % 2)),
                caption_short = Captions.Short(scene, (int)(seed % 2)),
                caption_timecoded = scene.Shots is null ? null : Variations.TimecodedCaption(scene),
                seconds = scene.Seconds,
                fps = o.Fps,
                width = o.Width,
                height = o.Height,
                seed,
                split = o.Split,
                references,
                edit = new { video = editVideo, instruction = edit.Instruction, kind = edit.Kind },
                annotation,
            }, Json));
            metadata.Flush();
            progress?.Invoke(i + 1);
        }
    }
}
