using Canter.Media;
using Canter.Models.Autoencoders;
using Canter.Models.Unified;
using Canter.Tensors;
using Canter.Training.Unified;

namespace Canter.Training.Tests;

/// <summary>
/// Generation's promises with tiny random models (fast; quality is not the point here): the same request gives the
/// same frames and sound, the seed matters, conditions stay fixed (the first frame of image-to-video is the image as
/// the autoencoder sees it, a driving track is kept as given), and bad requests fail before any compute.
/// </summary>
public sealed class GeneratorTests
{
    private static readonly UnifiedConfig Tiny = TinyModels.Transformer(textTokens: 8, textRows: 64, maxReferences: 1);

    private static ModelBundle Bundle() => TinyModels.Bundle(Tiny, "A red ball bounces", "A blue star spins");

    private static GenerationRequest Request(ulong seed = 1) => new("A red ball bounces", 16, 16, 0.5f, seed, Steps: 2, Sampler: "heun");

    [Fact]
    public void SameRequestSameResultAndTheSeedMatters()
    {
        var model = Bundle();
        var a = Generator.Generate(model, Request());
        var b = Generator.Generate(model, Request());
        Assert.Equal(13, a.Video.Frames.Count);                                   // 0.5 s at 24 fps: 1 + 4 * 3 frames
        Assert.Equal(8000, a.Audio!.Samples.Length);
        for (int f = 0; f < a.Video.Frames.Count; f++) Assert.Equal(a.Video.Frames[f], b.Video.Frames[f]);
        Assert.Equal(a.Audio.Samples, b.Audio!.Samples);
        var c = Generator.Generate(model, Request(seed: 2));
        Assert.NotEqual(a.Video.Frames[^1], c.Video.Frames[^1]);
        var euler = Generator.Generate(model, Request() with { Sampler = "euler" });
        Assert.NotEqual(a.Video.Frames[^1], euler.Video.Frames[^1]);
    }

    [Fact]
    public void ConditionsStayAsGiven()
    {
        var model = Bundle();
        var image = new RgbImage(16, 16, Enumerable.Range(0, 16 * 16 * 3).Select(i => (byte)(i * 7 % 251)).ToArray());
        var result = Generator.Generate(model, Request() with { FirstFrame = image });
        // the decoder is causal: frame 0 comes from latent frame 0 alone, which is the image's latent, never changed
        var alone = model.Codec.DecodeFrames(model.Codec.EncodeFrames([image.Pixels], 16, 16), 1, 4, 4, 1, 16, 16);
        Assert.Equal(alone[0], result.Video.Frames[0]);

        var track = Enumerable.Range(0, 8000).Select(i => 0.3f * MathF.Sin(i * 0.05f)).ToArray();
        var driven = Generator.Generate(model, Request() with { DrivingAudio = track });
        Assert.Equal(track, driven.Audio!.Samples);
    }

    [Fact]
    public void ACancelStopsTheSamplerWithinOneStep()
    {
        var model = Bundle();
        using var cancel = new CancellationTokenSource();
        var steps = new List<int>();
        // cancelled as step 2 of 6 reports: the sampler must not begin step 3 (nor decode anything)
        Assert.ThrowsAny<OperationCanceledException>(() => Generator.Generate(model, Request() with { Steps = 6 }, (i, n) =>
        {
            steps.Add(i);
            if (i == 2) cancel.Cancel();
        }, cancel.Token));
        Assert.Equal([1, 2], steps);
        Assert.ThrowsAny<OperationCanceledException>(() => Generator.Generate(model, Request(), null, cancel.Token));
    }

    [Fact]
    public void BadRequestsFailBeforeCompute()
    {
        var model = Bundle();
        Assert.Throws<ArgumentException>(() => Generator.Validate(model, Request() with { Prompt = " " }));
        Assert.Throws<ArgumentException>(() => Generator.Validate(model, Request() with { Prompt = string.Join(" ", Enumerable.Repeat("ball", 20)) }));
        Assert.Throws<ArgumentException>(() => Generator.Validate(model, Request() with { Width = 20 }));
        Assert.Throws<ArgumentException>(() => Generator.Validate(model, Request() with { Seconds = 16 }));
        Assert.Throws<ArgumentException>(() => Generator.Validate(model, Request() with { Steps = 0 }));
        Assert.Throws<ArgumentException>(() => Generator.Validate(model, Request() with { Sampler = "dpm" }));
        var image = new RgbImage(16, 16, new byte[16 * 16 * 3]);
        Assert.Throws<ArgumentException>(() => Generator.Validate(model, Request() with { References = [image, image] }));
        Assert.Throws<ArgumentException>(() => Generator.Validate(model, Request() with { FirstFrame = new RgbImage(8, 8, new byte[8 * 8 * 3]) }));
        Assert.Throws<ArgumentException>(() => Generator.Validate(model, Request() with { DrivingAudio = new float[10], Audio = false }));
    }
}
