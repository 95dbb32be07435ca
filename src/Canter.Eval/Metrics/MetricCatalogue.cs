namespace Canter.Eval.Metrics;

/// <summary>Which way a metric improves. Written into report.json: append only.</summary>
public enum Better { Higher, Lower, Zero }

/// <summary>How per-clip values become the reported figure.</summary>
public enum Aggregate { Mean, Median }

/// <summary>A metric's name, direction, unit and one-line definition (README.md holds the long form).</summary>
public sealed record MetricInfo(string Name, Better Better, Aggregate Aggregate, string Unit, string Definition)
{
    public bool HigherIsBetter => Better == Better.Higher;
}

/// <summary>
/// Every metric Canter Bench reports, in report order. Names are part of the report format: never rename one,
/// add new ones. Per-attribute adherence (<c>adherence_color</c>, ...) follows whatever attributes
/// <see cref="Canter.World.ParserEvaluation"/> counts, so it is looked up by prefix.
/// </summary>
public static class MetricCatalogue
{
    public const string AdherenceShort = "t2v_adherence_short";
    public const string AdherenceLong = "t2v_adherence_long";
    public const string AdherencePrefix = "adherence_";
    public const string PromptAdherenceShort = "prompt_adherence_short";
    public const string PromptAdherenceLong = "prompt_adherence_long";
    public const string IdentityConsistency = "identity_consistency";
    public const string ReferenceIdentity = "r2v_identity";
    public const string ReferenceIdentityExact = "r2v_identity_exact";
    public const string FirstFramePsnr = "i2v_first_frame_psnr";
    public const string FirstFrameSsim = "i2v_first_frame_ssim";
    public const string LastFramePsnr = "i2v_last_frame_psnr";
    public const string LastFrameSsim = "i2v_last_frame_ssim";
    public const string ShotCutF1 = "shot_cut_f1";
    public const string EditSuccess = "edit_success";
    public const string EditPreservation = "edit_preservation";
    public const string EditTargetPsnr = "edit_target_psnr";
    public const string ExtensionContinuity = "extension_continuity";
    public const string ExtensionPrefixPsnr = "extension_prefix_psnr";
    public const string MotionSmoothness = "motion_smoothness";
    public const string FrozenFrames = "frozen_frame_share";
    public const string Flicker = "temporal_flicker";
    public const string SyncOffset = "av_sync_offset_ms_median";
    public const string LipSync = "lip_sync_correlation";
    public const string FrechetDistance = "world_frechet_distance";

    public static IReadOnlyList<MetricInfo> Fixed { get; } =
    [
        new(AdherenceShort, Better.Higher, Aggregate.Mean, "share", "colour, class and action of each asked subject present (what a short caption asks)"),
        new(AdherenceLong, Better.Higher, Aggregate.Mean, "share", "also background, lighting, camera, pattern and order of events (what a long caption asks)"),
        new(IdentityConsistency, Better.Higher, Aggregate.Mean, "0..1", "colour-and-shade histogram of each tracked subject against its own mean over the clip (intersection)"),
        new(ReferenceIdentity, Better.Higher, Aggregate.Mean, "0..1", "each reference image's subject against the most similar generated subject (histogram intersection)"),
        new(ReferenceIdentityExact, Better.Higher, Aggregate.Mean, "share", "references whose parsed class, colour and pattern a generated subject has"),
        new(FirstFramePsnr, Better.Higher, Aggregate.Mean, "dB", "PSNR of the first frame against the given first-frame image (capped at 100)"),
        new(FirstFrameSsim, Better.Higher, Aggregate.Mean, "0..1", "SSIM of the first frame against the given first-frame image"),
        new(LastFramePsnr, Better.Higher, Aggregate.Mean, "dB", "PSNR of the last frame against the given last-frame image (capped at 100)"),
        new(LastFrameSsim, Better.Higher, Aggregate.Mean, "0..1", "SSIM of the last frame against the given last-frame image"),
        new(ShotCutF1, Better.Higher, Aggregate.Mean, "0..1", "F1 of the detected cuts against the asked cut times (tolerance max(0.1 s, 1.5 frames))"),
        new(EditSuccess, Better.Higher, Aggregate.Mean, "share", "attributes the edit changes that the result shows as asked"),
        new(EditPreservation, Better.Higher, Aggregate.Mean, "share", "attributes the edit leaves alone that the result keeps"),
        new(EditTargetPsnr, Better.Higher, Aggregate.Mean, "dB", "PSNR of the whole result against the world's render of the edited scene (cap 100)"),
        new(ExtensionContinuity, Better.Higher, Aggregate.Mean, "0..1", "(largest frame step beside the seam + 1) / (step across the seam from the given clip + 1), capped at 1"),
        new(ExtensionPrefixPsnr, Better.Higher, Aggregate.Mean, "dB", "PSNR of the given clip against the result's start, when the result holds it"),
        new(MotionSmoothness, Better.Higher, Aggregate.Mean, "0..1", "1 - mean cost of tracked subjects' deviation from the best of three predictions from neighbouring frames (1 radius = a whole frame)"),
        new(FrozenFrames, Better.Lower, Aggregate.Mean, "share", "frame steps that show no change although the asked scene moves by a pixel or more"),
        new(Flicker, Better.Lower, Aggregate.Mean, "levels", "mean |median per-pixel luma change| between frames, steps with an asked flash or cut left out"),
        new(SyncOffset, Better.Zero, Aggregate.Median, "ms", "median over clips of the lag of audio onsets behind visual events (impacts: downward speed lost; mouth openings) at the nearest of the near-highest cross-correlation peaks (+ = audio late)"),
        new(LipSync, Better.Higher, Aggregate.Mean, "-1..1", "correlation of speaking subjects' mouth opening with the audio loudness at frame times"),
        new(PromptAdherenceShort, Better.Higher, Aggregate.Mean, "share", "t2v_adherence_short over the clips whose prompt was a short caption (any mode)"),
        new(PromptAdherenceLong, Better.Higher, Aggregate.Mean, "share", "t2v_adherence_long over the clips whose prompt was a long caption (any mode)"),
        new(FrechetDistance, Better.Lower, Aggregate.Mean, "units^2", "Frechet distance of colour, motion and sound features of the clips against real renders of the same prompts"),
    ];

    /// <summary>The metric's description; per-attribute adherence is built from its attribute name.</summary>
    public static MetricInfo Find(string name)
    {
        var known = Fixed.FirstOrDefault(m => m.Name == name);
        if (known is not null) return known;
        if (name.StartsWith(AdherencePrefix, StringComparison.Ordinal))
            return new MetricInfo(name, Better.Higher, Aggregate.Mean, "share", $"asked {name[AdherencePrefix.Length..]} present, as the world parser reads it");
        throw new ArgumentException($"unknown metric '{name}'");
    }

    /// <summary>Report order: the fixed metrics in catalogue order, per-attribute adherence after the two adherence totals.</summary>
    public static int Order(string name)
    {
        int i = Fixed.ToList().FindIndex(m => m.Name == name);
        return i >= 0 ? (i < 2 ? i : i + 100) * 1000 : 2 * 1000 + 1;
    }
}
