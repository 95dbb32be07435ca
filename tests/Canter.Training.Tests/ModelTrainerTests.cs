using Canter.Models.Autoencoders;
using Canter.Models.Unified;
using Canter.Training.Unified;

namespace Canter.Training.Tests;

/// <summary>
/// <c>canter train model</c> with tiny models: an interrupted run resumed with the same command ends with the weights
/// of an uninterrupted one (model, EMA), the shipped files load as a model that generates, and a folder of another
/// run is refused.
/// </summary>
public sealed class ModelTrainerTests
{
    private static readonly UnifiedConfig Tiny = TinyModels.Transformer(textTokens: 48, textRows: 1024, maxReferences: 2);

    private static string Autoencoders(TempFolder tmp) => TinyModels.AutoencoderFolder(tmp);

    private static ModelTrainingOptions Options(string outDir, string vae) => new(outDir, 4, Autoencoders: vae, Batch: 2, WarmupSteps: 1,
        CheckpointEvery: 100, LogEvery: 1, Width: 16, Height: 16, Seconds: 1f, EmaDecay: 0.5f, Config: Tiny);

    [Fact]
    public void RunStartsFromAModelKeepingItsVocabularyAndRefreshingOnlyTheVisualProjections()
    {
        using var tmp = new TempFolder("model-init");
        var vae = Autoencoders(tmp);
        var first = Options(tmp.Sub("a"), vae) with { Steps = 2 };
        ModelTrainer.Run(first, _ => { });

        // another patch (as after a new video autoencoder): every tensor but the visual projections' weights and output bias is copied
        var patch1 = Tiny with { Patch = 1 };
        var log = new List<string>();
        var second = Options(tmp.Sub("b"), vae) with { Steps = 1, Config = patch1, Init = first.Out };
        ModelTrainer.Run(second, log.Add);
        var line = Assert.Single(log, l => l.StartsWith("initialised from", StringComparison.Ordinal));
        Assert.Contains("fresh (shape changed): ", line);
        Assert.Contains("visual_in.weight", line);
        Assert.Contains("visual_out.weight", line);
        Assert.Contains("visual_out.bias", line);
        Assert.DoesNotContain("text_embedding", line);
        Assert.Equal(File.ReadAllText(Path.Combine(first.Out, "vocabulary.json")), File.ReadAllText(Path.Combine(second.Out, "vocabulary.json")));
        Assert.Contains("\"Init\"", File.ReadAllText(Path.Combine(second.Out, "run.json")));

        // what LoadInto copies and what it leaves as initialised
        var trained = Canter.Tensors.IO.SafeTensors.LoadAll(Path.Combine(first.Out, "transformer.safetensors"));
        var model = new UnifiedTransformer(patch1, seed: 5);
        var before = model.StateDict()["visual_in.weight"].ToArray();
        TransformerInit.Read(first.Out, patch1).LoadInto(model);
        Assert.Equal(trained["text_embedding"].ToArray(), model.StateDict()["text_embedding"].ToArray());
        Assert.Equal(trained["stack.blocks.0.attn.qkv.weight"].ToArray(), model.StateDict()["stack.blocks.0.attn.qkv.weight"].ToArray());
        Assert.Equal(before, model.StateDict()["visual_in.weight"].ToArray());

        // another transformer is refused before anything is written; so is a folder without a model
        var wider = Options(tmp.Sub("c"), vae) with { Config = Tiny with { Width = 64 }, Init = first.Out };
        var e = Assert.Throws<ArgumentException>(() => ModelTrainer.Run(wider, _ => { }));
        Assert.Contains("only the video latent channels and the patch may differ", e.Message);
        Assert.False(Directory.Exists(wider.Out));
        e = Assert.Throws<ArgumentException>(() => ModelTrainer.Run(Options(tmp.Sub("d"), vae) with { Init = tmp.Sub("nothing") }, _ => { }));
        Assert.Contains("no transformer.safetensors", e.Message);
    }

