using System.Diagnostics;
using System.Globalization;
using Canter.Training.Unified;
using Canter.World;

namespace Canter.Bench;

/// <summary>
/// One sampler setting to measure: the solver, its steps, the flow time below which guidance is off (0: never off), the
/// schedule's shift (null: generation's default), and how often every guidance branch runs (1: every guided step; N: every
/// N-th, with the last guidance correction carried over between).
/// </summary>
public sealed record SamplerCandidate(string Sampler, int Steps, float GuidanceUntil = 0f, float? Shift = null, int GuidanceEvery = 1)
{
    /// <summary>"dpm++2m:8", "dpm++2m:8:0.5", "ab2:6:0:2" or "ab2:8:0:3:2" (sampler, steps, guidance-until, schedule shift, guidance-every).</summary>
    public static SamplerCandidate Parse(string text)
    {
        var parts = text.Trim().Split(':');
        if (parts.Length is < 2 or > 5 || !Samplers.IsKnown(parts[0]) || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int steps)
            || steps < 1 || steps > 200)
            throw new ArgumentException($"candidate '{text}' is not SAMPLER:STEPS[:GUIDANCE_UNTIL[:SHIFT[:GUIDANCE_EVERY]]] with a sampler of {Samplers.Listed} and 1 to 200 steps");
        float until = 0;
        if (parts.Length >= 3 && !(float.TryParse(parts[2], NumberStyles.Float, CultureInfo.InvariantCulture, out until) && until >= 0 && until <= 1))
            throw new ArgumentException($"candidate '{text}': guidance-until '{parts[2]}' is not a flow time in [0, 1]");
        float? shift = null;
        if (parts.Length >= 4)
        {
            if (!(float.TryParse(parts[3], NumberStyles.Float, CultureInfo.InvariantCulture, out float s) && s >= GenerationRequest.MinShift && s <= GenerationRequest.MaxShift))
                throw new ArgumentException($"candidate '{text}': shift '{parts[3]}' is not in [{GenerationRequest.MinShift}, {GenerationRequest.MaxShift}]");
            shift = s;
        }
        int every = 1;
        if (parts.Length == 5 && !(int.TryParse(parts[4], NumberStyles.None, CultureInfo.InvariantCulture, out every) && every >= 1 && every <= GenerationRequest.MaxGuidanceEvery))
            throw new ArgumentException($"candidate '{text}': guidance-every '{parts[4]}' is not a whole number in [1, {GenerationRequest.MaxGuidanceEvery}]");
        return new SamplerCandidate(parts[0], steps, until, shift, every);
    }

    /// <summary>The figure name: heun_8, dpm++2m_6_until_0.5, ab2_6_shift_2.</summary>
    public string Name => $"{Sampler}_{Steps}" + (GuidanceUntil > 0 ? $"_until_{GuidanceUntil.ToString(CultureInfo.InvariantCulture)}" : "")
        + (Shift is { } s ? $"_shift_{s.ToString(CultureInfo.InvariantCulture)}" : "") + (GuidanceEvery > 1 ? $"_every_{GuidanceEvery}" : "");
}

/// <summary>What <see cref="SamplerBench"/> measures: cases (test prompt and seed pairs), the reference's Heun steps, the candidates.</summary>
public sealed record SamplerBenchOptions(string ModelDir, int Cases = 3, int ReferenceSteps = 32, IReadOnlyList<SamplerCandidate>? Candidates = null)
{
    /// <summary>Heun 8 (the default before ab2), Euler at about its cost, the multistep solvers at 4 to 8 steps, and guidance intervals.</summary>
    public const string DefaultCandidates =
        "heun:8,heun:4,euler:8,euler:15,dpm++2m:4,dpm++2m:6,dpm++2m:8,ab2:4,ab2:6,ab2:8,heun:8:0.5,dpm++2m:6:0.5,dpm++2m:6:0.75,ab2:6:0.5,ab2:6:0.75";
}

