using System.Runtime.Intrinsics;

namespace Canter.World;

/// <summary>Where a subject sits in one frame, in pixels of that frame, and how it is turned (radians).</summary>
internal readonly record struct Pose(double X, double Y, double Radius, double Angle);

/// <summary>
/// Everything the fit needs to know about one frame: the observed picture, the rendered background (lit), the
/// lighting, and the blur the picture shows, so that candidates are blurred alike before they are compared.
/// </summary>
internal sealed record FrameView(float[] Observed, byte[] Background, int Width, int Height, (float R, float G, float B) Light, double Blur, bool Mirror = false);

/// <summary>
/// Analysis by synthesis of one subject in one frame: the renderer's own subject drawing, composited over the
/// rendered background and blurred like the picture, is compared with the picture around the subject (L1 over
/// RGB), and the pose (centre, radius, turn), class and pattern that explain the pixels best win.
/// </summary>
internal static class SubjectFit
{
    /// <summary>Mean absolute RGB difference between the picture and the candidate, over the box around the candidate.</summary>
    public static double Error(FrameView view, SubjectClass cls, SubjectColor color, Pattern pattern, Pose pose, int stride = 1, double mouth = 0)
    {
        int w = view.Width, h = view.Height;
        double reach = pose.Radius * 1.45 + 1.5;
        int margin = view.Blur > 0 ? (int)Math.Ceiling(2 * view.Blur) : 0;
        int x0 = Math.Max(0, (int)(pose.X - reach)), x1 = Math.Min(w - 1, (int)(pose.X + reach));
        int y0 = Math.Max(0, (int)(pose.Y - reach)), y1 = Math.Min(h - 1, (int)(pose.Y + reach));
        if (x1 < x0 || y1 < y0) return double.MaxValue;
        int ex0 = Math.Max(0, x0 - margin), ex1 = Math.Min(w - 1, x1 + margin), ey0 = Math.Max(0, y0 - margin), ey1 = Math.Min(h - 1, y1 + margin);
        int pw = ex1 - ex0 + 1, ph = ey1 - ey0 + 1;
        var patch = Composite(view, cls, color, pattern, pose, ex0, ey0, pw, ph, margin == 0 ? stride : 1, mouth); // (ph, pw, 3)
        if (margin > 0) GaussianBlur(patch, pw, ph, view.Blur);
        double e = 0;
        int n = 0;
        for (int y = y0; y <= y1; y += stride)
            for (int x = x0; x <= x1; x += stride)
            {
                int o = (y * w + x) * 3, q = ((y - ey0) * pw + (x - ex0)) * 3;
                e += Math.Abs(view.Observed[o] - patch[q]) + Math.Abs(view.Observed[o + 1] - patch[q + 1]) + Math.Abs(view.Observed[o + 2] - patch[q + 2]);
                n++;
            }
        return e / Math.Max(1, n);
    }

    /// <summary>The background of the box with the candidate drawn over it, lit as the frame is.</summary>
    private static float[] Composite(FrameView view, SubjectClass cls, SubjectColor color, Pattern pattern, Pose pose, int x0, int y0, int pw, int ph, int stride, double mouth)
    {
        var patch = new float[pw * ph * 3]; // (ph, pw, 3)
        var light = view.Light;
        for (int y = 0; y < ph; y += stride)
            for (int x = 0; x < pw; x += stride)
            {
                int o = ((y + y0) * view.Width + x + x0) * 3, q = (y * pw + x) * 3;
                float r = view.Background[o], g = view.Background[o + 1], b = view.Background[o + 2];
                // a reverse-angle shot shows the scene mirrored, subjects included
                double dx = x + x0 + 0.5 - pose.X;
                var (cov, rgb) = Renderer.SubjectPixel(cls, color, pattern, (float)pose.Radius, (float)pose.Angle,
                    (float)(view.Mirror ? -dx : dx), (float)(y + y0 + 0.5 - pose.Y), 1f, (float)mouth);
                if (cov > 0)
                {
                    r += (rgb.R * light.R - r) * cov;
                    g += (rgb.G * light.G - g) * cov;
                    b += (rgb.B * light.B - b) * cov;
                }
                patch[q] = r; patch[q + 1] = g; patch[q + 2] = b;
            }
        return patch;
    }

