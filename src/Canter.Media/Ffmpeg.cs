using System.Diagnostics;
using System.Text;

namespace Canter.Media;

/// <summary>
/// Locates and runs ffmpeg and ffprobe (CANTER_FFMPEG / CANTER_FFPROBE, else the PATH). Every run has
/// a time limit; a failure becomes a <see cref="MediaException"/> carrying ffmpeg's own last words.
/// </summary>
public static class Ffmpeg
{
    public static string FfmpegPath => Locate("CANTER_FFMPEG", "ffmpeg");

    public static string FfprobePath => Locate("CANTER_FFPROBE", "ffprobe");

    private static string Locate(string variable, string name)
    {
        var env = Environment.GetEnvironmentVariable(variable);
        if (!string.IsNullOrEmpty(env))
            return File.Exists(env) ? env : throw new MediaException($"{variable} points at '{env}', which does not exist.");
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate)) return candidate;
        }
        throw new MediaException($"{name} was not found. Install it with 'apt-get install ffmpeg' (./canter does this when run as root).");
    }

    /// <summary>Starts a process with redirected streams; stderr is collected in the background (last 4 KB kept).</summary>
    internal static (Process Process, Func<string> Errors) Start(string exe, IEnumerable<string> args, bool stdin)
    {
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardInput = stdin,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var process = Process.Start(psi) ?? throw new MediaException($"could not start {exe}");
        var tail = new StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (tail)
            {
                tail.AppendLine(e.Data);
                if (tail.Length > 4096) tail.Remove(0, tail.Length - 4096);
            }
        };
        process.BeginErrorReadLine();
        return (process, () => { lock (tail) return tail.ToString().Trim(); });
    }

    /// <summary>Runs to completion and returns stdout as text; throws on a non-zero exit or the time limit.</summary>
    internal static string RunText(string exe, IEnumerable<string> args, TimeSpan timeout, string what) => RunTextWithErrors(exe, args, timeout, what).Output;

    /// <summary>Like <see cref="RunText"/>, also returning the last of what the tool wrote to stderr.</summary>
    internal static (string Output, string Errors) RunTextWithErrors(string exe, IEnumerable<string> args, TimeSpan timeout, string what)
    {
        var (p, errors) = Start(exe, args, stdin: false);
        using (p)
        {
            var output = p.StandardOutput.ReadToEndAsync();
            if (!p.WaitForExit(timeout))
            {
                Kill(p);
                throw new MediaException($"{what}: gave up after {timeout.TotalSeconds:0} s");
            }
            p.WaitForExit();
            if (p.ExitCode != 0) throw new MediaException($"{what}: {LastLine(errors())}");
            return (output.Result, errors());
        }
    }

    internal static void Kill(Process p)
    {
        try
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
    }

    /// <summary>The most telling line of ffmpeg's stderr (its last non-empty one).</summary>
    internal static string LastLine(string errors)
    {
        var lines = errors.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Length == 0 ? "ffmpeg failed without a message" : lines[^1];
    }
}
