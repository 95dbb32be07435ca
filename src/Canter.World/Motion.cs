namespace Canter.World;

/// <summary>Where a subject is and how it looks at one instant, in scene units.</summary>
public readonly record struct SubjectState(float X, float Y, float Radius, float Angle, float Mouth);

/// <summary>A sound-making moment: an impact (bounce, landing, step) or a syllable of speech.</summary>
public sealed record WorldEvent(string Kind, int Subject, float Time, float Duration);

/// <summary>The motion of every action as a closed-form function of time, and the events it causes.</summary>
public static class Motion
{
    private const int Bounces = 3;

    public static SubjectState At(SubjectSpec s, float t)
    {
        float span = Math.Max(s.End - s.Start, 1e-3f);
        float u = Math.Clamp((t - s.Start) / span, 0f, 1f);
        bool active = t >= s.Start && t <= s.End;
        float x = s.X, y = s.Y, scale = 1f, angle = 0f, mouth = 0f;
        switch (s.Action)
        {
            case Action.Move:
                x = s.X - 0.15f + 0.3f * u;
                break;
            case Action.Bounce:
                y = s.Y - 0.15f * MathF.Abs(MathF.Sin(MathF.PI * Bounces * u));
                break;
            case Action.Jump:
                y = s.Y - 0.25f * MathF.Sin(MathF.PI * u);
                break;
            case Action.Spin:
                angle = 4f * MathF.PI * u;
                break;
            case Action.Grow:
                scale = 1f + 0.6f * u * u * (3f - 2f * u);
                break;
            case Action.Speak:
                mouth = active ? Voice(s, t) : 0f;
                break;
        }
        return new SubjectState(x, y, 0.5f * s.Size * scale, angle, mouth);
    }

    /// <summary>Syllables of a speaking subject: (onset, duration), about four a second, inside its action time.</summary>
    public static IReadOnlyList<(float Onset, float Duration)> Syllables(SubjectSpec s)
    {
        var list = new List<(float, float)>();
        if (s.Action != Action.Speak) return list;
        var rng = new WorldRandom((ulong)s.VoiceSeed);
        float t = s.Start + rng.Range(0f, 0.05f);
        while (true)
        {
            float d = rng.Range(0.12f, 0.2f);
            if (t + d > s.End) break;
            list.Add((t, d));
            t += d + rng.Range(0.05f, 0.15f);
        }
        return list;
    }

    /// <summary>Loudness envelope of the voice at t (0..1); the mouth opens by the same amount.</summary>
    public static float Voice(SubjectSpec s, float t)
    {
        foreach (var (onset, duration) in Syllables(s))
            if (t >= onset && t < onset + duration)
            {
                float v = MathF.Sin(MathF.PI * (t - onset) / duration);
                return v * v;
            }
        return 0f;
    }

    /// <summary>Every event of the scene, in time order.</summary>
    public static IReadOnlyList<WorldEvent> Events(SceneSpec scene)
    {
        var events = new List<WorldEvent>();
        for (int i = 0; i < scene.Subjects.Count; i++)
        {
            var s = scene.Subjects[i];
            float span = s.End - s.Start;
            switch (s.Action)
            {
                case Action.Bounce:
                    for (int k = 1; k <= Bounces; k++) events.Add(new WorldEvent("impact", i, s.Start + span * k / Bounces, 0.1f));
                    break;
                case Action.Jump:
                    events.Add(new WorldEvent("impact", i, s.End, 0.1f));
                    break;
                case Action.Move:
                    for (float t = s.Start + 0.25f; t < s.End; t += 0.25f) events.Add(new WorldEvent("step", i, t, 0.05f));
                    break;
                case Action.Speak:
                    foreach (var (onset, duration) in Syllables(s)) events.Add(new WorldEvent("syllable", i, onset, duration));
                    break;
                case Action.Spin:
                    events.Add(new WorldEvent("whoosh", i, s.Start, span));
                    break;
                case Action.Grow:
                    events.Add(new WorldEvent("rise", i, s.Start, span));
                    break;
            }
        }
        return [.. events.OrderBy(e => e.Time)];
    }
}
