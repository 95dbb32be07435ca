using Canter.Models.Unified;
using Canter.Tensors;
using Canter.Tensors.Autograd;

namespace Canter.Models.Tests;

/// <summary>The unified transformer's sequence: token layout and positions, latent patches, masks, text rows, sizes.</summary>
public sealed class UnifiedTests
{
    private static readonly UnifiedConfig Small = new(Width: 48, Blocks: 2, Heads: 2, TextTokens: 6, TextRows: 32, VideoLatentChannels: 2, AudioLatentChannels: 3, Patch: 2, MaxReferences: 1);

    /// <summary>The output heads (and the pooled-text MLP's last layer) start at zero; give them weights so that outputs depend on the input.</summary>
    private static void WithLiveOutputs(UnifiedTransformer model)
    {
        foreach (var (_, p) in model.Parameters().Where(p => p.Name.EndsWith("_out.weight", StringComparison.Ordinal) || p.Name.StartsWith("text_pool.2.", StringComparison.Ordinal)))
            p.Backend.Copy(p, Tensor.Randn(p.Shape, seed: 9, std: 0.5f));
    }

    private static UnifiedConfig WithPool(UnifiedConfig config, bool pooled) => config with { TextPool = pooled };

    /// <summary>A model of <paramref name="config"/> with live outputs and one item's random visual and audio tokens on a small layout (one reference slot).</summary>
    private static (UnifiedTransformer Model, SequenceLayout Layout, Tensor Visual, Tensor Audio) OneItem(UnifiedConfig config, ulong seed)
    {
        var model = new UnifiedTransformer(config, seed);
        WithLiveOutputs(model);
        var layout = new SequenceLayout(config, videoGroups: 2, rows: 2, cols: 2, audioLatents: 4, referenceSlots: 1);
        var visual = Tensor.Randn([1, layout.VisualCount, config.VisualTokenSize], seed: 1);
        var audio = Tensor.Randn([1, layout.AudioCount, config.AudioLatentChannels], seed: 2);
        return (model, layout, visual, audio);
    }

    [Fact]
    public void PresetTokensStaySixteenPixelsWideWhateverTheAutoencodersRatio()
    {
        Assert.Equal(2, UnifiedConfig.Tiny.Patch);
        Assert.Equal(2, UnifiedConfig.Tiny.ForSpatialRatio(8).Patch);
        Assert.Equal(4, UnifiedConfig.Tiny.ForSpatialRatio(4).Patch);
        Assert.Equal(1, UnifiedConfig.Tiny.ForSpatialRatio(16).Patch);
        Assert.Equal(UnifiedConfig.Tiny with { Patch = 4 }, UnifiedConfig.Tiny.ForSpatialRatio(4));
        Assert.Equal(8 * 4 * 4, UnifiedConfig.Tiny.ForSpatialRatio(4).VisualTokenSize);
        foreach (int bad in new[] { 0, 3, 32 })
            Assert.Throws<ArgumentException>(() => UnifiedConfig.Tiny.ForSpatialRatio(bad));
    }

    [Fact]
    public void PatchesRoundTrip()
    {
        int z = 3, g = 2, h = 4, w = 6, p = 2;
        var latent = Enumerable.Range(0, z * g * h * w).Select(i => (float)i).ToArray();
        var tokens = Patches.FromVideo(latent, z, g, h, w, p);
        Assert.Equal(latent, Patches.ToVideo(tokens, z, g, h, w, p));
        // token 0 holds channel 0's top-left 2x2 square first
        Assert.Equal([latent[0], latent[1], latent[w], latent[w + 1]], tokens[..4]);
        var audio = Enumerable.Range(0, 3 * 5).Select(i => (float)i).ToArray();
        Assert.Equal(audio, Patches.ToAudio(Patches.FromAudio(audio, 3, 5), 3, 5));
        Assert.Throws<ArgumentException>(() => Patches.FromVideo(latent, z, g, h, 5, p));
    }

