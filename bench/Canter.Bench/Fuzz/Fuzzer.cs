using System.Diagnostics;
using Canter.Media;
using Canter.Server.Api;
using Canter.Tensors.IO;

namespace Canter.Bench.Fuzz;

/// <summary>A parser under fuzzing: its seed inputs and how one input is run. <see cref="Run"/> returns normally or throws.</summary>
public sealed record FuzzTarget(string Name, IReadOnlyList<byte[]> Seeds, Func<byte[], CancellationToken, Task> Run,
    Func<Exception, bool> IsRejection, string Extension, int DefaultIterations, Func<Mutator, byte[], byte[]>? Mutate = null)
{
    /// <summary>Offsets of length fields in the seeds that the mutator tampers with more often.</summary>
    public IReadOnlyList<int>? LengthFields { get; init; }
}

/// <summary>An input that crashed, hung or over-allocated a parser; saved under the findings folder.</summary>
public sealed record FuzzFinding(string Target, int Iteration, string Problem, string? SavedAs);

/// <summary>Result of a fuzzing run: inputs tried per target and every finding.</summary>
public sealed record FuzzReport(IReadOnlyDictionary<string, int> InputsPerTarget, IReadOnlyList<FuzzFinding> Findings, double Seconds)
{
    public int InputsTried => InputsPerTarget.Values.Sum();
}

/// <summary>
/// Mutation-based fuzzing of every parser that reads untrusted bytes. Each input runs in process with a time limit;
/// it passes when it parses or is refused with the parser's documented exception. Anything else (another exception
/// type, a hang, an allocation far beyond the input's size) is a finding, and the input is written to
/// <c>findingsDir</c> so that it can be replayed.
/// <example><code>
/// var report = await Fuzzer.RunAsync(FuzzTargets.InProcess(), iterations: 300, seed: 1, time: null, findingsDir: null, Console.Out);
/// </code></example>
/// </summary>
public static class Fuzzer
{
    /// <summary>Allocation allowed per input: this many times its size, plus <see cref="AllocationSlackBytes"/>.</summary>
    public const long AllocationFactor = 64;
    public const long AllocationSlackBytes = 64L << 20;

    public static async Task<FuzzReport> RunAsync(IReadOnlyList<FuzzTarget> targets, int? iterations, int seed, TimeSpan? time,
        string? findingsDir, TextWriter output, TimeSpan? perInput = null)
    {
        var limit = perInput ?? TimeSpan.FromSeconds(10);
        var watch = Stopwatch.StartNew();
        var counts = new Dictionary<string, int>();
        var findings = new List<FuzzFinding>();
        foreach (var target in targets)
        {
            var mutator = new Mutator(unchecked(seed * 1_000_003 + target.Name.Sum(c => c * 31)));
            int n = iterations ?? target.DefaultIterations;
            var deadline = time is { } t ? watch.Elapsed + t / targets.Count : TimeSpan.MaxValue;
            int tried = 0;
            for (int i = 0; i < n && watch.Elapsed < deadline; i++)
            {
                var baseSeed = target.Seeds[mutator.Random.Next(target.Seeds.Count)];
                // every 16th input is a seed unchanged: the seeds themselves must parse
                var input = i % 16 == 0 ? baseSeed : target.Mutate?.Invoke(mutator, baseSeed) ?? mutator.MutateBytes(baseSeed, target.LengthFields);
                tried++;
                var problem = await RunOneAsync(target, input, limit);
                if (problem is null) continue;
                string? saved = null;
                if (findingsDir is not null)
                {
                    Directory.CreateDirectory(findingsDir);
                    saved = Path.Combine(findingsDir, $"{target.Name}-{seed}-{i}{target.Extension}");
                    File.WriteAllBytes(saved, input);
                }
                var finding = new FuzzFinding(target.Name, i, problem, saved);
                findings.Add(finding);
                output.WriteLine($"FINDING {target.Name} #{i}: {problem}{(saved is null ? "" : $" (saved as {saved})")}");
            }
            counts[target.Name] = tried;
            output.WriteLine($"{target.Name}: {tried} inputs, {findings.Count(f => f.Target == target.Name)} findings");
        }
        return new FuzzReport(counts, findings, watch.Elapsed.TotalSeconds);
    }

    /// <summary>Runs one input; null when it passed, otherwise what went wrong.</summary>
    public static async Task<string?> RunOneAsync(FuzzTarget target, byte[] input, TimeSpan limit)
    {
        using var cancel = new CancellationTokenSource(limit);
        long before = GC.GetTotalAllocatedBytes(precise: false);
        var run = Task.Run(() => target.Run(input, cancel.Token));
        var finished = await Task.WhenAny(run, Task.Delay(limit + TimeSpan.FromSeconds(2)));
        if (finished != run) return $"hang: no answer within {limit.TotalSeconds:0.#} s";
        long allocated = GC.GetTotalAllocatedBytes(precise: false) - before;
        try
        {
            await run;
        }
        catch (Exception e) when (target.IsRejection(e))
        {
        }
        catch (Exception e)
        {
            return $"{e.GetType().Name}: {e.Message}\n{e.StackTrace}";
        }
        if (allocated > input.Length * AllocationFactor + AllocationSlackBytes)
            return $"allocated {allocated >> 20} MiB for an input of {input.Length} bytes";
        return null;
    }
}
