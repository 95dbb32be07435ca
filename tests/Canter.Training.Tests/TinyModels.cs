using Canter.Models.Autoencoders;
using Canter.Models.Unified;

namespace Canter.Training.Tests;

/// <summary>Model sizes small enough that a test trains or generates in about a second.</summary>
internal static class TinyModels
{
    public static readonly VideoAutoencoderConfig Video = new(PatchSize: 2, Channels: 8, InnerChannels: 8, LatentChannels: 2);

    // 16 kHz with a hop of 32 samples: 500 audio latents a second
    public static readonly AudioAutoencoderConfig Audio = new(SampleRate: 16000, Patch: 8, Strides: [4], Channels: [8, 8], LatentChannels: 3);

    public static UnifiedConfig Transformer(int textTokens, int textRows, int maxReferences) => new(Width: 32, Blocks: 1, Heads: 1, TextTokens: textTokens,
        TextRows: textRows, VideoLatentChannels: 2, AudioLatentChannels: 3, Patch: 2, AudioLatentRate: 500, MaxReferences: maxReferences);
}
