using Canter.Models.Blocks;
using Canter.Tensors;

namespace Canter.Models.Unified;

/// <summary>What a token is; the model adds a learned vector per kind. Append only (the number is a table row).</summary>
public enum TokenKind { Text = 0, Reference = 1, Source = 2, Video = 3, Audio = 4 }

/// <summary>
/// The token sequence of one batch: <c>[ text | reference slots | source video (edit only) | video | audio ]</c>. Every
/// item of a batch shares the layout (so one rotary table serves all); what differs per item (prompt length, references
/// present, whether the source is there, which tokens are clean) goes in per-token flow times and the attention mask.
/// Positions: video latent frame i at its time in seconds, with row and column of its patch; audio latent j at its time,
/// off the picture grid (row = column = -1); text token k at time -2 s, row k; reference slot s at time -10 - s s with
/// its own patch grid (a reference is not a frame). Source-video tokens (edit) sit on exactly the positions of the
/// target frames they correspond to (source latent frame i, patch (r, c) where target latent frame i, patch (r, c) is):
/// the edit changes what is there, not where or when. They are told apart from the target by their kind
/// (<see cref="TokenKind.Source"/>, the model's learned role vector) and are always clean (flow time 0).
/// </summary>
public sealed class SequenceLayout
{
    /// <param name="source">Whether the sequence has a source-video block (edit); only a model with <see cref="UnifiedConfig.Edit"/> reads one.</param>
    /// <param name="textTokens">
    /// Text positions, at most (and by default) the model's <see cref="UnifiedConfig.TextTokens"/>. Padding is masked out and
    /// text token k sits at row k whatever the count, so a sampler that leaves out the padding past its longest prompt gets
    /// the same prediction for fewer tokens.
    /// </param>
    public SequenceLayout(UnifiedConfig config, int videoGroups, int rows, int cols, int audioLatents, int referenceSlots, bool source = false, int? textTokens = null)
    {
        if (videoGroups < 1 || rows < 1 || cols < 1 || audioLatents < 0) throw new ArgumentException("sequence sizes must be positive");
        if (textTokens is < 1 || textTokens > config.TextTokens) throw new ArgumentException($"{textTokens} text positions; the model has 1 to {config.TextTokens}");
        if (referenceSlots < 0 || referenceSlots > config.MaxReferences) throw new ArgumentException($"{referenceSlots} reference slots; the model takes at most {config.MaxReferences}");
        if (source && !config.Edit) throw new ArgumentException(UnifiedConfig.NoEditMode);
        Config = config;
        TextCount = textTokens ?? config.TextTokens;
        ReferenceSlots = referenceSlots;
        Rows = rows;
        Cols = cols;
        VideoGroups = videoGroups;
        AudioCount = audioLatents;
        SourceCount = source ? videoGroups * rows * cols : 0;
        var kinds = new List<TokenKind>();
        var positions = new List<float>();
        for (int k = 0; k < TextCount; k++) { kinds.Add(TokenKind.Text); positions.AddRange([-2f, k, 0f]); }
        for (int s = 0; s < referenceSlots; s++)
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++) { kinds.Add(TokenKind.Reference); positions.AddRange([-10f - s, r, c]); }
        foreach (var kind in source ? new[] { TokenKind.Source, TokenKind.Video } : [TokenKind.Video])
            for (int g = 0; g < videoGroups; g++)
                for (int r = 0; r < rows; r++)
                    for (int c = 0; c < cols; c++) { kinds.Add(kind); positions.AddRange([(float)config.VideoLatentTime(g), r, c]); }
        for (int j = 0; j < audioLatents; j++) { kinds.Add(TokenKind.Audio); positions.AddRange([(float)config.AudioLatentTime(j), -1f, -1f]); }
        Kinds = [.. kinds];
        Positions = [.. positions];
    }

    public UnifiedConfig Config { get; }
    public int TextCount { get; }
    public int ReferenceSlots { get; }
    public int Rows { get; }
    public int Cols { get; }
    public int VideoGroups { get; }
    public int AudioCount { get; }
    public int TokensPerImage => Rows * Cols;
    public int VideoCount => VideoGroups * Rows * Cols;

    /// <summary>Source-video tokens (edit): as many as video tokens, or 0 without a source block.</summary>
    public int SourceCount { get; }

    public bool HasSource => SourceCount > 0;

    /// <summary>Visual tokens: reference slots, the source video (edit), then the video.</summary>
    public int VisualCount => ReferenceSlots * TokensPerImage + SourceCount + VideoCount;

    public int Count => TextCount + VisualCount + AudioCount;

    /// <summary>Index of the first source-video token among the visual tokens.</summary>
    public int SourceOffset => ReferenceSlots * TokensPerImage;

    /// <summary>Index of the first video token among the visual tokens.</summary>
    public int VideoOffset => SourceOffset + SourceCount;

    public TokenKind[] Kinds { get; }

    /// <summary>(token, axis) coordinates: time in seconds, row, column.</summary>
    public float[] Positions { get; }

    public RopeTable Rope() => new(Positions, 3, SpaceTime.Bands(Config.Stack.HeadDim));

    /// <summary>
    /// Attention groups for a batch: 1 marks tokens nobody attends to (prompt padding, empty reference slots, the source
    /// block of an item that has no source). <paramref name="sourcePresent"/> (one per item) defaults to none.
    /// </summary>
    public int[] Segments(IReadOnlyList<int> textLengths, IReadOnlyList<int> referencesPresent, IReadOnlyList<bool>? sourcePresent = null)
    {
        int b = textLengths.Count, n = Count;
        if (referencesPresent.Count != b || (sourcePresent is not null && sourcePresent.Count != b)) throw new ArgumentException("one text length, reference count and source flag per item");
        if (sourcePresent is not null && sourcePresent.Any(p => p) && !HasSource) throw new ArgumentException("an item has a source video but the layout has no source block");
        var segments = new int[b * n];
        for (int i = 0; i < b; i++)
        {
            for (int k = textLengths[i]; k < TextCount; k++) segments[i * n + k] = 1;
            for (int s = referencesPresent[i]; s < ReferenceSlots; s++)
                for (int t = 0; t < TokensPerImage; t++) segments[i * n + TextCount + s * TokensPerImage + t] = 1;
            if (!(sourcePresent?[i] ?? false))
                for (int t = 0; t < SourceCount; t++) segments[i * n + TextCount + SourceOffset + t] = 1;
        }
        return segments;
    }
}