    [Fact]
    public void LayoutPutsPictureAndSoundOnOneClock()
    {
        var config = UnifiedConfig.Tiny;
        var layout = new SequenceLayout(config, videoGroups: 25, rows: 8, cols: 8, audioLatents: 192, referenceSlots: 2);
        Assert.Equal(config.TextTokens + 2 * 64 + 25 * 64 + 192, layout.Count);
        // video latent frame 1 covers frames 1..4 (middle 2.5 / 24 s); audio latent j sits at (j + 0.5) / 48 s
        Assert.Equal(2.5 / 24, config.VideoLatentTime(1), 6);
        Assert.Equal(0.5 / 48, config.AudioLatentTime(0), 6);
        // every video latent frame has an audio latent within half an audio latent (about 10 ms) of its time
        int firstVideo = layout.TextCount + layout.VideoOffset, firstAudio = layout.TextCount + layout.VisualCount;
        for (int g = 0; g < 25; g++)
        {
            float t = layout.Positions[(firstVideo + g * 64) * 3];
            int j = Math.Clamp((int)Math.Round(t * 48 - 0.5), 0, 191);
            Assert.True(Math.Abs(layout.Positions[(firstAudio + j) * 3] - t) <= 1 / 96f + 1e-6f, $"latent frame {g} at {t} s");
        }
        Assert.Equal(TokenKind.Reference, layout.Kinds[layout.TextCount]);
        Assert.Equal(TokenKind.Audio, layout.Kinds[^1]);
        Assert.Throws<ArgumentException>(() => new SequenceLayout(config, 25, 8, 8, 192, config.MaxReferences + 1));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MaskedTokensDoNotChangeTheOutput(bool pooled)
    {
        using var _ = Tape.NoGrad();
        var (model, layout, visual, audio) = OneItem(WithPool(Small, pooled), 3);
        var times = Enumerable.Range(0, layout.Count).Select(i => i < layout.TextCount ? 0f : 0.5f).ToArray();
        var segments = layout.Segments([3], [0]);                      // three prompt tokens, the reference slot empty
        var (v1, a1) = model.Forward(new SequenceBatch([5, 6, 7, 0, 0, 0], visual, audio, times, segments), layout, layout.Rope());
        // other pad rows and other contents in the empty reference slot: the video and audio outputs stay the same
        var other = visual.ToArray();
        for (int i = 0; i < layout.TokensPerImage * Small.VisualTokenSize; i++) other[i] = 42f;
        var (v2, a2) = model.Forward(new SequenceBatch([5, 6, 7, 9, 1, 2], Tensor.FromArray(other, visual.Shape), audio, times, segments), layout, layout.Rope());
        var x1 = v1.ToArray();
        var x2 = v2.ToArray();
        Assert.Equal([1, layout.VideoCount, Small.VisualTokenSize], v1.Shape);   // video tokens only: conditions are not predicted
        for (int i = 0; i < x1.Length; i++) Assert.Equal(x1[i], x2[i], 5);
        Assert.Equal(a1.ToArray(), a2.ToArray());
        // a real prompt token does change it
        var (v3, _) = model.Forward(new SequenceBatch([5, 6, 8, 0, 0, 0], visual, audio, times, segments), layout, layout.Rope());
        Assert.NotEqual(x1[^1], v3.ToArray()[^1]);
    }

    [Fact]
    public void EmptyReferenceSlotsPredictAsNoSlotsAtAll()
    {
        // the generator leaves out the slots of references a request does not give: that must change nothing
        using var _ = Tape.NoGrad();
        var config = Small with { MaxReferences = 2 };
        var model = new UnifiedTransformer(config, seed: 3);
        WithLiveOutputs(model);
        var slots = new SequenceLayout(config, videoGroups: 2, rows: 2, cols: 2, audioLatents: 4, referenceSlots: 2);
        var none = new SequenceLayout(config, videoGroups: 2, rows: 2, cols: 2, audioLatents: 4, referenceSlots: 0);
        Assert.Equal(slots.Count - 2 * slots.TokensPerImage, none.Count);
        int dv = config.VisualTokenSize;
        var video = Tensor.Randn([1, none.VideoCount, dv], seed: 2).ToArray();
        var references = Tensor.Randn([1, slots.VideoOffset, dv], seed: 4).ToArray();
        var audio = Tensor.Randn([1, none.AudioCount, config.AudioLatentChannels], seed: 5);
        (float[] Video, float[] Audio) Run(SequenceLayout l, float[] visual)
        {
            var times = Enumerable.Range(0, l.Count).Select(i => l.Kinds[i] is TokenKind.Video or TokenKind.Audio ? 0.6f : 0f).ToArray();
            var batch = new SequenceBatch([5, 6, 7, 0, 0, 0], Tensor.FromArray(visual, [1, l.VisualCount, dv]), audio, times, l.Segments([3], [0]));
            var (v, a) = model.Forward(batch, l, l.Rope());
            return (v.ToArray(), a.ToArray());
        }
        var withSlots = Run(slots, [.. references, .. video]);
        var without = Run(none, video);
        AssertSamePrediction(withSlots, without);
    }

    /// <summary>Two layouts of one sequence predict the same video and audio velocities (within float rounding).</summary>
    private static void AssertSamePrediction((float[] Video, float[] Audio) expected, (float[] Video, float[] Audio) actual)
    {
        Assert.Equal(expected.Video.Length, actual.Video.Length);
        Assert.Equal(expected.Audio.Length, actual.Audio.Length);
        for (int i = 0; i < actual.Video.Length; i++) Assert.Equal(expected.Video[i], actual.Video[i], tolerance: 1e-4);
        for (int i = 0; i < actual.Audio.Length; i++) Assert.Equal(expected.Audio[i], actual.Audio[i], tolerance: 1e-4);
    }

    private static readonly UnifiedConfig SmallEdit = Small with { Edit = true };

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void TextPaddingLeftOutPredictsAsPaddingMasked(bool pooled)
    {
        // the generator keeps only the text positions its longest prompt fills: that must change nothing
        using var _ = Tape.NoGrad();
        var model = new UnifiedTransformer(WithPool(Small, pooled), seed: 4);
        WithLiveOutputs(model);
        var full = new SequenceLayout(Small, videoGroups: 2, rows: 2, cols: 2, audioLatents: 4, referenceSlots: 1);
        var cut = new SequenceLayout(Small, videoGroups: 2, rows: 2, cols: 2, audioLatents: 4, referenceSlots: 1, textTokens: 3);
        Assert.Equal(full.Count - (Small.TextTokens - 3), cut.Count);
        Assert.Equal(full.Positions[(full.TextCount * 3)..], cut.Positions[(cut.TextCount * 3)..]);
        int dv = Small.VisualTokenSize;
        var visual = Tensor.Randn([2, full.VisualCount, dv], seed: 2);
        var audio = Tensor.Randn([2, full.AudioCount, Small.AudioLatentChannels], seed: 5);
        int[] prompt = [5, 6, 7], other = [9];   // two items: a prompt of 3 tokens and one of 1
        (float[] Video, float[] Audio) Run(SequenceLayout l)
        {
            var rows = new int[2 * l.TextCount];
            prompt.CopyTo(rows, 0);
            other.CopyTo(rows, l.TextCount);
            var times = Enumerable.Range(0, 2 * l.Count).Select(i => l.Kinds[i % l.Count] is TokenKind.Video or TokenKind.Audio ? 0.3f + 0.4f * (i / l.Count) : 0f).ToArray();
            var (v, a) = model.Forward(new SequenceBatch(rows, visual, audio, times, l.Segments([3, 1], [1, 0])), l, l.Rope());
            return (v.ToArray(), a.ToArray());
        }
        AssertSamePrediction(Run(full), Run(cut));
        Assert.Throws<ArgumentException>(() => new SequenceLayout(Small, 2, 2, 2, 4, 1, textTokens: Small.TextTokens + 1));
        Assert.Throws<ArgumentException>(() => new SequenceLayout(Small, 2, 2, 2, 4, 1, textTokens: 0));
    }


    [Fact]
    public void ASourceVideoSitsOnTheTargetsPositionsMarkedAsSource()
    {
        var layout = new SequenceLayout(SmallEdit, videoGroups: 3, rows: 2, cols: 2, audioLatents: 5, referenceSlots: 1, source: true);
        Assert.Equal(layout.VideoCount, layout.SourceCount);
        Assert.Equal(layout.TokensPerImage, layout.SourceOffset);
        Assert.Equal(layout.SourceOffset + layout.SourceCount, layout.VideoOffset);
        Assert.Equal(Small.TextTokens + 4 + 2 * 12 + 5, layout.Count);
        int source = layout.TextCount + layout.SourceOffset, video = layout.TextCount + layout.VideoOffset;
        for (int k = 0; k < layout.VideoCount; k++)
        {
            Assert.Equal(TokenKind.Source, layout.Kinds[source + k]);
            Assert.Equal(TokenKind.Video, layout.Kinds[video + k]);
            for (int axis = 0; axis < 3; axis++) Assert.Equal(layout.Positions[(video + k) * 3 + axis], layout.Positions[(source + k) * 3 + axis]);
        }
        Assert.Equal(TokenKind.Reference, layout.Kinds[layout.TextCount]);
        // the other tokens keep the places they have without a source block
        var plain = new SequenceLayout(SmallEdit, 3, 2, 2, 5, 1);
        Assert.Equal(plain.Positions[..((plain.TextCount + plain.VideoOffset) * 3)], layout.Positions[..(source * 3)]);
        Assert.Equal(plain.Positions[((plain.TextCount + plain.VideoOffset) * 3)..], layout.Positions[(video * 3)..]);

        // an item without its source has the block masked; with it, the block is attended
        var segments = layout.Segments([2, 2], [0, 1], [true, false]);
        int n = layout.Count;
        Assert.All(Enumerable.Range(0, layout.SourceCount), k => Assert.Equal(0, segments[source + k]));
        Assert.All(Enumerable.Range(0, layout.SourceCount), k => Assert.Equal(1, segments[n + source + k]));
        Assert.All(Enumerable.Range(0, layout.VideoCount), k => Assert.Equal(0, segments[n + video + k]));
        Assert.Throws<ArgumentException>(() => plain.Segments([2], [0], [true]));
        // a model trained without edit pairs has no source block
        var refused = Assert.Throws<ArgumentException>(() => new SequenceLayout(Small, 3, 2, 2, 5, 1, source: true));
        Assert.Contains("no edit mode", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TheSourceSteersTheVideoAndAMaskedSourceIsNoSource()
    {
        using var _ = Tape.NoGrad();
        var model = new UnifiedTransformer(SmallEdit, seed: 4);
        WithLiveOutputs(model);
        var plain = new SequenceLayout(SmallEdit, videoGroups: 2, rows: 2, cols: 2, audioLatents: 4, referenceSlots: 1);
        var edit = new SequenceLayout(SmallEdit, videoGroups: 2, rows: 2, cols: 2, audioLatents: 4, referenceSlots: 1, source: true);
        int dv = SmallEdit.VisualTokenSize;
        var conditions = Tensor.Randn([1, plain.VideoOffset, dv], seed: 1).ToArray();     // the reference slot
        var video = Tensor.Randn([1, plain.VideoCount, dv], seed: 2).ToArray();
        var source = Tensor.Randn([1, edit.SourceCount, dv], seed: 3).ToArray();
        var audio = Tensor.Randn([1, plain.AudioCount, SmallEdit.AudioLatentChannels], seed: 5);
        float[] Times(SequenceLayout l) => [.. Enumerable.Range(0, l.Count).Select(i => l.Kinds[i] is TokenKind.Video or TokenKind.Audio ? 0.7f : 0f)];
        int[] rows = [5, 6, 7, 0, 0, 0];
        (float[] Video, float[] Audio) Run(SequenceLayout l, float[] visual, bool withSource)
        {
            var batch = new SequenceBatch(rows, Tensor.FromArray(visual, [1, l.VisualCount, dv]), audio, Times(l), l.Segments([3], [1], [withSource]));
            var (v, a) = model.Forward(batch, l, l.Rope());
            Assert.Equal([1, l.VideoCount, dv], v.Shape);
            return (v.ToArray(), a.ToArray());
        }
        var without = Run(plain, [.. conditions, .. video], false);
        var masked = Run(edit, [.. conditions, .. source, .. video], false);
        var read = Run(edit, [.. conditions, .. source, .. video], true);
        // a masked source block is invisible: the same prediction as a sequence without one
        for (int i = 0; i < without.Video.Length; i++) Assert.Equal(without.Video[i], masked.Video[i], tolerance: 1e-4);
        for (int i = 0; i < without.Audio.Length; i++) Assert.Equal(without.Audio[i], masked.Audio[i], tolerance: 1e-4);
        // a present source changes the prediction, and another source changes it again
        Assert.True(read.Video.Zip(without.Video).Max(p => Math.Abs(p.First - p.Second)) > 1e-3f);
        var other = Run(edit, [.. conditions, .. source.Select(x => -x), .. video], true);
        Assert.True(read.Video.Zip(other.Video).Max(p => Math.Abs(p.First - p.Second)) > 1e-3f);
    }

    [Fact]
    public void TheTimeMlpRunsOncePerDistinctTimeWithTheSameValuesAndGradients()
    {
        var model = new UnifiedTransformer(Small, seed: 3);
        // three items: clean conditions at 0, noisy tokens at the item's t (two items share one), and -0 beside 0
        int b = 3, n = 7;
        var times = new float[b * n];
        float[] noisy = [0.25f, 0.8f, 0.25f];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < n; j++) times[i * n + j] = j < 2 ? (i == 2 ? -0f : 0f) : noisy[i];
        var (distinct, index) = UnifiedTransformer.DistinctTimes(times);
        Assert.Equal([0f, 0.25f, 0.8f, -0f], distinct);
        Assert.Equal(BitConverter.SingleToInt32Bits(-0f), BitConverter.SingleToInt32Bits(distinct[3]));
        Assert.Equal(times, index.Select(k => distinct[k]).ToArray());

        var weights = Tensor.Randn([b, n, 8, Small.Width], seed: 4);
        (float[] Mod, float[] G1, float[] G2) Run(Func<Tensor> modulation)
        {
            model.ZeroGrad();
            var mod = modulation();                                                        // (B, N, 8, C)
            Ops.SumAll(Ops.Mul(mod, weights)).Backward();
            return (mod.ToArray(), model.Time1.Weight.Grad!.ToArray(), model.Time2.Weight.Grad!.ToArray());
        }
        var shared = Run(() => model.Modulation(times, b, n));
        var perToken = Run(() =>
        {
            var features = Tensor.FromArray(UnifiedTransformer.TimeFeaturesOf(times), [b, n, 256]);
            return Ops.Reshape(model.Time2.Forward(Ops.Silu(model.Time1.Forward(features))), b, n, 8, Small.Width);
        });
        // the same products in GEMMs of other sizes: equal within rounding, not always to the bit
        for (int i = 0; i < shared.Mod.Length; i++) Assert.True(MathF.Abs(shared.Mod[i] - perToken.Mod[i]) <= 1e-5f * (1 + MathF.Abs(perToken.Mod[i])), $"modulation {i}");
        for (int i = 0; i < shared.G1.Length; i++) Assert.True(MathF.Abs(shared.G1[i] - perToken.G1[i]) <= 1e-4f * (1 + MathF.Abs(perToken.G1[i])), $"time_mlp.0 gradient {i}");
        for (int i = 0; i < shared.G2.Length; i++) Assert.True(MathF.Abs(shared.G2[i] - perToken.G2[i]) <= 1e-4f * (1 + MathF.Abs(perToken.G2[i])), $"time_mlp.2 gradient {i}");
        Assert.Throws<ArgumentException>(() => model.Modulation(times, b, n + 1));
    }

    [Fact]
    public void TheSourceRoleVectorLearnsOnlyFromSources()
    {
        var model = new UnifiedTransformer(SmallEdit, seed: 6);
        WithLiveOutputs(model);
        var layout = new SequenceLayout(SmallEdit, videoGroups: 2, rows: 2, cols: 2, audioLatents: 4, referenceSlots: 1, source: true);
        var visual = Tensor.Randn([1, layout.VisualCount, SmallEdit.VisualTokenSize], seed: 1);
        var audio = Tensor.Randn([1, layout.AudioCount, SmallEdit.AudioLatentChannels], seed: 2);
        var times = Enumerable.Range(0, layout.Count).Select(i => layout.Kinds[i] is TokenKind.Video or TokenKind.Audio ? 0.5f : 0f).ToArray();
        float[] SourceRowGradient(bool withSource)
        {
            model.ZeroGrad();
            var (v, a) = model.Forward(new SequenceBatch([5, 6, 0, 0, 0, 0], visual, audio, times, layout.Segments([2], [0], [withSource])), layout, layout.Rope());
            Ops.Add(Ops.SumAll(Ops.Square(v)), Ops.SumAll(Ops.Square(a))).Backward();
            var grad = model.KindTable.Grad!.ToArray();
            int c = SmallEdit.Width;
            return grad[((int)TokenKind.Source * c)..((int)TokenKind.Source * c + c)];
        }
        Assert.Contains(SourceRowGradient(true), g => Math.Abs(g) > 1e-6f);
        Assert.All(SourceRowGradient(false), g => Assert.Equal(0f, g));
    }

    [Fact]
    public void TextRowsCoverTheCaptionsAndRefuseLongPrompts()
    {
        var text = TextTokens.Build(["A red ball bounces", "A blue star spins"], maxRows: 64);
        var (rows, length) = text.ToRows("A red star bounces", 8);
        Assert.Equal(TextTokens.Encode("A red star bounces").Count, length);
        Assert.DoesNotContain(TextTokens.Unknown, rows.Take(length));
        Assert.All(rows.Skip(length), r => Assert.Equal(TextTokens.Pad, r));
        Assert.Equal(1, text.UnknownCount("A red zebra"));
        Assert.Throws<ArgumentException>(() => text.ToRows(string.Join(" ", Enumerable.Repeat("ball", 20)), 8));
    }

    [Fact]
    public void PooledTextStartsAsANoOpAndIsTheMeanOfThePromptsRows()
    {
        using var _ = Tape.NoGrad();
        var pooledConfig = WithPool(Small, true);
        var plain = new UnifiedTransformer(Small, seed: 5);
        WithLiveOutputs(plain);
        var pooled = new UnifiedTransformer(pooledConfig, seed: 5);
        // the same weights: every tensor of the plain model, the pooled-text MLP as constructed
        pooled.LoadStateDict(plain.StateDict(), strict: false);
        Assert.Equal(0f, pooled.TextPool2!.Weight.ToArray().Select(MathF.Abs).Max());
        var layout = new SequenceLayout(Small, videoGroups: 2, rows: 2, cols: 2, audioLatents: 4, referenceSlots: 1);
        var visual = Tensor.Randn([2, layout.VisualCount, Small.VisualTokenSize], seed: 1);
        var audio = Tensor.Randn([2, layout.AudioCount, Small.AudioLatentChannels], seed: 2);
        var times = Enumerable.Range(0, 2 * layout.Count).Select(i => layout.Kinds[i % layout.Count] is TokenKind.Video or TokenKind.Audio ? 0.7f : 0f).ToArray();
        int[] rows = [5, 6, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0];      // a prompt of three tokens, an empty one
        var batch = new SequenceBatch(rows, visual, audio, times, layout.Segments([3, 0], [0, 0]));
        var (v1, a1) = plain.Forward(batch, layout, layout.Rope());
        var (v2, a2) = pooled.Forward(batch, layout, layout.Rope());
        AssertSamePrediction((v1.ToArray(), a1.ToArray()), (v2.ToArray(), a2.ToArray()));   // the time MLP's second GEMM has other rows: rounding
        Assert.NotEqual(v1.ToArray(), new float[v1.ToArray().Length]);

        // live: the modulation of an item is the time MLP with the MLP of its prompt's mean row added to the hidden layer
        WithLiveOutputs(pooled);
        var c = Small.Width;
        var table = pooled.TextTable.ToArray();
        var mean = new float[2 * c];
        foreach (var r in rows[..3]) for (int k = 0; k < c; k++) mean[k] += table[r * c + k] / 3f;   // item 1 pools to zeros
        var poolHidden = pooled.TextPool2!.Forward(Ops.Silu(pooled.TextPool1!.Forward(Tensor.FromArray(mean, [2, c])))).ToArray();
        int n = layout.Count;
        var mod = pooled.Modulation(times, 2, n, Tensor.FromArray(poolHidden, [2, c])).ToArray();
        var timeHidden = Ops.Silu(pooled.Time1.Forward(Tensor.FromArray(UnifiedTransformer.TimeFeaturesOf([0f, 0.7f]), [2, 256]))).ToArray();
        foreach (var (item, token) in new[] { (0, 0), (0, n - 1), (1, 0), (1, n - 1) })
        {
            int time = times[item * n + token] == 0f ? 0 : 1;
            var joint = new float[c];
            for (int k = 0; k < c; k++) joint[k] = timeHidden[time * c + k] + poolHidden[item * c + k];
            var expected = pooled.Time2.Forward(Tensor.FromArray(joint, [1, c])).ToArray();
            for (int k = 0; k < 8 * c; k++)
                Assert.True(MathF.Abs(expected[k] - mod[(item * n + token) * 8 * c + k]) <= 1e-5f * (1 + MathF.Abs(expected[k])), $"item {item} token {token} value {k}");
        }
        // the prompt now moves the prediction even where attention is blind to it: two items, same tokens, other prompts
        var (v3, _) = pooled.Forward(batch, layout, layout.Rope());
        var other = new SequenceBatch([5, 6, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0], visual, audio, times, layout.Segments([3, 0], [0, 0]));
        var (v4, _) = pooled.Forward(other, layout, layout.Rope());
        Assert.NotEqual(v3.ToArray()[..layout.VideoCount], v4.ToArray()[..layout.VideoCount]);
        Assert.Throws<ArgumentException>(() => pooled.Modulation(times, 2, n, Tensor.Zeros([1, c])));
    }

    [Fact]
    public void PooledTextGradientsReachTheEmbeddingRowsOfThePromptOnly()
    {
        var config = WithPool(Small, true);
        var (model, layout, visual, audio) = OneItem(config, 6);
        var times = Enumerable.Range(0, layout.Count).Select(i => layout.Kinds[i] is TokenKind.Video or TokenKind.Audio ? 0.5f : 0f).ToArray();
        var (v, a) = model.Forward(new SequenceBatch([5, 6, 0, 0, 0, 0], visual, audio, times, layout.Segments([2], [0])), layout, layout.Rope());
        Ops.Add(Ops.SumAll(Ops.Square(v)), Ops.SumAll(Ops.Square(a))).Backward();
        Assert.Contains(model.TextPool1!.Weight.Grad!.ToArray(), g => Math.Abs(g) > 1e-7f);
        Assert.Contains(model.TextPool2!.Weight.Grad!.ToArray(), g => Math.Abs(g) > 1e-7f);
        var grad = model.TextTable.Grad!.ToArray();
        int c = config.Width;
        Assert.Contains(grad[(5 * c)..(6 * c)], g => Math.Abs(g) > 1e-7f);
        Assert.All(grad[(7 * c)..], g => Assert.Equal(0f, g));                   // rows the prompt does not use (pad rows are masked)
    }

    [Fact]
    public void ParameterCountFormulaMatchesTheModule()
    {
        var model = new UnifiedTransformer(Small);
        Assert.Equal(model.ParameterCount, Small.ParameterCount);
        var pooled = new UnifiedTransformer(WithPool(Small, true));
        Assert.Equal(pooled.ParameterCount, WithPool(Small, true).ParameterCount);
        Assert.Equal(2L * Small.Width * Small.Width + 2L * Small.Width, pooled.ParameterCount - model.ParameterCount);
        Assert.True(UnifiedConfig.Base.ParameterCount > UnifiedConfig.Small.ParameterCount);
        Assert.Throws<ArgumentException>(() => UnifiedConfig.Preset("huge"));
    }
}
