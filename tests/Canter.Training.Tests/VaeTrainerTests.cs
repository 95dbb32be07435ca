using System.Globalization;
using Canter.Models.Autoencoders;
using Canter.Tensors.IO;
using Canter.Training.Autoencoders;
using Canter.Training.Data;
using Canter.World;

namespace Canter.Training.Tests;

/// <summary>
/// What a user of <c>canter train vae</c> relies on: an interrupted run (Ctrl+C or a crash) resumed with the same
/// command ends with exactly the weights of an uninterrupted one, the loss log has each step once, a folder holding
/// another run is refused, and a folder of clips trains like the world does. The models are tiny, so each run takes
/// about a second.
/// </summary>
public sealed class VaeTrainerTests
{
    private static readonly VideoAutoencoderConfig TinyVideo = new(PatchSize: 2, Channels: 8, InnerChannels: 8, LatentChannels: 2);

    // hop 8 * 4 = 32 samples; 0.128 s at 16 kHz = 2048 samples = 64 hops, as long as the longest STFT of the loss
    private static readonly AudioAutoencoderConfig TinyAudio = new(SampleRate: 16000, Patch: 8, Strides: [4], Channels: [8, 8], LatentChannels: 2);

    private static VaeTrainingOptions Video(string outDir, int steps) => new(
        VaeModality.Video, outDir, steps, Batch: 2, WarmupSteps: 2, CheckpointEvery: 100, LogEvery: 1,
        Frames: 5, Crop: 16, RenderWidth: 32, RenderHeight: 32, Video: TinyVideo);

    private static VaeTrainingOptions Audio(string outDir, int steps) => new(
        VaeModality.Audio, outDir, steps, Batch: 2, WarmupSteps: 2, CheckpointEvery: 100, LogEvery: 1,
        AudioSeconds: 0.128f, Audio: TinyAudio);

    private static string Checkpoint(VaeTrainingOptions o) => Path.Combine(o.Out, "checkpoint", "model.safetensors");

    /// <summary>Runs to the end, but stops after <paramref name="stopAfter"/> as Ctrl+C does: the trainer checkpoints and returns.</summary>
    private static VaeTrainingResult RunCancelledAfter(VaeTrainingOptions o, int stopAfter)
    {
        using var cancel = new CancellationTokenSource();
        return VaeTrainer.Run(o, line =>
        {
            if (line.StartsWith($"step {stopAfter}/", StringComparison.Ordinal)) cancel.Cancel();
        }, cancel.Token);
    }

    /// <summary>Runs until the log line of <paramref name="crashAt"/>, then throws out of the trainer as a crash would: no checkpoint is written on the way out.</summary>
    private static void RunCrashingAt(VaeTrainingOptions o, int crashAt)
    {
        var e = Assert.Throws<InvalidOperationException>(() => VaeTrainer.Run(o, line =>
        {
            if (line.StartsWith($"step {crashAt}/", StringComparison.Ordinal)) throw new InvalidOperationException("simulated crash");
        }));
        Assert.Equal("simulated crash", e.Message);
    }

    private static long[] LoggedSteps(VaeTrainingOptions o) =>
        File.ReadAllLines(Path.Combine(o.Out, "losses.csv")).Skip(1).Select(l => long.Parse(l.Split(',')[0], CultureInfo.InvariantCulture)).ToArray();

    /// <summary>Byte equality of two weight files; on a difference, the message names the tensors that differ and by how much.</summary>
    private static void AssertSameWeights(string expected, string actual)
    {
        if (File.ReadAllBytes(expected).AsSpan().SequenceEqual(File.ReadAllBytes(actual))) return;
        var a = SafeTensors.LoadAll(expected);
        var b = SafeTensors.LoadAll(actual);
        var report = new List<string>();
        foreach (var (name, ta) in a.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            if (!b.TryGetValue(name, out var tb)) { report.Add($"{name}: missing"); continue; }
            var x = ta.ToArray();
            var y = tb.ToArray();
            float max = 0;
            for (int i = 0; i < Math.Min(x.Length, y.Length); i++) max = MathF.Max(max, MathF.Abs(x[i] - y[i]));
            if (max > 0 || x.Length != y.Length) report.Add($"{name}: max |diff| {max:G3}");
        }
        Assert.Fail($"{actual} differs from {expected}: " + (report.Count == 0 ? "same tensors, other bytes (metadata)"
            : $"{report.Count} of {a.Count} tensors, e.g. " + string.Join("; ", report.Take(4))));
    }

