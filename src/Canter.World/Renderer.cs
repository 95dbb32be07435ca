namespace Canter.World;

/// <summary>
/// Draws a scene at any size and time: backgrounds, lighting and camera, subjects as anti-aliased
/// signed-distance shapes with patterns and a mouth. The same scene renders the same at 64x64 or
/// 1920x1080, only sharper.
/// </summary>
public static class Renderer
{
    /// <summary>
    /// The camera at time t: the scene point at the frame's centre, the zoom, and whether the picture is mirrored
    /// (the reverse angle of a multi-shot scene). Camera moves apply within every shot.
    /// </summary>
    public static (float CenterX, float CenterY, float Zoom, bool Mirror) View(SceneSpec scene, float t)
    {
        float u = Math.Clamp(t / scene.Seconds, 0f, 1f);
        var (pan, zoom) = scene.Camera switch
        {
            Camera.PanLeft => (0.12f * (0.5f - u), 1f),
            Camera.PanRight => (0.12f * (u - 0.5f), 1f),
            Camera.ZoomIn => (0f, 1f + 0.35f * u),
            Camera.ZoomOut => (0f, 1.35f - 0.35f * u),
            _ => (0f, 1f),
        };
        var shot = scene.ShotAt(t);
        switch (shot.Framing)
        {
            case Framing.CloseUp:
                {
                    var subject = scene.Subjects[Math.Clamp(shot.Subject, 0, scene.Subjects.Count - 1)];
                    return (subject.X + pan, subject.Y, zoom * 2.4f, false);
                }
            case Framing.Reverse:
                return (0.5f + pan, 0.5f, zoom * 1.15f, true);
            default:
                return (0.5f + pan, 0.5f, zoom, false);
        }
    }

    /// <summary>Scene point to pixel (x, y) and the pixels per scene unit, at time t.</summary>
    public static (float Px, float Py, float Scale) ToPixel(SceneSpec scene, float t, int width, int height, float sx, float sy)
    {
        var (cx, cy, zoom, mirror) = View(scene, t);
        float unit = Math.Min(width, height) * zoom;
        float dx = (sx - cx) * unit;
        return ((mirror ? -dx : dx) + width / 2f, (sy - cy) * unit + height / 2f, unit);
    }

    /// <summary>Brightness multipliers (r, g, b) of the lighting at time t.</summary>
    public static (float R, float G, float B) Light(SceneSpec scene, float t)
    {
        switch (scene.Lighting)
        {
            case Lighting.Dusk:
                return (0.85f, 0.62f, 0.5f);
            case Lighting.DarkFlash:
                float flash = 0f;
                foreach (var f in scene.Flashes) flash = Math.Max(flash, MathF.Exp(-MathF.Abs(t - f) / 0.06f));
                float level = 0.22f + 0.9f * flash;
                return (level, level, level * 1.05f);
            default:
                return (1f, 1f, 1f);
        }
    }

    /// <summary>One RGB24 frame of the scene at time t (without its subjects if asked: the parser's background).</summary>
    public static byte[] Render(SceneSpec scene, float t, int width, int height, bool drawSubjects = true)
    {
        if (width <= 0 || height <= 0 || (long)width * height > 8192L * 8192) throw new ArgumentOutOfRangeException(nameof(width), $"cannot render {width}x{height}");
        var (cx, cy, zoom, mirror) = View(scene, t);
        float unit = Math.Min(width, height) * zoom;
        var light = Light(scene, t);
        var states = drawSubjects ? scene.Subjects.Select(s => Motion.At(s, t)).ToArray() : [];
        var pixels = new byte[width * height * 3];
        Parallel.For(0, height, py =>
        {
            float sy = (py + 0.5f - height / 2f) / unit + cy;
            for (int px = 0; px < width; px++)
            {
                float offset = (px + 0.5f - width / 2f) / unit;
                float sx = (mirror ? -offset : offset) + cx;
                var (r, g, b) = BackgroundColor(scene, sx, sy);
                for (int i = 0; i < states.Length; i++)
                {
                    var st = states[i];
                    float dx = sx - st.X, dy = sy - st.Y;
                    if (MathF.Abs(dx) > st.Radius * 1.6f || MathF.Abs(dy) > st.Radius * 1.6f) continue;
                    var (cov, color) = Subject(scene.Subjects[i], st, dx, dy, unit);
                    if (cov <= 0f) continue;
                    r += (color.R - r) * cov;
                    g += (color.G - g) * cov;
                    b += (color.B - b) * cov;
                }
                int o = (py * width + px) * 3;
                pixels[o] = ToByte(r * light.R);
                pixels[o + 1] = ToByte(g * light.G);
                pixels[o + 2] = ToByte(b * light.B);
            }
        });
        return pixels;
    }

