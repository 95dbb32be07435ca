using Canter.Media;

namespace Canter.World;

/// <summary>
/// One sighting of a subject: where it is in scene units (0..1 across and down, camera motion removed, as in
/// <see cref="SubjectSpec"/>), its radius in scene units, and the share of its pixels darker than its colour
/// (eye, pattern, and the mouth when it opens).
/// </summary>
public sealed record ParsedSighting(int Frame, float Time, float X, float Y, float Radius, float Dark);

/// <summary>A subject the parser found: identity, action and when it acted (seconds), and its track frame by frame.</summary>
public sealed record ParsedSubject(SubjectClass Class, SubjectColor Color, Pattern Pattern, Action Action, float Start, float End, int Frames)
{
    public IReadOnlyList<ParsedSighting> Track { get; init; } = [];
}

/// <summary>What the parser recovered from a clip.</summary>
public sealed record ParsedScene(Background Background, Lighting Lighting, Camera Camera, IReadOnlyList<ParsedSubject> Subjects, IReadOnlyList<float> AudioOnsets);

/// <summary>
/// Reads a clip of the world back into its attributes by analysis by synthesis: the renderer that
/// made the world also proposes every hypothesis (background and lighting, camera, each subject's
/// class, colour and pattern), and the hypothesis closest to the pixels wins. Works on the decoded
/// frames, so it judges generated videos as it judges renders.
/// This first version handles single-shot clips; cuts are not yet parsed.
/// </summary>
public static class Parser
{
    /// <summary>Width the analysis works at (frames are resized to it, keeping their aspect).</summary>
    public const int AnalysisWidth = 256;

    public static ParsedScene ParseFile(string path)
    {
        var info = MediaProbe.Probe(path);
        int w = AnalysisWidth, h = Math.Max(16, (int)Math.Round((double)AnalysisWidth * info.Height / info.Width));
        var video = MediaReader.ReadVideo(path, w, h, 12);
        AudioTrack? audio = info.HasAudio ? MediaReader.ReadAudio(path, AudioSynth.DefaultSampleRate) : null;
        return Parse(video, audio);
    }

    public static ParsedScene Parse(VideoClip video, AudioTrack? audio)
    {
        video.Validate();
        var frames = video.Frames.Select(f => ToFloat(f)).ToArray();
        int w = video.Width, h = video.Height;
        float seconds = (float)video.Seconds;
        var (background, lighting) = FitBackground(frames, w, h, seconds);
        var camera = FitCamera(frames, w, h, background);
        var probe = new SceneSpec(0, seconds, background, lighting, camera, []);
        var subjects = FindSubjects(frames, w, h, video.FrameRate, probe);
        var onsets = audio is null ? [] : Onsets(audio);
        return new ParsedScene(background, lighting, camera, subjects, onsets);
    }

    private static float[] ToFloat(byte[] rgb)
    {
        var f = new float[rgb.Length];
        for (int i = 0; i < f.Length; i++) f[i] = rgb[i];
        return f;
    }

    private static double Luma(float[] frame)
    {
        double s = 0;
        for (int i = 0; i < frame.Length; i += 3) s += 0.3 * frame[i] + 0.59 * frame[i + 1] + 0.11 * frame[i + 2];
        return s / (frame.Length / 3);
    }

    // ---- background and lighting -----------------------------------------------------

    /// <summary>Lighting from brightness over time (flashes), then the background and lighting whose render best matches the frame's edges.</summary>
    private static (Background, Lighting) FitBackground(float[][] frames, int w, int h, float seconds)
    {
        var luma = frames.Select(Luma).ToArray();
        double median = luma.Order().ElementAt(luma.Length / 2), max = luma.Max();
        bool flashes = max > 1.5 * median + 5;
        int quiet = Array.IndexOf(luma, luma.Min());
        var frame = frames[flashes ? quiet : frames.Length / 2];
        float t = flashes ? quiet * seconds / frames.Length : seconds / 2;
        Lighting[] lightings = flashes ? [Lighting.DarkFlash] : [Lighting.Day, Lighting.Dusk];
        var best = (Background.Meadow, Lighting.Day);
        double bestError = double.MaxValue;
        foreach (var b in Enum.GetValues<Background>())
            foreach (var l in lightings)
            {
                var render = Renderer.Render(new SceneSpec(0, seconds, b, l, Camera.Static, []), flashes ? t : 0, w, h);
                double error = BandError(frame, render, w, h);
                if (error < bestError) { bestError = error; best = (b, l); }
            }
        return best;
    }

