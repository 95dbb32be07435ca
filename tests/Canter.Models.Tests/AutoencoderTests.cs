using Canter.Models.Autoencoders;
using Canter.Tensors;
using Canter.Tensors.Autograd;
using Canter.Tensors.Tests.Support;

namespace Canter.Models.Tests;

/// <summary>
/// The autoencoders' structural promises: shapes and rates, the first frame encoded on its own (an image and a
/// video's first frame share one latent), causality in time, tiled encode/decode equal to one piece, and file
/// loading that refuses wrong configs.
/// </summary>
public sealed class AutoencoderTests
{
    private static readonly VideoAutoencoderConfig Small = new(PatchSize: 2, TemporalRatio: 4, Channels: 8, InnerChannels: 16, Downsamples: 1, BlocksPerLevel: 1, LatentChannels: 4);

    private static float MaxDiff(Tensor a, Tensor b)
    {
        Assert.Equal(a.Shape, b.Shape);
        var x = a.ToArray();
        var y = b.ToArray();
        float m = 0;
        for (int i = 0; i < x.Length; i++) m = MathF.Max(m, MathF.Abs(x[i] - y[i]));
        return m;
    }

    [Theory]
    [InlineData(5, 3, 2, 4, 6)]
    [InlineData(2, 4, 1, 1, 1)]     // a 1x1 input: every phase tap but the centre reads padding
    public void SpatialUpsampleEqualsUpsamplingFirstForwardAndBackward(int cin, int cout, int frames, int h, int w)
    {
        var layer = new SpatialUpsample(cin, cout, seed: 7);
        layer.Conv.Bias.Backend.Upload(layer.Conv.Bias, Tensor.Randn([cout], seed: 8).ToArray());              // a bias that is not zero
        var x = Tensor.Randn([2, cin, frames, h, w], seed: 9).RequireGrad();
        var weights = Tensor.Randn([2, cout, frames, 2 * h, 2 * w], seed: 10);                      // a loss that weighs every output
        (float[] Y, float[] Dx, float[] Dw, float[] Db) Run(Func<Tensor> forward)
        {
            layer.ZeroGrad();
            x.Grad = null;
            var y = forward();                                                                    // (B, Cout, F, 2H, 2W)
            Ops.SumAll(Ops.Mul(y, weights)).Backward();
            return (y.ToArray(), x.Grad!.ToArray(), layer.Conv.Weight.Grad!.ToArray(), layer.Conv.Bias.Grad!.ToArray());
        }
        var phases = Run(() => layer.Forward(x));
        var upsampledFirst = Run(() => layer.Conv.Forward(Ops.Upsample3dNearest(x, 1, 2, 2)));
        Check.Close(upsampledFirst.Y, phases.Y, 1e-5f, 1e-4f, "upsample forward");
        Check.Close(upsampledFirst.Dx, phases.Dx, 1e-5f, 1e-4f, "upsample dx");
        Check.Close(upsampledFirst.Dw, phases.Dw, 1e-4f, 1e-4f, "upsample dw");
        Check.Close(upsampledFirst.Db, phases.Db, 1e-4f, 1e-4f, "upsample db");
    }

    [Fact]
    public void VideoShapesFollowTheRatios()
    {
        using var _ = Tape.NoGrad();
        var model = new VideoAutoencoder(Small, seed: 3);
        var video = Tensor.Rand([2, 3, 9, 16, 24], seed: 1, low: -1, high: 1);    // (B, 3, 1 + 4*2, H, W)
        var posterior = model.Encode(video);
        Assert.Equal([2, 4, 3, 4, 6], posterior.Mean.Shape);
        Assert.Equal([2, 3, 9, 16, 24], model.Decode(posterior.Mean).Shape);
        Assert.Throws<ArgumentException>(() => model.Encode(Tensor.Zeros([1, 3, 8, 16, 16])));   // 8 frames is not 1 + 4k
        Assert.Throws<ArgumentException>(() => model.Encode(Tensor.Zeros([1, 3, 5, 10, 16])));   // 10 is not a multiple of 4
    }

