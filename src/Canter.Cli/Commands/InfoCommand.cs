using System.CommandLine;
using System.Diagnostics;
using Canter.Tensors;
using Canter.Tensors.Backends.Cpu;

namespace Canter.Cli.Commands;

/// <summary><c>canter info</c>: what this installation runs on.</summary>
public static class InfoCommand
{
    public static Command Create()
    {
        var command = new Command("info", "Print the engine's settings and what it found on this machine.");
        command.SetAction(_ =>
        {
            Console.WriteLine($"canter {typeof(InfoCommand).Assembly.GetName().Version}");
            Console.WriteLine($".NET {Environment.Version}, {Environment.ProcessorCount} cores");
            OpenBlas.EnsureLoaded();
            Console.WriteLine($"engine threads: {Engine.Threads}");
            Console.WriteLine($"OpenBLAS: {OpenBlas.CoreDescription} ({OpenBlas.Config.Trim()})");
            Console.WriteLine($"PyTorch reference: {TorchVersion() ?? "not found (apt-get install python3-torch)"}");
            return 0;
        });
        return command;
    }

    private static string? TorchVersion()
    {
        try
        {
            var psi = new ProcessStartInfo(Canter.Bench.ReferencePython.Executable, ["-c", "import torch; print(torch.__version__)"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var p = Process.Start(psi);
            if (p is null) return null;
            var version = p.StandardOutput.ReadToEnd().Trim();
            p.WaitForExit();
            return p.ExitCode == 0 ? version : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}
