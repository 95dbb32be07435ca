using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Canter.Eval.Metrics;
using Canter.Media;
using ScottPlot;

namespace Canter.Eval.Reports;

/// <summary>
/// Writes a <see cref="BenchReport"/> to a folder: report.json (one object per metric), report.md (a table),
/// metrics.png (the figures in [0, 1], one bar each), sync_offsets.png (histogram of the clips' sync offsets) and
/// worst_cases.png (contact sheets of the clips that stand lowest, worst on top). Plots are a convenience: one
/// that fails is skipped with a warning.
/// </summary>
public static class ReportWriter
{
    public static IReadOnlyList<string> Write(string folder, BenchReport report, TextWriter? warnings = null)
    {
        warnings ??= Console.Error;
        Directory.CreateDirectory(folder);
        var written = new List<string>();
        void Text(string name, string content)
        {
            var path = Path.Combine(folder, name);
            File.WriteAllText(path + ".tmp", content);
            File.Move(path + ".tmp", path, overwrite: true);
            written.Add(path);
        }
        Text("report.json", Json(report));
        Text("report.md", Markdown(report));
        TryPlot(folder, "metrics.png", path => PlotMetrics(path, report), written, warnings);
        TryPlot(folder, "sync_offsets.png", path => PlotSyncOffsets(path, report), written, warnings);
        TryPlot(folder, "worst_cases.png", path => Png.Write(path, WorstCases(report, 4)), written, warnings);
        return written;
    }

    private static void TryPlot(string folder, string name, Action<string> draw, List<string> written, TextWriter warnings)
    {
        var path = Path.Combine(folder, name);
        try
        {
            draw(path);
            if (File.Exists(path)) written.Add(path);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            warnings.WriteLine($"warning: could not draw {name}: {e.Message}");
        }
    }

    private static JsonNode? Number(double v) => double.IsFinite(v) ? JsonValue.Create(Math.Round(v, 6)) : null;

