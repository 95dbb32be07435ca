using Canter.World;

namespace Canter.Eval.Metrics;

/// <summary>
/// The parsed subjects that the motion, identity and sync metrics follow. On small pictures the parser also reads a
/// few specks of background texture or lighting as tiny subjects that come and go; such a phantom jumps from speck to
/// speck, so it would cost smoothness, identity and sync points that the video does not deserve (ground-truth renders
/// at 96x96 read smoothness 0.70 and sync offsets of 165 ms through them). The world never makes a subject that small:
/// a sighting series whose median radius is under <see cref="MinRadius"/> is texture, not a subject.
/// </summary>
public static class Tracked
{
    /// <summary>
    /// 0.6 of the radius of the world's smallest subject at the widest framing (radii are in scene units: a subject of
    /// size s reads about s/2 at any zoom). Phantoms read 0.02-0.03; the smallest real subjects 0.06 or more.
    /// </summary>
    public const double MinRadius = 0.6 * SceneGenerator.MinSubjectSize / 2;

    public static ParsedScene Subjects(ParsedScene parsed) =>
        parsed with { Subjects = [.. parsed.Subjects.Where(s => s.Track.Count > 0 && MotionQuality.Median(s.Track.Select(t => (double)t.Radius)) >= MinRadius)] };
}