    /// <summary>
    /// Separable Gaussian blur in place (edges clamp), of an (h, w, 3) picture. Rows and columns away from the edges go
    /// eight floats at a time; each output is the same sum, in the same order, as one pixel at a time (no fused
    /// multiply-add), so the result does not depend on the path. The parser's fits blur every candidate: this was half
    /// of a clip's scoring time.
    /// </summary>
    internal static unsafe void GaussianBlur(float[] rgb, int w, int h, double sigma)
    {
        int radius = Math.Max(1, (int)Math.Ceiling(2 * sigma));
        var kernel = new float[2 * radius + 1];
        for (int i = -radius; i <= radius; i++) kernel[i + radius] = (float)Math.Exp(-i * i / (2 * sigma * sigma));
        float sum = kernel.Sum();
        for (int i = 0; i < kernel.Length; i++) kernel[i] /= sum;
        int row = w * 3;
        var tmp = new float[rgb.Length];
        fixed (float* src = rgb, mid = tmp, k = kernel)
        {
            for (int y = 0; y < h; y++) BlurAlongRow(src + (long)y * row, mid + (long)y * row, w, k, radius);
            for (int y = 0; y < h; y++) BlurDownColumns(mid, src + (long)y * row, y, w, h, k, radius);
        }
    }

    /// <summary>One row of (w, 3) floats, blurred along x into <paramref name="dst"/>: neighbours are 3 floats apart.</summary>
    private static unsafe void BlurAlongRow(float* src, float* dst, int w, float* kernel, int radius)
    {
        // interior floats i = 3 x + c with x in [radius, w - radius): no clamping, eight at a time
        int i0 = radius * 3, i1 = (w - radius) * 3, i = i0;
        for (; i + 8 <= i1; i += 8)
        {
            var s = Vector256<float>.Zero;
            for (int t = -radius; t <= radius; t++) s += Vector256.Create(kernel[t + radius]) * Vector256.Load(src + i + 3 * t);
            s.Store(dst + i);
        }
        // the rest, one float at a time with clamping: the left edge [0, i0) and what the vectors left, [i, 3 w)
        int row = w * 3;
        for (int j = 0; j < Math.Min(i0, row); j++) dst[j] = ClampedSum(src, w, j, kernel, radius);
        for (int j = i; j < row; j++) dst[j] = ClampedSum(src, w, j, kernel, radius);
    }

    /// <summary>Float j = 3 x + c of a row blurred along x, neighbours clamped to the row.</summary>
    private static unsafe float ClampedSum(float* src, int w, int j, float* kernel, int radius)
    {
        int x = j / 3, c = j % 3;
        float s = 0;
        for (int t = -radius; t <= radius; t++) s += kernel[t + radius] * src[Math.Clamp(x + t, 0, w - 1) * 3 + c];
        return s;
    }

    /// <summary>Row y of the picture, blurred along y from the rows of <paramref name="src"/> (rows clamp at the edges).</summary>
    private static unsafe void BlurDownColumns(float* src, float* dst, int y, int w, int h, float* kernel, int radius)
    {
        int row = w * 3, i = 0;
        for (; i + 8 <= row; i += 8)
        {
            var s = Vector256<float>.Zero;
            for (int t = -radius; t <= radius; t++) s += Vector256.Create(kernel[t + radius]) * Vector256.Load(src + (long)Math.Clamp(y + t, 0, h - 1) * row + i);
            s.Store(dst + i);
        }
        for (; i < row; i++)
        {
            float s = 0;
            for (int t = -radius; t <= radius; t++) s += kernel[t + radius] * src[(long)Math.Clamp(y + t, 0, h - 1) * row + i];
            dst[i] = s;
        }
    }

