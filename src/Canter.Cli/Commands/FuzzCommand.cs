using System.CommandLine;
using Canter.Bench;
using Canter.Bench.Fuzz;

namespace Canter.Cli.Commands;

/// <summary>
/// <c>canter fuzz</c>: mutation fuzzing of every parser of untrusted bytes (checkpoints, media, request bodies).
/// <example><code>
/// canter fuzz --target safetensors --iterations 5000 --seed 1
/// canter fuzz --target all --time 300
/// </code></example>
/// </summary>
public static class FuzzCommand
{
    private static readonly string[] AllTargets = [.. FuzzTargets.InProcessNames, .. FuzzTargets.MediaNames, .. HttpTargets.Names];

    public static Command Create()
    {
        var target = new Option<string>("--target") { Description = $"What to fuzz: {string.Join(", ", AllTargets)} or all.", DefaultValueFactory = _ => "all" };
        var iterations = new Option<int?>("--iterations") { Description = "Inputs per target (default: a few thousand in process, tens for ffmpeg-backed targets, hundreds over HTTP)." };
        var seed = new Option<int>("--seed") { Description = "Seed of the mutations; the same seed tries the same inputs.", DefaultValueFactory = _ => 1 };
        var time = new Option<double?>("--time") { Description = "Stop after this many seconds in all, shared between the targets." };
        var findings = new Option<DirectoryInfo>("--findings") { Description = "Where inputs that crash, hang or over-allocate are saved.", DefaultValueFactory = _ => new DirectoryInfo("fuzz-findings") };
        var modelDir = new Option<DirectoryInfo>("--model-dir") { Description = "The model the HTTP targets' server loads.", DefaultValueFactory = _ => new DirectoryInfo(VaeCommands.DefaultModelDir) };
        var command = new Command("fuzz", "Feed mutated inputs to every parser of untrusted bytes; any crash, hang or oversized allocation is a finding.")
            { target, iterations, seed, time, findings, modelDir };
        command.SetAction(async (result, cancel) =>
        {
            var name = result.GetValue(target)!;
            var names = name == "all" ? AllTargets : [name];
            if (names.Any(n => !AllTargets.Contains(n)))
                throw new ArgumentException($"--target: '{name}' is not one of {string.Join(", ", AllTargets)}, all");
            var scratch = Path.Combine(Path.GetTempPath(), $"canter-fuzz-{Guid.NewGuid():N}");
            var targets = new List<FuzzTarget>();
            HttpTargets? http = null;
            try
            {
                foreach (var n in names.Where(n => !HttpTargets.Names.Contains(n)))
                {
                    if (FuzzTargets.Create(n, scratch) is { } t) targets.Add(t);
                    else Console.WriteLine($"{n}: skipped (no seed: models/canter-tiny/transformer.json not found)");
                }
                if (names.Any(HttpTargets.Names.Contains))
                {
                    http = await HttpTargets.StartAsync(result.GetValue(modelDir)!.FullName);
                    if (names.Contains("json")) targets.Add(http.Json());
                    if (names.Contains("multipart")) targets.Add(http.MultipartTarget());
                }
                var budget = result.GetValue(time) is { } s ? TimeSpan.FromSeconds(s) : (TimeSpan?)null;
                var report = await Fuzzer.RunAsync(targets, result.GetValue(iterations), result.GetValue(seed), budget,
                    result.GetValue(findings)!.FullName, Console.Out);
                Console.WriteLine();
                var figures = new List<(string, double)> { ("inputs_tried", report.InputsTried) };
                figures.AddRange(report.InputsPerTarget.Select(p => ($"inputs_per_target_{p.Key}", (double)p.Value)));
                figures.Add(("findings", report.Findings.Count));
                figures.Add(("seconds", report.Seconds));
                Measure.Figures(Console.Out, figures);
                return report.Findings.Count == 0 ? 0 : 1;
            }
            finally
            {
                if (http is not null) await http.DisposeAsync();
                try { Directory.Delete(scratch, recursive: true); }
                catch (DirectoryNotFoundException) { }
            }
        });
        return command;
    }
}
