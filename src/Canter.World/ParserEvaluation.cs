namespace Canter.World;

/// <summary>Attribute-by-attribute agreement between what the parser recovered and the scene's truth.</summary>
public sealed class ParserEvaluation
{
    private readonly Dictionary<string, (int Right, int Total)> _counts = [];
    private readonly List<double> _eventErrors = [];

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
    /// <param name="frameRate">
    /// Frame rate of the parsed video: each true visual event (impact, step, syllable, start of a spin or a growth)
    /// counts as timed when the parser placed an event of its kind on the same subject within one frame of it.
    /// </param>
    public void Add(SceneSpec truth, ParsedScene parsed, double frameRate)
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
        if (truth.Shots is { Count: > 0 } shots)
        {
            // each shot: found, starting within one frame of its cut, with its framing (and a close-up on the right subject)
            foreach (var shot in shots)
            {
                var found = parsed.Shots.FirstOrDefault(p => Math.Abs(p.Start - shot.Start) <= 1 / frameRate + 1e-4 || shot.Start == 0 && p.Start == 0);
                Count("shots", found is not null && found.Framing == shot.Framing
                    && (shot.Framing != Framing.CloseUp || found.Subject == truth.Subjects[Math.Clamp(shot.Subject, 0, truth.Subjects.Count - 1)].Color));
            }
            Count("shot_count", parsed.Shots.Count == shots.Count);
        }
        // where each subject is: a matched subject counts as placed when nine in ten of its sightings lie within 0.02
        // scene units (3 pixels at 144 rows) of where the truth has it at that time (camera motion removed)
        foreach (var s in truth.Subjects)
        {
            var track = matches[s]?.Track ?? [];
            int near = track.Count(p => { var at = Motion.At(s, p.Time); return Math.Abs(at.X - p.X) + Math.Abs(at.Y - p.Y) < 0.02; });
            Count("position", track.Count > 0 && near >= 0.9 * track.Count);
        }
        var events = Motion.Events(truth);
        for (int i = 0; i < truth.Subjects.Count; i++)
        {
            var match = matches[truth.Subjects[i]];
            foreach (var e in events.Where(e => e.Subject == i && e.Time < truth.Seconds))
            {
                var nearest = match?.Events.Where(p => p.Kind == e.Kind).Select(p => (double)Math.Abs(p.Time - e.Time)).DefaultIfEmpty(double.MaxValue).Min() ?? double.MaxValue;
                Count("event_time", nearest <= 1 / frameRate);
                if (nearest < 1) _eventErrors.Add(nearest);
            }
        }
        if (truth.Subjects.Count > 1)
        {
            var trueOrder = truth.Subjects.Select(s => s.Color).ToList();
            var parsedOrder = parsed.Subjects.Where(p => trueOrder.Contains(p.Color)).OrderBy(p => p.Start).Select(p => p.Color).ToList();
            Count("order", parsedOrder.SequenceEqual(trueOrder));
        }
    }

    public double Accuracy(string attribute) => _counts.TryGetValue(attribute, out var c) && c.Total > 0 ? (double)c.Right / c.Total : double.NaN;

    /// <summary>Median distance (s) from each true event to the nearest parsed one of its kind and subject (those within a second).</summary>
    public double MedianEventError => _eventErrors.Count == 0 ? double.NaN : _eventErrors.Order().ElementAt(_eventErrors.Count / 2);

    /// <summary>Share of right attributes over all attributes; event timing and positions are reported on their own.</summary>
    public double Overall => _counts.Where(c => !Separate.Contains(c.Key)).Sum(c => c.Value.Right) / (double)Math.Max(1, _counts.Where(c => !Separate.Contains(c.Key)).Sum(c => c.Value.Total));

    private static readonly string[] Separate = ["event_time", "position"];
}
