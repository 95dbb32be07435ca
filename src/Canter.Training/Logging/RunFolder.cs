using System.Text.Json;

namespace Canter.Training.Logging;

/// <summary>
/// A training run's folder: run.json (what the run is; a rerun with other settings is refused) and checkpoint/
/// (written to checkpoint.new, then swapped in, so a crash leaves the last whole checkpoint).
/// </summary>
public static class RunFolder
{
    /// <summary>Writes run.json the first time; afterwards refuses a run whose description differs.</summary>
    public static void Claim(string folder, string description)
    {
        Directory.CreateDirectory(folder);
        var runPath = Path.Combine(folder, "run.json");
        if (File.Exists(runPath))
        {
            if (File.ReadAllText(runPath) != description)
                throw new ArgumentException($"{folder} holds a run with other settings ({runPath}); choose another --out");
        }
        else
        {
            File.WriteAllText(runPath, description);
        }
    }

    /// <summary>"world", or the full path of a data folder, so that <c>./d</c> and <c>d</c> name the same run.</summary>
    public static string DataName(string data) => data == "world" ? data : Path.GetFullPath(data).TrimEnd(Path.DirectorySeparatorChar);

    /// <summary>The checkpoint folder of a run, recovering a swap that a crash interrupted; null when there is none.</summary>
    public static string? Checkpoint(string folder)
    {
        var checkpoint = Path.Combine(folder, "checkpoint");
        if (!Directory.Exists(checkpoint) && Directory.Exists(checkpoint + ".old")) Directory.Move(checkpoint + ".old", checkpoint);
        return File.Exists(Path.Combine(checkpoint, "state.json")) ? checkpoint : null;
    }

    public static long ReadStep(string checkpoint)
    {
        var path = Path.Combine(checkpoint, "state.json");
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            long step = doc.RootElement.GetProperty("step").GetInt64();
            if (step < 0) throw new InvalidDataException($"{path}: negative step");
            return step;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"{path}: not a checkpoint state ({e.Message})");
        }
    }

    /// <summary>Writes a checkpoint: <paramref name="write"/> fills a fresh folder, state.json records the step, then the folders swap.</summary>
    public static void SaveCheckpoint(string folder, long step, Action<string> write)
    {
        var checkpoint = Path.Combine(folder, "checkpoint");
        var fresh = checkpoint + ".new";
        if (Directory.Exists(fresh)) Directory.Delete(fresh, true);
        Directory.CreateDirectory(fresh);
        write(fresh);
        File.WriteAllText(Path.Combine(fresh, "state.json"), JsonSerializer.Serialize(new { step }));
        var old = checkpoint + ".old";
        if (Directory.Exists(old)) Directory.Delete(old, true);
        if (Directory.Exists(checkpoint)) Directory.Move(checkpoint, old);
        Directory.Move(fresh, checkpoint);
        if (Directory.Exists(old)) Directory.Delete(old, true);
    }
}
