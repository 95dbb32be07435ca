using Canter.Models.Unified;
using Canter.Tensors;
using Canter.Training.Unified;
using Canter.World;

namespace Canter.Training.Tests;

/// <summary>
/// <c>canter train model --subject-weight W</c>: the video tokens where a world scene's subjects are drawn weigh W in the
/// flow loss, every other noisy token 1 and clean ones 0; the option is recorded with the run and refused where it
/// cannot work.
/// </summary>
public sealed class SubjectWeightTests
{
    [Fact]
    public void TheWeightsMarkTheTokensWhereTheSubjectsAre()
    {
        const int size = 128, token = 16, ratio = 4, fps = 24;
        int checkedCentres = 0;
        for (int i = 0; i < 3; i++)
        {
            var scene = SceneGenerator.Generate(Splits.Seed(Split.Test, i), 1f);
            var frames = Enumerable.Range(0, 25).Select(f => Renderer.Render(scene, f / (float)fps, size, size)).ToArray();
            var backgrounds = Enumerable.Range(0, 25).Select(f => Renderer.Render(scene, f / (float)fps, size, size, drawSubjects: false)).ToArray();
            var weights = WorldExamples.SubjectWeights(frames, backgrounds, size, size, token, ratio, 5f);
            Assert.Equal(7 * 8 * 8, weights.Length);
            Assert.All(weights, w => Assert.True(w is 1f or 5f, $"weight {w}"));
            double share = weights.Count(w => w == 5f) / (double)weights.Length;
            Assert.InRange(share, 0.005, 0.4);
            // the token under each subject's centre weighs 5, in the group of every frame
            for (int f = 0; f < frames.Length; f++)
            {
                int g = f == 0 ? 0 : 1 + (f - 1) / ratio;
                foreach (var s in scene.Subjects)
                {
                    var at = Motion.At(s, f / (float)fps);
                    var (px, py, _) = Renderer.ToPixel(scene, f / (float)fps, size, size, at.X, at.Y);
                    if (px < 0 || py < 0 || px >= size || py >= size) continue;
                    Assert.Equal(5f, weights[(g * 8 + (int)py / token) * 8 + (int)px / token]);
                    checkedCentres++;
                }
            }
            // a clip without subjects weighs 1 everywhere
            Assert.All(WorldExamples.SubjectWeights(backgrounds, backgrounds, size, size, token, ratio, 5f), w => Assert.Equal(1f, w));
        }
        Assert.True(checkedCentres > 50, $"{checkedCentres} subject centres in frame");
        var one = new[] { new byte[size * size * 3] };
        Assert.Throws<ArgumentException>(() => WorldExamples.SubjectWeights([.. one, .. one], [.. one, .. one], size, size, token, ratio, 5f));   // 2 frames: not 1 + 4 k
        Assert.Throws<ArgumentException>(() => WorldExamples.SubjectWeights(one, one, 120, 120, token, ratio, 5f));
    }

    [Fact]
    public void ABatchWeighsNoisyTokensByTheClipsWeightsAndCleanOnesZero()
    {
        var config = TinyModels.Transformer(textTokens: 8, textRows: 64, maxReferences: 1);
        var layout = new SequenceLayout(config, videoGroups: 3, rows: 2, cols: 2, audioLatents: 6, referenceSlots: 1);
        int dv = config.VisualTokenSize, da = config.AudioLatentChannels;
        var text = TextTokens.Build(["A red ball bounces"], config.TextRows);
        float[] Random(int count, ulong seed) => Tensor.Randn([count], seed: seed).ToArray();
        var weights = Enumerable.Range(0, layout.VideoCount).Select(i => i % 3 == 0 ? 4f : 1f).ToArray();
        var weighted = new Example(Random(layout.VideoCount * dv, 1), Random(6 * da, 2), [Random(layout.TokensPerImage * dv, 3)], ["A red ball bounces"], 1,
            VideoWeights: weights);
        var plain = weighted with { VideoWeights = null };
        var backend = new UnifiedTransformer(config).TextTable.Backend;
        var modes = new HashSet<Mode>();
        for (long step = 1; step <= 40; step++)
        {
            var fb = ModelTrainer.BuildBatch(config, text, [weighted, plain], layout, step, seed: 3, backend);
            modes.Add(fb.Modes[0]);
            for (int tok = 0; tok < layout.VideoCount; tok++)
            {
                bool clean = fb.Sequence.Times[layout.TextCount + layout.VideoOffset + tok] == 0;
                Assert.Equal(clean ? 0f : weights[tok], fb.VideoWeight[tok]);
                bool plainClean = fb.Sequence.Times[layout.Count + layout.TextCount + layout.VideoOffset + tok] == 0;
                Assert.Equal(plainClean ? 0f : 1f, fb.VideoWeight[layout.VideoCount + tok]);
            }
        }
        Assert.Contains(Mode.ImageToVideo, modes);   // clean first frames were among the cases
        Assert.Throws<InvalidDataException>(() => ModelTrainer.BuildBatch(config, text, [weighted with { VideoWeights = new float[3] }], layout, 1, 3, backend));
    }

    [Fact]
    public void ARunRecordsTheWeightAndRefusesBadOnes()
    {
        using var tmp = new TempFolder("model-subject-weight");
        var vae = TinyModels.AutoencoderFolder(tmp);
        var options = new ModelTrainingOptions(tmp.Sub("a"), 1, Autoencoders: vae, Batch: 2, WarmupSteps: 1, LogEvery: 1, Width: 16, Height: 16, Seconds: 1f,
            Config: TinyModels.Transformer(textTokens: 48, textRows: 1024, maxReferences: 2), SubjectWeight: 6f);
        var log = new List<string>();
        ModelTrainer.Run(options, log.Add);
        Assert.Contains("\"SubjectWeight\": 6", File.ReadAllText(Path.Combine(options.Out, "run.json")));
        Assert.Contains(log, l => l.StartsWith("step 1/1", StringComparison.Ordinal) && !l.Contains("NaN", StringComparison.Ordinal));
        // resuming with another weight is another run
        Assert.ThrowsAny<Exception>(() => ModelTrainer.Run(options with { Steps = 2, SubjectWeight = 1f }, _ => { }));
        foreach (var bad in new[] { 0.5f, 0f, 101f, float.NaN })
            Assert.Contains("--subject-weight", Assert.Throws<ArgumentException>(() => ModelTrainer.Run(options with { Out = tmp.Sub("b"), SubjectWeight = bad }, _ => { })).Message);
        var folder = Assert.Throws<ArgumentException>(() => ModelTrainer.Run(options with { Out = tmp.Sub("c"), Data = tmp.Sub("clips") }, _ => { }));
        Assert.Contains("--subject-weight needs the world", folder.Message);
        Assert.False(Directory.Exists(Path.Combine(tmp.Sub("b"), "checkpoint")));
    }
}
