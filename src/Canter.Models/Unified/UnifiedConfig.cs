using System.Text.Json.Serialization;
using Canter.Models.Blocks;

namespace Canter.Models.Unified;

/// <summary>
/// Size of the unified transformer and of the token sequence it reads. Latent rates tie it to its autoencoders:
/// video latent frame i sits at <see cref="VideoLatentTime"/>(i) seconds, audio latent j at <see cref="AudioLatentTime"/>(j),
/// on one rotary time axis. <see cref="Edit"/> says whether the model was trained with edit pairs and so reads a
/// source-video block (absent from a config file means no: models trained before edit mode existed load unchanged).
/// <see cref="TextPool"/> says whether the prompt also reaches every token's modulation as one pooled vector (the mean of
/// its tokens' embedding rows through a small MLP, added to the time MLP's hidden layer), beside the prompt's tokens in
/// the sequence; absent means no, as for models made before it existed.
/// </summary>
public sealed record UnifiedConfig(
    int Width = 192,
    int Blocks = 6,
    int Heads = 3,
    int MlpRatio = 4,
    int TextTokens = 48,
    int TextRows = 1024,
    int VideoLatentChannels = 8,
    int AudioLatentChannels = 16,
    int Patch = 2,
    int TemporalRatio = 4,
    double FrameRate = 24,
    double AudioLatentRate = 48,
    int MaxReferences = 2,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] bool Edit = false,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] bool TextPool = false)
{
    /// <summary>
    /// Why edit mode needs no parameter of its own: source-video tokens are visual tokens (the same input projection as
    /// references and video), on the positions of the target frames, marked by row <see cref="TokenKind.Source"/> of
    /// the kind table, which every model has had from the start. A model trained without edit pairs has that row
    /// untrained, so <see cref="Edit"/> records whether training showed it sources.
    /// </summary>
    public const string NoEditMode = "this model has no edit mode (it was trained without edit pairs; the next training run of 'canter train model' includes them)";

    /// <summary>The default for new training runs (edit pairs included, pooled text); the shipped canter-tiny has the same sizes.</summary>
    public static UnifiedConfig Tiny { get; } = new(Edit: true, TextPool: true);

    public static UnifiedConfig Small { get; } = new(Width: 384, Blocks: 12, Heads: 6, Edit: true, TextPool: true);

    public static UnifiedConfig Base { get; } = new(Width: 768, Blocks: 24, Heads: 12, MlpRatio: 4, TextTokens: 96, TextRows: 8192, MaxReferences: 9, Edit: true, TextPool: true);

    /// <summary>Pixels on a side of one visual token in the presets: the patch follows the autoencoder's spatial ratio.</summary>
    public const int PresetTokenPixels = 16;

    /// <summary>
    /// This config with the patch that makes a visual token <see cref="PresetTokenPixels"/> pixels wide over latents of
    /// <paramref name="spatialRatio"/> (8x: 2x2 latents, 4x: 4x4, 16x: 1), so the token count does not depend on the autoencoder.
    /// </summary>
    public UnifiedConfig ForSpatialRatio(int spatialRatio) =>
        spatialRatio is > 0 and <= PresetTokenPixels && PresetTokenPixels % spatialRatio == 0
            ? this with { Patch = PresetTokenPixels / spatialRatio }
            : throw new ArgumentException($"an autoencoder of spatial ratio {spatialRatio} does not divide {PresetTokenPixels}-pixel tokens");

    public static UnifiedConfig Preset(string name) => name.ToLowerInvariant() switch
    {
        "tiny" => Tiny,
        "small" => Small,
        "base" => Base,
        _ => throw new ArgumentException($"unknown model preset '{name}' (tiny, small, base)"),
    };

    public DitConfig Stack => new(Width, Blocks, Heads, MlpRatio);

    /// <summary>Values in one visual token: a Patch x Patch square of video latents.</summary>
    public int VisualTokenSize => VideoLatentChannels * Patch * Patch;

    public UnifiedConfig Validate()
    {
        Stack.Validate();
        if (TextTokens < 1 || TextRows < 3) throw new ArgumentException("text sizes are too small");
        if (VideoLatentChannels < 1 || AudioLatentChannels < 1 || Patch < 1) throw new ArgumentException("latent sizes must be positive");
        if (MaxReferences < 0 || MaxReferences > 9) throw new ArgumentException($"max references {MaxReferences} must be in [0, 9]");
        if (SpaceTime.Bands(Stack.HeadDim).Any(b => b < 1)) throw new ArgumentException($"head width {Stack.HeadDim} is too small for three rotary axes");
        return this;
    }

    /// <summary>Seconds of video latent frame <paramref name="i"/>: frame 0 alone, then the middle of each group of r frames.</summary>
    public double VideoLatentTime(int i) => i == 0 ? 0 : (TemporalRatio * (i - 1) + 1 + (TemporalRatio - 1) / 2.0) / FrameRate;

    /// <summary>Seconds of the middle of audio latent <paramref name="j"/>.</summary>
    public double AudioLatentTime(int j) => (j + 0.5) / AudioLatentRate;

    /// <summary>Parameters, counted from the layer sizes.</summary>
    public long ParameterCount =>
        (long)TextRows * Width + 5L * Width                                     // text table, modality table
        + 2L * VisualTokenSize * Width + Width + VisualTokenSize                  // visual in and out projections
        + 2L * AudioLatentChannels * Width + Width + AudioLatentChannels          // audio in and out projections
        + 256L * Width + Width + (long)Width * 8 * Width + 8L * Width           // time embedding MLP (6 block + 2 final)
        + (TextPool ? 2L * Width * Width + 2L * Width : 0)                         // pooled-text MLP
        + Blocks * Stack.ParametersPerBlock;

    /// <summary>Forward FLOPs of one sequence of <paramref name="tokens"/> tokens.</summary>
    public double ForwardFlops(int tokens) => Stack.ForwardFlops(1, tokens) + 2.0 * tokens * Width * 8 * Width;
}
