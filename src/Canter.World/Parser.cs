using Canter.Media;

namespace Canter.World;

/// <summary>
/// One sighting of a subject: where it is in scene units (0..1 across and down, camera motion removed, as in
/// <see cref="SubjectSpec"/>), its radius in scene units, and the share of its pixels darker than its colour
/// (eye, pattern, and the mouth when it opens).
/// </summary>
public sealed record ParsedSighting(int Frame, float Time, float X, float Y, float Radius, float Dark)
{
    /// <summary>How the subject is turned (radians, as the renderer's angle).</summary>
    public float Angle { get; init; }

    /// <summary>How open its mouth is (0..1), as the renderer draws it.</summary>
    public float Mouth { get; init; }
}

/// <summary>A subject the parser found: identity, action and when it acted (seconds), and its track frame by frame.</summary>
public sealed record ParsedSubject(SubjectClass Class, SubjectColor Color, Pattern Pattern, Action Action, float Start, float End, int Frames)
{
    public IReadOnlyList<ParsedSighting> Track { get; init; } = [];

    /// <summary>The visual events of its action (impacts, steps, syllables, the start of a spin or a growth).</summary>
    public IReadOnlyList<ParsedEvent> Events { get; init; } = [];
}

/// <summary>A shot the parser found: when it starts (s) and how it frames the scene (the subject of a close-up by its colour).</summary>
public sealed record ParsedShot(float Start, Framing Framing, SubjectColor? Subject = null);

/// <summary>What the parser recovered from a clip.</summary>
public sealed record ParsedScene(Background Background, Lighting Lighting, Camera Camera, IReadOnlyList<ParsedSubject> Subjects, IReadOnlyList<float> AudioOnsets)
{
    /// <summary>The shots, the first starting at 0 (a clip without cuts is one wide shot).</summary>
    public IReadOnlyList<ParsedShot> Shots { get; init; } = [new(0, Framing.Wide)];
}