    /// <summary>Mean colour difference over the top and bottom bands, where subjects rarely are.</summary>
    private static double BandError(float[] frame, byte[] render, int w, int h)
    {
        double e = 0;
        int n = 0;
        int top = Math.Max(1, h / 8), bottom = h - Math.Max(1, h / 10);
        for (int y = 0; y < h; y++)
        {
            if (y >= top && y < bottom) continue;
            double fr = 0, fg = 0, fb = 0, rr = 0, rg = 0, rb = 0;
            for (int x = 0; x < w; x++)
            {
                int o = (y * w + x) * 3;
                fr += frame[o]; fg += frame[o + 1]; fb += frame[o + 2];
                rr += render[o]; rg += render[o + 1]; rb += render[o + 2];
            }
            e += Math.Abs(fr - rr) + Math.Abs(fg - rg) + Math.Abs(fb - rb);
            n += w;
        }
        return e / n;
    }

    // ---- camera ----------------------------------------------------------------------

    /// <summary>Zoom from the horizon's height over time, pan from the horizontal drift of the background texture.</summary>
    private static Camera FitCamera(float[][] frames, int w, int h, Background background)
    {
        var horizon = frames.Select(f => Horizon(f, w, h)).ToArray();
        int k = Math.Max(1, frames.Length / 6);
        double start = horizon.Take(k).Average(), end = horizon.TakeLast(k).Average();
        // a zoom moves the horizon steadily; a horizon that jumps about (a dark, noisy picture) says nothing
        double slope = (end - start) / Math.Max(1, frames.Length - k);
        double residual = Math.Sqrt(horizon.Select((y, i) => Math.Pow(y - (start + slope * (i - k / 2.0)), 2)).Average());
        if (Math.Abs(end - start) > 0.02 * h + 0.5 && residual < 0.06 * h) return end > start ? Camera.ZoomIn : Camera.ZoomOut;
        // drift of the textured band (ground, or the stars of a night sky), measured between frames a few apart so that
        // each step moves about a pixel (noise then matters less), with a search range under half the texture's period
        double drift = 0;
        int step = Math.Max(1, frames.Length / 12);
        for (int f = step; f < frames.Length; f += step)
            drift += Shift(Band(frames[f - step], w, h, background, horizon[f - step]), Band(frames[f], w, h, background, horizon[f]), Math.Max(2, w / 64));
        double expected = 0.12 * Math.Min(w, h);
        if (Math.Abs(drift) > 0.35 * expected) return drift < 0 ? Camera.PanRight : Camera.PanLeft;
        return Camera.Static;
    }

    /// <summary>
    /// Row where the sky meets the ground: the row boundary whose colour jump is largest in most columns
    /// (the median over columns, so that subjects' edges do not count).
    /// </summary>
    private static double Horizon(float[] frame, int w, int h)
    {
        int best = h / 2;
        double bestJump = -1;
        var jumps = new double[w];
        for (int y = h / 3; y < h - 2; y++)
        {
            for (int x = 0; x < w; x++)
            {
                int a = (y * w + x) * 3, b = ((y + 1) * w + x) * 3;
                jumps[x] = Math.Abs(frame[a] - frame[b]) + Math.Abs(frame[a + 1] - frame[b + 1]) + Math.Abs(frame[a + 2] - frame[b + 2]);
            }
            Array.Sort(jumps);
            double jump = jumps[w / 2];
            if (jump > bestJump) { bestJump = jump; best = y; }
        }
        return best;
    }

