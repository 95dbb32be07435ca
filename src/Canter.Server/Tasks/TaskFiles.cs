namespace Canter.Server.Tasks;

/// <summary>
/// The files of tasks under the data folder: inputs/ID/ holds what a task generates from (uploads, fetched or copied
/// inputs), results/ID/ what it made (video.mp4, poster.png, record.json, spritesheet.png). A result file appears whole
/// or not at all, and a task is marked succeeded only once all of them are there.
/// </summary>
public sealed class TaskFiles
{
    public const string Video = "video.mp4";
    public const string Poster = "poster.png";
    public const string Record = "record.json";
    public const string Spritesheet = "spritesheet.png";

    public TaskFiles(string dataDir)
    {
        Root = Path.GetFullPath(dataDir);
        Directory.CreateDirectory(Path.Combine(Root, "inputs"));
        Directory.CreateDirectory(Path.Combine(Root, "results"));
    }

    public string Root { get; }

    public string Inputs(string id) => Path.Combine(Root, "inputs", Checked(id));

    public string Results(string id) => Path.Combine(Root, "results", Checked(id));

    public string Result(string id, string file) => Path.Combine(Results(id), file);

    /// <summary>
    /// Removes a task's inputs; a missing folder is fine. Its results go through the result store
    /// (<see cref="Storage.IResultStore.DeleteAsync"/>), wherever they are kept.
    /// </summary>
    public void DeleteInputs(string id)
    {
        try { if (Directory.Exists(Inputs(id))) Directory.Delete(Inputs(id), recursive: true); }
        catch (IOException) { }   // a file still open: the folder goes with the next delete or restart
    }

    /// <summary>Removes what a task made (its inputs stay); a missing folder is fine.</summary>
    public void DeleteResults(string id)
    {
        try { if (Directory.Exists(Results(id))) Directory.Delete(Results(id), recursive: true); }
        catch (IOException) { }   // a file still open: it goes with the task's delete
    }

    /// <summary>
    /// Removes half-written files (a crash during a write leaves them; nothing refers to them). Only for a data folder
    /// of one process: in a shared one, other workers are writing theirs right now.
    /// </summary>
    public void RemovePartialFiles()
    {
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Root, "results"), "*.partial*", SearchOption.AllDirectories))
            File.Delete(file);
    }

    /// <summary>Removes the half-written files of one task (its worker died mid-write); the worker that claimed it again calls this.</summary>
    public void RemovePartialFiles(string id)
    {
        var dir = Results(id);
        if (!Directory.Exists(dir)) return;
        foreach (var file in Directory.EnumerateFiles(dir, "*.partial*"))
            File.Delete(file);
    }

    /// <summary>Ids are made by the server, but paths are built from what a client sends: nothing but [A-Za-z0-9_-].</summary>
    public static bool IsId(string id) => id.Length is > 0 and <= 64 && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-');

    /// <summary><paramref name="id"/> when it <see cref="IsId">is a task id</see>; else an ArgumentException.</summary>
    public static string CheckedId(string id) => IsId(id) ? id : throw new ArgumentException($"'{id}' is not a task id");

    private static string Checked(string id) => CheckedId(id);
}
