using Canter.Media;
using Canter.Models.Autoencoders;
using Canter.Models.Unified;
using Canter.Tensors;
using Canter.Training.Unified;
using Canter.World;

namespace Canter.Training.Tests;

/// <summary>
/// Edit mode with tiny models: a training batch puts an edit pair's source in clean and leaves it out of the loss, a
/// run on edit pairs learns (finite, falling loss) and ships a model with edit mode, whose edits are reproducible and keep
/// the source's sound; a model without edit mode, and bad edit requests, are refused before any compute.
/// </summary>
public sealed class EditModeTests
{
    private static readonly UnifiedConfig Edit = TinyModels.Transformer(textTokens: 8, textRows: 64, maxReferences: 1) with { Edit = true };

    private static ModelBundle Bundle(UnifiedConfig config) => TinyModels.Bundle(config, "A red ball bounces", "Make the red ball blue.");

    /// <summary>A 1 s world clip at 16x16 (24 frames) with its sound at the tiny audio codec's 16 kHz: a source to edit.</summary>
    private static WorldClip SourceClip() =>
        WorldClip.Render(SceneGenerator.Generate(Splits.Seed(Split.Test, 3), 1f), 16, 16, 24, TinyModels.Audio.SampleRate);

    private static GenerationRequest EditRequest(WorldClip source, ulong seed = 1) =>
        new("Make the red ball blue.", 16, 16, 0.5f, seed, Steps: 2, Source: source.Video, SourceAudio: source.Audio.Samples);

    [Fact]
    public void ABatchPutsTheSourceInCleanAndLeavesItOutOfTheLoss()
    {
        var config = TinyModels.Transformer(textTokens: 8, textRows: 64, maxReferences: 1) with { Edit = true };
        var layout = new SequenceLayout(config, videoGroups: 2, rows: 2, cols: 2, audioLatents: 6, referenceSlots: 1, source: true);
        int dv = config.VisualTokenSize, da = config.AudioLatentChannels, n = layout.Count, nv = layout.VisualCount;
        var text = TextTokens.Build(["A red ball bounces", "Make the red ball blue."], config.TextRows);
        float[] Random(int count, ulong seed) => Tensor.Randn([count], seed: seed).ToArray();
        var reference = Random(layout.TokensPerImage * dv, 1);
        var edit = new Example(Random(layout.VideoCount * dv, 2), Random(6 * da, 3), [reference], ["Make the red ball blue."], 1, Random(layout.VideoCount * dv, 4));
        var plain = new Example(Random(layout.VideoCount * dv, 5), Random(6 * da, 6), [reference], ["A red ball bounces"], 1);
        var backend = new UnifiedTransformer(config).TextTable.Backend;
        int present = 0;
        for (long step = 1; step <= 40; step++)
        {
            var fb = ModelTrainer.BuildBatch(config, text, [edit, plain], layout, step, seed: 7, backend);
            Assert.Equal(Mode.Edit, fb.Modes[0]);
            Assert.NotEqual(Mode.Edit, fb.Modes[1]);
            // targets and weights cover the video and audio tokens only: the source has no place in the loss
            Assert.Equal(2 * layout.VideoCount * dv, fb.VideoTarget.Length);
            Assert.Equal(2 * layout.VideoCount, fb.VideoWeight.Length);
            var visual = fb.Sequence.Visual.ToArray();
            // the edit's target is all noisy (in the loss), its sound clean (the source's, as given, out of the loss)
            Assert.All(fb.VideoWeight[..layout.VideoCount], w => Assert.Equal(1f, w));
            Assert.All(fb.AudioWeight[..6], w => Assert.Equal(0f, w));
            Assert.Equal(edit.Audio, fb.Sequence.Audio.ToArray()[..(6 * da)]);
            float t = fb.Sequence.Times[layout.TextCount + layout.VideoOffset];
            Assert.True(t > 0);
            Assert.NotEqual(edit.Video[..dv], visual[(layout.VideoOffset * dv)..((layout.VideoOffset + 1) * dv)]);
            for (int k = 0; k < layout.SourceCount; k++)
            {
                int token = layout.TextCount + layout.SourceOffset + k;
                Assert.Equal(0f, fb.Sequence.Times[token]);          // never noised, for either item
                Assert.Equal(0f, fb.Sequence.Times[n + token]);
                Assert.Equal(1, fb.Sequence.Segments[n + token]);    // the other item has no source: its block is masked
                Assert.Equal(fb.SourcePresent[0] ? 0 : 1, fb.Sequence.Segments[token]);
            }
            if (fb.SourcePresent[0])
            {
                present++;
                // exactly the source's tokens, untouched by noise
                Assert.Equal(edit.Source, visual[(layout.SourceOffset * dv)..((layout.SourceOffset + layout.SourceCount) * dv)]);
            }
            Assert.Equal(new float[layout.SourceCount * dv], visual[((nv + layout.SourceOffset) * dv)..((nv + layout.VideoOffset) * dv)]);
        }
        // the source is dropped now and then (the branch of source guidance), present most of the time
        Assert.InRange(present, 28, 39);
        // a source that does not fit, or no source block, is refused
        var noBlock = new SequenceLayout(config, 2, 2, 2, 6, 1);
        Assert.Throws<InvalidDataException>(() => ModelTrainer.BuildBatch(config, text, [edit], noBlock, 1, 7, backend));
        Assert.Throws<InvalidDataException>(() => ModelTrainer.BuildBatch(config, text, [edit with { Source = new float[3] }], layout, 1, 7, backend));
    }

