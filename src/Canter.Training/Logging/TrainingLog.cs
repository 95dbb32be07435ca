using System.Globalization;
using ScottPlot;

namespace Canter.Training.Logging;

/// <summary>
/// Losses per step in a CSV file (header, then one row per logged step) and a PNG plot of them. Resuming
/// from step s drops rows after s first, so a rerun never duplicates steps.
/// </summary>
public sealed class TrainingLog
{
    private readonly string _path;
    private readonly string[] _columns;

    public TrainingLog(string path, IReadOnlyList<string> columns, long resumeStep)
    {
        _path = path;
        _columns = ["step", .. columns];
        var header = string.Join(",", _columns);
        if (File.Exists(path) && resumeStep > 0)
        {
            var lines = File.ReadAllLines(path);
            if (lines.Length == 0 || lines[0] != header)
                throw new InvalidDataException($"{path}: its columns ({(lines.Length > 0 ? lines[0] : "none")}) are not this run's ({header})");
            var kept = lines.Skip(1).Where(l => long.TryParse(l.Split(',')[0], CultureInfo.InvariantCulture, out long s) && s <= resumeStep);
            File.WriteAllLines(path, [header, .. kept]);
        }
        else
        {
            File.WriteAllText(path, header + "\n");
        }
    }

    public string Path => _path;

    public void Append(long step, IReadOnlyList<double> values)
    {
        if (values.Count != _columns.Length - 1) throw new ArgumentException($"{values.Count} values for {_columns.Length - 1} columns");
        File.AppendAllText(_path, step.ToString(CultureInfo.InvariantCulture) + "," +
            string.Join(",", values.Select(v => v.ToString("G6", CultureInfo.InvariantCulture))) + "\n");
    }

    /// <summary>
    /// Plots the chosen columns beside the CSV (same name, .png). A plot is a convenience: if it fails, training goes
    /// on with a warning.
    /// </summary>
    public void TryPlot(IReadOnlyList<string> columns, string title)
    {
        try
        {
            Plot(_path, System.IO.Path.ChangeExtension(_path, ".png"), columns, title);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Console.Error.WriteLine($"warning: could not plot losses: {e.Message}");
        }
    }

    /// <summary>Plots the chosen columns of the CSV (log scale) against the step as a PNG.</summary>
    public static void Plot(string csvPath, string pngPath, IReadOnlyList<string> columns, string title)
    {
        var lines = File.ReadAllLines(csvPath);
        if (lines.Length < 2) return;
        var header = lines[0].Split(',');
        var rows = lines.Skip(1).Select(l => l.Split(',')).Where(r => r.Length == header.Length).ToList();
        var steps = rows.Select(r => double.Parse(r[0], CultureInfo.InvariantCulture)).ToArray();
        var plot = new Plot();
        foreach (var name in columns)
        {
            int col = Array.IndexOf(header, name);
            if (col < 0) continue;
            var ys = rows.Select(r => Math.Log10(Math.Max(1e-12, double.Parse(r[col], CultureInfo.InvariantCulture)))).ToArray();
            var line = plot.Add.ScatterLine(steps, ys);
            line.LegendText = name;
        }
        plot.Title(title);
        plot.XLabel("step");
        plot.YLabel("log10 loss");
        plot.ShowLegend();
        var tmp = pngPath + ".tmp.png";
        plot.SavePng(tmp, 900, 500);
        File.Move(tmp, pngPath, overwrite: true);
    }
}
