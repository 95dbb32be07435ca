using Canter.Eval.Metrics;
using Canter.Media;
using Canter.World;

namespace Canter.Eval.Tests;

/// <summary>Each metric's arithmetic on inputs whose answer is known by hand.</summary>
public sealed class MetricTests
{
    [Fact]
    public void FrechetDistanceOfGaussians()
    {
        double[][] a = [[-1.0], [1.0]], b = [[2.0], [6.0]];
        // means 0 and 4, variances 2 and 8 (n - 1): 16 + 2 + 8 - 2 sqrt(2 * 8) = 18
        Assert.Equal(18, Frechet.Distance(a, b), 9);
        Assert.Equal(18, Frechet.Distance(b, a), 9);
        Assert.Equal(0, Frechet.Distance(a, a), 9);
        // with correlated dimensions: symmetric, zero on itself, and a shift adds its squared length
        var random = new Random(3);
        var x = Enumerable.Range(0, 30).Select(_ => { double u = random.NextDouble(), v = random.NextDouble(); return new[] { u, u + 0.3 * v, v }; }).ToArray();
        var y = Enumerable.Range(0, 30).Select(_ => { double u = random.NextDouble(), v = random.NextDouble(); return new[] { v, 0.5 * u, u - v }; }).ToArray();
        Assert.Equal(Frechet.Distance(x, y), Frechet.Distance(y, x), 6);
        Assert.Equal(0, Frechet.Distance(x, x), 6);
        Assert.Equal(0.09 + 0.16, Frechet.Distance(x, [.. x.Select(v => new[] { v[0] + 0.3, v[1] - 0.4, v[2] })]), 6);
    }

    [Fact]
    public void SyncLagOfAShiftedEventTrain()
    {
        var seen = new double[300];
        foreach (int t in new[] { 40, 95, 170, 230 }) seen[t] = 1;
        var heard = new double[300];
        foreach (int t in new[] { 52, 107, 182, 242 }) heard[t] = 1;    // 12 grid steps = 120 ms later
        var (offset, peak) = AvSync.Lag(AvSync.Smooth(seen, 3), AvSync.Smooth(heard, 3));
        Assert.InRange(offset, 119, 121);
        Assert.True(peak > 0.9);
        Assert.InRange(AvSync.Lag(AvSync.Smooth(heard, 3), AvSync.Smooth(seen, 3)).OffsetMs, -121, -119);
        // nothing seen: no offset
        Assert.True(double.IsNaN(AvSync.Lag(new double[300], heard).OffsetMs));
    }

    [Fact]
    public void SyncLagOfPeriodicEventsIsTheNearestOfTheNearHighestPeaks()
    {
        // a bounce every 43 grid steps heard 10 steps (100 ms) late; one more heard event lines up a period earlier,
        // so the alias at 10 - 43 = -33 steps matches six events where the true lag matches five
        var seen = new double[300];
        foreach (int t in new[] { 50, 93, 136, 179, 222, 265 }) seen[t] = 1;
        var heard = new double[300];
        foreach (int t in new[] { 17, 60, 103, 146, 189, 232 }) heard[t] = 1;
        var (s, h) = (AvSync.Smooth(seen, 3), AvSync.Smooth(heard, 3));
        var (offset, peak) = AvSync.Lag(s, h);
        Assert.InRange(offset, 99, 101);
        Assert.True(peak > AvSync.MinPeak);
        // the alias is the highest peak: the plain argmax would have answered -330 ms
        Assert.True(Correlation(s, h, -33) > Correlation(s, h, 10), "the test needs the alias to peak higher");
    }

    private static double Correlation(double[] seen, double[] heard, int lag)
    {
        double ms = seen.Average(), mh = heard.Average(), sum = 0;
        for (int t = Math.Max(0, -lag); t < seen.Length && t + lag < heard.Length; t++) sum += (seen[t] - ms) * (heard[t + lag] - mh);
        return sum;
    }

    private static ParsedScene Tracked(params (float X, float Y)[] positions) =>
        new(Background.Studio, Lighting.Day, Camera.Static,
            [new ParsedSubject(SubjectClass.Ball, SubjectColor.Red, Pattern.Solid, Canter.World.Action.Move, 0, 1, positions.Length)
            {
                Track = [.. positions.Select((p, i) => new ParsedSighting(i, i / 12f, p.X, p.Y, 0.05f, 0.02f))],
            }], []);

