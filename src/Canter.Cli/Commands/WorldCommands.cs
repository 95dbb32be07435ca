using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Canter.Media;
using Canter.World;

namespace Canter.Cli.Commands;

/// <summary><c>canter world ...</c>: the procedural audio-visual world.</summary>
public static class WorldCommands
{
    public static Command Create()
    {
        var world = new Command("world", "The procedural audio-visual world Canter trains and measures on.");
        world.Subcommands.Add(Preview());
        world.Subcommands.Add(Export());
        world.Subcommands.Add(Parse());
        return world;
    }

    private static Command Preview()
    {
        var seed = new Option<ulong>("--seed") { Description = "Scene seed (train, validation and test splits use disjoint ranges).", Required = true };
        var output = new Option<string>("-o", "--output") { Description = "The MP4 to write; a contact sheet (.png) and the scene (.json) go beside it.", Required = true };
        var size = new Option<string>("--size") { Description = "Width x height, e.g. 256x256.", DefaultValueFactory = _ => "256x256" };
        var fps = new Option<double>("--fps") { Description = "Frames per second.", DefaultValueFactory = _ => 24 };
        var seconds = new Option<float>("--seconds") { Description = "Duration (0.5 to 15).", DefaultValueFactory = _ => 4f };
        var multiShot = new Option<bool>("--multi-shot") { Description = "Cut the scene into shots (wide, close-up, reverse) with a timecoded caption." };
        var command = new Command("preview", "Render one scene to MP4 (H.264 + AAC) with its contact sheet and ground truth.") { seed, output, size, fps, seconds, multiShot };
        command.SetAction(result =>
        {
            var (w, h) = ParseSize(result.GetValue(size)!);
            var scene = SceneGenerator.Generate(result.GetValue(seed), result.GetValue(seconds));
            if (result.GetValue(multiShot)) scene = Variations.MultiShot(scene);
            var clip = WorldClip.Render(scene, w, h, result.GetValue(fps));
            var path = result.GetValue(output)!;
            var caption = scene.Shots is null ? Captions.Long(scene) : Variations.TimecodedCaption(scene);
            Mp4Writer.Write(path, clip.Video, clip.Audio, new Mp4Metadata(Captions.Short(scene), $"canter world seed={scene.Seed}"));
            var stem = Path.ChangeExtension(path, null);
            Png.Write(stem + ".png", ContactSheet.Build(clip.Video, clip.Audio, columns: 4, rows: 2));
            File.WriteAllText(stem + ".json", JsonSerializer.Serialize(new { scene, caption, shortCaption = Captions.Short(scene), split = Splits.Of(scene.Seed).ToString(), events = clip.Events },
                new JsonSerializerOptions { WriteIndented = true, Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } }));
            Console.WriteLine(caption);
            Console.WriteLine($"wrote {path}, {stem}.png, {stem}.json");
            return 0;
        });
        return command;
    }

    private static Command Export()
    {
        var split = new Option<Split>("--split") { Description = "train, validation or test (disjoint seed ranges).", DefaultValueFactory = _ => Split.Train };
        var count = new Option<int>("--count") { Description = "Number of clips.", Required = true };
        var first = new Option<int>("--first") { Description = "Index of the first scene in the split (to add to a folder).", DefaultValueFactory = _ => 0 };
        var size = new Option<string>("--size") { Description = "Width x height.", DefaultValueFactory = _ => "128x128" };
        var fps = new Option<double>("--fps") { Description = "Frames per second.", DefaultValueFactory = _ => 24 };
        var seconds = new Option<float>("--seconds") { Description = "Seconds per clip (0.5 to 15).", DefaultValueFactory = _ => 4f };
        var output = new Option<string>("--out") { Description = "Dataset folder (clips/, references/, edits/, annotations/, metadata.jsonl).", Required = true };
        var command = new Command("export", "Write a dataset folder of world clips with captions, references, edit pairs and annotations.") { split, count, first, size, fps, seconds, output };
        command.SetAction(result =>
        {
            var (w, h) = ParseSize(result.GetValue(size)!);
            int n = result.GetValue(count);
            if (n < 1) throw new ArgumentException("--count must be at least 1");
            var options = new ExportOptions(result.GetValue(split), n, w, h, result.GetValue(fps), result.GetValue(seconds), result.GetValue(first));
            var watch = System.Diagnostics.Stopwatch.StartNew();
            DatasetExporter.Export(result.GetValue(output)!, options, done => Console.Error.Write($"\r{done}/{n} clips"));
            Console.Error.WriteLine();
            Console.WriteLine($"wrote {n} clips to {result.GetValue(output)} in {watch.Elapsed.TotalSeconds:0.0} s");
            return 0;
        });
        return command;
    }

    private static Command Parse()
    {
        var clip = new Argument<string>("clip") { Description = "A video file (MP4 or anything ffmpeg reads)." };
        var command = new Command("parse", "Print, as JSON, what the world parser recovers from a clip: background, lighting, camera, subjects, actions, audio onsets.") { clip };
        command.SetAction(result =>
        {
            var parsed = Parser.ParseFile(result.GetValue(clip)!);
            Console.WriteLine(JsonSerializer.Serialize(parsed, new JsonSerializerOptions { WriteIndented = true, Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } }));
            return 0;
        });
        return command;
    }

    internal static (int W, int H) ParseSize(string text)
    {
        var parts = text.ToLowerInvariant().Split('x');
        if (parts.Length != 2 || !int.TryParse(parts[0], CultureInfo.InvariantCulture, out int w) || !int.TryParse(parts[1], CultureInfo.InvariantCulture, out int h)
            || w is < 16 or > 3840 || h is < 16 or > 2160)
            throw new ArgumentException($"--size must be WIDTHxHEIGHT between 16x16 and 3840x2160; got '{text}'");
        return (w, h);
    }
}
