using Canter.Eval.Metrics;
using Canter.Eval.Reports;
using Canter.Eval.Scoring;
using Canter.Eval.Validation;
using Canter.World;
using M = Canter.Eval.Metrics.MetricCatalogue;

namespace Canter.Eval.Tests;

/// <summary>
/// The instrument validated: ground-truth renders score near the top of every metric, and each deliberate damage
/// lowers the metric it targets (and the clean value is what the damaged one is compared with, on the same scene).
/// </summary>
public sealed class ValidationTests
{
    private static ClipScore Clean => BenchClips.Score(BenchClips.Scene, Damage.None);

    [Fact]
    public void GroundTruthRendersScoreNearTheTop()
    {
        foreach (var scene in BenchClips.TestScenes.Prepend(BenchClips.Scene))
        {
            var s = BenchClips.Score(scene, Damage.None);
            string at = $"scene {scene.Seed}";
            Assert.True(s[M.AdherenceShort] >= 0.85, $"{at}: short adherence {s[M.AdherenceShort]:0.000}");
            Assert.True(s[M.AdherenceLong] >= 0.9, $"{at}: long adherence {s[M.AdherenceLong]:0.000}");
            Assert.True(s[M.MotionSmoothness] >= 0.9, $"{at}: smoothness {s[M.MotionSmoothness]:0.000}");
            Assert.True(s[M.IdentityConsistency] >= 0.95, $"{at}: identity {s[M.IdentityConsistency]:0.000}");
            Assert.True(s[M.ReferenceIdentity] >= 0.9, $"{at}: reference identity {s[M.ReferenceIdentity]:0.000}");
            Assert.Equal(0, s[M.FrozenFrames]);
            Assert.True(s[M.Flicker] < 0.5, $"{at}: flicker {s[M.Flicker]:0.00}");
            Assert.Equal(FrameFidelity.MaxPsnr, s[M.FirstFramePsnr]);     // the in-memory render is the asked frame exactly
            Assert.True(s[M.FrechetDistance] < 1e-3, $"{at}: feature distance {s[M.FrechetDistance]:0.0000}");
        }
        // the scene made for sync: its impacts and syllables line up within a few ms, and the mouth follows the voice
        Assert.True(Math.Abs(Clean[M.SyncOffset]) < 25, $"sync offset {Clean[M.SyncOffset]:0.0} ms");
        Assert.True(Clean[M.LipSync] > 0.6, $"lip-sync {Clean[M.LipSync]:0.000}");
        Assert.Equal(1, Clean[M.AdherenceLong]);
    }

    [Fact]
    public void ShuffledFramesLowerMotionSmoothness()
    {
        foreach (var scene in new[] { BenchClips.Scene, BenchClips.TestScenes[1] })
        {
            double clean = BenchClips.Score(scene, Damage.None)[M.MotionSmoothness];
            double shuffled = BenchClips.Score(scene, Damage.ShuffleFrames)[M.MotionSmoothness];
            Assert.True(shuffled < clean - 0.1, $"scene {scene.Seed}: smoothness {clean:0.000} clean, {shuffled:0.000} shuffled");
        }
        // and the first frame is no longer the asked one
        Assert.True(BenchClips.Score(BenchClips.TestScenes[1], Damage.ShuffleFrames)[M.FirstFramePsnr] < 40);
    }

    [Fact]
    public void AudioDelayedBy120MsReadsAs120Ms()
    {
        var shifted = BenchClips.Score(BenchClips.Scene, Damage.ShiftAudio);
        Assert.InRange(shifted[M.SyncOffset], 120 - 25, 120 + 25);
        Assert.True(Math.Abs(Clean[M.SyncOffset]) < 25, $"clean offset {Clean[M.SyncOffset]:0.0} ms");
        // the mouth no longer opens with the voice
        Assert.True(shifted[M.LipSync] < Clean[M.LipSync] - 0.5, $"lip-sync {Clean[M.LipSync]:0.000} clean, {shifted[M.LipSync]:0.000} shifted");
        // the picture is untouched
        Assert.Equal(Clean[M.AdherenceLong], shifted[M.AdherenceLong]);
        Assert.Equal(Clean[M.MotionSmoothness], shifted[M.MotionSmoothness]);

        // audio-driven: a silent video scored against the track it had to follow, here delayed
        var clip = WorldClip.Render(BenchClips.Scene, BenchClips.Size, BenchClips.Size, BenchClips.Fps);
        var driven = Scorer.Score(new ClipUnderTest("driven", clip.Video, null, BenchClips.Scene) { DrivingAudio = Damages.Delay(clip.Audio, 0.12) });
        Assert.InRange(driven[M.SyncOffset], 120 - 25, 120 + 25);
    }

    [Fact]
    public void SwappedColourLowersColourAdherence()
    {
        var swapped = BenchClips.Score(BenchClips.Scene, Damage.SwapColor);
        Assert.Equal(1, Clean[M.AdherencePrefix + "color"]);
        Assert.Equal(0.5, swapped[M.AdherencePrefix + "color"]);   // one of the two subjects has the asked colour
        Assert.True(swapped[M.AdherenceShort] < Clean[M.AdherenceShort]);
        // the ball no longer looks like its reference
        Assert.True(swapped[M.ReferenceIdentity] < 0.5, $"reference identity {swapped[M.ReferenceIdentity]:0.000}");
    }