    [Fact]
    public void SmoothnessCostsJitterNotSteadyMotionOrBounces()
    {
        var steady = Tracked([.. Enumerable.Range(0, 12).Select(i => (0.2f + 0.02f * i, 0.5f))]);
        Assert.Equal(1, MotionQuality.Smoothness(steady), 6);
        // a bounce: down at constant speed, then up; one side always predicts the turn
        var bounce = Tracked([.. Enumerable.Range(0, 12).Select(i => (0.5f, 0.5f - 0.03f * Math.Abs(i - 6)))]);
        Assert.Equal(1, MotionQuality.Smoothness(bounce), 6);
        // one sighting a radius off: that frame costs all of it, its neighbours are still predicted from their other side
        var jump = Enumerable.Range(0, 12).Select(i => (0.2f + 0.02f * i, 0.5f)).ToArray();
        jump[6].Item2 += 0.05f;
        Assert.Equal(1 - 1 / 12.0, MotionQuality.Smoothness(Tracked(jump)), 4);   // positions are floats
        Assert.True(double.IsNaN(MotionQuality.Smoothness(Tracked((0.5f, 0.5f), (0.6f, 0.5f)))));
    }

    [Fact]
    public void CutsMatchWithinTolerance()
    {
        Assert.Equal(1, ShotCuts.F1([1.0f, 2.0f], [1.05f, 1.95f], 12));
        Assert.Equal(2.0 * 1 / 3, ShotCuts.F1([1.0f, 2.0f], [1.0f], 12), 9);   // precision 1, recall 1/2
        Assert.Equal(0, ShotCuts.F1([1.0f], [1.5f], 12));
        Assert.Equal(0, ShotCuts.F1([], [1.5f], 12));                             // a cut nobody asked for
        Assert.True(double.IsNaN(ShotCuts.F1([], [], 12)));
        Assert.Equal(new[] { 1.5f, 2.0f }, ShotCuts.AskedCuts(new SceneSpec(1, 3, Background.Beach, Lighting.Day, Camera.Static, [],
            [new ShotSpec(0, Framing.Wide), new ShotSpec(2.0f, Framing.Reverse), new ShotSpec(1.5f, Framing.CloseUp)])));
    }

    [Fact]
    public void FrameFidelityResizesThenCompares()
    {
        var image = new RgbImage(4, 2, [.. Enumerable.Range(0, 24).Select(i => (byte)(i * 10))]);
        var half = FrameFidelity.Resize(image, 2, 1);
        // each output pixel is the mean of a 2x2 block
        Assert.Equal((byte)Math.Round((0 + 30 + 120 + 150) / 4.0), half.Pixels[0]);
        var (psnr, ssim) = FrameFidelity.Compare(image.Pixels, 4, 2, image);
        Assert.Equal(FrameFidelity.MaxPsnr, psnr);
        Assert.Equal(1, ssim, 9);
    }

    [Fact]
    public void IdentityTellsPatternsAndColoursApart()
    {
        // the same subject in two poses and sizes is similar; another pattern or colour is not
        static double[] Describe(SubjectSpec subject, float t)
        {
            var scene = new SceneSpec(1, 1, Background.Studio, Lighting.Day, Camera.Static, [subject]);
            var frame = Renderer.Render(scene, t, 96, 96);
            var probe = scene with { Subjects = [] };
            var state = Motion.At(subject, t);
            return Identity.Describe(frame, Renderer.Render(probe, t, 96, 96), 96, 96, probe, new ParsedSighting(0, t, state.X, state.Y, state.Radius, 0))!;
        }
        var ball = new SubjectSpec(SubjectClass.Ball, SubjectColor.Red, Pattern.Stripes, 0.3f, 0.5f, 0.5f, Canter.World.Action.Spin, 0, 1, 1);
        double turned = Identity.Similarity(Describe(ball, 0.1f), Describe(ball with { Size = 0.4f }, 0.6f));
        double plain = Identity.Similarity(Describe(ball, 0.1f), Describe(ball with { Pattern = Pattern.Solid }, 0.1f));
        double blue = Identity.Similarity(Describe(ball, 0.1f), Describe(ball with { Color = SubjectColor.Blue }, 0.1f));
        Assert.True(turned > 0.85, $"same subject turned and grown: {turned:0.000}");
        Assert.True(plain < turned - 0.2, $"plain against striped: {plain:0.000}");
        Assert.True(blue < 0.2, $"blue against red: {blue:0.000}");
    }
}
