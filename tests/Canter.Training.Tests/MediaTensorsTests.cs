using Canter.Models.Autoencoders;
using Canter.Training.Autoencoders;

namespace Canter.Training.Tests;

/// <summary>
/// Clips of any size and length go into the autoencoders padded and come back cut to what they were: with no model
/// in between, the round trip must return the very bytes and samples it was given.
/// </summary>
public sealed class MediaTensorsTests
{
    // spatial ratio 2 << 1 = 4, temporal ratio 4
    private static readonly VideoAutoencoderConfig Config = new(PatchSize: 2, Channels: 8, InnerChannels: 8, LatentChannels: 2);

    private static byte[][] RandomFrames(int count, int width, int height, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            var rgb = new byte[width * height * 3];
            random.NextBytes(rgb);
            return rgb;
        }).ToArray();
    }

    [Fact]
    public void OddSizedFramesRoundTripToTheSameBytes()
    {
        const int width = 30, height = 18, count = 6;
        var frames = RandomFrames(count, width, height, seed: 7);
        frames[0][0] = 0;
        frames[0][1] = 255;                                         // both ends of the range survive

        var video = MediaTensors.FromFrames(frames, width, height, Config);   // (1, 3, 9, 20, 32)
        Assert.Equal([1, 3, 9, 20, 32], video.Shape);
        Assert.Equal(9, MediaTensors.PaddedFrames(count, Config.TemporalRatio));

        var back = MediaTensors.ToFrames(video, count, width, height);
        Assert.Equal(count, back.Length);
        for (int f = 0; f < count; f++) Assert.Equal(frames[f], back[f]);

        // the padding repeats the last frame and the edge pixels, so nothing new appears at the borders
        var all = MediaTensors.ToFrames(video, 9, 32, 20);
        Assert.Equal(all[5], all[8]);
        for (int c = 0; c < 3; c++)
        {
            Assert.Equal(frames[2][((height - 1) * width + width - 1) * 3 + c], all[2][(19 * 32 + 31) * 3 + c]);
            Assert.Equal(frames[2][(3 * width + width - 1) * 3 + c], all[2][(3 * 32 + 30) * 3 + c]);
        }
    }

    /// <summary>The error itself, not wrapped by a parallel loop (the CLI shows ArgumentException as one clean line).</summary>
    private static ArgumentException ArgumentError(Action action) => Assert.IsType<ArgumentException>(Record.Exception(action));

    [Fact]
    public void WrongFrameSizesAreRefused()
    {
        var frames = RandomFrames(2, 30, 18, seed: 8);
        Assert.Contains("30x20 RGB needs 1800", ArgumentError(() => MediaTensors.FromFrames(frames, 30, 20, Config)).Message);
        Assert.Throws<ArgumentException>(() => MediaTensors.FromFrames([], 30, 18, Config));
        var video = MediaTensors.FromFrames(frames, 30, 18, Config);          // (1, 3, 5, 20, 32)
        Assert.Throws<ArgumentException>(() => MediaTensors.ToFrames(video, 6, 30, 18));
        Assert.Throws<ArgumentException>(() => MediaTensors.ToFrames(video, 2, 33, 18));
    }

    [Fact]
    public void SamplesRoundTripThroughWholeHops()
    {
        var config = new AudioAutoencoderConfig(SampleRate: 16000, Patch: 8, Strides: [4], Channels: [8, 8], LatentChannels: 2);   // hop 32
        var random = new Random(9);
        var samples = Enumerable.Range(0, 1000).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();

        var wave = MediaTensors.FromSamples(samples, config);                // (1, 1, 1024)
        Assert.Equal([1, 1, 1024], wave.Shape);
        Assert.Equal(samples, MediaTensors.ToSamples(wave, samples.Length));
        Assert.All(wave.ToArray().Skip(samples.Length), v => Assert.Equal(0f, v));
    }
}