    /// <summary>Area of each class's shape as a fraction of the disc of its radius (measured once from the renderer).</summary>
    public static double CoverFraction(SubjectClass cls) => CoverFractions.Value[(int)cls];

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

    /// <summary>Turns tried in a coarse search (15 degrees apart).</summary>
    public const int Angles = 24;

    /// <summary>
    /// Class, pattern and pose of a subject seen as a blob of <paramref name="area"/> pixels centred at
    /// (<paramref name="cx"/>, <paramref name="cy"/>): every class and pattern at every coarse turn on a sparse grid of
    /// pixels; the best few are then refined in full, the outline first (plain, so that the centre and size sit where
    /// the shape's edges say, which a fine pattern such as dots needs), then with the pattern.
    /// </summary>
    public static (SubjectClass Class, Pattern Pattern, Pose Pose, double Error) Identify(FrameView view, SubjectColor color, double cx, double cy, double area,
        IReadOnlyList<SubjectClass> classes, IReadOnlyList<Pattern> patterns)
    {
        var coarse = new List<(SubjectClass Class, Pattern Pattern, Pose Pose, double Error)>();
        foreach (var cls in classes)
        {
            // the blob's area gives the size, or a fifth more: a pattern's dark parts can sink into a dark background
            foreach (var size in new[] { 1.0, 1.2 })
            {
                double radius = size * Math.Sqrt(area / (Math.PI * CoverFraction(cls)));
                foreach (var pattern in patterns)
                    for (int a = 0; a < Angles; a++)
                    {
                        var pose = new Pose(cx, cy, radius, a * 2 * Math.PI / Angles);
                        coarse.Add((cls, pattern, pose, Error(view, cls, color, pattern, pose, stride: 2)));
                    }
            }
        }
        // the three classes whose best coarse candidate fits best (outline and pattern judged together, which holds in
        // the dark), each refined plain, then every pattern tried from that outline
        var best = (Class: classes[0], Pattern: patterns[0], Pose: new Pose(cx, cy, 1, 0), Error: double.MaxValue);
        foreach (var top in coarse.GroupBy(c => c.Class).Select(g => g.MinBy(c => c.Error)).OrderBy(c => c.Error).Take(3))
        {
            var (outline, _) = Refine(view, top.Class, color, Pattern.Solid, coarse.Where(c => c.Class == top.Class && c.Pattern == Pattern.Solid).MinBy(c => c.Error).Pose);
            foreach (var pattern in patterns)
            {
                var (pose, error) = Track(view, top.Class, color, pattern, pattern == top.Pattern ? top.Pose with { X = outline.X, Y = outline.Y, Radius = outline.Radius } : outline);
                if (error < best.Error) best = (top.Class, pattern, pose, error);
            }
        }
        return best;
    }

    /// <summary>Coordinate descent on centre, radius and turn with halving steps.</summary>
    public static (Pose Pose, double Error) Refine(FrameView view, SubjectClass cls, SubjectColor color, Pattern pattern, Pose start, double angleStep = Math.PI / 24, double mouth = 0)
    {
        var pose = start;
        double best = Error(view, cls, color, pattern, pose, mouth: mouth);
        double step = 1.0, scale = 0.06, turn = angleStep;
        for (int round = 0; round < 4; round++)
        {
            bool moved = true;
            for (int pass = 0; pass < 3 && moved; pass++)
            {
                moved = false;
                foreach (var candidate in new[]
                {
                    pose with { X = pose.X + step }, pose with { X = pose.X - step },
                    pose with { Y = pose.Y + step }, pose with { Y = pose.Y - step },
                    pose with { Radius = pose.Radius * (1 + scale) }, pose with { Radius = pose.Radius / (1 + scale) },
                    pose with { Angle = pose.Angle + turn }, pose with { Angle = pose.Angle - turn },
                })
                {
                    double e = Error(view, cls, color, pattern, candidate, mouth: mouth);
                    if (e < best - 1e-9) { best = e; pose = candidate; moved = true; }
                }
            }
            step /= 2; scale /= 2; turn /= 2;
        }
        return (pose, best);
    }

