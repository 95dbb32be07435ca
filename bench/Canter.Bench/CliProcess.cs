using System.Collections.Concurrent;
using System.Diagnostics;

namespace Canter.Bench;

/// <summary>
/// A process of the built CLI (<c>dotnet canter.dll ...</c>) with its output lines kept, logging one line per entry.
/// The scale-out benchmark and the process-level tests share this file (the tests compile it in).
/// </summary>
public sealed class CliProcess : IDisposable
{
    public required Process Process { get; init; }

    public required string Name { get; init; }

    public ConcurrentQueue<string> Lines { get; } = new();

    public static CliProcess Start(string dll, string[] args, Dictionary<string, string>? env = null)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(dll);
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["Logging__Console__FormatterName"] = "simple";
        start.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        start.Environment["Logging__Console__FormatterOptions__TimestampFormat"] = "HH:mm:ss.fff ";
        foreach (var (k, v) in env ?? []) start.Environment[k] = v;
        var p = new CliProcess { Process = new Process { StartInfo = start }, Name = string.Join(' ', args.Take(1)) };
        p.Process.OutputDataReceived += (_, e) => { if (e.Data is not null) p.Lines.Enqueue(e.Data); };
        p.Process.ErrorDataReceived += (_, e) => { if (e.Data is not null) p.Lines.Enqueue(e.Data); };
        p.Process.Start();
        p.Process.BeginOutputReadLine();
        p.Process.BeginErrorReadLine();
        return p;
    }

    public async Task WaitForLineAsync(string text, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!Lines.Any(l => l.Contains(text, StringComparison.Ordinal)))
        {
            if (Process.HasExited) throw new InvalidOperationException($"{Name} exited ({Process.ExitCode}) before printing '{text}'");
            if (clock.Elapsed > timeout) throw new TimeoutException($"{Name} did not print '{text}' in {timeout.TotalSeconds} s");
            await Task.Delay(50);
        }
    }

    /// <summary>SIGKILL: no shutdown, no goodbye; returns once it is gone.</summary>
    public async Task KillAsync()
    {
        Process.Kill();
        await Process.WaitForExitAsync();
    }

    public void Dispose()
    {
        try { if (!Process.HasExited) Process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { }
        Process.WaitForExit(5000);
        Process.Dispose();
    }
}
