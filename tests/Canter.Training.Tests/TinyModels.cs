using Canter.Models.Autoencoders;
using Canter.Models.Unified;
using Canter.Tensors;
using Canter.Training.Unified;

namespace Canter.Training.Tests;

/// <summary>Model sizes small enough that a test trains or generates in about a second.</summary>
internal static class TinyModels
{
    public static readonly VideoAutoencoderConfig Video = new(PatchSize: 2, Channels: 8, InnerChannels: 8, LatentChannels: 2);

    // 16 kHz with a hop of 32 samples: 500 audio latents a second
    public static readonly AudioAutoencoderConfig Audio = new(SampleRate: 16000, Patch: 8, Strides: [4], Channels: [8, 8], LatentChannels: 3);

    public static UnifiedConfig Transformer(int textTokens, int textRows, int maxReferences) => new(Width: 32, Blocks: 1, Heads: 1, TextTokens: textTokens,
        TextRows: textRows, VideoLatentChannels: 2, AudioLatentChannels: 3, Patch: 2, AudioLatentRate: 500, MaxReferences: maxReferences);

    /// <summary>
    /// A whole generation model of <paramref name="config"/> with untrained weights (the output heads given random
    /// weights so the prediction depends on the input) and a vocabulary of <paramref name="captions"/>, for 16x16, 0.5 s.
    /// </summary>
    /// <summary>A folder with tiny video and audio autoencoders (random weights, fixed seeds) for training runs: its path.</summary>
    public static string AutoencoderFolder(TempFolder tmp)
    {
        var dir = tmp.Sub("vae");
        AutoencoderFiles.Save(new VideoAutoencoder(Video, seed: 3), System.IO.Path.Combine(dir, "video_vae.safetensors"));
        AutoencoderFiles.Save(new AudioAutoencoder(Audio, seed: 4), System.IO.Path.Combine(dir, "audio_vae.safetensors"));
        return dir;
    }

    public static ModelBundle Bundle(UnifiedConfig config, params string[] captions)
    {
        var transformer = new UnifiedTransformer(config, seed: 2);
        foreach (var (_, p) in transformer.Parameters().Where(p => p.Name.EndsWith("_out.weight", StringComparison.Ordinal)))
            p.Backend.Copy(p, Tensor.Randn(p.Shape, seed: 5, std: 0.2f));
        var text = TextTokens.Build(captions, config.TextRows);
        var stats = new LatentStats([0f, 0f], [1f, 1f], [0f, 0f, 0f], [1f, 1f, 1f]);
        var codec = new LatentCodec(new VideoAutoencoder(Video, seed: 3), new AudioAutoencoder(Audio, seed: 4));
        return new ModelBundle(transformer, codec, new TransformerManifest(config, [.. text.Ids], stats, 16, 16, 0.5f, 0, 1));
    }

    /// <summary>models/canter-tiny above the test's folder: the shipped model.</summary>
    public static string ShippedModel()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "models", "canter-tiny", "transformer.json"))) return Path.Combine(dir.FullName, "models", "canter-tiny");
        throw new DirectoryNotFoundException("models/canter-tiny not found above " + AppContext.BaseDirectory);
    }
}
