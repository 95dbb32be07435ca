using Canter.World;
using Canter.Models.Unified;

namespace Canter.Training.Unified;

/// <summary>
/// What <c>canter bench adherence</c> measured: per asked attribute, the share present in the generated clips.
/// <paramref name="Mismatched"/> scores the same clips against another test scene's caption (the next one's): the share
/// that content ignoring its prompt reaches by chance. The prompt's own effect is <c>Adherence - Mismatched</c>.
/// </summary>
public sealed record AdherenceReport(int Prompts, int Skipped, bool Long, IReadOnlyDictionary<string, double> PerAttribute, double Adherence,
    double Mismatched, double SecondsPerGeneratedSecond);

/// <summary>The share of asked attributes found, per attribute and over all.</summary>
public sealed record AdherenceScore(IReadOnlyDictionary<string, double> PerAttribute, double Adherence);

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
        var scenes = new List<SceneSpec>();
        var parsed = new List<ParsedScene>();
        double frameRate = 0;
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
            scenes.Add(scene);
            parsed.Add(Parser.Parse(result.Video, result.Audio));
            frameRate = result.Video.FrameRate;
            progress?.Invoke(i + 1);
        }
        var matched = Score(scenes, parsed, frameRate, longPrompts);
        var mismatched = scenes.Count > 1 ? Score([.. scenes.Skip(1), scenes[0]], parsed, frameRate, longPrompts).Adherence : double.NaN;
        return new AdherenceReport(count - skipped, skipped, longPrompts, matched.PerAttribute, matched.Adherence, mismatched,
            generated > 0 ? seconds / generated : double.NaN);
    }

    /// <summary>
    /// Scores each parsed clip against the scene at the same index: the attributes a short caption asks for (the subjects'
    /// colour, class and action) or a long one (also background, lighting, camera, pattern and the order of events).
    /// </summary>
    public static AdherenceScore Score(IReadOnlyList<SceneSpec> scenes, IReadOnlyList<ParsedScene> parsed, double frameRate, bool longPrompts)
    {
        if (scenes.Count != parsed.Count) throw new ArgumentException($"{scenes.Count} scenes against {parsed.Count} parsed clips");
        var evaluation = new ParserEvaluation();
        for (int i = 0; i < scenes.Count; i++) evaluation.Add(scenes[i], parsed[i], frameRate);
        var asked = (longPrompts ? LongAttributes : ShortAttributes).Where(a => evaluation.Counts.ContainsKey(a)).ToList();
        var per = asked.ToDictionary(a => a, evaluation.Accuracy);
        double right = asked.Sum(a => evaluation.Counts[a].Right);
        double total = asked.Sum(a => evaluation.Counts[a].Total);
        return new AdherenceScore(per, total > 0 ? right / total : double.NaN);
    }
}
