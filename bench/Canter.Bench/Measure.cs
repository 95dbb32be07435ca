using System.Diagnostics;

namespace Canter.Bench;

/// <summary>Timing and memory helpers shared by the benchmarks.</summary>
public static class Measure
{
    /// <summary>Median wall time of <paramref name="repeats"/> runs after <paramref name="warmup"/> unmeasured ones, in seconds.</summary>
    public static double Median(Action action, int warmup, int repeats)
    {
        for (int i = 0; i < warmup; i++) action();
        var times = new double[repeats];
        for (int i = 0; i < repeats; i++)
        {
            var sw = Stopwatch.StartNew();
            action();
            times[i] = sw.Elapsed.TotalSeconds;
        }
        Array.Sort(times);
        return times[repeats / 2];
    }

    /// <summary>Peak resident memory of this process (VmHWM), in MiB.</summary>
    public static double PeakRssMb()
    {
        const string path = "/proc/self/status";
        if (!File.Exists(path)) return double.NaN;
        foreach (var line in File.ReadLines(path))
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) / 1024.0;
        return double.NaN;
    }

    /// <summary>Writes the closing figures, one per line, as "name: value".</summary>
    public static void Figures(TextWriter output, IEnumerable<(string Name, double Value)> figures)
    {
        foreach (var (name, value) in figures)
        {
            bool tiny = value != 0 && Math.Abs(value) < 1e-3;
            output.WriteLine(tiny ? FormattableString.Invariant($"{name}: {value:0.##E+0}") : FormattableString.Invariant($"{name}: {value:0.###}"));
        }
    }
}

/// <summary>Latencies of one kind of request, in milliseconds.</summary>
internal sealed class Latencies
{
    private readonly List<double> _ms = [];

    public int Count { get { lock (_ms) return _ms.Count; } }

    public void Add(double ms) { lock (_ms) _ms.Add(ms); }

    public double Percentile(double p)
    {
        lock (_ms)
        {
            if (_ms.Count == 0) return double.NaN;
            var sorted = _ms.Order().ToArray();
            return sorted[Math.Clamp((int)Math.Ceiling(p / 100 * sorted.Length) - 1, 0, sorted.Length - 1)];
        }
    }
}
