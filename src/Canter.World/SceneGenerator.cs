namespace Canter.World;

/// <summary>Draws a scene from its seed: 1 to 3 distinct subjects whose actions happen in an order.</summary>
public static class SceneGenerator
{
    /// <summary>Range of a subject's size (its diameter, in units of the picture's shorter side at the widest framing).</summary>
    public const float MinSubjectSize = 0.12f, MaxSubjectSize = 0.2f;

    public static SceneSpec Generate(ulong seed, float seconds = 4f)
    {
        if (!(seconds is > 0.5f and <= 15f)) throw new ArgumentOutOfRangeException(nameof(seconds), "a scene lasts between 0.5 and 15 seconds");
        var rng = new WorldRandom(seed);
        var background = rng.PickEnum<Background>();
        var lighting = rng.PickEnum<Lighting>();
        var camera = rng.Next(3) == 0 ? Camera.Static : rng.PickEnum<Camera>();
        int count = 1 + rng.Next(3);
        var subjects = new List<SubjectSpec>();
        var usedIdentities = new HashSet<(SubjectClass, SubjectColor)>();
        float slot = seconds / count;
        for (int i = 0; i < count; i++)
        {
            SubjectClass cls;
            SubjectColor color;
            do
            {
                cls = rng.PickEnum<SubjectClass>();
                color = rng.PickEnum<SubjectColor>();
            }
            while (!usedIdentities.Add((cls, color)));
            // subjects spread across the frame so that they rarely overlap
            float x = (i + 0.5f) / count + rng.Range(-0.06f, 0.06f);
            float y = rng.Range(0.45f, 0.65f);
            var action = rng.PickEnum<Action>();
            // events happen in order: subject i acts in its own time slot
            float start = i * slot + rng.Range(0.05f, 0.2f) * slot;
            float end = Math.Min(seconds, start + rng.Range(0.55f, 0.75f) * slot);
            subjects.Add(new SubjectSpec(cls, color, rng.PickEnum<Pattern>(), rng.Range(MinSubjectSize, MaxSubjectSize), x, y, action, start, end, (int)(rng.NextULong() & 0x7FFFFFFF)));
        }
        return new SceneSpec(seed, seconds, background, lighting, camera, subjects);
    }
}
