using System.Globalization;
using Canter.Eval.Metrics;
using Canter.Eval.Scoring;

namespace Canter.Eval.Reports;

/// <summary>One metric over the scored clips: the reported figure, and each clip's value (NaN where it does not apply).</summary>
public sealed record MetricResult(MetricInfo Info, double Value, IReadOnlyList<(string Clip, double Value)> PerClip)
{
    public string Name => Info.Name;

    /// <summary>Clips the metric applies to (finite values).</summary>
    public int Count => PerClip.Count(p => double.IsFinite(p.Value));
}

/// <summary>
/// The figures of a bench run: each metric aggregated over the clips it applies to (the mean, or the median where
/// the catalogue says so); the distribution distance is computed over the whole set at once.
/// </summary>
public sealed record BenchReport(IReadOnlyList<ClipScore> Clips, IReadOnlyList<MetricResult> Metrics)
{
    public static BenchReport From(IReadOnlyList<ClipScore> clips)
    {
        if (clips.Count == 0) throw new ArgumentException("a report needs at least one scored clip");
        var names = clips.SelectMany(c => c.Values.Keys).Distinct().OrderBy(MetricCatalogue.Order).ThenBy(n => n, StringComparer.Ordinal);
        var metrics = new List<MetricResult>();
        foreach (var name in names)
        {
            var info = MetricCatalogue.Find(name);
            var perClip = clips.Select(c => (c.Name, c[name])).ToList();
            var finite = perClip.Select(p => p.Item2).Where(double.IsFinite).ToList();
            double value = name == MetricCatalogue.FrechetDistance
                ? Frechet.Distance([.. clips.Select(c => c.Features)], [.. clips.Select(c => c.RealFeatures)])
                : finite.Count == 0 ? double.NaN
                : info.Aggregate == Aggregate.Median ? MotionQuality.Median(finite) : finite.Average();
            metrics.Add(new MetricResult(info, value, perClip));
        }
        return new BenchReport(clips, metrics);
    }

    public MetricResult? this[string name] => Metrics.FirstOrDefault(m => m.Name == name);

    /// <summary>The figures as <c>name: value</c> lines (NaN as "nan"), clips first.</summary>
    public IEnumerable<string> Figures()
    {
        yield return $"clips: {Clips.Count}";
        foreach (var m in Metrics) yield return $"{m.Name}: {Format(m.Value)}";
    }

    public static string Format(double value) =>
        !double.IsFinite(value) ? "nan" : value.ToString(Math.Abs(value) >= 10 ? "F2" : "F4", CultureInfo.InvariantCulture);

    /// <summary>
    /// A clip's overall standing, to pick the worst cases: the mean of its long-caption adherence, motion smoothness
    /// and identity consistency (those it has); NaN if none.
    /// </summary>
    public static double Standing(ClipScore clip)
    {
        var parts = new[] { clip[MetricCatalogue.AdherenceLong], clip[MetricCatalogue.MotionSmoothness], clip[MetricCatalogue.IdentityConsistency] }
            .Where(double.IsFinite).ToList();
        return parts.Count == 0 ? double.NaN : parts.Average();
    }

    /// <summary>Up to <paramref name="count"/> clips with the lowest standing, worst first.</summary>
    public IReadOnlyList<ClipScore> Worst(int count) =>
        [.. Clips.OrderBy(c => double.IsFinite(Standing(c)) ? Standing(c) : double.MaxValue).Take(count)];
}