    [Fact]
    public void VideoRunCancelledAndResumedEndsWithTheWeightsOfAnUninterruptedRun()
    {
        using var tmp = new TempFolder("vae-resume");
        var straight = Video(tmp.Sub("a"), 6);
        var resumed = Video(tmp.Sub("b"), 6);

        var a = VaeTrainer.Run(straight, _ => { });
        Assert.False(a.Interrupted);
        Assert.Equal(6, a.Step);

        var first = RunCancelledAfter(resumed, 3);
        Assert.True(first.Interrupted);
        Assert.Equal(3, first.Step);
        Assert.False(File.Exists(resumed.WeightsPath));          // an interrupted run leaves only its checkpoint

        var lines = new List<string>();
        var second = VaeTrainer.Run(resumed, lines.Add);
        Assert.False(second.Interrupted);
        Assert.Equal(6, second.Step);
        Assert.Contains(lines, l => l.StartsWith("resuming from step 3 of 6", StringComparison.Ordinal));

        AssertSameWeights(Checkpoint(straight), Checkpoint(resumed));
        AssertSameWeights(straight.WeightsPath, resumed.WeightsPath);
        Assert.Equal([1, 2, 3, 4, 5, 6], LoggedSteps(resumed));
        Assert.True(File.Exists(Path.Combine(resumed.Out, "losses.png")));
    }

    [Fact]
    public void AudioRunCrashedAndResumedLogsEachStepOnceAndEndsWithTheSameWeights()
    {
        using var tmp = new TempFolder("vae-crash");
        var straight = Audio(tmp.Sub("a"), 6);
        var crashed = Audio(tmp.Sub("b"), 6) with { CheckpointEvery = 2 };

        VaeTrainer.Run(straight, _ => { });

        // the crash comes after step 3 was logged but before it was checkpointed: the checkpoint is step 2's
        RunCrashingAt(crashed, 3);
        Assert.Equal([1, 2, 3], LoggedSteps(crashed));

        var lines = new List<string>();
        VaeTrainer.Run(crashed, lines.Add);
        Assert.Contains(lines, l => l.StartsWith("resuming from step 2 of 6", StringComparison.Ordinal));
        Assert.Equal([1, 2, 3, 4, 5, 6], LoggedSteps(crashed));  // step 3 is logged once, from the resumed run
        AssertSameWeights(Checkpoint(straight), Checkpoint(crashed));
    }

    [Fact]
    public void FolderOfAnotherRunIsRefusedAndLeftAsItWas()
    {
        using var tmp = new TempFolder("vae-refuse");
        var first = Video(tmp.Sub("run"), 1);
        VaeTrainer.Run(first, _ => { });
        var runJson = File.ReadAllText(Path.Combine(first.Out, "run.json"));
        var weights = File.ReadAllBytes(Checkpoint(first));

        var otherModel = first with { Steps = 2, Video = TinyVideo with { LatentChannels = 4 } };
        var e = Assert.Throws<ArgumentException>(() => VaeTrainer.Run(otherModel, _ => { }));
        Assert.Contains("run.json", e.Message);
        Assert.Throws<ArgumentException>(() => VaeTrainer.Run(first with { Steps = 2, Seed = 2 }, _ => { }));
        Assert.Throws<ArgumentException>(() => VaeTrainer.Run(Audio(first.Out, 2), _ => { }));

        Assert.Equal(runJson, File.ReadAllText(Path.Combine(first.Out, "run.json")));
        Assert.Equal(weights, File.ReadAllBytes(Checkpoint(first)));
    }