    [Fact]
    public void AModelWithoutPooledTextStartsARunWithItAsANoOpButNotTheOtherWayRound()
    {
        using var tmp = new TempFolder("model-init-pool");
        var vae = Autoencoders(tmp);
        var first = Options(tmp.Sub("a"), vae) with { Steps = 1 };
        ModelTrainer.Run(first, _ => { });
        var pooled = Tiny with { TextPool = true };

        var log = new List<string>();
        ModelTrainer.Run(Options(tmp.Sub("b"), vae) with { Steps = 1, Config = pooled, Init = first.Out }, log.Add);
        var line = Assert.Single(log, l => l.StartsWith("initialised from", StringComparison.Ordinal));
        Assert.Contains("fresh (pooled text, new in this run, starts as a no-op): text_pool.0.bias, text_pool.0.weight, text_pool.2.bias, text_pool.2.weight", line);
        Assert.DoesNotContain("shape changed", line);

        // the pooled model as loaded predicts what its start does
        var start = new UnifiedTransformer(Tiny, seed: 4);
        TransformerInit.Read(first.Out, Tiny).LoadInto(start);
        var model = new UnifiedTransformer(pooled, seed: 5);
        TransformerInit.Read(first.Out, pooled).LoadInto(model);
        var layout = new SequenceLayout(Tiny, videoGroups: 2, rows: 2, cols: 2, audioLatents: 8, referenceSlots: 0);
        var times = Enumerable.Range(0, layout.Count).Select(i => layout.Kinds[i] is TokenKind.Video or TokenKind.Audio ? 0.8f : 0f).ToArray();
        var rows = new int[layout.TextCount];
        rows[0] = 2;
        rows[1] = 3;
        var batch = new SequenceBatch(rows, Canter.Tensors.Tensor.Randn([1, layout.VisualCount, Tiny.VisualTokenSize], seed: 1),
            Canter.Tensors.Tensor.Randn([1, layout.AudioCount, Tiny.AudioLatentChannels], seed: 2), times, layout.Segments([2], [0]));
        using (Canter.Tensors.Autograd.Tape.NoGrad())
        {
            var (v1, a1) = start.Forward(batch, layout, layout.Rope());
            var (v2, a2) = model.Forward(batch, layout, layout.Rope());
            var (x1, x2) = (v1.ToArray(), v2.ToArray());
            for (int i = 0; i < x1.Length; i++) Assert.Equal(x1[i], x2[i], 4);
            var (y1, y2) = (a1.ToArray(), a2.ToArray());
            for (int i = 0; i < y1.Length; i++) Assert.Equal(y1[i], y2[i], 4);
        }

        // a pooled model cannot start a run without pooled text
        var back = Options(tmp.Sub("c"), vae) with { Steps = 1, Config = Tiny, Init = tmp.Sub("b") };
        var e = Assert.Throws<ArgumentException>(() => ModelTrainer.Run(back, _ => { }));
        Assert.Contains("reads pooled text", e.Message);
        Assert.False(Directory.Exists(back.Out));
    }

    [Fact]
    public void TheFlowTimeShiftIsTheOldOneByDefaultAndARunRecordsAnother()
    {
        // the default reproduces the times of runs made before the option, to the bit
        for (int i = 0; i <= 1000; i++)
        {
            float u = i / 1000f;
            Assert.Equal(BitConverter.SingleToInt32Bits(3f * u / (1 + 2f * u)), BitConverter.SingleToInt32Bits(Samplers.Shifted(u, ModelTrainingOptions.DefaultTimeShift)));
        }
        Assert.Equal(1f, Samplers.Shifted(1f, 6f));
        Assert.Equal(6f * 0.5f / 3.5f, Samplers.Shifted(0.5f, 6f), 6);

        using var tmp = new TempFolder("model-shift");
        var vae = Autoencoders(tmp);
        var plain = Options(tmp.Sub("a"), vae) with { Steps = 1 };
        ModelTrainer.Run(plain, _ => { });
        Assert.DoesNotContain("TimeShift", File.ReadAllText(Path.Combine(plain.Out, "run.json")));
        var shifted = Options(tmp.Sub("b"), vae) with { Steps = 1, TimeShift = 6f };
        ModelTrainer.Run(shifted, _ => { });
        Assert.Contains("\"TimeShift\": 6", File.ReadAllText(Path.Combine(shifted.Out, "run.json")));
        // resuming with another shift is another run
        Assert.ThrowsAny<Exception>(() => ModelTrainer.Run(shifted with { Steps = 2, TimeShift = 3f }, _ => { }));
        foreach (var bad in new[] { 0f, 0.1f, 40f, float.NaN })
            Assert.Contains("--time-shift", Assert.Throws<ArgumentException>(() => ModelTrainer.Run(Options(tmp.Sub("c"), vae) with { TimeShift = bad }, _ => { })).Message);
    }

