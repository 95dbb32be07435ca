using Canter.World;

namespace Canter.Eval.Metrics;

/// <summary>What the asked scene does between two instants, measured on the picture it would make.</summary>
public readonly record struct AskedChange(double MotionPixels, bool Light, bool Cut)
{
    /// <summary>Something visible should change: a pixel of motion, a change of light or a cut.</summary>
    public bool Visible => MotionPixels >= 1 || Light || Cut;
}

/// <summary>
/// The asked scene's own account of time: how far its subjects and camera move between two frames, when its light
/// changes and where its shots cut. Metrics use it to tell a frozen or flickering picture from one that is asked to hold
/// still or to flash.
/// </summary>
public static class Asked
{
    public static AskedChange Between(SceneSpec scene, float t0, float t1, int width, int height)
    {
        bool cut = scene.ShotAt(t0) != scene.ShotAt(t1);
        // the camera moves every pixel: where the scene point at the frame's centre goes, and a zoom's growth at the edge
        var (cx, cy, zoom0, _) = Renderer.View(scene, t0);
        var (_, _, zoom1, _) = Renderer.View(scene, t1);
        var (px, py, _) = Renderer.ToPixel(scene, t1, width, height, cx, cy);
        double motion = cut ? 0 : Math.Sqrt((px - width / 2.0) * (px - width / 2.0) + (py - height / 2.0) * (py - height / 2.0))
            + Math.Abs(zoom1 - zoom0) / Math.Min(zoom0, zoom1) * Math.Max(width, height) / 2;
        foreach (var s in scene.Subjects)
        {
            var a = Motion.At(s, t0);
            var b = Motion.At(s, t1);
            var (ax, ay, unitA) = Renderer.ToPixel(scene, t0, width, height, a.X, a.Y);
            var (bx, by, unitB) = Renderer.ToPixel(scene, t1, width, height, b.X, b.Y);
            double ra = a.Radius * unitA, rb = b.Radius * unitB;
            if (!Inside(ax, ay, ra, width, height) && !Inside(bx, by, rb, width, height)) continue;   // out of the shot
            // a turn shows where the eye and the pattern are, about 0.4 radius out; a mouth opens over about its radius
            double subject = Math.Sqrt((bx - ax) * (bx - ax) + (by - ay) * (by - ay)) + Math.Abs(rb - ra)
                + Math.Abs(b.Angle - a.Angle) * 0.4 * ra + Math.Abs(b.Mouth - a.Mouth) * 0.3 * ra;
            motion = Math.Max(motion, subject);
        }
        var l0 = Renderer.Light(scene, t0);
        var l1 = Renderer.Light(scene, t1);
        bool light = Math.Abs(l1.R - l0.R) + Math.Abs(l1.G - l0.G) + Math.Abs(l1.B - l0.B) > 0.03;
        return new AskedChange(motion, light, cut);
    }

    private static bool Inside(double x, double y, double radius, int width, int height) =>
        x > -radius && x < width + radius && y > -radius && y < height + radius;

    /// <summary>The scene the parser saw: its background, lighting and camera, no subjects (for backgrounds and camera geometry).</summary>
    public static SceneSpec Probe(ParsedScene parsed, double seconds) =>
        new(0, (float)seconds, parsed.Background, parsed.Lighting, parsed.Camera, []);
}