    /// <summary>Column profile of the band that carries texture: below the horizon, or the sky at night.</summary>
    private static double[] Band(float[] frame, int w, int h, Background background, double horizon)
    {
        int y0, y1;
        if (background == Background.Night) { y0 = 0; y1 = Math.Max(1, (int)horizon - 2); }
        else { y0 = Math.Min(h - 1, (int)horizon + 2); y1 = h; }
        var profile = new double[w];
        for (int y = y0; y < y1; y++)
            for (int x = 0; x < w; x++)
            {
                int o = (y * w + x) * 3;
                profile[x] += frame[o] + frame[o + 1] + frame[o + 2];
            }
        double mean = profile.Average();
        for (int x = 0; x < w; x++) profile[x] -= mean;
        return profile;
    }

    /// <summary>Sub-pixel shift of b relative to a (positive: content moved right).</summary>
    private static double Shift(double[] a, double[] b, int range)
    {
        var scores = new double[2 * range + 1];
        for (int s = -range; s <= range; s++)
        {
            double dot = 0;
            int n = 0;
            for (int x = range; x < a.Length - range; x++) { dot += a[x] * b[x + s]; n++; }
            scores[s + range] = n > 0 ? dot / n : 0;
        }
        int i = Array.IndexOf(scores, scores.Max());
        if (i == 0 || i == scores.Length - 1) return i - range;
        double l = scores[i - 1], c = scores[i], r = scores[i + 1];
        double denom = l - 2 * c + r;
        return i - range + (denom == 0 ? 0 : 0.5 * (l - r) / denom);
    }

    // ---- subjects --------------------------------------------------------------------

    private sealed record Blob(int Frame, double X, double Y, double Area, (double R, double G, double B) Color, List<int> Pixels);

    /// <summary>One sighting of a subject, in scene units (camera motion removed).</summary>
    private sealed record Sighting(int Frame, double X, double Y, double Radius, double Dark, Blob Blob, (float R, float G, float B) Light)
    {
        /// <summary>Orientation index (of <see cref="Angles"/>) found for the track's class; -1 before it is fitted.</summary>
        public int Angle { get; set; } = -1;
    }

    private sealed class Track(SubjectColor color)
    {
        public SubjectColor Color { get; } = color;
        public List<Sighting> Sightings { get; } = [];
    }

