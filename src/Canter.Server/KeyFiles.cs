using System.Text;

namespace Canter.Server;

/// <summary>Secrets kept in the data folder: written once, whole, readable by the owner only.</summary>
public static class KeyFiles
{
    public static string ReadOrCreate(string path, Func<string> make)
    {
        if (File.Exists(path)) return File.ReadAllText(path).Trim();
        var partial = path + ".partial";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        var value = make();
        using (var writer = new StreamWriter(partial, new UTF8Encoding(false), options)) writer.Write(value + "\n");
        try { File.Move(partial, path, overwrite: false); }
        catch (IOException) when (File.Exists(path))
        {
            File.Delete(partial);   // another server on this folder made it first: use theirs
            return File.ReadAllText(path).Trim();
        }
        return value;
    }
}