/// <summary>Latents to tokens and back, on host arrays: video latents (Z, G, h, w) to (G (h/p) (w/p), Z p p); audio (Za, A) to (A, Za).</summary>
public static class Patches
{
    public static float[] FromVideo(ReadOnlySpan<float> latent, int z, int groups, int h, int w, int p)
    {
        var map = VideoMap(z, groups, h, w, p);
        if (latent.Length != map.Length) throw new ArgumentException($"{latent.Length} latent values; ({z}, {groups}, {h}, {w}) needs {map.Length}");
        var tokens = new float[map.Length];
        for (int i = 0; i < map.Length; i++) tokens[map[i]] = latent[i];
        return tokens;
    }

    public static float[] ToVideo(ReadOnlySpan<float> tokens, int z, int groups, int h, int w, int p)
    {
        var map = VideoMap(z, groups, h, w, p);
        if (tokens.Length != map.Length) throw new ArgumentException($"{tokens.Length} token values; ({z}, {groups}, {h}, {w}) needs {map.Length}");
        var latent = new float[map.Length];
        for (int i = 0; i < map.Length; i++) latent[i] = tokens[map[i]];
        return latent;
    }

    /// <summary>For each latent value (channel-major (Z, G, h, w) order), its place among the tokens: token (g, y/p, x/p), entry (c, y%p, x%p).</summary>
    private static int[] VideoMap(int z, int groups, int h, int w, int p)
    {
        if (h % p != 0 || w % p != 0) throw new ArgumentException($"latent {h}x{w} is not a multiple of patch {p}");
        int rows = h / p, cols = w / p, dim = z * p * p;
        var map = new int[z * groups * h * w];
        for (int c = 0; c < z; c++)
            for (int g = 0; g < groups; g++)
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++)
                    {
                        int token = (g * rows + y / p) * cols + x / p;
                        map[((c * groups + g) * h + y) * w + x] = token * dim + (c * p + y % p) * p + x % p;
                    }
        return map;
    }

    public static float[] FromAudio(ReadOnlySpan<float> latent, int z, int count)
    {
        var tokens = new float[count * z];
        for (int c = 0; c < z; c++)
            for (int j = 0; j < count; j++) tokens[j * z + c] = latent[c * count + j];
        return tokens;
    }

    public static float[] ToAudio(ReadOnlySpan<float> tokens, int z, int count)
    {
        var latent = new float[z * count];
        for (int c = 0; c < z; c++)
            for (int j = 0; j < count; j++) latent[c * count + j] = tokens[j * z + c];
        return latent;
    }
}
