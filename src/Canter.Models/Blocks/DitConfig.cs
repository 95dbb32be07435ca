namespace Canter.Models.Blocks;

/// <summary>
/// Size of a stack of DiT blocks. <see cref="Bench"/> is the configuration the engine
/// benchmark and the block parity test use (width 256, 8 blocks, 4 heads).
/// </summary>
public sealed record DitConfig(int Width = 256, int Blocks = 8, int Heads = 4, int MlpRatio = 4, float NormEps = 1e-6f)
{
    public static DitConfig Bench { get; } = new();

    public int HeadDim => Width / Heads;

    /// <summary>Checks the numbers fit together; throws with the reason otherwise.</summary>
    public DitConfig Validate()
    {
        if (Width <= 0 || Blocks <= 0 || Heads <= 0 || MlpRatio <= 0)
            throw new ArgumentException($"DiT config needs positive sizes: {this}");
        if (Width % Heads != 0) throw new ArgumentException($"width {Width} is not divisible by {Heads} heads");
        if (HeadDim % 2 != 0) throw new ArgumentException($"head width {HeadDim} must be even for rotary embedding");
        return this;
    }

    /// <summary>Parameters of one block.</summary>
    public long ParametersPerBlock =>
        6L * Width                                   // modulation table
        + 3L * Width * Width + 3L * Width            // qkv
        + 2L * HeadDim                               // q and k norms
        + (long)Width * Width + Width                // attention output
        + 2L * MlpRatio * Width * Width + (long)MlpRatio * Width + Width; // MLP

    /// <summary>Forward FLOPs of the stack for <paramref name="batch"/> sequences of <paramref name="tokens"/> tokens.</summary>
    public double ForwardFlops(int batch, int tokens)
    {
        double rows = (double)batch * tokens;
        double linear = 2 * rows * Width * Width * (3 + 1 + 2 * MlpRatio);
        double attention = 4.0 * batch * Heads * tokens * (double)tokens * HeadDim;
        return Blocks * (linear + attention);
    }
}