    private static List<ParsedSubject> FindSubjects(float[][] frames, int w, int h, double fps, SceneSpec probe)
    {
        var tracks = new List<Track>();
        for (int f = 0; f < frames.Length; f++)
        {
            float t = (float)(f / fps);
            var background = Renderer.Render(probe, t, w, h);
            var light = Renderer.Light(probe, t);
            var (cx, cy, zoom, _) = Renderer.View(probe, t);
            double unit = Math.Min(w, h) * zoom;
            double level = Math.Max(light.R, Math.Max(light.G, light.B));
            var sightings = new List<(Sighting Sighting, SubjectColor Color)>();
            foreach (var blob in Blobs(frames[f], background, w, h, f, level))
            {
                var color = NearestColor(blob.Color, light);
                double sx = (blob.X + 0.5 - w / 2.0) / unit + cx, sy = (blob.Y + 0.5 - h / 2.0) / unit + cy;
                double size = Math.Sqrt(blob.Area / Math.PI) / unit;          // class-free size: its ratios are what actions need
                sightings.Add((new Sighting(f, sx, sy, size, DarkShare(frames[f], blob), blob, light), color));
            }
            // continue tracks with the closest same-coloured sightings first, each track and sighting used once
            var pairs = from i in Enumerable.Range(0, sightings.Count)
                        from k in tracks
                        where k.Color == sightings[i].Color && f - k.Sightings[^1].Frame <= 3
                        let d = Math.Abs(k.Sightings[^1].X - sightings[i].Sighting.X) + Math.Abs(k.Sightings[^1].Y - sightings[i].Sighting.Y)
                        where d < 0.22
                        orderby d
                        select (i, k);
            var usedSightings = new HashSet<int>();
            var usedTracks = new HashSet<Track>();
            foreach (var (i, k) in pairs.ToList())
            {
                if (usedSightings.Contains(i) || usedTracks.Contains(k)) continue;
                k.Sightings.Add(sightings[i].Sighting);
                usedSightings.Add(i);
                usedTracks.Add(k);
            }
            for (int i = 0; i < sightings.Count; i++)
            {
                if (usedSightings.Contains(i)) continue;
                var track = new Track(sightings[i].Color);
                track.Sightings.Add(sightings[i].Sighting);
                tracks.Add(track);
            }
        }
        var result = new List<ParsedSubject>();
        foreach (var track in tracks)
        {
            var list = track.Sightings;
            if (list.Count < Math.Max(2, frames.Length / 4)) continue; // noise, not a subject
            // identity from a few sightings spread over the track (a vote), the full search over classes, patterns, poses and sizes
            var votes = Enumerable.Range(0, Math.Min(8, list.Count)).Select(i => list[i * list.Count / Math.Min(8, list.Count)])
                .Select(x => Fit(frames[x.Frame], x.Blob, w, h, track.Color, x.Light, Enum.GetValues<SubjectClass>(), Enum.GetValues<Pattern>()))
                .ToList();
            var cls = votes.GroupBy(v => v.Class).OrderByDescending(g => g.Count()).First().Key;
            var pattern = votes.Where(v => v.Class == cls).GroupBy(v => v.Pattern).OrderByDescending(g => g.Count()).First().Key;
            if (cls is SubjectClass.Bird or SubjectClass.Fish or SubjectClass.Robot)
                foreach (var x in list) x.Angle = Fit(frames[x.Frame], x.Blob, w, h, track.Color, x.Light, [cls], [pattern]).Angle;
            var (action, start, end) = ActionOf(list, fps);
            result.Add(new ParsedSubject(cls, track.Color, pattern, action, start, end, list.Count)
            {
                Track = [.. list.Select(x => new ParsedSighting(x.Frame, (float)(x.Frame / fps), (float)x.X, (float)x.Y, (float)x.Radius, (float)x.Dark))],
            });
        }
        return [.. result.OrderBy(s => s.Start)];
    }

    /// <summary>Connected regions that differ from the rendered background.</summary>
    private static IEnumerable<Blob> Blobs(float[] frame, byte[] background, int w, int h, int index, double lightLevel)
    {
        double threshold = Math.Max(18, 60 * lightLevel);
        // compare lightly blurred pictures, so that resampling and compression shift no edge into the mask
        var observed = Blur(frame, w, h);
        var expected = Blur(background.Select(v => (float)v).ToArray(), w, h);
        var mask = new bool[w * h];
        for (int i = 0; i < w * h; i++)
        {
            int o = i * 3;
            double d = Math.Abs(observed[o] - expected[o]) + Math.Abs(observed[o + 1] - expected[o + 1]) + Math.Abs(observed[o + 2] - expected[o + 2]);
            mask[i] = d > threshold;
        }
        var seen = new bool[w * h];
        var stack = new Stack<int>();
        for (int start = 0; start < w * h; start++)
        {
            if (!mask[start] || seen[start]) continue;
            var pixels = new List<int>();
            stack.Push(start);
            seen[start] = true;
            while (stack.Count > 0)
            {
                int p = stack.Pop();
                pixels.Add(p);
                int x = p % w, y = p / w;
                foreach (var q in new[] { x > 0 ? p - 1 : -1, x < w - 1 ? p + 1 : -1, y > 0 ? p - w : -1, y < h - 1 ? p + w : -1 })
                    if (q >= 0 && mask[q] && !seen[q]) { seen[q] = true; stack.Push(q); }
            }
            if (pixels.Count < Math.Max(6, w * h / 1500)) continue;
            // subjects are compact; thin runs along texture edges (resampled floor seams, blurred horizons) are not
            int minX = pixels.Min(p => p % w), maxX = pixels.Max(p => p % w), minY = pixels.Min(p => p / w), maxY = pixels.Max(p => p / w);
            int bw = maxX - minX + 1, bh = maxY - minY + 1;
            if (pixels.Count < 0.3 * bw * bh || Math.Max(bw, bh) > 4 * Math.Min(bw, bh)) continue;
            double sx = 0, sy = 0;
            // colour from the brightest half of the region's interior (edges blend with the background, patterns darken)
            var interior = pixels.Where(p => p % w > 0 && p % w < w - 1 && p / w > 0 && p / w < h - 1
                && mask[p - 1] && mask[p + 1] && mask[p - w] && mask[p + w]).ToList();
            if (interior.Count < 4) interior = pixels;
            var lum = interior.Select(p => (p, l: frame[p * 3] + frame[p * 3 + 1] + frame[p * 3 + 2])).OrderByDescending(v => v.l).Take(Math.Max(1, interior.Count / 2)).ToList();
            double r = 0, g = 0, b = 0;
            foreach (var (p, _) in lum) { r += frame[p * 3]; g += frame[p * 3 + 1]; b += frame[p * 3 + 2]; }
            foreach (var p in pixels) { sx += p % w; sy += p / w; }
            yield return new Blob(index, sx / pixels.Count, sy / pixels.Count, pixels.Count, (r / lum.Count, g / lum.Count, b / lum.Count), pixels);
        }
    }