    /// <summary>
    /// The pose in this frame, starting from the pose in an earlier one: a coarse sweep of turns (a spinning subject
    /// turns up to 75 degrees a frame), then refinement.
    /// </summary>
    public static (Pose Pose, double Error) Track(FrameView view, SubjectClass cls, SubjectColor color, Pattern pattern, Pose guess, double mouth = 0)
    {
        var best = (Pose: guess, Error: Error(view, cls, color, pattern, guess, stride: 2, mouth: mouth));
        for (int a = 1; a < Angles; a++)
        {
            var pose = guess with { Angle = guess.Angle + a * 2 * Math.PI / Angles };
            double e = Error(view, cls, color, pattern, pose, stride: 2, mouth: mouth);
            if (e < best.Error) best = (pose, e);
        }
        var refined = Refine(view, cls, color, pattern, best.Pose, mouth: mouth);
        // the sparse grid can miss a small eye, the only sign of a plain round subject's turn: sweep again in full
        var swept = refined;
        for (int a = 1; a < Angles; a++)
        {
            var pose = refined.Pose with { Angle = refined.Pose.Angle + a * 2 * Math.PI / Angles };
            double e = Error(view, cls, color, pattern, pose, mouth: mouth);
            if (e < swept.Error - 1e-9) swept = (pose, e);
        }
        return swept.Pose == refined.Pose ? refined : Refine(view, cls, color, pattern, swept.Pose, mouth: mouth);
    }

    /// <summary>How open the mouth is (0..1): the opening whose drawing best explains the mouth's pixels.</summary>
    public static double Mouth(FrameView view, SubjectClass cls, SubjectColor color, Pattern pattern, Pose pose)
    {
        double best = 0, bestError = double.MaxValue;
        for (int k = 0; k <= 10; k++)
        {
            double m = k / 10.0;
            double e = Error(view, cls, color, pattern, pose, mouth: m);
            if (e < bestError - 1e-9) { bestError = e; best = m; }
        }
        return best;
    }

    /// <summary>
    /// The blur (Gaussian sigma in pixels) that makes the rendered background look most like the picture, judged at the
    /// background's edges (where blur shows) with each pixel's difference capped, so that subjects, which the background
    /// render lacks, weigh the same for every candidate; 0 for a sharp picture.
    /// </summary>
    public static double EstimateBlur(float[] observed, byte[] background, int w, int h)
    {
        var edges = new List<int>();
        for (int y = 0; y < h - 1; y++)
            for (int x = 0; x < w - 1; x++)
            {
                int o = (y * w + x) * 3, r = o + 3, d = o + w * 3;
                int g = 0;
                for (int c = 0; c < 3; c++) g += Math.Abs(background[o + c] - background[r + c]) + Math.Abs(background[o + c] - background[d + c]);
                if (g > 30) { edges.Add(y * w + x); edges.Add(y * w + x + 1); edges.Add((y + 1) * w + x); }
            }
        if (edges.Count < 20) return 0;
        var at = edges.Distinct().ToArray();
        double best = 0, bestError = double.MaxValue;
        foreach (var sigma in new[] { 0.0, 0.5, 0.8, 1.1, 1.5, 2.0 })
        {
            var render = background.Select(v => (float)v).ToArray();
            if (sigma > 0) GaussianBlur(render, w, h, sigma);
            double e = 0;
            foreach (var i in at)
            {
                int o = i * 3;
                e += Math.Min(60, Math.Abs(observed[o] - render[o]) + Math.Abs(observed[o + 1] - render[o + 1]) + Math.Abs(observed[o + 2] - render[o + 2]));
            }
            // a blurrier model must earn its place: near ties go to the sharper one
            if (e < bestError * 0.98) { bestError = e; best = sigma; }
        }
        return best;
    }
}
