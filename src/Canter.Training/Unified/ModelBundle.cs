using System.Text.Json;
using Canter.Models.Unified;

namespace Canter.Training.Unified;

/// <summary>What a model folder's transformer.json holds next to transformer.safetensors.</summary>
public sealed record TransformerManifest(UnifiedConfig Config, int[] TextIds, LatentStats Stats, int Width, int Height, float Seconds, long Steps, ulong Seed);

/// <summary>
/// A whole generation model: the transformer, its text vocabulary, latent statistics and the two autoencoders, loaded
/// from one folder (models/canter-tiny by default). Every file is checked: configs, tensor names and shapes.
/// </summary>
public sealed class ModelBundle
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false };

    public ModelBundle(UnifiedTransformer transformer, LatentCodec codec, TransformerManifest manifest)
    {
        Transformer = transformer;
        Codec = codec;
        Manifest = manifest;
        Text = new TextTokens(manifest.TextIds);
    }

    public UnifiedTransformer Transformer { get; }
    public LatentCodec Codec { get; }
    public TransformerManifest Manifest { get; }

    /// <summary>The text rows of <see cref="Manifest"/>.</summary>
    public TextTokens Text { get; }

    public LatentStats Stats => Manifest.Stats;

    public static void Save(string dir, UnifiedTransformer transformer, TransformerManifest manifest)
    {
        Directory.CreateDirectory(dir);
        var weights = Path.Combine(dir, "transformer.safetensors");
        transformer.Save(weights, new Dictionary<string, string> { ["steps"] = manifest.Steps.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        var json = Path.Combine(dir, "transformer.json");
        File.WriteAllText(json + ".tmp", JsonSerializer.Serialize(manifest, Json));
        File.Move(json + ".tmp", json, overwrite: true);
    }

    public static TransformerManifest ReadManifest(string dir)
    {
        var json = Path.Combine(dir, "transformer.json");
        if (!File.Exists(json)) throw new FileNotFoundException($"'{dir}' has no transformer.json: not a Canter model folder (train one with 'canter train model')", json);
        try
        {
            var m = JsonSerializer.Deserialize<TransformerManifest>(File.ReadAllText(json), Json) ?? throw new InvalidDataException($"{json}: empty");
            m.Config.Validate();
            if (m.Stats.VideoMean.Length != m.Config.VideoLatentChannels || m.Stats.AudioMean.Length != m.Config.AudioLatentChannels)
                throw new InvalidDataException($"{json}: latent statistics do not match the config's channels");
            return m;
        }
        catch (Exception e) when (e is JsonException or ArgumentException or NullReferenceException)
        {
            throw new InvalidDataException($"{json}: {e.Message}");
        }
    }

    public static ModelBundle Load(string dir, Canter.Tensors.Device? device = null)
    {
        var manifest = ReadManifest(dir);
        TextTokens.StartLoading(); // a folder that reads as a model: its prompts will need the tokenizer
        var codec = LatentCodec.Load(dir, device);
        if (codec.Video.Config.LatentChannels != manifest.Config.VideoLatentChannels || codec.Audio.Config.LatentChannels != manifest.Config.AudioLatentChannels)
            throw new InvalidDataException($"{dir}: the transformer expects {manifest.Config.VideoLatentChannels}/{manifest.Config.AudioLatentChannels} latent channels, the autoencoders make {codec.Video.Config.LatentChannels}/{codec.Audio.Config.LatentChannels}");
        var transformer = new UnifiedTransformer(manifest.Config);
        transformer.Load(Path.Combine(dir, "transformer.safetensors"));
        if (device is not null) transformer.To(device);
        return new ModelBundle(transformer, codec, manifest);
    }
}