/// <summary>
/// Accuracy of each sampler setting against a fine solution of the same ODE, with the shipped model: for each case (a
/// short caption of an unseen test scene at the model's size and length, its own seed) the reference is Heun with many
/// steps and guidance at every step; each candidate's final video and audio tokens (before decoding, so the decoders cost
/// nothing here) are compared to it as RMS(candidate - reference) / RMS(reference), averaged over the cases. Cost is model
/// evaluations (NFE) and guidance-branch evaluations per generation: an evaluation with guidance off runs one branch,
/// about half the time of a guided one, as is one that carries the last guidance correction over. A guidance interval or a
/// carried-over correction changes the ODE itself, so its error is the distance from the fully guided solution, not solver
/// error alone.
/// </summary>
public static class SamplerBench
{
    public static int Run(SamplerBenchOptions o, TextWriter output, TextWriter progress)
    {
        if (o.Cases is < 1 or > 20) throw new ArgumentException($"--cases {o.Cases} must be in [1, 20]");
        if (o.ReferenceSteps is < 8 or > 200) throw new ArgumentException($"--reference-steps {o.ReferenceSteps} must be in [8, 200]");
        var candidates = o.Candidates ?? SamplerBenchOptions.DefaultCandidates.Split(',').Select(SamplerCandidate.Parse).ToList();
        if (candidates.Count == 0) throw new ArgumentException("--candidates is empty");
        var model = ModelBundle.Load(o.ModelDir);
        var m = model.Manifest;
        var videoErrors = candidates.Select(_ => new List<double>()).ToArray();
        var audioErrors = candidates.Select(_ => new List<double>()).ToArray();
        var seconds = new double[candidates.Count];
        var cost = new (int Evaluations, int Branches)[candidates.Count];
        for (int i = 0; i < o.Cases; i++)
        {
            var scene = SceneGenerator.Generate(Splits.Seed(Split.Test, i), m.Seconds);
            var request = new GenerationRequest(Captions.Short(scene), m.Width, m.Height, m.Seconds, Seed: (ulong)(i + 1), Steps: o.ReferenceSteps, Sampler: Samplers.Heun,
                GuidanceEvery: 1);   // the reference guides with every branch at every evaluation
            progress.WriteLine($"case {i + 1}/{o.Cases}: \"{request.Prompt}\", seed {request.Seed}: reference heun {o.ReferenceSteps} steps");
            var reference = Generator.Sample(model, request);
            for (int k = 0; k < candidates.Count; k++)
            {
                var c = candidates[k];
                var clock = Stopwatch.StartNew();
                var tokens = Generator.Sample(model, request with { Sampler = c.Sampler, Steps = c.Steps, GuidanceUntil = c.GuidanceUntil, Shift = c.Shift ?? request.Shift, GuidanceEvery = c.GuidanceEvery });
                seconds[k] += clock.Elapsed.TotalSeconds / o.Cases;
                videoErrors[k].Add(Samplers.RelativeRms(tokens.Video, reference.Video));
                audioErrors[k].Add(Samplers.RelativeRms(tokens.Audio, reference.Audio));
                cost[k] = (tokens.Evaluations, tokens.BranchEvaluations);
                progress.WriteLine($"  {c.Name}: video {videoErrors[k][^1]:F4}, audio {audioErrors[k][^1]:F4}, {tokens.Evaluations} evaluations, {clock.Elapsed.TotalSeconds:F1} s");
            }
        }
        output.WriteLine($"{o.Cases} cases at {m.Width}x{m.Height}, {m.Seconds} s; reference heun {o.ReferenceSteps} steps; error = RMS(tokens - reference) / RMS(reference), mean over cases");
        output.WriteLine($"{"candidate",-24} {"nfe",4} {"branches",8} {"video",8} {"audio",8} {"seconds",8}");
        for (int k = 0; k < candidates.Count; k++)
            output.WriteLine($"{candidates[k].Name,-24} {cost[k].Evaluations,4} {cost[k].Branches,8} {videoErrors[k].Average(),8:F4} {audioErrors[k].Average(),8:F4} {seconds[k],8:F2}");
        foreach (var (c, k) in candidates.Select((c, k) => (c, k)))
        {
            output.WriteLine($"{c.Name}_nfe: {cost[k].Evaluations}");
            output.WriteLine($"{c.Name}_branch_evaluations: {cost[k].Branches}");
            output.WriteLine($"{c.Name}_video_error: {videoErrors[k].Average().ToString("F4", CultureInfo.InvariantCulture)}");
            output.WriteLine($"{c.Name}_audio_error: {audioErrors[k].Average().ToString("F4", CultureInfo.InvariantCulture)}");
            output.WriteLine($"{c.Name}_seconds: {seconds[k].ToString("F2", CultureInfo.InvariantCulture)}");
        }
        return 0;
    }
}
