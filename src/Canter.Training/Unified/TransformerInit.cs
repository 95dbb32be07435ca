using Canter.Models.Unified;
using Canter.Tensors.IO;

namespace Canter.Training.Unified;

/// <summary>
/// The model a training run starts from (<c>canter train model --init DIR</c>): its transformer weights and vocabulary,
/// and its latent statistics when the run uses the same autoencoders.
/// The new run's config must have the same transformer (width, blocks, heads, MLP, text and reference slots, audio
/// latents); only the visual token may differ (another video autoencoder: latent channels or patch), and then the two
/// visual projections, whose shapes change, start fresh while every other tensor is copied. A model without pooled text
/// may start a run with it: the pooled-text MLP starts fresh (as a no-op) and the log names it.
/// </summary>
public sealed class TransformerInit
{
    private TransformerInit(string folder, TransformerManifest manifest)
    {
        Folder = folder;
        Manifest = manifest;
    }

    public string Folder { get; }

    public TransformerManifest Manifest { get; }

    public static TransformerInit Read(string folder, UnifiedConfig config)
    {
        var full = Path.GetFullPath(folder);
        TransformerManifest manifest;
        try
        {
            manifest = ModelBundle.ReadManifest(full);
        }
        catch (Exception e) when (e is InvalidDataException or FileNotFoundException)
        {
            throw new ArgumentException($"--init {folder}: {e.Message}", e);
        }
        var from = manifest.Config;
        if (from.TextPool && !config.TextPool)
            throw new ArgumentException($"--init {folder}: its transformer reads pooled text and this run's config does not");
        var comparable = config with { VideoLatentChannels = from.VideoLatentChannels, Patch = from.Patch, Edit = from.Edit, TextPool = from.TextPool };
        if (comparable != from)
            throw new ArgumentException($"--init {folder}: its transformer ({Describe(from)}) is not the one this run trains ({Describe(config)}); "
                + "only the video latent channels and the patch may differ");
        return new TransformerInit(full, manifest);
    }

    /// <summary>
    /// Whether the autoencoders in <paramref name="autoencoders"/> are byte for byte the ones next to this model's
    /// transformer: then its latent statistics hold for the new run's latents.
    /// </summary>
    public bool SameAutoencoders(string autoencoders) =>
        new[] { "video_vae.safetensors", "audio_vae.safetensors" }.All(name => SameBytes(Path.Combine(Folder, name), Path.Combine(autoencoders, name)));

    private static bool SameBytes(string a, string b)
    {
        if (!File.Exists(a) || !File.Exists(b)) return false;
        if (new FileInfo(a).Length != new FileInfo(b).Length) return false;
        return File.ReadAllBytes(a).AsSpan().SequenceEqual(File.ReadAllBytes(b));
    }

    private static string Describe(UnifiedConfig c) =>
        $"width {c.Width}, {c.Blocks} blocks, {c.Heads} heads, MLP x{c.MlpRatio}, {c.TextTokens} text tokens over {c.TextRows} rows, "
        + $"{c.AudioLatentChannels} audio channels, {c.MaxReferences} references, {c.FrameRate} fps, {c.AudioLatentRate} audio latents/s";

    /// <summary>Names of the pooled-text MLP's tensors, which a model without pooled text lacks.</summary>
    private const string PooledTextPrefix = "text_pool.";

    /// <summary>Copies every tensor of the same name and shape into <paramref name="model"/>; returns the log line that says what started fresh.</summary>
    public string LoadInto(UnifiedTransformer model)
    {
        var path = Path.Combine(Folder, "transformer.safetensors");
        var loaded = SafeTensors.LoadAll(path);
        try
        {
            var own = model.StateDict();
            var unknown = loaded.Keys.Where(k => !own.ContainsKey(k)).Order(StringComparer.Ordinal).ToList();
            var added = own.Keys.Where(k => !loaded.ContainsKey(k) && k.StartsWith(PooledTextPrefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
            var missing = own.Keys.Where(k => !loaded.ContainsKey(k) && !added.Contains(k)).Order(StringComparer.Ordinal).ToList();
            if (unknown.Count > 0 || missing.Count > 0)
                throw new InvalidDataException($"{path}: tensor names differ from the model's (unexpected: {string.Join(", ", unknown.DefaultIfEmpty("none"))}; "
                    + $"missing: {string.Join(", ", missing.DefaultIfEmpty("none"))})");
            var same = loaded.Where(p => Canter.Tensors.ShapeUtil.SameShape(p.Value.Shape, own[p.Key].Shape)).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
            var fresh = own.Where(p => !same.ContainsKey(p.Key) && !added.Contains(p.Key)).Select(p => $"{p.Key} {loaded[p.Key].ShapeString} -> {p.Value.ShapeString}").ToList();
            model.LoadStateDict(same, strict: false);
            return $"initialised from {Folder}: {same.Count} of {own.Count} tensors copied"
                + (fresh.Count == 0 ? "" : $"; fresh (shape changed): {string.Join(", ", fresh)}")
                + (added.Count == 0 ? "" : $"; fresh (pooled text, new in this run, starts as a no-op): {string.Join(", ", added)}");
        }
        finally
        {
            foreach (var t in loaded.Values) t.Dispose();
        }
    }
}