/// <summary>
/// Reads a clip of the world back into its attributes by analysis by synthesis: the renderer that
/// made the world also proposes every hypothesis (background and lighting, camera, each subject's
/// class, colour and pattern), and the hypothesis closest to the pixels wins. Works on the decoded
/// frames, so it judges generated videos as it judges renders.
/// Each subject's pose is fitted in every frame, so that the start and end of its action, and the events that
/// follow from them, are placed by fitting the action's known motion to the measured poses.
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
        double fps = video.FrameRate;
        // the scene is read in the first shot (a multi-shot scene opens wide); later shots are then framed against it
        var cuts = Cuts(frames);
        int firstShot = cuts.Count > 0 ? cuts[0] : frames.Length;
        var (background, lighting) = FitBackground(frames, firstShot, w, h, seconds);
        var camera = FitCamera(frames[..firstShot], w, h, background, (double)firstShot / frames.Length);
        var probe = new SceneSpec(0, seconds, background, lighting, camera, []);
        var shots = new List<ParsedShot> { new(0, Framing.Wide) };
        if (cuts.Count > 0)
        {
            // where the subjects stand, from the first shot alone: a close-up is centred on one of them
            var wide = FindSubjects(frames[..firstShot], w, h, fps, probe);
            var anchors = wide.Select(s => new SubjectSpec(s.Class, s.Color, s.Pattern, 0.1f, Median(s.Track.Select(x => x.X)), Median(s.Track.Select(x => x.Y)), s.Action, 0, 0, 0)).ToList();
            probe = probe with { Subjects = anchors };
            for (int c = 0; c < cuts.Count; c++)
            {
                int from = cuts[c], to = c + 1 < cuts.Count ? cuts[c + 1] : frames.Length;
                float start = (float)((from - 0.5) / fps);
                var candidates = new List<ShotSpec> { new(start, Framing.Wide), new(start, Framing.Reverse) };
                candidates.AddRange(anchors.Select((_, i) => new ShotSpec(start, Framing.CloseUp, i)));
                var framing = candidates.MinBy(shot => FramingError(frames, from, to, w, h, fps, probe, [.. probe.Shots ?? [], shot]))!;
                var color = framing.Framing == Framing.CloseUp ? anchors[framing.Subject].Color : (SubjectColor?)null;
                if (framing.Framing == Framing.CloseUp)
                {
                    // the close-up is centred on where its subject stood when the scene was set up, which the wide shot
                    // shows only roughly (a mover has moved): the centre is refined until the background lines up
                    var anchor = anchors[framing.Subject];
                    double Error(double x, double y)
                    {
                        var scene = probe with { Subjects = [.. probe.Subjects, anchor with { X = (float)x, Y = (float)y }] };
                        return FramingError(frames, from, to, w, h, fps, scene, [.. probe.Shots ?? [], framing with { Subject = probe.Subjects.Count }]);
                    }
                    var (bx, by) = ((double)anchor.X, (double)anchor.Y);
                    double best = Error(bx, by);
                    foreach (var step in new[] { 0.04, 0.02, 0.01, 0.005 })
                        for (bool moved = true; moved;)
                        {
                            moved = false;
                            foreach (var (dx, dy) in new[] { (step, 0.0), (-step, 0.0), (0.0, step), (0.0, -step) })
                            {
                                if (Math.Abs(bx + dx - anchor.X) > 0.2 || Math.Abs(by + dy - anchor.Y) > 0.1) continue;
                                double e = Error(bx + dx, by + dy);
                                if (e < best) { best = e; bx += dx; by += dy; moved = true; }
                            }
                        }
                    probe = probe with { Subjects = [.. probe.Subjects, anchor with { X = (float)bx, Y = (float)by }] };
                    framing = framing with { Subject = probe.Subjects.Count - 1 };
                }
                probe = probe with { Shots = [.. probe.Shots ?? [new ShotSpec(0, Framing.Wide)], framing] };
                shots.Add(new ParsedShot(start, framing.Framing, color));
            }
        }
        var subjects = FindSubjects(frames, w, h, fps, probe);
        var onsets = audio is null ? [] : Onsets(audio);
        return new ParsedScene(background, lighting, camera, subjects, onsets) { Shots = shots };
    }

    /// <summary>
    /// What the parser finds in a still image (a reference image): its subjects, each seen in one frame. The largest
    /// is first, since a reference shows its subject big and centred.
    /// </summary>
    public static IReadOnlyList<ParsedSubject> ParseImage(RgbImage image)
    {
        return [.. Parse(Still(image), null).Subjects.OrderByDescending(s => s.Track.Max(t => t.Radius))];
    }

    /// <summary>A still image as the parser reads it: a clip of two identical frames (a subject needs two sightings).</summary>
    public static VideoClip Still(RgbImage image)
    {
        image.Validate();
        return new VideoClip(image.Width, image.Height, 12, [image.Pixels, image.Pixels]);
    }

    private static float Median(IEnumerable<float> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? 0.5f : sorted[sorted.Length / 2];
    }

    /// <summary>
    /// Frames that open a new shot: the picture changes far more than between its neighbours, after each frame's
    /// brightness is divided out (a flash brightens everything; a cut rearranges it).
    /// </summary>
    private static List<int> Cuts(float[][] frames)
    {
        if (frames.Length < 3) return [];
        var normalised = frames.Select(f =>
        {
            double mean = f.Average();
            float k = (float)(100 / Math.Max(1, mean));
            return f.Select(v => v * k).ToArray();
        }).ToArray();
        var change = new double[frames.Length];
        for (int f = 1; f < frames.Length; f++)
        {
            double d = 0;
            for (int i = 0; i < normalised[f].Length; i += 3) d += Math.Abs(normalised[f][i] - normalised[f - 1][i]) + Math.Abs(normalised[f][i + 1] - normalised[f - 1][i + 1]) + Math.Abs(normalised[f][i + 2] - normalised[f - 1][i + 2]);
            change[f] = d / (normalised[f].Length / 3);
        }
        double median = change.Skip(1).Order().ElementAt((frames.Length - 1) / 2);
        var cuts = new List<int>();
        for (int f = 1; f < frames.Length; f++)
        {
            double neighbours = Math.Max(f > 1 ? change[f - 1] : 0, f + 1 < frames.Length ? change[f + 1] : 0);
            if (change[f] > 2 * median + 4 && change[f] > 2.5 * neighbours) cuts.Add(f);
        }
        return cuts;
    }

    /// <summary>How far the background of a framing is from the shot's pictures (differences capped, so subjects weigh alike).</summary>
    private static double FramingError(float[][] frames, int from, int to, int w, int h, double fps, SceneSpec probe, IReadOnlyList<ShotSpec> shots)
    {
        var scene = probe with { Shots = shots };
        double e = 0;
        foreach (var f in new[] { from, (from + to) / 2, to - 1 }.Distinct())
        {
            var render = Renderer.Render(scene, (float)(f / fps), w, h, drawSubjects: false);
            for (int i = 0; i < render.Length; i += 3)
                e += Math.Min(90, Math.Abs(frames[f][i] - render[i]) + Math.Abs(frames[f][i + 1] - render[i + 1]) + Math.Abs(frames[f][i + 2] - render[i + 2]));
        }
        return e;
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
    private static (Background, Lighting) FitBackground(float[][] frames, int firstShot, int w, int h, float seconds)
    {
        var luma = frames.Select(Luma).ToArray();
        double median = luma.Order().ElementAt(luma.Length / 2), max = luma.Max();
        bool flashes = max > 1.5 * median + 5;
        // the picture matched is the darkest of the first shot (between flashes), or its middle
        int quiet = Array.IndexOf(luma, luma.Take(firstShot).Min());
        var frame = frames[flashes ? quiet : firstShot / 2];
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
    private static Camera FitCamera(float[][] frames, int w, int h, Background background, double share)
    {
        var horizon = frames.Select(f => Horizon(f, w, h)).ToArray();
        int k = Math.Max(1, frames.Length / 6);
        double start = horizon.Take(k).Average(), end = horizon.TakeLast(k).Average();
        // a zoom moves the horizon steadily; a horizon that jumps about (a dark, noisy picture) says nothing
        double slope = (end - start) / Math.Max(1, frames.Length - k);
        double residual = Math.Sqrt(horizon.Select((y, i) => Math.Pow(y - (start + slope * (i - k / 2.0)), 2)).Average());
        if (Math.Abs(end - start) > 0.02 * h * share + 0.5 && residual < 0.06 * h) return end > start ? Camera.ZoomIn : Camera.ZoomOut;
        // drift of the textured band (ground, or the stars of a night sky), measured between frames a few apart so that
        // each step moves about a pixel (noise then matters less), with a search range under half the texture's period
        double drift = 0;
        int step = Math.Max(1, frames.Length / 12);
        for (int f = step; f < frames.Length; f += step)
            drift += Shift(Band(frames[f - step], w, h, background, horizon[f - step]), Band(frames[f], w, h, background, horizon[f]), Math.Max(2, w / 64));
        double expected = 0.12 * Math.Min(w, h) * share; // a pan over the whole clip; the frames may be its first shot only
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

    private static List<ParsedSubject> FindSubjects(float[][] frames, int w, int h, double fps, SceneSpec probe)
    {
        var backgrounds = new byte[]?[frames.Length];
        byte[] Background(int f) => backgrounds[f] ??= Renderer.Render(probe, (float)(f / fps), w, h, drawSubjects: false);
        // the blur is the clip's: measured on a few frames, the median kept
        double blur = new[] { 0, frames.Length / 2, frames.Length - 1 }.Select(i => SubjectFit.EstimateBlur(frames[i], Background(i), w, h)).Order().ElementAt(1);
        var views = new FrameView?[frames.Length];
        FrameView View(int f)
        {
            float t = (float)(f / fps);
            return views[f] ??= new FrameView(frames[f], Background(f), w, h, Renderer.Light(probe, t), blur, Renderer.View(probe, t).Mirror);
        }
        double UnitAt(int f) => Math.Min(w, h) * Renderer.View(probe, (float)(f / fps)).Zoom;
        var tracks = new List<Track>();
        for (int f = 0; f < frames.Length; f++)
        {
            var view = View(f);
            double level = Math.Max(view.Light.R, Math.Max(view.Light.G, view.Light.B));
            var sightings = new List<(Blob Blob, SubjectColor Color, double X, double Y)>();
            var blobs = Blobs(frames[f], view.Background, w, h, f, level, view.Blur).ToList();
            // only a close-up makes a subject big enough to fall apart; elsewhere two nearby blobs of a colour are two subjects
            if (Renderer.View(probe, (float)(f / fps)).Zoom > 1.8) blobs = JoinFragments(blobs, view.Light, w);
            foreach (var blob in blobs)
            {
                var (sx, sy, _) = ToScene(probe, f / fps, w, h, blob.X + 0.5, blob.Y + 0.5);
                sightings.Add((blob, NearestColor(blob.Color, view.Light), sx, sy));
            }
            // continue tracks with the closest same-coloured sightings first, each track and sighting used once
            var pairs = from i in Enumerable.Range(0, sightings.Count)
                        from k in tracks
                        where k.Color == sightings[i].Color && f - k.Blobs[^1].Blob.Frame <= 3
                        let d = Math.Abs(k.Blobs[^1].X - sightings[i].X) + Math.Abs(k.Blobs[^1].Y - sightings[i].Y)
                        where d < 0.22
                        orderby d
                        select (i, k);
            var usedSightings = new HashSet<int>();
            var usedTracks = new HashSet<Track>();
            foreach (var (i, k) in pairs.ToList())
            {
                if (usedSightings.Contains(i) || usedTracks.Contains(k)) continue;
                k.Blobs.Add((sightings[i].Blob, sightings[i].X, sightings[i].Y));
                usedSightings.Add(i);
                usedTracks.Add(k);
            }
            for (int i = 0; i < sightings.Count; i++)
            {
                if (usedSightings.Contains(i)) continue;
                var track = new Track(sightings[i].Color);
                track.Blobs.Add((sightings[i].Blob, sightings[i].X, sightings[i].Y));
                tracks.Add(track);
            }
        }
        // a subject out of the picture for a while (a close-up on another) comes back as a new track: join tracks of one
        // colour that follow each other, where the later one starts near where the earlier one ended
        foreach (var late in tracks.OrderBy(t => t.Blobs[0].Blob.Frame).ToList())
        {
            var early = tracks.Where(t => t != late && t.Color == late.Color && t.Blobs[^1].Blob.Frame < late.Blobs[0].Blob.Frame
                    && Math.Abs(t.Blobs[^1].X - late.Blobs[0].X) + Math.Abs(t.Blobs[^1].Y - late.Blobs[0].Y) < 0.22)
                .MaxBy(t => t.Blobs[^1].Blob.Frame);
            if (early is null) continue;
            early.Blobs.AddRange(late.Blobs);
            tracks.Remove(late);
        }
        var result = new List<ParsedSubject>();
        foreach (var track in tracks)
        {
            var list = track.Blobs;
            if (list.Count < Math.Max(2, frames.Length / 4)) continue; // noise, not a subject
            // identity from a few sightings spread over the track, whole blobs first (a blob cut by the frame's edge or
            // merged with another subject misleads the fit), the class by vote and then the pattern among its votes
            var whole = list.Where(b => !TouchesEdge(b.Blob, w, h)).ToList();
            if (whole.Count < 3) whole = list;
            int n = Math.Min(5, whole.Count);
            // the colour too is judged by the fit where the blob's own colour leaves two close candidates (chroma
            // subsampling and blur bleed the background into a small subject)
            var votes = Enumerable.Range(0, n).Select(i => whole[(2 * i + 1) * whole.Count / (2 * n)].Blob)
                .Select(b =>
                {
                    var ranked = RankColors(b.Color, View(b.Frame).Light);
                    return ranked.Where((c, k) => k == 0 || c.Distance < 1.6 * ranked[0].Distance).Take(2)
                        .Select(c => (Color: c.Color, Fit: SubjectFit.Identify(View(b.Frame), c.Color, b.X + 0.5, b.Y + 0.5, b.Area, Enum.GetValues<SubjectClass>(), Enum.GetValues<Pattern>())))
                        .Select(c => (c.Color, c.Fit.Class, c.Fit.Pattern, c.Fit.Pose, c.Fit.Error, b.Frame))
                        .MinBy(c => c.Error);
                })
                .ToList();
            // a sighting where the subject overlaps another of its colour fits badly: only the good fits vote
            double bestFit = votes.Min(v => v.Error);
            votes = [.. votes.Where(v => v.Error <= 2 * bestFit + 1)];
            var color = votes.GroupBy(v => v.Color).OrderByDescending(g => g.Count()).ThenBy(g => g.Sum(v => v.Error)).First().Key;
            votes = [.. votes.Where(v => v.Color == color)];
            var cls = votes.GroupBy(v => v.Class).OrderByDescending(g => g.Count()).ThenBy(g => g.Sum(v => v.Error)).First().Key;
            var pattern = votes.Where(v => v.Class == cls).GroupBy(v => v.Pattern).OrderByDescending(g => g.Count()).ThenBy(g => g.Sum(v => v.Error)).First().Key;
            // then the pose in every sighting, each started from the one before
            double radius = votes.Where(v => v.Class == cls).Select(v => v.Pose.Radius / UnitAt(v.Frame)).Average();
            double angle = votes.First(v => v.Class == cls).Pose.Angle;
            var sightings = new List<ParsedSighting>();
            foreach (var (blob, _, _) in list)
            {
                var view = View(blob.Frame);
                double unit = UnitAt(blob.Frame);
                var (pose, _) = SubjectFit.Track(view, cls, color, pattern, new Pose(blob.X + 0.5, blob.Y + 0.5, radius * unit, angle));
                double mouth = SubjectFit.Mouth(view, cls, color, pattern, pose);
                if (mouth <= 0.05)
                {
                    // a small subject can fit as well upside down (its eye a pixel or two); an open mouth tells which way is up
                    var flipped = pose with { Angle = pose.Angle + Math.PI };
                    double flippedMouth = SubjectFit.Mouth(view, cls, color, pattern, flipped);
                    if (flippedMouth > 0.05 && SubjectFit.Error(view, cls, color, pattern, flipped, mouth: flippedMouth) < SubjectFit.Error(view, cls, color, pattern, pose))
                        (pose, mouth) = (flipped, flippedMouth);
                }
                if (mouth > 0.05)
                {
                    // an open mouth is dark like the eye: fitted without it, a round subject turns to put its eye there
                    (pose, _) = SubjectFit.Track(view, cls, color, pattern, pose, mouth);
                    mouth = SubjectFit.Mouth(view, cls, color, pattern, pose);
                }
                var (sx, sy, _) = ToScene(probe, blob.Frame / fps, w, h, pose.X, pose.Y);
                float time = (float)(blob.Frame / fps);
                radius = pose.Radius / unit;
                angle = pose.Angle;
                sightings.Add(new ParsedSighting(blob.Frame, time, (float)sx, (float)sy, (float)radius, (float)DarkShare(frames[blob.Frame], blob))
                {
                    Angle = (float)angle,
                    Mouth = (float)mouth,
                });
            }
            var (action, start, end, events) = ActionFit.Fit(PoseSeries.Of(sightings, fps));
            result.Add(new ParsedSubject(cls, color, pattern, action, start, end, list.Count) { Track = sightings, Events = events });
        }
        return [.. result.OrderBy(s => s.Start)];
    }

    /// <summary>
    /// Joins blobs of one colour that nearly touch: a big patterned subject (a close-up) whose dark stripes or checks
    /// match the background falls apart into pieces, each of which would otherwise be taken for a subject.
    /// </summary>
    private static List<Blob> JoinFragments(List<Blob> blobs, (float R, float G, float B) light, int w)
    {
        var boxes = blobs.Select(b => (MinX: b.Pixels.Min(p => p % w), MaxX: b.Pixels.Max(p => p % w), MinY: b.Pixels.Min(p => p / w), MaxY: b.Pixels.Max(p => p / w))).ToList();
        var colors = blobs.Select(b => NearestColor(b.Color, light)).ToList();
        var group = Enumerable.Range(0, blobs.Count).ToArray();
        int Root(int i) => group[i] == i ? i : group[i] = Root(group[i]);
        for (int i = 0; i < blobs.Count; i++)
            for (int j = i + 1; j < blobs.Count; j++)
            {
                if (colors[i] != colors[j]) continue;
                int gapX = Math.Max(boxes[i].MinX - boxes[j].MaxX, boxes[j].MinX - boxes[i].MaxX);
                int gapY = Math.Max(boxes[i].MinY - boxes[j].MaxY, boxes[j].MinY - boxes[i].MaxY);
                if (Math.Max(gapX, gapY) <= 0.6 * Math.Sqrt(Math.Max(blobs[i].Area, blobs[j].Area))) group[Root(i)] = Root(j);
            }
        return [.. Enumerable.Range(0, blobs.Count).GroupBy(Root).Select(g =>
        {
            var parts = g.Select(i => blobs[i]).ToList();
            if (parts.Count == 1) return parts[0];
            double area = parts.Sum(b => b.Area);
            return new Blob(parts[0].Frame, parts.Sum(b => b.X * b.Area) / area, parts.Sum(b => b.Y * b.Area) / area, area,
                parts.MaxBy(b => b.Area)!.Color, [.. parts.SelectMany(b => b.Pixels)]);
        })];
    }

    private sealed class Track(SubjectColor color)
    {
        public SubjectColor Color { get; } = color;

        /// <summary>The track's blobs with their centres in scene units.</summary>
        public List<(Blob Blob, double X, double Y)> Blobs { get; } = [];
    }

    /// <summary>A pixel position to scene units at time t (the inverse of <see cref="Renderer.ToPixel"/>).</summary>
    private static (double X, double Y, double Unit) ToScene(SceneSpec probe, double t, int w, int h, double px, double py)
    {
        var (cx, cy, zoom, mirror) = Renderer.View(probe, (float)t);
        double unit = Math.Min(w, h) * zoom;
        double dx = (px - w / 2.0) / unit;
        return ((mirror ? -dx : dx) + cx, (py - h / 2.0) / unit + cy, unit);
    }

    private static bool TouchesEdge(Blob blob, int w, int h) =>
        blob.Pixels.Any(p => p % w == 0 || p % w == w - 1 || p / w == 0 || p / w == h - 1);

    /// <summary>Connected regions that differ from the rendered background.</summary>
    private static IEnumerable<Blob> Blobs(float[] frame, byte[] background, int w, int h, int index, double lightLevel, double blur)
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
            // (and, in a blurred picture, pixels deeper inside than the blur reaches, which mixes in the background)
            var interior = pixels;
            var inside = mask;
            for (int depth = 0; depth < 1 + (int)Math.Ceiling(2 * blur); depth++)
            {
                var was = inside;
                var deeper = interior.Where(p => p % w > 0 && p % w < w - 1 && p / w > 0 && p / w < h - 1
                    && was[p - 1] && was[p + 1] && was[p - w] && was[p + w]).ToList();
                if (deeper.Count < 4) break;
                inside = new bool[w * h];
                foreach (var p in deeper) inside[p] = true;
                interior = deeper;
            }
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

    private static SubjectColor NearestColor((double R, double G, double B) c, (float R, float G, float B) light) => RankColors(c, light)[0].Color;

    /// <summary>The world's colours from nearest to farthest: chromaticity, plus a little brightness so that white and yellow stay apart.</summary>
    private static List<(SubjectColor Color, double Distance)> RankColors((double R, double G, double B) c, (float R, float G, float B) light)
    {
        double r = c.R / light.R, g = c.G / light.G, b = c.B / light.B;
        double n = Math.Max(1, r + g + b);
        return [.. Enum.GetValues<SubjectColor>().Select(color =>
        {
            var (pr, pg, pb) = Vocabulary.Rgb(color);
            double pn = pr + pg + pb;
            return (color, Math.Abs(r / n - pr / pn) + Math.Abs(g / n - pg / pn) + Math.Abs(b / n - pb / pn) + 0.0005 * Math.Abs(n - pn));
        }).OrderBy(x => x.Item2)];
    }

    /// <summary>Share of the region darker than the subject's colour: eye, pattern and the mouth when it opens.</summary>
    private static double DarkShare(float[] frame, Blob blob)
    {
        double bright = blob.Color.R + blob.Color.G + blob.Color.B;
        int darkCount = blob.Pixels.Count(p => frame[p * 3] + frame[p * 3 + 1] + frame[p * 3 + 2] < 0.45 * bright);
        return (double)darkCount / blob.Pixels.Count;
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