    private static byte ToByte(float v) => (byte)Math.Clamp((int)MathF.Round(v), 0, 255);

    private const float Horizon = 0.72f;

    private static (float R, float G, float B) BackgroundColor(SceneSpec scene, float sx, float sy)
    {
        bool ground = sy > Horizon;
        float k = Math.Clamp(sy, 0f, 1f);
        switch (scene.Background)
        {
            case Background.Meadow:
                return ground ? (70 + 20 * MathF.Sin(sx * 40), 150 + 10 * MathF.Sin(sy * 60), 60) : (120 + 60 * k, 180 + 40 * k, 240);
            case Background.Beach:
                return ground ? (225, 200 + 10 * MathF.Sin(sx * 25), 150) : (100 + 80 * k, 170 + 50 * k, 235);
            case Background.Night:
                {
                    if (ground) return (30, 30, 45);
                    // fixed stars on a lattice, jittered by a hash
                    float cx = MathF.Floor(sx * 24), cy = MathF.Floor(sy * 24);
                    float h = Hash(cx, cy);
                    float star = h > 0.85f && Fract(sx * 24) is > 0.4f and < 0.6f && Fract(sy * 24) is > 0.4f and < 0.6f ? 1f : 0f;
                    return (15 + 200 * star, 20 + 200 * star, 50 + 180 * star);
                }
            default:
                {
                    // studio floor tiles: texture that shows the camera's motion
                    bool seam = ground && (Fract(sx * 10f) < 0.06f || Fract(sy * 20f) < 0.08f);
                    return ground ? (seam ? (90, 85, 80) : (125, 120, 115)) : (175 - 40 * k, 175 - 40 * k, 180 - 40 * k);
                }
        }
    }

    private static float Fract(float v) => v - MathF.Floor(v);

    private static float Hash(float x, float y) => Fract(MathF.Sin(x * 127.1f + y * 311.7f) * 43758.547f);

    private static (float Coverage, (float R, float G, float B) Color) Subject(SubjectSpec s, SubjectState st, float dx, float dy, float unit) =>
        SubjectPixel(s.Class, s.Color, s.Pattern, st.Radius, st.Angle, dx, dy, unit, st.Mouth);

    /// <summary>
    /// Coverage (0..1) and unlit colour of a subject of radius <paramref name="radius"/> (scene units) at offset
    /// (dx, dy) from its centre, with <paramref name="unit"/> pixels per scene unit. The parser proposes its
    /// hypotheses through this same function.
    /// </summary>
    public static (float Coverage, (float R, float G, float B) Color) SubjectPixel(SubjectClass cls, SubjectColor subjectColor, Pattern pattern,
        float radius, float angle, float dx, float dy, float unit, float mouth = 0f)
    {
        // into the subject's frame: rotate by -angle, normalise by radius
        float c = MathF.Cos(-angle), sn = MathF.Sin(-angle);
        float lx = (dx * c - dy * sn) / radius, ly = (dx * sn + dy * c) / radius;
        float d = Shape(cls, lx, ly) * radius;                       // signed distance in scene units
        float coverage = Math.Clamp(0.5f - d * unit, 0f, 1f);
        if (coverage <= 0f) return (0f, default);
        var (r0, g0, b0) = Vocabulary.Rgb(subjectColor);
        float shade = PatternShade(pattern, lx, ly);
        var color = (r0 * shade, g0 * shade, b0 * shade);
        // the mouth: a dark ellipse whose height follows the voice
        if (mouth > 0.02f)
        {
            float mx = (lx - 0.35f) / 0.28f, my = (ly - 0.1f) / (0.04f + 0.3f * mouth);
            float md = (MathF.Sqrt(mx * mx + my * my) - 1f) * 0.2f * radius;
            float mouthCov = Math.Clamp(0.5f - md * unit, 0f, 1f);
            color = (color.Item1 * (1 - mouthCov) + 25 * mouthCov, color.Item2 * (1 - mouthCov) + 10 * mouthCov, color.Item3 * (1 - mouthCov) + 15 * mouthCov);
        }
        // a fixed eye gives every subject a front
        float ex = lx - 0.3f, ey = ly + 0.3f;
        if (ex * ex + ey * ey < 0.012f) color = (20, 20, 20);
        return (coverage, color);
    }