    /// <summary>
    /// <c>{ "clips": [...], "metrics": { name: { name, value, higher_is_better, best, unit, aggregate, count, definition,
    /// per_clip: [{ clip, value }] } } }</c>; NaN is written as null.
    /// </summary>
    public static string Json(BenchReport report)
    {
        var metrics = new JsonObject();
        foreach (var m in report.Metrics)
        {
            var perClip = new JsonArray();
            foreach (var (clip, value) in m.PerClip) perClip.Add(new JsonObject { ["clip"] = clip, ["value"] = Number(value) });
            metrics[m.Name] = new JsonObject
            {
                ["name"] = m.Name,
                ["value"] = Number(m.Value),
                ["higher_is_better"] = m.Info.HigherIsBetter,
                ["best"] = m.Info.Better.ToString().ToLowerInvariant(),
                ["unit"] = m.Info.Unit,
                ["aggregate"] = m.Name == MetricCatalogue.FrechetDistance ? "set" : m.Info.Aggregate.ToString().ToLowerInvariant(),
                ["count"] = m.Count,
                ["definition"] = m.Info.Definition,
                ["per_clip"] = perClip,
            };
        }
        var root = new JsonObject
        {
            ["clips"] = new JsonArray([.. report.Clips.Select(c => (JsonNode?)JsonValue.Create(c.Name))]),
            ["metrics"] = metrics,
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    public static string Markdown(BenchReport report)
    {
        var md = new StringBuilder();
        md.AppendLine("# Canter Bench score").AppendLine();
        md.AppendLine($"{report.Clips.Count} clip(s): {string.Join(", ", report.Clips.Select(c => c.Name))}").AppendLine();
        md.AppendLine("| metric | value | better | clips | unit | definition |");
        md.AppendLine("|---|---:|---|---:|---|---|");
        foreach (var m in report.Metrics)
        {
            string better = m.Info.Better switch { Better.Higher => "higher", Better.Lower => "lower", _ => "closer to 0" };
            md.AppendLine($"| {m.Name} | {BenchReport.Format(m.Value)} | {better} | {m.Count} | {m.Info.Unit} | {m.Info.Definition} |");
        }
        if (report.Clips.Count > 1)
        {
            string[] columns = [MetricCatalogue.AdherenceLong, MetricCatalogue.MotionSmoothness, MetricCatalogue.IdentityConsistency,
                MetricCatalogue.FrozenFrames, MetricCatalogue.SyncOffset, MetricCatalogue.LipSync];
            md.AppendLine().AppendLine("## Per clip").AppendLine();
            md.AppendLine($"| clip | {string.Join(" | ", columns)} |");
            md.AppendLine($"|---|{string.Concat(columns.Select(_ => "---:|"))}");
            foreach (var c in report.Clips)
                md.AppendLine($"| {c.Name} | {string.Join(" | ", columns.Select(n => BenchReport.Format(c[n])))} |");
        }
        md.AppendLine().AppendLine("## Worst cases").AppendLine();
        md.AppendLine("worst_cases.png, top to bottom (lowest mean of long-caption adherence, motion smoothness and identity consistency):").AppendLine();
        foreach (var c in report.Worst(4)) md.AppendLine($"- {c.Name}: {BenchReport.Format(BenchReport.Standing(c))}");
        return md.ToString();
    }

    /// <summary>Horizontal bars of the figures that lie in [0, 1] (shares, similarities, F1); the others are in the table.</summary>
    private static void PlotMetrics(string path, BenchReport report)
    {
        var shown = report.Metrics.Where(m => double.IsFinite(m.Value) && m.Info.Unit is "share" or "0..1").Reverse().ToList();
        if (shown.Count == 0) return;
        var plot = new Plot();
        var bars = plot.Add.Bars(Enumerable.Range(0, shown.Count).Select(i => (double)i).ToArray(), shown.Select(m => m.Value).ToArray());
        bars.Horizontal = true;
        plot.Axes.Left.SetTicks(Enumerable.Range(0, shown.Count).Select(i => (double)i).ToArray(),
            shown.Select(m => $"{m.Name} ({(m.Info.HigherIsBetter ? "higher" : "lower")} is better)").ToArray());
        plot.Axes.SetLimitsX(0, 1.05);
        plot.Title($"Canter Bench: {report.Clips.Count} clip(s)");
        plot.XLabel("value");
        Save(plot, path, 900, 120 + 28 * shown.Count);
    }

    /// <summary>Histogram of per-clip sync offsets in 40 ms bins over [-500, 500] ms.</summary>
    private static void PlotSyncOffsets(string path, BenchReport report)
    {
        var offsets = report[MetricCatalogue.SyncOffset]?.PerClip.Select(p => p.Value).Where(double.IsFinite).ToList() ?? [];
        if (offsets.Count == 0) return;
        const double width = 40;
        var centres = Enumerable.Range(0, 25).Select(i => -480 + i * width).ToArray();
        var counts = centres.Select(c => (double)offsets.Count(o => o >= c - width / 2 && o < c + width / 2)).ToArray();
        var plot = new Plot();
        var bars = plot.Add.Bars(centres, counts);
        foreach (var bar in bars.Bars) bar.Size = width * 0.9;
        plot.Title($"Audio-video sync offset (median {MotionQuality.Median(offsets):0} ms, + = audio late)");
        plot.XLabel("offset (ms)");
        plot.YLabel("clips");
        Save(plot, path, 800, 450);
    }

    private static void Save(Plot plot, string path, int width, int height)
    {
        var tmp = path + ".tmp.png";
        plot.SavePng(tmp, width, height);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>The contact sheets of the lowest-standing clips stacked, worst on top.</summary>
    public static RgbImage WorstCases(BenchReport report, int count)
    {
        var sheets = report.Worst(count).Select(c => c.Sheet).ToList();
        int width = sheets.Max(s => s.Width), gap = 6, height = sheets.Sum(s => s.Height) + gap * (sheets.Count - 1);
        var pixels = new byte[width * height * 3];
        Array.Fill(pixels, (byte)60);
        int top = 0;
        foreach (var sheet in sheets)
        {
            for (int y = 0; y < sheet.Height; y++)
                Buffer.BlockCopy(sheet.Pixels, y * sheet.Width * 3, pixels, ((top + y) * width) * 3, sheet.Width * 3);
            top += sheet.Height + gap;
        }
        return new RgbImage(width, height, pixels);
    }
}
