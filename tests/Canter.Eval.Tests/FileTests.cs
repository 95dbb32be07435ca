using System.Text.Json;
using System.Text.Json.Nodes;
using Canter.Eval.Reports;
using Canter.Eval.Scoring;
using Canter.Eval.Validation;
using Canter.Media;
using Canter.World;
using M = Canter.Eval.Metrics.MetricCatalogue;

namespace Canter.Eval.Tests;

/// <summary>
/// What <c>canter bench score</c> reads and writes: spec files in both shapes, a real MP4 scored from disk, clear
/// errors for bad input, and the report folder.
/// </summary>
public sealed class FileTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("canter-eval-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private string PathOf(string name) => Path.Combine(_folder, name);

    /// <summary>The file <c>canter world preview</c> writes beside its clip (same serializer settings).</summary>
    private string WritePreviewJson(SceneSpec scene, string name = "clip.json")
    {
        var json = JsonSerializer.Serialize(new { scene, caption = Captions.Long(scene), shortCaption = Captions.Short(scene), split = "Test", events = Motion.Events(scene) },
            new JsonSerializerOptions { WriteIndented = true, Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } });
        File.WriteAllText(PathOf(name), json);
        return PathOf(name);
    }

    [Fact]
    public void ReadsPreviewJsonAndBareSpecs()
    {
        var scene = Variations.MultiShot(BenchClips.Scene);
        var options = new JsonSerializerOptions { Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };
        foreach (var path in new[] { WritePreviewJson(scene), PathOf("bare.json") })
        {
            if (!File.Exists(path)) File.WriteAllText(path, JsonSerializer.Serialize(scene));   // numeric enums too
            var read = ClipFiles.LoadSpec(path);
            Assert.Equal(JsonSerializer.Serialize(scene, options), JsonSerializer.Serialize(read, options));
        }
    }

    [Fact]
    public void BadInputGetsAClearError()
    {
        Assert.Contains("not found", Assert.Throws<FileNotFoundException>(() => ClipFiles.LoadSpec(PathOf("missing.json"))).Message);
        File.WriteAllText(PathOf("text.json"), "not json");
        Assert.Contains("not a valid scene spec", Assert.Throws<InvalidDataException>(() => ClipFiles.LoadSpec(PathOf("text.json"))).Message);
        File.WriteAllText(PathOf("other.json"), """{ "model": "x", "steps": 8 }""");
        Assert.Contains("not a scene spec", Assert.Throws<InvalidDataException>(() => ClipFiles.LoadSpec(PathOf("other.json"))).Message);
        var json = File.ReadAllText(WritePreviewJson(BenchClips.Scene)).Replace("\"Bounce\"", "\"Dance\"");
        File.WriteAllText(PathOf("dance.json"), json);
        Assert.Contains("Action", Assert.Throws<InvalidDataException>(() => ClipFiles.LoadSpec(PathOf("dance.json"))).Message);

        var spec = ClipFiles.LoadSpec(WritePreviewJson(BenchClips.Scene));
        Png.Write(PathOf("still.png"), new RgbImage(32, 32, new byte[32 * 32 * 3]));
        Assert.Contains("not a video", Assert.Throws<MediaException>(() => ClipFiles.ReadVideo(PathOf("still.png"), spec)).Message);
        File.WriteAllBytes(PathOf("junk.mp4"), [.. Enumerable.Range(0, 4000).Select(i => (byte)(i * 7919 >> 3))]);
        Assert.Throws<MediaException>(() => ClipFiles.ReadVideo(PathOf("junk.mp4"), spec));
        Assert.Throws<MediaException>(() => ClipFiles.ReadVideo(PathOf("missing.mp4"), spec));
        // a one-second video against a three-second scene: the wrong spec
        var shortClip = WorldClip.Render(BenchClips.Scene with { Seconds = 1 }, 32, 32, 12);
        Mp4Writer.Write(PathOf("short.mp4"), shortClip.Video, shortClip.Audio);
        Assert.Contains("spec asks for 3", Assert.Throws<InvalidDataException>(() => ClipFiles.ReadVideo(PathOf("short.mp4"), spec)).Message);
    }

    [Fact]
    public void ScoresAnMp4FromDisk()
    {
        var clip = WorldClip.Render(BenchClips.Scene, BenchClips.Size, BenchClips.Size, BenchClips.Fps);
        Mp4Writer.Write(PathOf("clip.mp4"), clip.Video, clip.Audio);
        Png.Write(PathOf("first.png"), new RgbImage(BenchClips.Size, BenchClips.Size, clip.Video.Frames[0]));
        var loaded = ClipFiles.Load(PathOf("clip.mp4"), WritePreviewJson(BenchClips.Scene), firstFrame: PathOf("first.png"));
        Assert.Equal(ClipFiles.AnalysisWidth, loaded.Video.Width);
        var score = Scorer.Score(loaded);
        Assert.True(score[M.AdherenceShort] == 1, $"short adherence {score[M.AdherenceShort]:0.000}");
        // H.264 and AAC change neither the timing nor the first frame much
        Assert.True(Math.Abs(score[M.SyncOffset]) < 30, $"sync offset {score[M.SyncOffset]:0.0} ms");
        Assert.True(score[M.FirstFramePsnr] > 30, $"first frame {score[M.FirstFramePsnr]:0.0} dB");
        Assert.True(score[M.LipSync] > 0.5, $"lip-sync {score[M.LipSync]:0.000}");
    }

    [Fact]
    public void WritesTheReportFolder()
    {
        var clean = BenchClips.Score(BenchClips.Scene, Damage.None);
        var shifted = BenchClips.Score(BenchClips.Scene, Damage.ShiftAudio);
        var report = BenchReport.From([clean, shifted]);
        var written = ReportWriter.Write(PathOf("report"), report, TextWriter.Null);
        foreach (var name in new[] { "report.json", "report.md", "metrics.png", "sync_offsets.png", "worst_cases.png" })
            Assert.Contains(PathOf(Path.Combine("report", name)), written);
        foreach (var png in written.Where(p => p.EndsWith(".png", StringComparison.Ordinal)))
            Assert.Equal([0x89, 0x50, 0x4E, 0x47], File.ReadAllBytes(png).Take(4));

        var json = JsonNode.Parse(File.ReadAllText(PathOf("report/report.json")))!;
        var sync = json["metrics"]![M.SyncOffset]!;
        Assert.Equal(M.SyncOffset, (string)sync["name"]!);
        Assert.False((bool)sync["higher_is_better"]!);
        Assert.Equal("zero", (string)sync["best"]!);
        Assert.Equal(2, (int)sync["count"]!);
        Assert.Equal(2, sync["per_clip"]!.AsArray().Count);
        // the median of two clips, about 0 and about 120 ms
        Assert.InRange((double)sync["value"]!, 40, 80);
        foreach (var name in new[] { M.AdherenceShort, M.AdherenceLong, M.IdentityConsistency, M.ReferenceIdentity, M.FirstFramePsnr,
            M.MotionSmoothness, M.FrozenFrames, M.Flicker, M.LipSync, M.FrechetDistance })
            Assert.NotNull(json["metrics"]![name]);
        Assert.True((bool)json["metrics"]![M.AdherenceLong]!["higher_is_better"]!);
        Assert.Null(json["metrics"]![M.ShotCutF1]!["value"]);   // NaN is written as null

        var markdown = File.ReadAllText(PathOf("report/report.md"));
        Assert.Contains("| metric | value | better | clips | unit | definition |", markdown);
        Assert.Contains($"| {M.LipSync} |", markdown);
        var figures = report.Figures().ToList();
        Assert.Equal("clips: 2", figures[0]);
        Assert.All(figures, line => Assert.Matches(@"^[a-z0-9_]+: (nan|-?\d+(\.\d+)?)$", line));
    }

    [Fact]
    public void SuiteRunWritesEveryInputAndScoresTheAnswersFromTheirFiles()
    {
        // one task that carries every kind of input, answered by the ground truth
        var task = Suites.Task(BenchSuite.Flf2v, 5, 64, 64, 12, 1f);   // one second: the file is analysed 256 wide
        var real = WorldClip.Render(task.Scene, 64, 64, 12);
        task = task with
        {
            References = [Variations.Reference(task.Scene, 0, 0, 64, 64)],
            DrivingAudio = real.Audio,
            Extend = real.Video with { Frames = [.. real.Video.Frames.Take(6)] },
            EditSource = task.Scene,
            EditSourceClip = real,
        };
        var report = Suites.Run(PathOf("run"), [task], t => Damages.Render(t.Scene, Damage.None, 64, 64, 12));
        foreach (var suffix in new[] { ".mp4", ".json", ".first.png", ".last.png", ".ref0.png", ".track.wav", ".given.mp4", ".source.json", ".source.mp4" })
            Assert.True(File.Exists(PathOf(Path.Combine("run", "clips", task.Name + suffix))), $"{task.Name}{suffix} was not written");
        Assert.True(File.Exists(PathOf("run/report.json")));
        Assert.True(report[M.FirstFramePsnr]!.Value > 30, $"first frame {report[M.FirstFramePsnr]!.Value:0.0} dB");
        Assert.True(report[M.LastFramePsnr]!.Value > 30, $"last frame {report[M.LastFramePsnr]!.Value:0.0} dB");
        Assert.True(report[M.ExtensionContinuity]!.Value > 0.9, $"continuity {report[M.ExtensionContinuity]!.Value:0.000}");
        Assert.Equal(1, report[M.ReferenceIdentity]!.Count);
        Assert.Equal(1, report[M.EditPreservation]!.Count);

        // an edit task carries the source scene's render: the video a system edits
        var edit = Suites.Task(BenchSuite.Edit, 0, 32, 32, 24, 1f, sampleRate: 24000);
        Assert.Same(edit.EditSource, edit.EditSourceClip!.Scene);
        Assert.Equal(24, edit.EditSourceClip.Video.Frames.Count);
        Assert.Equal(24000, edit.EditSourceClip.Audio.SampleRate);
        // task 5 of a conditioned mode has a long prompt: the file says so and the score follows it
        Assert.Equal(PromptLength.Long, ClipFiles.LoadPromptLength(PathOf(Path.Combine("run", "clips", task.Name + ".json"))));
        Assert.Equal(1, report[M.PromptAdherenceLong]!.Count);
        Assert.Equal(report[M.AdherenceLong]!.Value, report[M.PromptAdherenceLong]!.Value, 9);
        Assert.Null(report[M.PromptAdherenceShort]);
    }

    [Fact]
    public void EveryModeAsksShortAndLongPrompts()
    {
        foreach (var suite in Enum.GetValues<BenchSuite>())
        {
            var (even, odd) = (Suites.Task(suite, 0, 32, 32, 12, 1f), Suites.Task(suite, 1, 32, 32, 12, 1f));
            switch (suite)
            {
                case BenchSuite.T2vShort:
                    Assert.All(new[] { even, odd }, t => Assert.Equal((PromptLength.Short, Captions.Short(t.Scene)), (t.Length, t.Prompt)));
                    break;
                case BenchSuite.T2vLong:
                    Assert.All(new[] { even, odd }, t => Assert.Equal((PromptLength.Long, Captions.Long(t.Scene)), (t.Length, t.Prompt)));
                    break;
                case BenchSuite.MultiShot:
                    Assert.All(new[] { even, odd }, t => Assert.Equal(PromptLength.Long, t.Length));
                    break;
                case BenchSuite.Edit:
                    var instruction = Variations.Edit(even.EditSource!, 0).Instruction;
                    Assert.Equal((PromptLength.Short, instruction), (even.Length, even.Prompt));
                    Assert.Equal(PromptLength.Long, odd.Length);
                    Assert.Equal($"{Variations.Edit(odd.EditSource!, 1).Instruction} {Captions.Long(odd.Scene)}", odd.Prompt);
                    break;
                default:
                    Assert.Equal((PromptLength.Short, Captions.Short(even.Scene)), (even.Length, even.Prompt));
                    Assert.Equal((PromptLength.Long, Captions.Long(odd.Scene)), (odd.Length, odd.Prompt));
                    break;
            }
        }
    }

    [Fact]
    public void APromptLengthOtherThanShortOrLongIsAnError()
    {
        File.WriteAllText(PathOf("lengths.json"), """{ "prompt_length": "medium" }""");
        var e = Assert.Throws<InvalidDataException>(() => ClipFiles.LoadPromptLength(PathOf("lengths.json")));
        Assert.Contains("prompt_length", e.Message);
        File.WriteAllText(PathOf("lengths.json"), """{ "prompt_length": "SHORT" }""");
        Assert.Equal(PromptLength.Short, ClipFiles.LoadPromptLength(PathOf("lengths.json")));
        File.WriteAllText(PathOf("lengths.json"), """{ "caption": "a red ball" }""");
        Assert.Null(ClipFiles.LoadPromptLength(PathOf("lengths.json")));
    }
}
