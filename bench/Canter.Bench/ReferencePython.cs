using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Canter.Bench;

/// <summary>
/// The Python that runs the PyTorch references: CANTER_PYTHON when set, else Debian's /usr/bin/python3
/// (where python3-torch installs), else python3 on the PATH.
/// </summary>
public static class ReferencePython
{
    public static string Executable =>
        Environment.GetEnvironmentVariable("CANTER_PYTHON") is { Length: > 0 } p ? p
        : File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

    /// <summary>
    /// Runs a reference script under <see cref="Executable"/> with <paramref name="arguments"/> (the script first) and
    /// parses the JSON object it prints on its last line; a non-zero exit is an error carrying its stderr after
    /// <paramref name="failure"/>.
    /// </summary>
    public static JsonNode RunJson(IEnumerable<string> arguments, string failure)
    {
        var psi = new ProcessStartInfo(Executable, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {Executable}");
        var err = p.StandardError.ReadToEndAsync();
        var stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{failure}: {err.Result}");
        return JsonNode.Parse(stdout.Trim().Split('\n')[^1])!;
    }
}
