using Canter.World;
using Canter.Models.Unified;

namespace Canter.Training.Unified;

/// <summary>What <c>canter bench adherence</c> measured: per asked attribute, the share present in the generated clips.</summary>
public sealed record AdherenceReport(int Prompts, int Skipped, bool Long, IReadOnlyDictionary<string, double> PerAttribute, double Adherence,
    double SecondsPerGeneratedSecond);

/// <summary>
/// Prompt adherence of text-to-video, measured exactly because the world is known: each unseen test scene's caption is
/// the prompt, the world parser reads the generated clip, and every attribute the caption asks for is checked: for
/// short captions the subjects' colour, class and action; for long ones also background, lighting, camera, pattern
/// and the order of events.
/// </summary>
public static class Adherence
{
    private static readonly string[] ShortAttributes = ["color", "class", "action"];
    private static readonly string[] LongAttributes = ["background", "lighting", "camera", "color", "class", "pattern", "action", "order"];

    public static AdherenceReport Run(ModelBundle model, int count, bool longPrompts, int steps, Action<int>? progress = null, string? sampler = null,
        float? guidance = null, float? shift = null)
    {
        if (count < 1 || count > 10_000) throw new ArgumentException($"--count {count} must be in [1, 10000]");
        if (sampler is not null && !Samplers.IsKnown(sampler)) throw new ArgumentException($"sampler '{sampler}' is not {Samplers.Listed}");
        const float max = GenerationRequest.MaxGuidance;
        if (guidance is float gs && !(gs >= 0 && gs <= max)) throw new ArgumentException($"--guidance {gs} must be in [0, {max}]");
        if (shift is float sh && !(sh >= GenerationRequest.MinShift && sh <= GenerationRequest.MaxShift))
            throw new ArgumentException($"--shift {sh} must be in [{GenerationRequest.MinShift}, {GenerationRequest.MaxShift}]");
        var evaluation = new ParserEvaluation();
        int skipped = 0;
        double seconds = 0, generated = 0;
        var m = model.Manifest;
        for (int i = 0; i < count; i++)
        {
            var scene = SceneGenerator.Generate(Splits.Seed(Split.Test, i), m.Seconds);
            string prompt = longPrompts ? Captions.Long(scene) : Captions.Short(scene);
            var request = new GenerationRequest(prompt, m.Width, m.Height, m.Seconds, Seed: (ulong)i, Steps: steps);
            if (sampler is not null) request = request with { Sampler = sampler };
            if (guidance is float g) request = request with { Guidance = g };
            if (shift is float f) request = request with { Shift = f };
            // a prompt longer than the model reads is skipped; any other refusal is a bad setting, and Generate says so
            if (TextTokens.Encode(prompt).Count > m.Config.TextTokens) { skipped++; continue; }
            var result = Generator.Generate(model, request);
            seconds += result.Seconds;
            generated += result.Video.Seconds;
            evaluation.Add(scene, Parser.Parse(result.Video, result.Audio), result.Video.FrameRate);
            progress?.Invoke(i + 1);
        }
        var asked = longPrompts ? LongAttributes : ShortAttributes;
        var per = asked.Where(a => evaluation.Counts.ContainsKey(a)).ToDictionary(a => a, evaluation.Accuracy);
        double right = asked.Where(a => evaluation.Counts.ContainsKey(a)).Sum(a => evaluation.Counts[a].Right);
        double total = asked.Where(a => evaluation.Counts.ContainsKey(a)).Sum(a => evaluation.Counts[a].Total);
        return new AdherenceReport(count - skipped, skipped, longPrompts, per, total > 0 ? right / total : double.NaN, generated > 0 ? seconds / generated : double.NaN);
    }
}
