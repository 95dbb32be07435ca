using System.Text.Json;
using System.Text.Json.Serialization;
using Canter.Eval.Metrics;
using Canter.Eval.Reports;
using Canter.Media;
using Canter.World;

namespace Canter.Eval.Scoring;

/// <summary>What a suite asks of a system, one mode each. Written into run folders: append only.</summary>
public enum BenchSuite { T2vShort, T2vLong, MultiShot, I2v, Flf2v, R2v, A2v, Extend, Edit }

/// <summary>
/// How much a task's prompt says: a short caption names each subject's colour, class and action; a long one also the
/// background, lighting, camera, patterns and the order of events (for an edit: the instruction alone, or the
/// instruction followed by the long caption of the result). Written into run folders: append only.
/// </summary>
public enum PromptLength { Short, Long }

/// <summary>
/// One task of a suite: the asked scene, the prompt, and what the mode gives the system (images, a track, a clip to
/// extend, the scene before an edit). A system answers with a video and its sound.
/// </summary>
public sealed record SuiteTask(string Name, BenchSuite Suite, SceneSpec Scene, string Prompt)
{
    public PromptLength Length { get; init; } = PromptLength.Long;

    public RgbImage? FirstFrame { get; init; }
    public RgbImage? LastFrame { get; init; }
    public IReadOnlyList<RgbImage> References { get; init; } = [];
    public AudioTrack? DrivingAudio { get; init; }
    public VideoClip? Extend { get; init; }
    public SceneSpec? EditSource { get; init; }

    /// <summary>For an edit: the source scene's render (picture and sound at the task's size, rate and sample rate), the video to edit.</summary>
    public WorldClip? EditSourceClip { get; init; }
}

