using Canter.World;

namespace Canter.Eval.Metrics;

/// <summary>
/// Prompt adherence and edits, as the world parser reads the clip: every asked attribute is checked by
/// <see cref="ParserEvaluation"/>, the same comparison the parser itself is measured with.
/// </summary>
public static class PromptAdherence
{
    /// <summary>What a short caption asks ("a red ball bounces").</summary>
    public static readonly string[] ShortAttributes = ["color", "class", "action"];

    /// <summary>What a long caption asks: also place, light, camera, pattern and the order of events.</summary>
    public static readonly string[] LongAttributes = ["background", "lighting", "camera", "color", "class", "pattern", "action", "order"];

    /// <summary>
    /// Per attribute the share present (adherence_color, ...), and the short and long totals: the share of all
    /// checks of those attributes that pass (each subject's colour, class and action count once each).
    /// </summary>
    public static Dictionary<string, double> Score(SceneSpec asked, ParsedScene parsed, double frameRate)
    {
        var evaluation = new ParserEvaluation();
        evaluation.Add(asked, parsed, frameRate);
        var values = evaluation.Counts.ToDictionary(c => MetricCatalogue.AdherencePrefix + c.Key, c => evaluation.Accuracy(c.Key));
        values[MetricCatalogue.AdherenceShort] = Pooled(evaluation, ShortAttributes);
        values[MetricCatalogue.AdherenceLong] = Pooled(evaluation, LongAttributes);
        return values;
    }

    private static double Pooled(ParserEvaluation evaluation, IEnumerable<string> attributes)
    {
        var counts = attributes.Where(evaluation.Counts.ContainsKey).Select(a => evaluation.Counts[a]).ToList();
        int total = counts.Sum(c => c.Total);
        return total == 0 ? double.NaN : (double)counts.Sum(c => c.Right) / total;
    }

    /// <summary>
    /// Edit success and preservation, each a share in [0, 1]. The attributes an edit changes are where
    /// <paramref name="source"/> and <paramref name="target"/> differ (background, lighting, camera, and each subject's
    /// colour, class, pattern and action); success is the share of those the result shows as the target asks,
    /// preservation the share of all others it keeps (an edited subject's other attributes count
    /// whether it is found edited or not). Each subject is checked on its own (the target with only that
    /// subject), so that one subject's edit does not decide another's.
    /// </summary>
    public static (double Success, double Preservation) Edit(SceneSpec source, SceneSpec target, ParsedScene parsed, double frameRate)
    {
        if (source.Subjects.Count != target.Subjects.Count)
            throw new ArgumentException($"an edit keeps its subjects: the source has {source.Subjects.Count}, the target {target.Subjects.Count}");
        int changedRight = 0, changed = 0, keptRight = 0, kept = 0;
        void Count(bool isChanged, bool right)
        {
            if (isChanged) { changed++; if (right) changedRight++; }
            else { kept++; if (right) keptRight++; }
        }
        var scene = new ParserEvaluation();
        scene.Add(target with { Subjects = [] }, parsed, frameRate);
        Count(source.Background != target.Background, scene.Accuracy("background") == 1);
        Count(source.Lighting != target.Lighting, scene.Accuracy("lighting") == 1);
        Count(source.Camera != target.Camera, scene.Accuracy("camera") == 1);
        for (int i = 0; i < target.Subjects.Count; i++)
        {
            var (s, t) = (source.Subjects[i], target.Subjects[i]);
            var asTarget = new ParserEvaluation();
            asTarget.Add(target with { Subjects = [t] }, parsed, frameRate);
            // a kept attribute of an edited subject counts wherever the subject is found, edited or not
            var asSource = new ParserEvaluation();
            asSource.Add(target with { Subjects = [s] }, parsed, frameRate);
            foreach (var (attribute, isChanged) in new[] { ("color", s.Color != t.Color), ("class", s.Class != t.Class), ("pattern", s.Pattern != t.Pattern), ("action", s.Action != t.Action) })
                Count(isChanged, asTarget.Accuracy(attribute) == 1 || !isChanged && asSource.Accuracy(attribute) == 1);
        }
        return (changed == 0 ? double.NaN : (double)changedRight / changed, kept == 0 ? double.NaN : (double)keptRight / kept);
    }
}