    [Fact]
    public void TrainsOnAFolderOfExportedClips()
    {
        using var tmp = new TempFolder("vae-folder");
        var data = tmp.Sub("data");
        DatasetExporter.Export(data, new ExportOptions(Split.Train, 2, 32, 32, 24, 1f, 0));
        var o = Video(tmp.Sub("run"), 2) with { Data = data };

        var lines = new List<string>();
        var result = VaeTrainer.Run(o, lines.Add);

        Assert.Equal(2, result.Step);
        Assert.True(double.IsFinite(result.LastLoss) && result.LastLoss > 0, $"last loss {result.LastLoss}");
        Assert.Contains(lines, l => l.Contains($"2 clips in {data}", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("validation:", StringComparison.Ordinal) && l.Contains("the training folder", StringComparison.Ordinal));
        var model = AutoencoderFiles.LoadVideo(o.WeightsPath);
        Assert.Equal(TinyVideo, model.Config);
    }

    [Fact]
    public void EdgeWeightIsLoggedChangesTrainingAndIsValidated()
    {
        using var tmp = new TempFolder("vae-edge");
        var plain = Video(tmp.Sub("plain"), 3);
        var edged = Video(tmp.Sub("edge"), 3) with { EdgeWeight = 1f };

        VaeTrainer.Run(plain, _ => { });
        VaeTrainer.Run(edged, _ => { });

        var rows = File.ReadAllLines(Path.Combine(edged.Out, "losses.csv"));
        var header = rows[0].Split(',');
        int loss = Array.IndexOf(header, "loss"), l1 = Array.IndexOf(header, "l1"), edge = Array.IndexOf(header, "edge"), kl = Array.IndexOf(header, "kl");
        Assert.True(edge > 0, rows[0]);
        foreach (var row in rows.Skip(1).Select(r => r.Split(',').Select(v => double.Parse(v, CultureInfo.InvariantCulture)).ToArray()))
        {
            Assert.True(row[edge] > 0, $"edge term {row[edge]}");
            // the total is l1 + 1 * edge + kl weight * kl
            Assert.Equal(row[l1] + row[edge] + edged.KlWeight * row[kl], row[loss], 3);
        }
        Assert.False(File.ReadAllBytes(plain.WeightsPath).AsSpan().SequenceEqual(File.ReadAllBytes(edged.WeightsPath)));

        var e = Assert.Throws<ArgumentException>(() => VaeTrainer.Run(edged with { Out = tmp.Sub("bad"), EdgeWeight = -1f }, _ => { }));
        Assert.Contains("--edge-weight", e.Message);
        Assert.False(Directory.Exists(tmp.Sub("bad")) && Directory.EnumerateFileSystemEntries(tmp.Sub("bad")).Any());
    }

    [Fact]
    public void FrozenEncoderKeepsTheLatentsAndTrainsTheDecoder()
    {
        using var tmp = new TempFolder("vae-freeze");
        var first = Video(tmp.Sub("a"), 2);
        VaeTrainer.Run(first, _ => { });

        var tuned = Video(tmp.Sub("b"), 3) with { Init = first.WeightsPath, FreezeEncoder = true, EdgeWeight = 0.5f };
        var lines = new List<string>();
        VaeTrainer.Run(tuned, lines.Add);
        Assert.Contains(lines, l => l.Contains("the encoder frozen", StringComparison.Ordinal));

        var before = SafeTensors.LoadAll(first.WeightsPath);
        var after = SafeTensors.LoadAll(tuned.WeightsPath);
        Assert.Equal(before.Keys.Order(StringComparer.Ordinal), after.Keys.Order(StringComparer.Ordinal));
        foreach (var name in before.Keys)
        {
            bool same = before[name].ToArray().AsSpan().SequenceEqual(after[name].ToArray());
            if (name.StartsWith("encoder.", StringComparison.Ordinal)) Assert.True(same, $"{name} changed with the encoder frozen");
        }
        Assert.Contains(before.Keys, name => name.StartsWith("decoder.", StringComparison.Ordinal) && !before[name].ToArray().AsSpan().SequenceEqual(after[name].ToArray()));

        Assert.Contains("--init", Assert.Throws<ArgumentException>(() => VaeTrainer.Run(Video(tmp.Sub("c"), 2) with { FreezeEncoder = true }, _ => { })).Message);
        Assert.Contains("video", Assert.Throws<ArgumentException>(() => VaeTrainer.Run(Audio(tmp.Sub("d"), 2) with { FreezeEncoder = true, Init = first.WeightsPath }, _ => { })).Message);
    }

    [Fact]
    public void NewFineDecoderTrainsOnAKeptEncoderAndIsRefusedWithoutFreezing()
    {
        using var tmp = new TempFolder("vae-fine");
        var first = Video(tmp.Sub("a"), 2);
        VaeTrainer.Run(first, _ => { });

        var fineConfig = TinyVideo with { FineUpsamples = 1, FineChannels = 8 };
        var fine = Video(tmp.Sub("b"), 2) with { Video = fineConfig, Init = first.WeightsPath, FreezeEncoder = true };
        var lines = new List<string>();
        VaeTrainer.Run(fine, lines.Add);
        Assert.Contains(lines, l => l.Contains("decoder.fine1.up.conv.weight", StringComparison.Ordinal) && l.Contains("new", StringComparison.Ordinal));

        var before = SafeTensors.LoadAll(first.WeightsPath);
        var after = SafeTensors.LoadAll(fine.WeightsPath);
        Assert.Equal(fineConfig, AutoencoderFiles.LoadVideo(fine.WeightsPath).Config);
        foreach (var name in before.Keys.Where(n => n.StartsWith("encoder.", StringComparison.Ordinal)))
            Assert.True(before[name].ToArray().AsSpan().SequenceEqual(after[name].ToArray()), $"{name} differs from the kept encoder");
        Assert.Contains(after.Keys, n => n.StartsWith("decoder.fine1.", StringComparison.Ordinal));

        // a new decoder on an encoder that goes on learning would move the latents: refused, as is any other difference
        var unfrozen = Assert.Throws<ArgumentException>(() => VaeTrainer.Run(fine with { Out = tmp.Sub("c"), FreezeEncoder = false }, _ => { }));
        Assert.Contains("--freeze-encoder", unfrozen.Message);
        var wider = Assert.Throws<ArgumentException>(() => VaeTrainer.Run(fine with { Out = tmp.Sub("d"), Video = fineConfig with { Channels = 16 } }, _ => { }));
        Assert.Contains("outside the decoder", wider.Message);
    }

    [Fact]
    public void DetailCropsPickMoreDetailedPlacesThanRandomOnes()
    {
        var clips = new WorldClips(1f);
        static double MeanEdge(float[] x, int crop)
        {
            double sum = 0;
            int rows = x.Length / crop;
            for (int r = 0; r < rows; r++)
                for (int c = 0; c + 1 < crop; c++) sum += Math.Abs(x[r * crop + c + 1] - x[r * crop + c]);
            return sum / (rows * (crop - 1));
        }
        double plain = 0, detailed = 0;
        for (int step = 0; step < 6; step++)
        {
            plain += MeanEdge(new VideoWindows(clips, 2, 5, 16, 64, 64, 24, 7).Make(step, Canter.Tensors.Backends.Cpu.CpuBackend.Instance).ToArray(), 16);
            detailed += MeanEdge(new VideoWindows(clips, 2, 5, 16, 64, 64, 24, 7, DetailCrops: 8).Make(step, Canter.Tensors.Backends.Cpu.CpuBackend.Instance).ToArray(), 16);
        }
        Assert.True(detailed > 1.5 * plain, $"mean edge of detailed crops {detailed / 6:G3}, of random crops {plain / 6:G3}");
    }
}