    [Fact]
    public void RunStartingFromAModelWithTheSameAutoencodersKeepsItsLatentStatistics()
    {
        using var tmp = new TempFolder("model-init-stats");
        var vae = Autoencoders(tmp);
        var first = Options(tmp.Sub("a"), vae) with { Steps = 1 };
        ModelTrainer.Run(first, _ => { });
        var shipped = ModelBundle.ReadManifest(first.Out).Stats;

        // a model folder as shipped: the transformer next to its autoencoders; the new run's 2 s clips alone would
        // measure other statistics (the third run shows it)
        foreach (var name in new[] { "video_vae.safetensors", "audio_vae.safetensors" })
            File.Copy(Path.Combine(vae, name), Path.Combine(first.Out, name));
        var log = new List<string>();
        var tuned = Options(tmp.Sub("b"), vae) with { Steps = 1, Seconds = 2f, Init = first.Out };
        ModelTrainer.Run(tuned, log.Add);
        Assert.Contains(log, l => l.StartsWith("latent statistics from", StringComparison.Ordinal));
        var kept = ModelBundle.ReadManifest(tuned.Out).Stats;
        Assert.Equal(shipped.VideoMean, kept.VideoMean);
        Assert.Equal(shipped.VideoStd, kept.VideoStd);
        Assert.Equal(shipped.AudioMean, kept.AudioMean);
        Assert.Equal(shipped.AudioStd, kept.AudioStd);

        // other autoencoders of the same shapes: the statistics are measured on the new run's clips
        var other = tmp.Sub("vae2");
        AutoencoderFiles.Save(new VideoAutoencoder(TinyModels.Video, seed: 5), Path.Combine(other, "video_vae.safetensors"));
        AutoencoderFiles.Save(new AudioAutoencoder(TinyModels.Audio, seed: 6), Path.Combine(other, "audio_vae.safetensors"));
        log.Clear();
        var fresh = Options(tmp.Sub("c"), other) with { Steps = 1, Seconds = 2f, Init = first.Out };
        ModelTrainer.Run(fresh, log.Add);
        Assert.DoesNotContain(log, l => l.StartsWith("latent statistics from", StringComparison.Ordinal));
        Assert.NotEqual(shipped.VideoStd, ModelBundle.ReadManifest(fresh.Out).Stats.VideoStd);
    }

    [Fact]
    public void ResumedRunEndsWithTheWeightsOfAnUninterruptedOne()
    {
        using var tmp = new TempFolder("model-resume");
        var vae = Autoencoders(tmp);
        var straight = Options(tmp.Sub("a"), vae) with { SampleEvery = 4 };
        Assert.Equal(4, ModelTrainer.Run(straight, _ => { }));
        Assert.True(new FileInfo(Path.Combine(straight.Out, "samples", "step-4.mp4")).Length > 0);   // a validation sample with sound

        var resumed = Options(tmp.Sub("b"), vae);
        using (var cancel = new CancellationTokenSource())
        {
            long stopped = ModelTrainer.Run(resumed, line => { if (line.StartsWith("step 2/", StringComparison.Ordinal)) cancel.Cancel(); }, cancel.Token);
            Assert.Equal(2, stopped);   // the logged step was the last; the checkpoint is written on the way out
        }
        Assert.False(File.Exists(Path.Combine(resumed.Out, "transformer.safetensors")));
        var log = new List<string>();
        ModelTrainer.Run(resumed, log.Add);
        Assert.Contains(log, l => l.StartsWith("resuming from step 2", StringComparison.Ordinal));

        foreach (var file in new[] { "checkpoint/model.safetensors", "checkpoint/ema.safetensors", "transformer.safetensors" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(straight.Out, file)), File.ReadAllBytes(Path.Combine(resumed.Out, file)));
        var steps = File.ReadAllLines(Path.Combine(resumed.Out, "losses.csv")).Skip(1).Select(l => l.Split(',')[0]).ToList();
        Assert.Equal(["1", "2", "3", "4"], steps);

        // --stop-after: the same schedule, ended at step 3 with its export; rerun without it, the run ends as the others
        var stopped3 = Options(tmp.Sub("c"), vae) with { StopAfter = 3 };
        Assert.Equal(3, ModelTrainer.Run(stopped3, _ => { }));
        Assert.True(File.Exists(Path.Combine(stopped3.Out, "transformer.safetensors")));
        Assert.Equal(4, ModelTrainer.Run(stopped3 with { StopAfter = 0 }, _ => { }));
        foreach (var file in new[] { "checkpoint/model.safetensors", "checkpoint/ema.safetensors", "transformer.safetensors" })
            Assert.Equal(File.ReadAllBytes(Path.Combine(straight.Out, file)), File.ReadAllBytes(Path.Combine(stopped3.Out, file)));
        foreach (var bad in new[] { -1L, 5L })
            Assert.Contains("--stop-after", Assert.Throws<ArgumentException>(() => ModelTrainer.Run(Options(tmp.Sub("d"), vae) with { StopAfter = bad }, _ => { })).Message);

        // the run folder plus the autoencoders is a model folder that generates
        foreach (var f in Directory.GetFiles(vae)) File.Copy(f, Path.Combine(straight.Out, Path.GetFileName(f)));
        var bundle = ModelBundle.Load(straight.Out);
        var result = Generator.Generate(bundle, new GenerationRequest("A red ball bounces", 16, 16, 0.5f, Steps: 1));
        Assert.Equal(13, result.Video.Frames.Count);

        Assert.Throws<ArgumentException>(() => ModelTrainer.Run(straight with { Seed = 9, SampleEvery = 0 }, _ => { }));
    }