    [Fact]
    public void ARunOnEditPairsLearnsAndShipsAModelThatEdits()
    {
        using var tmp = new TempFolder("model-edit");
        var vae = TinyModels.AutoencoderFolder(tmp);
        var config = TinyModels.Transformer(textTokens: 48, textRows: 1024, maxReferences: 2) with { Edit = true };
        // every step carries edit pairs (slot 0 of 2), mixed with another mode in slot 1
        var o = new ModelTrainingOptions(tmp.Sub("run"), 24, Autoencoders: vae, Batch: 2, LearningRate: 3e-3f, WarmupSteps: 1, CheckpointEvery: 100,
            LogEvery: 1, Width: 16, Height: 16, Seconds: 1f, EmaDecay: 0.5f, Config: config, EditShare: 1f);
        var log = new List<string>();
        Assert.Equal(24, ModelTrainer.Run(o, log.Add));
        Assert.Contains(log, l => l.Contains("edit pairs in 100", StringComparison.Ordinal));
        var losses = File.ReadAllLines(Path.Combine(o.Out, "losses.csv")).Skip(1).Select(l => double.Parse(l.Split(',')[1], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(24, losses.Count);
        Assert.All(losses, l => Assert.True(double.IsFinite(l)));
        Assert.True(losses.TakeLast(6).Average() < 0.9 * losses.Take(6).Average(), $"loss {losses.Take(6).Average():F3} -> {losses.TakeLast(6).Average():F3}");

        // the shipped files say edit mode, and the model edits: reproducibly, keeping the source's sound as given
        foreach (var f in Directory.GetFiles(vae)) File.Copy(f, Path.Combine(o.Out, Path.GetFileName(f)));
        Assert.True(ModelBundle.ReadManifest(o.Out).Config.Edit);
        var bundle = ModelBundle.Load(o.Out);
        var source = SourceClip();
        var request = EditRequest(source) with { Prompt = "Make the red ball blue." };
        var a = Generator.Generate(bundle, request);
        Assert.Equal(13, a.Video.Frames.Count);
        Assert.Equal(source.Audio.Samples[..8000], a.Audio!.Samples);
        var record = GenerationRecord.Of("edit-test", GenerationOutput.WeightsHash(o.Out), request, edit: "source.mp4");
        string First(string name) => Path.Combine(tmp.Path, name);
        GenerationOutput.Write(a, record, First("a.mp4"), First("a.png"), First("a.json"));
        GenerationOutput.Write(Generator.Generate(bundle, request), record, First("b.mp4"), First("b.png"), First("b.json"));
        Assert.Equal(File.ReadAllBytes(First("a.mp4")), File.ReadAllBytes(First("b.mp4")));
        Assert.Contains("\"edit\": \"source.mp4\"", File.ReadAllText(First("a.json")), StringComparison.Ordinal);
        Assert.Contains("\"source_guidance\": 1", File.ReadAllText(First("a.json")), StringComparison.Ordinal);
    }

    [Fact]
    public void EditPairsComeFromTheWorldAndFromAFolder()
    {
        using var tmp = new TempFolder("edit-pairs");
        var codec = new LatentCodec(new VideoAutoencoder(TinyModels.Video, seed: 3), new AudioAutoencoder(TinyModels.Audio, seed: 4));
        var config = TinyModels.Transformer(textTokens: 48, textRows: 1024, maxReferences: 2) with { Edit = true };
        var stats = new LatentStats([0f, 0f], [1f, 1f], [0f, 0f, 0f], [1f, 1f, 1f]);
        var plan = new EditPlan(1, Batch: 2, StepShare: 1f);
        Assert.True(plan.IsEdit(0));
        Assert.False(plan.IsEdit(1));                       // odd slots keep the other modes
        Assert.False(new EditPlan(1, 2, 0f).IsEdit(0));
        // about the asked share of steps carry edits
        Assert.InRange(Enumerable.Range(0, 1000).Count(s => new EditPlan(3, 4, 0.2f).EditStep(s)), 150, 250);

        // the world: item 0 is scene 0 edited; its source is what the plain item 0 shows, its sound the same, its caption the instruction
        var plain = new WorldExamples(codec, config, 16, 16, 1f).Encode(0, stats);
        var world = new WorldExamples(codec, config, 16, 16, 1f, edits: plan);
        var pair = world.Encode(0, stats);
        var scene = SceneGenerator.Generate(Splits.Seed(Split.Train, 0), 1f);
        if (Splits.Seed(Split.Train, 0) % 3 == 0) scene = Variations.MultiShot(scene);
        Assert.Equal([Variations.Edit(scene, Splits.Seed(Split.Train, 0)).Instruction], pair.Captions);
        Assert.Equal(plain.Video, pair.Source);
        Assert.Equal(plain.Audio, pair.Audio);
        Assert.NotEqual(plain.Video, pair.Video);
        Assert.Null(world.Encode(1, stats).Source);
        // drawn ahead and encoded in one batch: the same
        var batched = world.Encode([world.Render(0), world.Render(1)], stats);
        Assert.Equal(pair.Source, batched[0].Source);
        Assert.Equal(pair.Video, batched[0].Video);
        Assert.Null(batched[1].Source);

        // an exported folder: entry 0's clip is the source, its edit video the target
        var data = tmp.Sub("data");
        DatasetExporter.Export(data, new ExportOptions(Split.Train, 1, 16, 16, 24, 1f, 0));
        var folder = new Canter.Training.Data.FolderClips(data);
        Assert.Contains("with edit pairs", folder.Describe(), StringComparison.Ordinal);
        var fromFolder = new WorldExamples(codec, config, 16, 16, 1f, folder, plan).Encode(0, stats);
        var folderPlain = new WorldExamples(codec, config, 16, 16, 1f, folder).Encode(0, stats);
        Assert.Equal([folder.Entries[0].Edit!.Instruction], fromFolder.Captions);
        Assert.Equal(folderPlain.Video, fromFolder.Source);
        Assert.NotEqual(folderPlain.Video, fromFolder.Video);
    }

    [Fact]
    public void EditsAreReproducibleAndTheSourceMatters()
    {
        var model = Bundle(Edit);
        var source = SourceClip();
        var a = Generator.Generate(model, EditRequest(source));
        var b = Generator.Generate(model, EditRequest(source));
        for (int f = 0; f < a.Video.Frames.Count; f++) Assert.Equal(a.Video.Frames[f], b.Video.Frames[f]);
        Assert.Equal(source.Audio.Samples[..8000], a.Audio!.Samples);
        var other = SceneGenerator.Generate(Splits.Seed(Split.Test, 4), 1f);
        var c = Generator.Generate(model, EditRequest(WorldClip.Render(other, 16, 16, 24, TinyModels.Audio.SampleRate)));
        Assert.NotEqual(a.Video.Frames[^1], c.Video.Frames[^1]);
        // source guidance above 1 adds the branch without the source and moves the result
        var guided = Generator.Generate(model, EditRequest(source) with { SourceGuidance = 2f });
        Assert.NotEqual(a.Video.Frames[^1], guided.Video.Frames[^1]);
        // with a reference too; a silent source gets generated sound
        var withRef = Generator.Generate(model, EditRequest(source) with { References = [new RgbImage(16, 16, source.Video.Frames[0])] });
        Assert.NotEqual(a.Video.Frames[^1], withRef.Video.Frames[^1]);
        var silent = Generator.Generate(model, EditRequest(source) with { SourceAudio = null });
        Assert.NotEqual(source.Audio.Samples[..8000], silent.Audio!.Samples);
    }

    [Fact]
    public void ALowEditStrengthStartsFromTheSourceAndTheSeedMattersLittle()
    {
        var model = Bundle(Edit);
        var source = SourceClip();
        SampledTokens Tokens(float strength, ulong seed, WorldClip? from = null) =>
            Generator.Sample(model, EditRequest(from ?? source, seed) with { EditStrength = strength, Steps = 4 });
        // from pure noise the seed decides the result; from the source at t = 0.05 it hardly does
        double full = Samplers.RelativeRms(Tokens(1f, 1).Video, Tokens(1f, 2).Video);
        double half = Samplers.RelativeRms(Tokens(0.5f, 1).Video, Tokens(0.5f, 2).Video);
        double low = Samplers.RelativeRms(Tokens(0.05f, 1).Video, Tokens(0.05f, 2).Video);
        Assert.True(full > 0.5, $"strength 1: seeds {full:0.000} apart");
        Assert.True(low < 0.3 * full && low < half && half < full, $"seeds apart: {low:0.000} at strength 0.05, {half:0.000} at 0.5, {full:0.000} at 1");
        // ... and the source does
        var other = WorldClip.Render(SceneGenerator.Generate(Splits.Seed(Split.Test, 4), 1f), 16, 16, 24, TinyModels.Audio.SampleRate);
        double sources = Samplers.RelativeRms(Tokens(0.05f, 1, other).Video, Tokens(0.05f, 1).Video);
        Assert.True(sources > 2 * low, $"strength 0.05: sources {sources:0.000} apart, seeds {low:0.000}");
        // strength 1 is the request without it, bit for bit; the record names a strength for edits only
        Assert.Equal(Tokens(1f, 1).Video, Generator.Sample(model, EditRequest(source, 1) with { Steps = 4 }).Video);
        var request = EditRequest(source) with { EditStrength = 0.5f };
        Assert.Contains("\"edit_strength\": 0.5", GenerationRecord.Of("m", "h", request, edit: "src.mp4").ToJson(), StringComparison.Ordinal);
        Assert.DoesNotContain("edit_strength", GenerationRecord.Of("m", "h", new GenerationRequest("A red ball bounces")).ToJson(), StringComparison.Ordinal);
        // bounds, and an edit only
        foreach (var bad in new[] { 0f, 0.01f, 1.5f, float.NaN })
            Assert.Contains("edit strength", Assert.Throws<ArgumentException>(() => Generator.Validate(model, EditRequest(source) with { EditStrength = bad })).Message, StringComparison.Ordinal);
        var notEdit = new GenerationRequest("A red ball bounces", 16, 16, 0.5f, Steps: 2, EditStrength: 0.5f);
        Assert.Contains("edit only", Assert.Throws<ArgumentException>(() => Generator.Validate(model, notEdit)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheShippedModelLoadsWithoutEditModeAndRefusesEdits()
    {
        var dir = TinyModels.ShippedModel();
        var bundle = ModelBundle.Load(dir);                      // every name and shape checked, as before edit mode
        Assert.False(bundle.Manifest.Config.Edit);
        var request = new GenerationRequest("Make the red ball blue.", 32, 32, 1f, Steps: 1,
            Source: WorldClip.Render(SceneGenerator.Generate(5, 1f), 32, 32, 24).Video);
        Assert.Contains("no edit mode", Assert.Throws<ArgumentException>(() => Generator.Validate(bundle, request)).Message, StringComparison.Ordinal);
        // a config without edit mode is written as before (no "Edit" key): run folders and model files of earlier runs still match
        Assert.DoesNotContain("\"Edit\"", System.Text.Json.JsonSerializer.Serialize(bundle.Manifest.Config), StringComparison.Ordinal);
        Assert.Contains("\"Edit\":true", System.Text.Json.JsonSerializer.Serialize(UnifiedConfig.Tiny), StringComparison.Ordinal);
    }

    [Fact]
    public void BadEditsAndAModelWithoutEditModeFailBeforeCompute()
    {
        var source = SourceClip();
        var without = Bundle(Edit with { Edit = false });
        var refused = Assert.Throws<ArgumentException>(() => Generator.Validate(without, EditRequest(source)));
        Assert.Contains("no edit mode", refused.Message, StringComparison.Ordinal);
        // Generate checks first: a cancelled token shows nothing ran before the refusal
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        Assert.Throws<ArgumentException>(() => Generator.Generate(without, EditRequest(source), null, cancel.Token));

        var model = Bundle(Edit);
        VideoClip First(int frames) => source.Video with { Frames = [.. source.Video.Frames.Take(frames)] };
        var tooShort = Assert.Throws<ArgumentException>(() => Generator.Validate(model, EditRequest(source) with { Source = First(6) }));
        Assert.Contains("too short to edit", tooShort.Message, StringComparison.Ordinal);
        // 14 frames cannot make 1 s (25 frames) but make 0.67 s (17 frames, 3 of them held), as the error says
        var shorter = Assert.Throws<ArgumentException>(() => Generator.Validate(model, EditRequest(source) with { Seconds = 1f, Source = First(14) }));
        Assert.Contains("--seconds 0.67 or less", shorter.Message, StringComparison.Ordinal);
        Generator.Validate(model, EditRequest(source) with { Seconds = 0.67f, Source = First(14) });
        // 12 frames for a 13-frame clip: a source short of less than one latent frame is accepted (its last frame held)
        Generator.Validate(model, EditRequest(source) with { Source = First(12) });
        var image = new RgbImage(16, 16, new byte[16 * 16 * 3]);
        Assert.Throws<ArgumentException>(() => Generator.Validate(model, EditRequest(source) with { FirstFrame = image }));
        Assert.Throws<ArgumentException>(() => Generator.Validate(model, EditRequest(source) with { Extend = source.Video }));
        Assert.Throws<ArgumentException>(() => Generator.Validate(model, EditRequest(source) with { DrivingAudio = source.Audio.Samples }));
        Assert.Throws<ArgumentException>(() => Generator.Validate(model, EditRequest(source) with { Source = WorldClip.Render(SceneGenerator.Generate(5, 1f), 32, 16, 24).Video }));
        Assert.Throws<ArgumentException>(() => Generator.Validate(model, EditRequest(source) with { SourceGuidance = 30f }));
        Assert.Throws<ArgumentException>(() => Generator.Validate(model, EditRequest(source) with { Source = null }));
    }
}