    private static float PatternShade(Pattern p, float lx, float ly) => p switch
    {
        Pattern.Stripes => MathF.Sin(lx * 9f) > 0 ? 1f : 0.55f,
        Pattern.Dots => (Fract(lx * 2.5f + 0.5f) - 0.5f) * (Fract(lx * 2.5f + 0.5f) - 0.5f) + (Fract(ly * 2.5f + 0.5f) - 0.5f) * (Fract(ly * 2.5f + 0.5f) - 0.5f) < 0.05f ? 0.55f : 1f,
        Pattern.Checker => ((int)MathF.Floor(lx * 2.5f + 10) + (int)MathF.Floor(ly * 2.5f + 10)) % 2 == 0 ? 1f : 0.55f,
        _ => 1f,
    };

    /// <summary>Signed distance (in radii) to the outline of each class, in the subject's unit frame.</summary>
    private static float Shape(SubjectClass cls, float x, float y)
    {
        switch (cls)
        {
            case SubjectClass.Ball:
                return MathF.Sqrt(x * x + y * y) - 1f;
            case SubjectClass.Cube:
                {
                    float qx = MathF.Abs(x) - 0.85f, qy = MathF.Abs(y) - 0.85f;
                    float outside = MathF.Sqrt(MathF.Max(qx, 0) * MathF.Max(qx, 0) + MathF.Max(qy, 0) * MathF.Max(qy, 0));
                    return outside + MathF.Min(MathF.Max(qx, qy), 0f);
                }
            case SubjectClass.Star:
                {
                    float r = MathF.Sqrt(x * x + y * y), a = MathF.Atan2(y, x);
                    return (r - (0.62f + 0.38f * MathF.Cos(5f * a))) * 0.7f;
                }
            case SubjectClass.Bird:
                {
                    float body = Ellipse(x, y, 1f, 0.62f);
                    float wing = Ellipse(x + 0.1f, y + 0.45f, 0.55f, 0.3f);
                    return MathF.Min(body, wing);
                }
            case SubjectClass.Fish:
                {
                    float body = Ellipse(x - 0.1f, y, 0.85f, 0.5f);
                    // tail: a triangle behind the body
                    float tx = -x - 0.65f, tail = MathF.Max(MathF.Abs(y) - tx * 0.9f, MathF.Max(-tx, tx - 0.35f));
                    return MathF.Min(body, tail);
                }
            default:
                {
                    float qx = MathF.Abs(x) - 0.6f, qy = MathF.Abs(y - 0.1f) - 0.85f;
                    float box = MathF.Sqrt(MathF.Max(qx, 0) * MathF.Max(qx, 0) + MathF.Max(qy, 0) * MathF.Max(qy, 0)) + MathF.Min(MathF.Max(qx, qy), 0f) - 0.1f;
                    float antenna = MathF.Max(MathF.Abs(x) - 0.07f, MathF.Abs(y + 1.05f) - 0.2f);
                    return MathF.Min(box, antenna);
                }
        }
    }

    private static float Ellipse(float x, float y, float rx, float ry) => (MathF.Sqrt(x * x / (rx * rx) + y * y / (ry * ry)) - 1f) * MathF.Min(rx, ry);
}
