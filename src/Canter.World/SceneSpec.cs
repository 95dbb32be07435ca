namespace Canter.World;

/// <summary>One subject: identity (class, colour, pattern, size) and the one action it performs between two times.</summary>
public sealed record SubjectSpec(SubjectClass Class, SubjectColor Color, Pattern Pattern, float Size, float X, float Y,
    Action Action, float Start, float End, int VoiceSeed);

/// <summary>How a shot frames the scene. Append only.</summary>
public enum Framing { Wide, CloseUp, Reverse }

/// <summary>One shot of a multi-shot scene: from <see cref="Start"/> on, the scene is seen through this framing.</summary>
public sealed record ShotSpec(float Start, Framing Framing, int Subject = 0);

/// <summary>
/// A scene of the procedural world: everything needed to render every frame and every sample, at
/// any size and frame rate. Positions are in scene units (0..1 across, 0..1 down); times in seconds.
/// A scene without <see cref="Shots"/> is one wide shot.
/// </summary>
public sealed record SceneSpec(ulong Seed, float Seconds, Background Background, Lighting Lighting, Camera Camera, IReadOnlyList<SubjectSpec> Subjects,
    IReadOnlyList<ShotSpec>? Shots = null)
{
    /// <summary>The shot in effect at time t.</summary>
    public ShotSpec ShotAt(float t)
    {
        var shot = new ShotSpec(0, Framing.Wide);
        foreach (var s in Shots ?? []) if (t >= s.Start) shot = s;
        return shot;
    }

    /// <summary>Times (s) of the flashes of a DarkFlash scene.</summary>
    public IReadOnlyList<float> Flashes => Lighting == Lighting.DarkFlash ? [Seconds * 0.3f, Seconds * 0.7f] : [];
}

/// <summary>Disjoint seed ranges: a model never trains on a scene it is judged on.</summary>
public enum Split { Train, Validation, Test }

public static class Splits
{
    /// <summary>The seed of the <paramref name="index"/>-th scene of a split.</summary>
    public static ulong Seed(Split split, long index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        return split switch
        {
            Split.Train => 1_000_000UL + (ulong)index,
            Split.Validation => 500_000_000_000UL + (ulong)Math.Min(index, 999_999_999),
            _ => 900_000_000_000UL + (ulong)Math.Min(index, 999_999_999),
        };
    }

    public static Split Of(ulong seed) =>
        seed >= 900_000_000_000UL ? Split.Test : seed >= 500_000_000_000UL ? Split.Validation : Split.Train;
}

/// <summary>SplitMix64: a small, fast, version-stable generator for scene decisions.</summary>
public sealed class WorldRandom(ulong seed)
{
    private ulong _state = seed;

    public ulong NextULong()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public float NextFloat() => (NextULong() >> 40) * (1f / (1 << 24));

    public float Range(float low, float high) => low + (high - low) * NextFloat();

    public int Next(int maxExclusive) => (int)(NextULong() % (ulong)maxExclusive);

    public T Pick<T>(IReadOnlyList<T> items) => items[Next(items.Count)];

    public T PickEnum<T>() where T : struct, Enum
    {
        var values = Enum.GetValues<T>();
        return values[Next(values.Length)];
    }
}
