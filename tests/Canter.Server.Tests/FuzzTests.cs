using Canter.Bench.Fuzz;

namespace Canter.Server.Tests;

/// <summary>
/// Runs alone: the fuzzer charges every byte the process allocates while an input runs to that input, so tests
/// running beside it would read as over-allocating parsers.
/// </summary>
[CollectionDefinition(nameof(FuzzCollection), DisableParallelization = true)]
public sealed class FuzzCollection;

/// <summary>
/// <c>canter fuzz</c> sized for CI: every parser of untrusted bytes (checkpoints, media, request bodies over HTTP)
/// takes a fixed-seed run of mutated inputs, and none may crash, hang or over-allocate. The counts keep the whole
/// class near 40 s on 2 cores; the ffmpeg-backed targets cost a process per input, so they take fewer.
/// A longer search is <c>canter fuzz --target all --time 600</c>.
/// </summary>
[Collection(nameof(FuzzCollection))]
public sealed class FuzzTests
{
    private const int Seed = 20261123;

    /// <summary>Each target and its count of inputs.</summary>
    public static readonly TheoryData<string, int> Targets = new()
    {
        { "safetensors", 1500 }, { "wav", 2000 }, { "manifest", 1000 },
        { "png", 16 }, { "video", 8 }, { "audio", 16 },
        { "json", 250 }, { "multipart", 150 },
    };

    [Fact]
    public void EveryTargetOfCanterFuzzIsCovered() =>
        Assert.Equal([.. FuzzTargets.InProcessNames, .. FuzzTargets.MediaNames, .. HttpTargets.Names],
            Targets.Select(row => (string)row[0]));

    [Theory]
    [MemberData(nameof(Targets))]
    public async Task NoInputCrashesTheParser(string name, int count)
    {
        var scratch = Path.Combine(Path.GetTempPath(), $"canter-fuzz-test-{Guid.NewGuid():N}");
        HttpTargets? http = null;
        try
        {
            FuzzTarget target;
            if (HttpTargets.Names.Contains(name))
            {
                http = await HttpTargets.StartAsync(Shipped.ModelDir);
                target = name == "json" ? http.Json() : http.MultipartTarget();
            }
            else target = FuzzTargets.Create(name, scratch) ?? throw new InvalidOperationException($"{name}: no seed inputs (is models/canter-tiny there?)");

            var log = new StringWriter();
            var report = await Fuzzer.RunAsync([target], count, Seed, time: null, findingsDir: null, log);

            Assert.True(report.Findings.Count == 0, $"{report.Findings.Count} finding(s) with seed {Seed}:\n{log}");
            Assert.Equal(count, report.InputsPerTarget[name]);
        }
        finally
        {
            if (http is not null) await http.DisposeAsync();
            if (Directory.Exists(scratch)) Directory.Delete(scratch, recursive: true);
        }
    }
}