    [Theory]
    [InlineData(1, 2)]     // fine stages to half size, then 2x2 pixels unfolded
    [InlineData(2, 1)]     // fine stages to full size
    public void FineDecoderGivesFramesOfTheClipsSize(int fineUpsamples, int outputPatch)
    {
        using var _ = Tape.NoGrad();
        var config = Small with { PatchSize = 4, FineUpsamples = fineUpsamples, FineChannels = 8 };
        Assert.Equal(outputPatch, config.OutputPatch);
        var model = new VideoAutoencoder(config, seed: 3);
        var video = Tensor.Rand([2, 3, 9, 16, 24], seed: 1, low: -1, high: 1);    // (B, 3, 1 + 4*2, H, W)
        var latents = model.Encode(video).Mean;                                    // (B, Z, 3, 2, 3)
        Assert.Equal([2, 4, 3, 2, 3], latents.Shape);
        Assert.Equal([2, 3, 9, 16, 24], model.Decode(latents).Shape);
        Assert.Throws<ArgumentException>(() => (Small with { PatchSize = 4, FineUpsamples = 3 }).Validate());   // past the patch size
        Assert.Throws<ArgumentException>(() => (Small with { PatchSize = 4, FineUpsamples = 1, FineChannels = 4 }).Validate());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void FirstFrameIsEncodedAloneAndTimeIsCausal(int fineUpsamples)
    {
        using var _ = Tape.NoGrad();
        var model = new VideoAutoencoder(fineUpsamples == 0 ? Small : Small with { PatchSize = 4, FineUpsamples = fineUpsamples, FineChannels = 8 }, seed: 4);
        var video = Tensor.Rand([1, 3, 9, 16, 16], seed: 2, low: -1, high: 1);
        var image = Ops.Contiguous(Ops.Slice(video, 2, 0, 1));                         // (1, 3, 1, 16, 16)
        var fromVideo = model.Encode(video).Mean;                                      // (1, Z, 3, 16 / s, 16 / s)
        var fromImage = model.Encode(image).Mean;                                      // (1, Z, 1, 16 / s, 16 / s)
        Assert.True(MaxDiff(Ops.Contiguous(Ops.Slice(fromVideo, 2, 0, 1)), fromImage) < 1e-5f);

        // changing the last four frames changes only the last latent frame, and decoding is causal the same way
        var changed = Ops.Concat([Ops.Slice(video, 2, 0, 5), Tensor.Rand([1, 3, 4, 16, 16], seed: 9, low: -1, high: 1)], 2);
        var fromChanged = model.Encode(changed).Mean;
        Assert.True(MaxDiff(Ops.Contiguous(Ops.Slice(fromVideo, 2, 0, 2)), Ops.Contiguous(Ops.Slice(fromChanged, 2, 0, 2))) < 1e-5f);
        Assert.True(MaxDiff(Ops.Contiguous(Ops.Slice(fromVideo, 2, 2, 1)), Ops.Contiguous(Ops.Slice(fromChanged, 2, 2, 1))) > 1e-3f);
        var decoded = model.Decode(fromVideo);
        var decodedChanged = model.Decode(fromChanged);
        Assert.True(MaxDiff(Ops.Contiguous(Ops.Slice(decoded, 2, 0, 5)), Ops.Contiguous(Ops.Slice(decodedChanged, 2, 0, 5))) < 1e-5f);
        Assert.True(MaxDiff(Ops.Contiguous(Ops.Slice(decoded, 2, 5, 4)), Ops.Contiguous(Ops.Slice(decodedChanged, 2, 5, 4))) > 1e-3f);
        // the first frame decodes from its latent frame alone, as an image does
        Assert.True(MaxDiff(Ops.Contiguous(Ops.Slice(decoded, 2, 0, 1)), model.Decode(fromImage)) < 1e-5f);
    }

    [Theory]
    [InlineData(1, 1, 45, 2, 2)]    // the default layout: tiles in space, pieces in time that start after group 0 with context
    [InlineData(0, 0, 41, 2, 3)]    // shallow model: the time pieces start after group 0 with context
    [InlineData(0, 2, 45, 2, 2)]    // the shipped 4x layout: one level, two residual blocks (temporal reach 4 latent frames)
    [InlineData(1, 1, 45, 2, 2, 2)] // a fine decoder to full size: its convolutions at 1/2 and full size widen the margin
    [InlineData(1, 1, 41, 3, 1, 1)] // a fine decoder to half size with 2x2 pixels unfolded, tiles of one latent pixel
    [InlineData(0, 1, 41, 2, 1, 3, 8)] // three fine stages reach 2.5 latent pixels: a margin without them is too narrow
    public void TiledEqualsOnePiece(int downsamples, int blocks, int frames, int maxGroups, int maxSide, int fineUpsamples = 0, int patch = 4)
    {
        using var _ = Tape.NoGrad();
        var config = Small with { Downsamples = downsamples, BlocksPerLevel = blocks };
        if (fineUpsamples > 0) config = config with { PatchSize = patch, FineUpsamples = fineUpsamples, FineChannels = 8 };
        var model = new VideoAutoencoder(config, seed: 5);
        int s = config.SpatialRatio;
        var video = Tensor.Rand([1, 3, frames, 7 * s, 9 * s], seed: 6, low: -1, high: 1);
        var plan = new TilePlan(maxGroups, maxSide);

        var whole = model.Encode(video).Mean;
        var tiled = model.EncodeTiled(video, plan);
        Assert.True(MaxDiff(whole, tiled) < 1e-4f, $"encode differs by {MaxDiff(whole, tiled)}");

        var decodedWhole = model.Decode(whole);
        var decodedTiled = model.DecodeTiled(whole, plan);
        Assert.True(MaxDiff(decodedWhole, decodedTiled) < 1e-4f, $"decode differs by {MaxDiff(decodedWhole, decodedTiled)}");
    }

    [Fact]
    public void PlansForSmallFramesTakeMoreLatentFramesWithinTheDefaultPiecesMemory()
    {
        var model = new VideoAutoencoder(VideoAutoencoderConfig.Default, seed: 1);
        int context = model.TemporalReach + 1, margin = model.SpatialReachLatent;
        var bound = TilePlan.Default;
        long largest = (bound.MaxGroups + context) * (long)Math.Pow(bound.MaxLatentSide + 2 * margin, 2);
        // a 4 s clip at 128x128 (25 latent frames of 16x16) is one piece; the default plan would cut it in four
        var small = model.PlanFor(25, 16, 16);
        Assert.True(small.MaxGroups >= 25, $"{small.MaxGroups} latent frames per piece");
        Assert.Equal(bound.MaxLatentSide, small.MaxLatentSide);
        // longer: pieces as long as the bound allows, never more memory than the default plan's largest piece
        foreach (var (g, h, w) in new[] { (90, 16, 16), (90, 32, 24), (25, 64, 64), (40, 20, 40) })
        {
            var plan = model.PlanFor(g, h, w);
            long piece = (Math.Min(plan.MaxGroups, g) + context) * (long)Math.Min(h, plan.MaxLatentSide + 2 * margin) * Math.Min(w, plan.MaxLatentSide + 2 * margin);
            Assert.True(piece <= largest || plan.MaxGroups == bound.MaxGroups, $"{g} x {h}x{w}: a piece of {piece} against {largest}");
            Assert.True(plan.MaxGroups >= bound.MaxGroups);
        }
        Assert.True(model.PlanFor(90, 16, 16).MaxGroups < 90);   // 16 s at 128x128 is cut
        Assert.Equal(bound, model.PlanFor(25, 64, 64));            // frames larger than a tile: the default plan
        Assert.Throws<ArgumentException>(() => model.PlanFor(0, 16, 16));
    }

    [Fact]
    public void AudioShapesFollowTheHop()
    {
        using var _ = Tape.NoGrad();
        var config = new AudioAutoencoderConfig(SampleRate: 16000, Patch: 4, Strides: [2, 2], Channels: [8, 8, 16], LatentChannels: 3);
        Assert.Equal(16, config.Hop);
        var model = new AudioAutoencoder(config, seed: 1);
        var wave = Tensor.Rand([2, 1, 160], seed: 2, low: -0.5f, high: 0.5f);
        var posterior = model.Encode(wave);
        Assert.Equal([2, 3, 10], posterior.Mean.Shape);
        Assert.Equal([2, 1, 160], model.Decode(posterior.Mean).Shape);
        Assert.Throws<ArgumentException>(() => model.Encode(Tensor.Zeros([1, 1, 100])));
        Assert.Equal(48.0, AudioAutoencoderConfig.Default.LatentRate);
        Assert.Equal(0, (int)(AudioAutoencoderConfig.Default.LatentRate * 1000) % (24 * 1000 / VideoAutoencoderConfig.Default.TemporalRatio));
    }

    [Fact]
    public void FilesRoundTripAndRefuseWrongConfigs()
    {
        var dir = Directory.CreateTempSubdirectory("canter-vae-").FullName;
        try
        {
            var model = new VideoAutoencoder(Small, seed: 7);
            var path = Path.Combine(dir, "video_vae.safetensors");
            AutoencoderFiles.Save(model, path);
            var loaded = AutoencoderFiles.LoadVideo(path);
            Assert.Equal(Small, loaded.Config);
            foreach (var ((name, a), (_, b)) in model.Parameters().Zip(loaded.Parameters()))
                Assert.True(MaxDiff(a, b) == 0, name);

            Assert.Throws<InvalidDataException>(() => AutoencoderFiles.LoadAudio(path));     // a video config is not an audio one
            File.WriteAllText(AutoencoderFiles.ConfigPath(path), File.ReadAllText(AutoencoderFiles.ConfigPath(path)).Replace("\"LatentChannels\": 4", "\"LatentChannels\": 5"));
            var e = Assert.Throws<ArgumentException>(() => AutoencoderFiles.LoadVideo(path)); // shapes no longer match the weights
            Assert.Contains("expects", e.Message);
            File.WriteAllText(AutoencoderFiles.ConfigPath(path), "{ not json");
            Assert.Throws<InvalidDataException>(() => AutoencoderFiles.LoadVideo(path));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }
}