    [Fact]
    public void ChangedPatternLowersIdentity()
    {
        var changed = BenchClips.Score(BenchClips.Scene, Damage.ChangePattern);
        Assert.True(changed[M.IdentityConsistency] < Clean[M.IdentityConsistency] - 0.05,
            $"identity consistency {Clean[M.IdentityConsistency]:0.000} clean, {changed[M.IdentityConsistency]:0.000} changed");
        Assert.True(changed[M.ReferenceIdentity] < Clean[M.ReferenceIdentity] - 0.1,
            $"reference identity {Clean[M.ReferenceIdentity]:0.000} clean, {changed[M.ReferenceIdentity]:0.000} changed");
    }

    [Fact]
    public void FrozenFramesAreSeen()
    {
        foreach (var scene in new[] { BenchClips.Scene, BenchClips.TestScenes[1] })
        {
            double frozen = BenchClips.Score(scene, Damage.FreezeFrames)[M.FrozenFrames];
            Assert.Equal(0, BenchClips.Score(scene, Damage.None)[M.FrozenFrames]);
            Assert.True(frozen > 0.25, $"scene {scene.Seed}: frozen share {frozen:0.000}");
        }
    }

    [Fact]
    public void FlickerIsSeen()
    {
        var flicker = BenchClips.Score(BenchClips.Scene, Damage.Flicker);
        Assert.True(Clean[M.Flicker] < 0.5);
        Assert.InRange(flicker[M.Flicker], 20, 28);    // +12 then -12 levels: steps of 24
    }

    [Fact]
    public void MultiShotClipsCutAtTheAskedTimes()
    {
        // cut detection needs no parse: the metric's own functions on the rendered and the shuffled picture
        var scene = Variations.MultiShot(BenchClips.Scene);
        var asked = ShotCuts.AskedCuts(scene);
        Assert.True(asked.Count >= 1);
        var (video, _) = Damages.Render(scene, Damage.None, BenchClips.Size, BenchClips.Size, BenchClips.Fps);
        Assert.Equal(1, ShotCuts.F1(asked, ShotCuts.Detect(video), BenchClips.Fps));
        Assert.True(ShotCuts.F1(asked, ShotCuts.Detect(Damages.Apply(video, Damage.ShuffleFrames)), BenchClips.Fps) < 0.5);
        Assert.True(double.IsNaN(Clean[M.ShotCutF1]));    // one shot asked, none seen: nothing to score
    }

    [Fact]
    public void EditsThatWereMadeSucceedAndOnesThatWereNotFail()
    {
        var source = BenchClips.Scene;
        var target = Damages.WithColor(source);
        var done = WorldClip.Render(target, BenchClips.Size, BenchClips.Size, BenchClips.Fps);
        var made = Scorer.Score(new ClipUnderTest("edited", done.Video, done.Audio, target) { EditSource = source });
        Assert.Equal(1, made[M.EditSuccess]);
        Assert.True(made[M.EditPreservation] >= 0.9, $"preservation {made[M.EditPreservation]:0.000}");
        // the source returned unedited: nothing asked changed, everything else kept
        var undone = WorldClip.Render(source, BenchClips.Size, BenchClips.Size, BenchClips.Fps);
        var ignored = Scorer.Score(new ClipUnderTest("unedited", undone.Video, undone.Audio, target) { EditSource = source });
        Assert.Equal(0, ignored[M.EditSuccess]);
        Assert.True(ignored[M.EditPreservation] >= 0.9, $"preservation {ignored[M.EditPreservation]:0.000}");
        // against the exact target: the made edit is the target's own render, the unedited source differs where the colour does
        Assert.Equal(FrameFidelity.MaxPsnr, made[M.EditTargetPsnr]);
        Assert.InRange(ignored[M.EditTargetPsnr], 15, 60);
        Assert.True(double.IsNaN(Clean[M.EditTargetPsnr]));   // not an edit
    }

    [Fact]
    public void ExtensionsThatCarryOnAreContinuousAndJumpsAreNot()
    {
        var whole = WorldClip.Render(BenchClips.Scene, BenchClips.Size, BenchClips.Size, BenchClips.Fps).Video;
        var given = whole with { Frames = [.. whole.Frames.Take(whole.Frames.Count / 2)] };
        var (carried, keptPsnr) = Extension.Score(given, whole);
        Assert.Equal(1, carried);
        Assert.Equal(FrameFidelity.MaxPsnr, keptPsnr);
        // the new part alone, carrying on from the given clip
        Assert.Equal(1, Extension.Score(given, whole with { Frames = [.. whole.Frames.Skip(given.Frames.Count)] }).Continuity);
        // the given clip followed by another scene: a jump at the seam
        var other = WorldClip.Render(BenchClips.TestScenes[0], BenchClips.Size, BenchClips.Size, BenchClips.Fps).Video;
        var jumped = Extension.Score(given, whole with { Frames = [.. given.Frames, .. other.Frames.Skip(given.Frames.Count)] });
        Assert.True(jumped.Continuity < 0.3, $"continuity across a jump {jumped.Continuity:0.000}");
    }

    [Fact]
    public void DistributionDistanceGrowsWithDamage()
    {
        var clean = BenchReport.From([.. BenchClips.TestScenes.Select(s => BenchClips.Score(s, Damage.None))]);
        var flickering = BenchReport.From([.. BenchClips.TestScenes.Select(s => BenchClips.Score(s, Damage.Flicker))]);
        double a = clean[M.FrechetDistance]!.Value, b = flickering[M.FrechetDistance]!.Value;
        Assert.True(a < 1e-3, $"clean renders against themselves: {a:0.0000}");
        Assert.True(b > 0.5, $"flickering renders: {b:0.0000}");
    }
}
