using System.CommandLine;
using Canter.Bench;

namespace Canter.Cli.Commands;

/// <summary><c>canter bench ...</c>: benchmarks that end with their figures as <c>name: value</c> lines.</summary>
public static class BenchCommands
{
    public static Command Create()
    {
        var bench = new Command("bench", "Benchmarks; each ends with its figures, one per line, as 'name: value'.");
        bench.Subcommands.Add(Engine());
        return bench;
    }

    private static Command Engine()
    {
        var threads = new Option<int>("--threads") { Description = "Threads for Canter and PyTorch alike.", DefaultValueFactory = _ => 2 };
        var repeats = new Option<int>("--repeats") { Description = "Timed runs per measurement (the median is reported).", DefaultValueFactory = _ => 5 };
        var quick = new Option<bool>("--quick") { Description = "A small configuration that finishes in seconds (same code paths)." };
        var noTorch = new Option<bool>("--no-torch") { Description = "Skip the PyTorch comparison." };
        var command = new Command("engine", "GEMM against OpenBLAS, DiT forward and training step against PyTorch (width 256, 8 blocks, 4 heads, 4 x 1024 tokens).")
        {
            threads, repeats, quick, noTorch,
        };
        command.SetAction(result =>
        {
            int t = result.GetValue(threads), r = result.GetValue(repeats);
            if (t < 1) throw new ArgumentException("--threads must be at least 1");
            if (r < 1) throw new ArgumentException("--repeats must be at least 1");
            var options = result.GetValue(quick) ? EngineBenchOptions.Quick with { Threads = t } : new EngineBenchOptions(Threads: t, Repeats: r);
            EngineBench.Run(options with { SkipTorch = result.GetValue(noTorch) }, Console.Out);
            return 0;
        });
        return command;
    }
}
