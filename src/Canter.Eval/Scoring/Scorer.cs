using Canter.Eval.Metrics;
using Canter.Media;
using Canter.World;

namespace Canter.Eval.Scoring;

/// <summary>
/// One file to score: its decoded frames and sound, the scene it was asked for, and whatever else the mode gave the
/// model (first or last frame, reference images, the scene an edit started from, the clip it extends, the audio track
/// it had to follow).
/// </summary>
public sealed record ClipUnderTest(string Name, VideoClip Video, AudioTrack? Audio, SceneSpec Spec)
{
    public RgbImage? FirstFrame { get; init; }
    public RgbImage? LastFrame { get; init; }
    public IReadOnlyList<RgbImage> References { get; init; } = [];

    /// <summary>For an edit: the scene before the edit (<see cref="Spec"/> is the edited scene).</summary>
    public SceneSpec? EditSource { get; init; }

    /// <summary>For an extension: the clip the result had to carry on from.</summary>
    public VideoClip? ExtendedFrom { get; init; }

    /// <summary>For an audio-driven clip: the track the picture had to follow (sync is measured against it, not the file's sound).</summary>
    public AudioTrack? DrivingAudio { get; init; }

    /// <summary>How much the prompt asked, when known: adherence is then also reported for what that prompt asked.</summary>
    public PromptLength? PromptLength { get; init; }
}

/// <summary>A scored clip: each metric's value (NaN where it does not apply), what the parser read, and what the report draws.</summary>
public sealed record ClipScore(string Name, IReadOnlyDictionary<string, double> Values, ParsedScene Parsed, double[] Features, double[] RealFeatures, RgbImage Sheet)
{
    public double this[string metric] => Values.TryGetValue(metric, out var v) ? v : double.NaN;
}

/// <summary>
/// Scores one clip on every metric that applies to it (see <see cref="MetricCatalogue"/> and README.md), from the
/// picture and sound alone: nothing about the model that made it is needed.
/// </summary>
/// <example>
/// <code>
/// var scene = SceneGenerator.Generate(Splits.Seed(Split.Test, 0), 3f);
/// var clip = WorldClip.Render(scene, 96, 96, 12);
/// var score = Scorer.Score(new ClipUnderTest("seed0", clip.Video, clip.Audio, scene));
/// Console.WriteLine(score[MetricCatalogue.AdherenceLong]);
/// </code>
/// </example>
public static class Scorer
{
    public static ClipScore Score(ClipUnderTest clip)
    {
        var video = clip.Video.Validate();
        clip.Audio?.Validate();
        var spec = clip.Spec;
        var parsed = Parser.Parse(video, clip.Audio);
        var values = new Dictionary<string, double>();
        foreach (var (name, value) in PromptAdherence.Score(spec, parsed, video.FrameRate)) values[name] = value;
        if (clip.PromptLength == PromptLength.Short) values[MetricCatalogue.PromptAdherenceShort] = values[MetricCatalogue.AdherenceShort];
        if (clip.PromptLength == PromptLength.Long) values[MetricCatalogue.PromptAdherenceLong] = values[MetricCatalogue.AdherenceLong];

        var tracked = Tracked.Subjects(parsed);   // specks of texture read as subjects left out of motion, identity and sync
        var descriptions = Identity.SubjectDescriptions(video, parsed);
        values[MetricCatalogue.IdentityConsistency] = Identity.Consistency(video, tracked);
        if (clip.References.Count > 0)
        {
            var (similarity, exact) = Identity.AgainstReferences(clip.References, parsed, descriptions);
            values[MetricCatalogue.ReferenceIdentity] = similarity;
            values[MetricCatalogue.ReferenceIdentityExact] = exact;
        }
        if (clip.FirstFrame is not null)
            (values[MetricCatalogue.FirstFramePsnr], values[MetricCatalogue.FirstFrameSsim]) = FrameFidelity.Compare(video.Frames[0], video.Width, video.Height, clip.FirstFrame);
        if (clip.LastFrame is not null)
            (values[MetricCatalogue.LastFramePsnr], values[MetricCatalogue.LastFrameSsim]) = FrameFidelity.Compare(video.Frames[^1], video.Width, video.Height, clip.LastFrame);
        var askedCuts = ShotCuts.AskedCuts(spec);
        values[MetricCatalogue.ShotCutF1] = ShotCuts.F1(askedCuts, ShotCuts.Detect(video), video.FrameRate);
        if (clip.EditSource is not null)
            (values[MetricCatalogue.EditSuccess], values[MetricCatalogue.EditPreservation]) = PromptAdherence.Edit(clip.EditSource, spec, parsed, video.FrameRate);
        if (clip.ExtendedFrom is not null)
            (values[MetricCatalogue.ExtensionContinuity], values[MetricCatalogue.ExtensionPrefixPsnr]) = Extension.Score(clip.ExtendedFrom.Validate(), video);

        values[MetricCatalogue.MotionSmoothness] = MotionQuality.Smoothness(tracked);
        values[MetricCatalogue.FrozenFrames] = MotionQuality.FrozenShare(video, spec);
        values[MetricCatalogue.Flicker] = MotionQuality.Flicker(video, spec);

        var sound = clip.DrivingAudio ?? clip.Audio;
        if (sound is not null)
        {
            values[MetricCatalogue.SyncOffset] = AvSync.Offset(tracked, sound, video.FrameRate, video.Seconds).OffsetMs;
            values[MetricCatalogue.LipSync] = AvSync.LipSync(spec, tracked, sound, video.FrameRate);
        }

        // the real clip of this prompt, rendered at the same size and rate, for the distribution distance
        var real = WorldClip.Render(spec, video.Width, video.Height, video.FrameRate, clip.Audio?.SampleRate ?? AudioSynth.DefaultSampleRate);
        var features = ClipFeatures.Of(video, clip.Audio);
        var realFeatures = ClipFeatures.Of(real.Video, real.Audio);
        values[MetricCatalogue.FrechetDistance] = Frechet.Distance([features], [realFeatures]);
        // an edit's target is known exactly: the edited scene's own render
        if (clip.EditSource is not null) values[MetricCatalogue.EditTargetPsnr] = FrameFidelity.ClipPsnr(video, real.Video);

        var sheet = ContactSheet.Build(video, clip.Audio, columns: 6, rows: 1, waveHeight: Math.Max(16, video.Height / 3));
        return new ClipScore(clip.Name, values, parsed, features, realFeatures, sheet);
    }
}
