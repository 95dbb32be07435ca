using Canter.Media;
using Canter.World;

namespace Canter.Eval.Metrics;

/// <summary>
/// What a subject looks like, whatever its pose and size: a histogram of its pixels' hue (12 bins and one for
/// grey) by shade (brightness against its brightest pixels: dark marks, pattern shade, mid, full), with the
/// scene's light divided out. Two subjects are compared by histogram intersection (1 = the same distribution of
/// colours and shades; a striped red ball against a plain one scores about 0.5).
/// </summary>
public static class Identity
{
    public const int HueBins = 12;
    public const int ShadeBins = 4;
    public const int Bins = (HueBins + 1) * ShadeBins;

    /// <summary>
    /// Identity consistency in [0, 1]: for each tracked subject, up to 12 sightings spread over its track are
    /// described, and each description is compared with the subject's mean description; the mean over sightings
    /// and subjects. A subject whose colour or pattern drifts during the clip scores lower. NaN when nothing is tracked.
    /// </summary>
    public static double Consistency(VideoClip video, ParsedScene parsed)
    {
        var values = new List<double>();
        foreach (var descriptions in SubjectDescriptions(video, parsed).Values)
        {
            if (descriptions.Count < 2) continue;
            var mean = Mean(descriptions);
            values.Add(descriptions.Average(d => Similarity(d, mean)));
        }
        return values.Count == 0 ? double.NaN : values.Average();
    }

    /// <summary>Descriptions of up to <paramref name="samples"/> sightings spread over each tracked subject's track.</summary>
    public static Dictionary<ParsedSubject, List<double[]>> SubjectDescriptions(VideoClip video, ParsedScene parsed, int samples = 12)
    {
        var probe = Asked.Probe(parsed, video.Seconds);
        var backgrounds = new Dictionary<int, byte[]>();
        var result = new Dictionary<ParsedSubject, List<double[]>>();
        foreach (var subject in parsed.Subjects)
        {
            var list = new List<double[]>();
            int n = Math.Min(samples, subject.Track.Count);
            for (int k = 0; k < n; k++)
            {
                var sighting = subject.Track[k * subject.Track.Count / n];
                if (sighting.Frame < 0 || sighting.Frame >= video.Frames.Count) continue;
                if (!backgrounds.TryGetValue(sighting.Frame, out var background))
                    backgrounds[sighting.Frame] = background = Renderer.Render(probe, sighting.Time, video.Width, video.Height);
                var d = Describe(video.Frames[sighting.Frame], background, video.Width, video.Height, probe, sighting);
                if (d is not null) list.Add(d);
            }
            result[subject] = list;
        }
        return result;
    }

