using System.Text.Json;
using Canter.Tensors;
using Canter.Tensors.IO;
using Canter.Tensors.Nn;

namespace Canter.Models.Autoencoders;

/// <summary>
/// Shipped autoencoder weights: <c>NAME.safetensors</c> next to <c>NAME.json</c> (the config). Loading checks the
/// config, then every tensor name and shape, and says which file is wrong.
/// </summary>
public static class AutoencoderFiles
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public static void Save(VideoAutoencoder model, string weightsPath, IReadOnlyDictionary<string, string>? metadata = null) =>
        Save(weightsPath, model.Config, "video", w => model.Save(w, metadata));

    public static void Save(AudioAutoencoder model, string weightsPath, IReadOnlyDictionary<string, string>? metadata = null) =>
        Save(weightsPath, model.Config, "audio", w => model.Save(w, metadata));

    private static void Save<TConfig>(string weightsPath, TConfig config, string kind, Action<string> saveWeights)
    {
        if (!weightsPath.EndsWith(".safetensors", StringComparison.Ordinal)) throw new ArgumentException($"weights path '{weightsPath}' must end in .safetensors");
        var dir = Path.GetDirectoryName(Path.GetFullPath(weightsPath))!;
        Directory.CreateDirectory(dir);
        saveWeights(weightsPath);
        var doc = JsonSerializer.Serialize(new { kind = $"{kind}-autoencoder", config }, Json) + "\n";
        var configPath = ConfigPath(weightsPath);
        File.WriteAllText(configPath + ".tmp", doc);
        File.Move(configPath + ".tmp", configPath, overwrite: true);
    }

    public static string ConfigPath(string weightsPath) => Path.ChangeExtension(weightsPath, ".json");

    public static VideoAutoencoder LoadVideo(string weightsPath, Device? device = null) =>
        Load(weightsPath, device, ReadConfig<VideoAutoencoderConfig>(weightsPath, "video"), c => new VideoAutoencoder(c.Validate()));

    public static AudioAutoencoder LoadAudio(string weightsPath, Device? device = null) =>
        Load(weightsPath, device, ReadConfig<AudioAutoencoderConfig>(weightsPath, "audio"), c => new AudioAutoencoder(c.Validate()));

    /// <summary>Builds the model of a config (a config it refuses is the JSON file's fault), then loads and places its weights.</summary>
    private static TModel Load<TConfig, TModel>(string weightsPath, Device? device, TConfig config, Func<TConfig, TModel> build) where TModel : Module
    {
        TModel model;
        try { model = build(config); }
        catch (ArgumentException e) { throw new InvalidDataException($"{ConfigPath(weightsPath)}: {e.Message}"); }
        model.Load(weightsPath);
        if (device is not null && device != Device.Cpu) model.To(device);
        return model;
    }

    private static T ReadConfig<T>(string weightsPath, string kind)
    {
        if (!File.Exists(weightsPath)) throw new FileNotFoundException($"autoencoder weights '{weightsPath}' do not exist", weightsPath);
        var configPath = ConfigPath(weightsPath);
        if (!File.Exists(configPath)) throw new FileNotFoundException($"autoencoder config '{configPath}' does not exist (it sits next to the weights)", configPath);
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(configPath));
            var root = doc.RootElement;
            if (!root.TryGetProperty("kind", out var k) || k.GetString() != $"{kind}-autoencoder")
                throw new InvalidDataException($"{configPath}: not a {kind} autoencoder config (kind is {(root.TryGetProperty("kind", out var kk) ? kk.ToString() : "missing")})");
            if (!root.TryGetProperty("config", out var c)) throw new InvalidDataException($"{configPath}: no \"config\"");
            return c.Deserialize<T>() ?? throw new InvalidDataException($"{configPath}: empty config");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{configPath}: {e.Message}");
        }
    }
}