/// <summary>
/// The suites of Canter Bench on unseen test scenes, and running one: each task's inputs and answer are written as
/// files (so that any system's outputs, and these, can be scored again by <c>canter bench score</c>), each answer is
/// scored from its file, and the report covers them all.
/// </summary>
public static class Suites
{
    /// <summary>The <paramref name="index"/>-th task of a suite at the given size, rate and length (a driving track at <paramref name="sampleRate"/>).</summary>
    public static SuiteTask Task(BenchSuite suite, int index, int width, int height, double fps, float seconds, int sampleRate = AudioSynth.DefaultSampleRate)
    {
        var scene = SceneGenerator.Generate(Splits.Seed(Split.Test, index), seconds);
        string name = $"{suite.ToString().ToLowerInvariant()}-{index:D4}";
        // t2v has a suite for each prompt length; every other conditioned mode takes turns: even tasks short, odd long
        var length = suite switch
        {
            BenchSuite.T2vShort => PromptLength.Short,
            BenchSuite.T2vLong or BenchSuite.MultiShot => PromptLength.Long,
            _ => index % 2 == 0 ? PromptLength.Short : PromptLength.Long,
        };
        var task = new SuiteTask(name, suite, scene, length == PromptLength.Short ? Captions.Short(scene) : Captions.Long(scene)) { Length = length };
        int frames = Math.Max(1, (int)Math.Round(seconds * fps));
        switch (suite)
        {
            case BenchSuite.MultiShot:
                {
                    var shots = Variations.MultiShot(scene);
                    return task with { Scene = shots, Prompt = Variations.TimecodedCaption(shots) };
                }
            case BenchSuite.I2v:
                return task with { FirstFrame = new RgbImage(width, height, Renderer.Render(scene, 0, width, height)) };
            case BenchSuite.Flf2v:
                return task with
                {
                    FirstFrame = new RgbImage(width, height, Renderer.Render(scene, 0, width, height)),
                    LastFrame = new RgbImage(width, height, Renderer.Render(scene, (float)((frames - 1) / fps), width, height)),
                };
            case BenchSuite.R2v:
                return task with { References = [.. Enumerable.Range(0, Math.Min(2, scene.Subjects.Count)).Select(k => Variations.Reference(scene, k, 0, width, height))] };
            case BenchSuite.A2v:
                return task with { DrivingAudio = new AudioTrack(sampleRate, AudioSynth.Synthesize(scene, sampleRate)) };
            case BenchSuite.Extend:
                {
                    var real = WorldClip.Render(scene, width, height, fps);
                    return task with { Extend = real.Video with { Frames = [.. real.Video.Frames.Take(frames / 2)] } };
                }
            case BenchSuite.Edit:
                {
                    var pair = Variations.Edit(scene, (ulong)index);
                    return task with
                    {
                        Scene = pair.Target, EditSource = pair.Source,
                        Prompt = length == PromptLength.Short ? pair.Instruction : $"{pair.Instruction} {Captions.Long(pair.Target)}",
                        EditSourceClip = WorldClip.Render(pair.Source, width, height, fps, sampleRate),
                    };
                }
            default:
                return task;
        }
    }

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true, Converters = { new JsonStringEnumConverter() } };

    /// <summary>
    /// Runs <paramref name="tasks"/> through <paramref name="answer"/>, writes inputs and answers under
    /// <c>folder/clips</c>, scores each answer from its file as <c>canter bench score</c> does, and writes the report
    /// into <paramref name="folder"/>.
    /// </summary>
    /// <summary>
    /// The suites a <c>--suite</c> word asks for, with their task counts: <c>quick</c> (two tasks of every suite, for
    /// CI), <c>all</c>, a mode (<c>t2v</c>, <c>i2v</c>, <c>r2v</c>, <c>a2v</c>, <c>extend</c>, <c>edit</c>) or one suite by name.
    /// </summary>
    public static IReadOnlyList<(BenchSuite Suite, int Count)> Plan(string suite, int count)
    {
        var every = Enum.GetValues<BenchSuite>();
        BenchSuite[] chosen = suite.ToLowerInvariant() switch
        {
            "quick" or "all" => every,
            "t2v" => [BenchSuite.T2vShort, BenchSuite.T2vLong, BenchSuite.MultiShot],
            "i2v" => [BenchSuite.I2v, BenchSuite.Flf2v],
            "r2v" => [BenchSuite.R2v],
            "a2v" => [BenchSuite.A2v],
            "extend" => [BenchSuite.Extend],
            "edit" => [BenchSuite.Edit],
            _ => Enum.TryParse<BenchSuite>(suite, ignoreCase: true, out var one) && Enum.IsDefined(one) ? [one]
                : throw new ArgumentException($"unknown suite '{suite}': quick, all, t2v, i2v, r2v, a2v, extend, edit or one of {string.Join(", ", every)}"),
        };
        int n = suite.Equals("quick", StringComparison.OrdinalIgnoreCase) ? Math.Min(2, count) : count;
        return [.. chosen.Select(s => (s, n))];
    }

    /// <summary>
    /// The figures of several suites in one list: each mode's own metric from its suite (t2v adherence from the
    /// text-to-video suites, first-frame fidelity from I2v, identity from R2v, edits from Edit, shot cuts from
    /// MultiShot, continuity from Extend), each conditioned mode's adherence to its short and its long prompts
    /// (<c>i2v_adherence_short</c>, ...), and the metrics every clip has (sync, lip-sync, motion, flicker, the
    /// distribution distance) pooled as the mean over suites, weighted by clips.
    /// </summary>
    public static IReadOnlyList<(string Name, double Value)> Headlines(IReadOnlyList<(BenchSuite Suite, BenchReport Report)> reports)
    {
        var own = new Dictionary<BenchSuite, string[]>
        {
            [BenchSuite.T2vShort] = [MetricCatalogue.AdherenceShort],
            [BenchSuite.T2vLong] = [MetricCatalogue.AdherenceLong],
            [BenchSuite.MultiShot] = [MetricCatalogue.ShotCutF1],
            [BenchSuite.I2v] = [MetricCatalogue.FirstFramePsnr, MetricCatalogue.FirstFrameSsim],
            [BenchSuite.Flf2v] = [MetricCatalogue.LastFramePsnr, MetricCatalogue.LastFrameSsim],
            [BenchSuite.R2v] = [MetricCatalogue.ReferenceIdentity, MetricCatalogue.ReferenceIdentityExact],
            [BenchSuite.Edit] = [MetricCatalogue.EditSuccess, MetricCatalogue.EditPreservation, MetricCatalogue.EditTargetPsnr],
            [BenchSuite.Extend] = [MetricCatalogue.ExtensionContinuity, MetricCatalogue.ExtensionPrefixPsnr],
        };
        string[] pooled = [MetricCatalogue.SyncOffset, MetricCatalogue.LipSync, MetricCatalogue.MotionSmoothness, MetricCatalogue.Flicker,
            MetricCatalogue.FrozenFrames, MetricCatalogue.IdentityConsistency, MetricCatalogue.FrechetDistance];
        var figures = new List<(string, double)> { ("clips", reports.Sum(r => r.Report.Clips.Count)) };
        foreach (var (suite, report) in reports)
            foreach (var name in own.GetValueOrDefault(suite, []))
                if (report.Metrics.FirstOrDefault(m => m.Name == name) is { } m) figures.Add((name, m.Value));
        // the conditioned modes take turns between short and long prompts: each one's adherence to what its prompts asked
        foreach (var (suite, report) in reports)
        {
            if (suite is BenchSuite.T2vShort or BenchSuite.T2vLong or BenchSuite.MultiShot) continue;
            string mode = suite.ToString().ToLowerInvariant();
            if (report[MetricCatalogue.PromptAdherenceShort] is { } s) figures.Add(($"{mode}_adherence_short", s.Value));
            if (report[MetricCatalogue.PromptAdherenceLong] is { } l) figures.Add(($"{mode}_adherence_long", l.Value));
        }
        foreach (var name in pooled)
        {
            var values = reports.Select(r => (r.Report.Metrics.FirstOrDefault(m => m.Name == name)?.Value ?? double.NaN, r.Report.Clips.Count))
                .Where(v => double.IsFinite(v.Item1)).ToList();
            figures.Add((name, values.Count == 0 ? double.NaN : values.Sum(v => v.Item1 * v.Item2) / values.Sum(v => v.Item2)));
        }
        return figures;
    }

    public static BenchReport Run(string folder, IReadOnlyList<SuiteTask> tasks, Func<SuiteTask, (VideoClip Video, AudioTrack? Audio)> answer,
        Action<int>? progress = null)
    {
        var clips = Path.Combine(folder, "clips");
        Directory.CreateDirectory(clips);
        var scores = new List<ClipScore>();
        for (int i = 0; i < tasks.Count; i++)
        {
            var t = tasks[i];
            string stem = Path.Combine(clips, t.Name);
            var (video, audio) = answer(t);
            Mp4Writer.Write(stem + ".mp4", video, audio, new Mp4Metadata(t.Prompt, $"canter bench {t.Suite} seed={t.Scene.Seed}"));
            File.WriteAllText(stem + ".json", JsonSerializer.Serialize(new
            {
                scene = t.Scene, caption = t.Prompt, prompt_length = t.Length, suite = t.Suite, split = Splits.Of(t.Scene.Seed).ToString(), events = Motion.Events(t.Scene),
            }, Json));
            string? Image(RgbImage? image, string suffix)
            {
                if (image is null) return null;
                Png.Write(stem + suffix, image);
                return stem + suffix;
            }
            var first = Image(t.FirstFrame, ".first.png");
            var last = Image(t.LastFrame, ".last.png");
            var references = t.References.Select((r, k) => Image(r, $".ref{k}.png")!).ToList();
            string? track = null, given = null, source = null;
            if (t.DrivingAudio is not null) Wav.Write(track = stem + ".track.wav", t.DrivingAudio);
            if (t.Extend is not null) Mp4Writer.Write(given = stem + ".given.mp4", t.Extend, null);
            if (t.EditSource is not null) File.WriteAllText(source = stem + ".source.json", JsonSerializer.Serialize(new { scene = t.EditSource }, Json));
            if (t.EditSourceClip is not null) Mp4Writer.Write(stem + ".source.mp4", t.EditSourceClip.Video, t.EditSourceClip.Audio);
            var clip = ClipFiles.Load(stem + ".mp4", stem + ".json", first, last, references, source, track, given);
            scores.Add(Scorer.Score(clip));
            progress?.Invoke(i + 1);
        }
        var report = BenchReport.From(scores);
        ReportWriter.Write(folder, report);
        return report;
    }
}