    /// <summary>
    /// The description of the subject at <paramref name="sighting"/>: the pixels within 1.6 radii of its centre that
    /// differ from the rendered background (and whose four neighbours do too, so that edges blended with the
    /// background stay out). Null when fewer than 6 such pixels are found.
    /// </summary>
    public static double[]? Describe(byte[] frame, byte[] background, int width, int height, SceneSpec probe, ParsedSighting sighting)
    {
        var (px, py, unit) = Renderer.ToPixel(probe, sighting.Time, width, height, sighting.X, sighting.Y);
        var light = Renderer.Light(probe, sighting.Time);
        double reach = Math.Max(2, 1.6 * sighting.Radius * unit);
        int x0 = Math.Max(0, (int)(px - reach)), x1 = Math.Min(width - 1, (int)(px + reach));
        int y0 = Math.Max(0, (int)(py - reach)), y1 = Math.Min(height - 1, (int)(py + reach));
        if (x1 < x0 || y1 < y0) return null;
        double threshold = Math.Max(18, 60 * Math.Max(light.R, Math.Max(light.G, light.B)));
        int bw = x1 - x0 + 1, bh = y1 - y0 + 1;
        var mask = new bool[bw * bh];
        for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++)
            {
                int o = (y * width + x) * 3;
                double d = Math.Abs(frame[o] - background[o]) + Math.Abs(frame[o + 1] - background[o + 1]) + Math.Abs(frame[o + 2] - background[o + 2]);
                mask[(y - y0) * bw + x - x0] = d > threshold;
            }
        var pixels = new List<(double H, double S, double V)>();
        for (int y = 1; y < bh - 1; y++)
            for (int x = 1; x < bw - 1; x++)
            {
                int i = y * bw + x;
                if (!mask[i] || !mask[i - 1] || !mask[i + 1] || !mask[i - bw] || !mask[i + bw]) continue;
                int o = ((y + y0) * width + x + x0) * 3;
                pixels.Add(Hsv(frame[o] / light.R, frame[o + 1] / light.G, frame[o + 2] / light.B));
            }
        if (pixels.Count < 6) return null;
        var values = pixels.Select(p => p.V).Order().ToArray();
        double bright = Math.Max(1, values[(int)(0.9 * (values.Length - 1))]);
        var histogram = new double[Bins];
        foreach (var (h, s, v) in pixels)
        {
            double shade = v / bright;
            int shadeBin = shade < 0.4 ? 0 : shade < 0.7 ? 1 : shade < 0.85 ? 2 : 3;
            int hueBin = s < 0.2 || shadeBin == 0 ? HueBins : Math.Min(HueBins - 1, (int)(h / 360 * HueBins));
            histogram[hueBin * ShadeBins + shadeBin] += 1.0 / pixels.Count;
        }
        return histogram;
    }

    /// <summary>Histogram intersection: the mass two descriptions share, in [0, 1].</summary>
    public static double Similarity(double[] a, double[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += Math.Min(a[i], b[i]);
        return s;
    }

    public static double[] Mean(IReadOnlyList<double[]> descriptions)
    {
        var mean = new double[Bins];
        foreach (var d in descriptions)
            for (int i = 0; i < Bins; i++) mean[i] += d[i] / descriptions.Count;
        return mean;
    }

    /// <summary>Hue (degrees), saturation and value (0..255) of an RGB colour (channels may exceed 255 after unlighting).</summary>
    private static (double H, double S, double V) Hsv(double r, double g, double b)
    {
        double max = Math.Max(r, Math.Max(g, b)), min = Math.Min(r, Math.Min(g, b)), delta = max - min;
        double h = delta <= 0 ? 0 : max == r ? 60 * ((g - b) / delta % 6) : max == g ? 60 * ((b - r) / delta + 2) : 60 * ((r - g) / delta + 4);
        if (h < 0) h += 360;
        return (h, max <= 0 ? 0 : delta / max, max);
    }

    /// <summary>
    /// A reference image read by the world parser as a still clip: its subject (the largest tracked one) and that
    /// subject's description. Null when no subject is found.
    /// </summary>
    public static (ParsedSubject Subject, double[] Description)? ReadReference(RgbImage image)
    {
        var still = Parser.Still(image);
        var parsed = Parser.Parse(still, null);
        var descriptions = SubjectDescriptions(still, parsed);
        var best = parsed.Subjects.Where(s => descriptions[s].Count > 0).OrderByDescending(s => s.Track.Max(t => t.Radius)).FirstOrDefault();
        return best is null ? null : (best, Mean(descriptions[best]));
    }

    /// <summary>
    /// Identity against references: for each reference image, the similarity of its subject to the most similar
    /// generated subject (mean description over the clip), and whether a generated subject has its parsed class,
    /// colour and pattern. Means over references; NaN when no reference's subject can be read.
    /// </summary>
    public static (double Similarity, double Exact) AgainstReferences(IReadOnlyList<RgbImage> references, ParsedScene parsed,
        IReadOnlyDictionary<ParsedSubject, List<double[]>> descriptions)
    {
        var similarities = new List<double>();
        var exact = new List<double>();
        var generated = parsed.Subjects.Where(s => descriptions.TryGetValue(s, out var d) && d.Count > 0).Select(s => (s, Mean(descriptions[s]))).ToList();
        foreach (var image in references)
        {
            var reference = ReadReference(image);
            if (reference is null) continue;
            var (subject, description) = reference.Value;
            similarities.Add(generated.Count == 0 ? 0 : generated.Max(g => Similarity(g.Item2, description)));
            exact.Add(parsed.Subjects.Any(g => g.Class == subject.Class && g.Color == subject.Color && g.Pattern == subject.Pattern) ? 1 : 0);
        }
        return similarities.Count == 0 ? (double.NaN, double.NaN) : (similarities.Average(), exact.Average());
    }
}