    /// <summary>3x3 box blur of an RGB picture (edges clamp).</summary>
    internal static float[] Blur(float[] rgb, int w, int h)
    {
        var result = new float[rgb.Length];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++)
                {
                    float sum = 0;
                    for (int dy = -1; dy <= 1; dy++)
                        for (int dx = -1; dx <= 1; dx++)
                            sum += rgb[((Math.Clamp(y + dy, 0, h - 1) * w) + Math.Clamp(x + dx, 0, w - 1)) * 3 + c];
                    result[(y * w + x) * 3 + c] = sum / 9f;
                }
        return result;
    }

    private static SubjectColor NearestColor((double R, double G, double B) c, (float R, float G, float B) light)
    {
        var best = SubjectColor.Red;
        double bestD = double.MaxValue;
        double r = c.R / light.R, g = c.G / light.G, b = c.B / light.B;
        double n = Math.Max(1, r + g + b);
        foreach (var color in Enum.GetValues<SubjectColor>())
        {
            var (pr, pg, pb) = Vocabulary.Rgb(color);
            double pn = pr + pg + pb;
            // chromaticity, plus a little brightness so that white and yellow stay apart
            double d = Math.Abs(r / n - pr / pn) + Math.Abs(g / n - pg / pn) + Math.Abs(b / n - pb / pn) + 0.0005 * Math.Abs(n - pn);
            if (d < bestD) { bestD = d; best = color; }
        }
        return best;
    }

    /// <summary>Orientations tried when fitting a subject (30 degrees apart).</summary>
    private const int Angles = 12;

    /// <summary>
    /// The class, pattern and pose whose rendering at the blob's place best explains its pixels: colour error where the
    /// candidate covers the picture, plus a penalty for blob pixels it leaves uncovered. Three sizes around the area's
    /// estimate are tried; the candidate is centred on the blob's centroid.
    /// </summary>
    private static (SubjectClass Class, Pattern Pattern, int Angle) Fit(float[] frame, Blob blob, int w, int h, SubjectColor color,
        (float R, float G, float B) light, IReadOnlyList<SubjectClass> classes, IReadOnlyList<Pattern> patterns)
    {
        int unit = Math.Min(w, h);
        var best = (classes[0], patterns[0], 0);
        double bestError = double.MaxValue;
        double reach = Math.Sqrt(blob.Area) * 1.3;
        int x0 = (int)Math.Max(0, blob.X - reach), x1 = (int)Math.Min(w - 1, blob.X + reach);
        int y0 = (int)Math.Max(0, blob.Y - reach), y1 = (int)Math.Min(h - 1, blob.Y + reach);
        foreach (var cls in classes)
            foreach (var scale in new[] { 0.9, 1.0, 1.1 })
            {
                float radius = (float)(Math.Sqrt(blob.Area / (Math.PI * CoverFraction(cls))) * scale / unit);
                foreach (var pattern in patterns)
                    for (int a = 0; a < Angles; a++)
                    {
                        float angle = a * 2 * MathF.PI / Angles;
                        double e = 0;
                        for (int y = y0; y <= y1; y++)
                            for (int x = x0; x <= x1; x++)
                            {
                                var (cov, rgb) = Renderer.SubjectPixel(cls, color, pattern, radius, angle, (float)((x + 0.5 - blob.X) / unit), (float)((y + 0.5 - blob.Y) / unit), unit);
                                if (cov <= 0) continue;
                                int o = (y * w + x) * 3;
                                e += cov * (Math.Abs(frame[o] - rgb.R * light.R) + Math.Abs(frame[o + 1] - rgb.G * light.G) + Math.Abs(frame[o + 2] - rgb.B * light.B));
                            }
                        foreach (var p in blob.Pixels)
                        {
                            var (cov, _) = Renderer.SubjectPixel(cls, color, pattern, radius, angle, (float)((p % w + 0.5 - blob.X) / unit), (float)((p / w + 0.5 - blob.Y) / unit), unit);
                            e += (1 - cov) * 200;
                        }
                        if (e < bestError) { bestError = e; best = (cls, pattern, a); }
                    }
            }
        return best;
    }

    /// <summary>Share of the region darker than the subject's colour: eye, pattern and the mouth when it opens.</summary>
    private static double DarkShare(float[] frame, Blob blob)
    {
        double bright = blob.Color.R + blob.Color.G + blob.Color.B;
        int darkCount = blob.Pixels.Count(p => frame[p * 3] + frame[p * 3 + 1] + frame[p * 3 + 2] < 0.45 * bright);
        return (double)darkCount / blob.Pixels.Count;
    }

    /// <summary>Area of each class's shape as a fraction of the disc of its radius (measured once from the renderer).</summary>
    private static double CoverFraction(SubjectClass cls) => CoverFractions.Value[(int)cls];

    private static readonly Lazy<double[]> CoverFractions = new(() => Enum.GetValues<SubjectClass>().Select(cls =>
    {
        int n = 0, inside = 0;
        for (float y = -1.6f; y <= 1.6f; y += 0.02f)
            for (float x = -1.6f; x <= 1.6f; x += 0.02f)
            {
                n++;
                if (Renderer.SubjectPixel(cls, SubjectColor.Red, Pattern.Solid, 1f, 0f, x, y, 1000f).Coverage > 0.5f) inside++;
            }
        return inside * (3.2 * 3.2) / n / Math.PI;
    }).ToArray());

    /// <summary>
    /// The action from a subject's sightings: growth, travel, vertical arcs, rotation, else a moving mouth;
    /// active from the first to the last sighting that differs from the one before.
    /// </summary>
    private static (Action, float Start, float End) ActionOf(List<Sighting> track, double fps)
    {
        var xs = track.Select(b => b.X).ToArray();
        var ys = track.Select(b => b.Y).ToArray();
        var rs = track.Select(b => b.Radius).ToArray();
        double travel = xs.Max() - xs.Min(), rise = ys.Max() - ys.Min(), growth = rs.Max() / Math.Max(1e-6, rs.Min());
        // orientation is fitted only for shapes without rotational symmetry (else Angle stays -1)
        var changed = new bool[track.Count];
        for (int i = 1; i < track.Count; i++)
        {
            var (a, b) = (track[i - 1], track[i]);
            changed[i] = Math.Abs(a.X - b.X) > 0.003 || Math.Abs(a.Y - b.Y) > 0.003 || Math.Abs(a.Radius - b.Radius) > 0.02 * a.Radius
                || a.Angle != b.Angle || Math.Abs(a.Dark - b.Dark) > 0.02;
        }
        // active where two sightings in a row changed (a single flicker of the fit is not an action); the action is the
        // longest such stretch, gaps of one sighting bridged, so that stray flickers elsewhere do not stretch it
        var active = Enumerable.Range(1, Math.Max(0, track.Count - 1)).Where(i => changed[i] && (i + 1 < track.Count && changed[i + 1] || changed[i - 1])).ToList();
        int runStart = -1, runEnd = -1, bestStart = -1, bestEnd = -1;
        foreach (var i in active)
        {
            if (runStart < 0 || i - runEnd > 2) runStart = i;
            runEnd = i;
            if (bestStart < 0 || runEnd - runStart > bestEnd - bestStart) (bestStart, bestEnd) = (runStart, runEnd);
        }
        float start = (float)((bestStart >= 0 ? track[Math.Max(0, bestStart - 1)].Frame : track[0].Frame) / fps);
        float end = (float)((bestEnd >= 0 ? track[bestEnd].Frame : track[^1].Frame) / fps);
        if (growth > 1.3) return (Action.Grow, start, end);
        if (travel > 0.18) return (Action.Move, start, end);
        if (rise > 0.08)
        {
            // arcs: runs of sightings well above the resting height
            int arcs = 0;
            bool up = false;
            foreach (var y in ys)
            {
                bool high = ys.Max() - y > rise * 0.5;
                if (high && !up) arcs++;
                up = high;
            }
            return (arcs >= 2 ? Action.Bounce : Action.Jump, start, end);
        }
        // a moving mouth changes how much of the subject is dark; a spin turns it without that
        var darks = track.Select(s => s.Dark).ToArray();
        double darkMean = darks.Average(), darkStd = Math.Sqrt(darks.Average(d => (d - darkMean) * (d - darkMean)));
        int angles = track.Select(s => s.Angle).Distinct().Count();
        // symmetric shapes show a spin only through their eye and pattern: the dark share then barely changes
        bool turning = track[0].Angle >= 0 ? angles >= 3 && darkStd < 0.02 : darkStd < 0.012;
        return (turning ? Action.Spin : Action.Speak, start, end);
    }

    // ---- audio -------------------------------------------------------------------------

    /// <summary>Times (s) where the loudness jumps: impacts, steps and syllables.</summary>
    public static IReadOnlyList<float> Onsets(AudioTrack audio)
    {
        int hop = audio.SampleRate / 200; // 5 ms
        var energy = new List<double>();
        for (int i = 0; i + hop <= audio.Samples.Length; i += hop)
        {
            double s = 0;
            for (int j = i; j < i + hop; j++) s += audio.Samples[j] * audio.Samples[j];
            energy.Add(Math.Sqrt(s / hop));
        }
        var onsets = new List<float>();
        double floor = energy.Order().ElementAt(energy.Count / 2);
        // an onset is a rise of 3x (and above the floor) against the level 15-20 ms before: sharp synthetic attacks and
        // the softened ones of decoded or generated sound both pass, a sustained tone does not
        for (int k = 4; k < energy.Count; k++)
        {
            double before = Math.Max(energy[k - 4], energy[k - 3]);
            if (energy[k] > 3 * before + 0.02 + floor && energy[k] >= energy[k - 1] && (onsets.Count == 0 || k * hop / (float)audio.SampleRate - onsets[^1] > 0.06))
            {
                // refine to the sample where the rise starts
                int from = (k - 3) * hop, to = Math.Min(audio.Samples.Length, (k + 1) * hop);
                int first = from;
                float threshold = (float)(energy[k] * 0.3);
                for (int j = from; j < to; j++) if (Math.Abs(audio.Samples[j]) > threshold) { first = j; break; }
                onsets.Add(first / (float)audio.SampleRate);
            }
        }
        return onsets;
    }
}