    [Fact]
    public void TrainsOnAFolderOfCaptionedClips()
    {
        using var tmp = new TempFolder("model-folder");
        var vae = Autoencoders(tmp);
        var data = tmp.Sub("data");
        Canter.World.DatasetExporter.Export(data, new Canter.World.ExportOptions(Canter.World.Split.Train, 2, 16, 16, 24, 1f, 0));
        var o = Options(tmp.Sub("run"), vae) with { Steps = 2, Data = data };
        var log = new List<string>();
        Assert.Equal(2, ModelTrainer.Run(o, log.Add));
        Assert.Contains(log, l => l.Contains("2 clips in", StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(o.Out, "transformer.safetensors")));
    }

    [Fact]
    public void ACheckpointCarriedWithoutItsOptimizerStateResumesWithFreshMoments()
    {
        using var tmp = new TempFolder("model-moments");
        var vae = Autoencoders(tmp);
        var o = Options(tmp.Sub("run"), vae) with { Steps = 2 };
        Assert.Equal(2, ModelTrainer.Run(o, _ => { }));
        File.Delete(Path.Combine(o.Out, "checkpoint", "optimizer.safetensors"));
        var log = new List<string>();
        Assert.Equal(3, ModelTrainer.Run(o with { Steps = 3 }, log.Add));
        Assert.Contains(log, l => l.Contains("AdamW's moments start fresh", StringComparison.Ordinal));
        Assert.Contains(log, l => l.StartsWith("resuming from step 2", StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(o.Out, "checkpoint", "optimizer.safetensors")));
    }

    [Fact]
    public void ClipsDrawnAheadAndEncodedAsOneBatchEqualClipsEncodedOneByOne()
    {
        using var tmp = new TempFolder("model-batch");
        var codec = LatentCodec.Load(Autoencoders(tmp));
        var examples = new WorldExamples(codec, Tiny, 16, 16, 1f);
        var stats = new LatentStats([.. Enumerable.Repeat(0.1f, Tiny.VideoLatentChannels)], [.. Enumerable.Repeat(2f, Tiny.VideoLatentChannels)],
            [.. Enumerable.Repeat(-0.1f, Tiny.AudioLatentChannels)], [.. Enumerable.Repeat(0.5f, Tiny.AudioLatentChannels)]);
        var prefetch = new ClipPrefetcher(examples, 3);
        var batched = examples.Encode([.. Enumerable.Range(5, 4).Select(i => prefetch.Take(i))], stats);
        for (int i = 0; i < 4; i++)
        {
            var single = examples.Encode(5 + i, stats);
            Assert.Equal(single.Video, batched[i].Video);
            Assert.Equal(single.Audio, batched[i].Audio);
            Assert.Equal(single.Captions, batched[i].Captions);
            Assert.Equal(single.References.Count, batched[i].References.Count);
            for (int r = 0; r < single.References.Count; r++) Assert.Equal(single.References[r], batched[i].References[r]);
        }
        Assert.Contains(batched, e => e.References.Count > 0);
    }
}
