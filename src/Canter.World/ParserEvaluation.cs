namespace Canter.World;

/// <summary>Attribute-by-attribute agreement between what the parser recovered and the scene's truth.</summary>
public sealed class ParserEvaluation
{
    private readonly Dictionary<string, (int Right, int Total)> _counts = [];

    public IReadOnlyDictionary<string, (int Right, int Total)> Counts => _counts;

    private void Count(string attribute, bool right)
    {
        var (r, t) = _counts.GetValueOrDefault(attribute);
        _counts[attribute] = (r + (right ? 1 : 0), t + 1);
    }

    /// <summary>
    /// Scores one clip: scene attributes, then each true subject against a parsed subject of its colour (of its colour
    /// and class first, since two subjects may share a colour), each parsed subject used once.
    /// </summary>
    public void Add(SceneSpec truth, ParsedScene parsed)
    {
        Count("background", parsed.Background == truth.Background);
        Count("lighting", parsed.Lighting == truth.Lighting);
        Count("camera", parsed.Camera == truth.Camera);
        Count("subject_count", parsed.Subjects.Count == truth.Subjects.Count);
        var unused = parsed.Subjects.ToList();
        var matches = new Dictionary<SubjectSpec, ParsedSubject?>();
        foreach (var s in truth.Subjects)
        {
            var exact = unused.FirstOrDefault(p => p.Color == s.Color && p.Class == s.Class);
            if (exact is not null) unused.Remove(exact);
            matches[s] = exact;
        }
        foreach (var s in truth.Subjects.Where(x => matches[x] is null))
        {
            var same = unused.FirstOrDefault(p => p.Color == s.Color);
            if (same is not null) unused.Remove(same);
            matches[s] = same;
        }
        foreach (var s in truth.Subjects)
        {
            var match = matches[s];
            Count("color", match is not null);
            Count("class", match?.Class == s.Class);
            Count("pattern", match?.Pattern == s.Pattern);
            Count("action", match?.Action == s.Action);
        }
        if (truth.Subjects.Count > 1)
        {
            var trueOrder = truth.Subjects.Select(s => s.Color).ToList();
            var parsedOrder = parsed.Subjects.Where(p => trueOrder.Contains(p.Color)).OrderBy(p => p.Start).Select(p => p.Color).ToList();
            Count("order", parsedOrder.SequenceEqual(trueOrder));
        }
    }

    public double Accuracy(string attribute) => _counts.TryGetValue(attribute, out var c) && c.Total > 0 ? (double)c.Right / c.Total : double.NaN;

    public double Overall => _counts.Values.Sum(c => c.Right) / (double)Math.Max(1, _counts.Values.Sum(c => c.Total));
}
