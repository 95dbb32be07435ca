using Canter.Tensors.Autograd;

namespace Canter.Tensors;

/// <summary>
/// Cos/sin tables of rotary position embedding over several axes with fractional positions
/// (Canter's shared space-time: time in seconds, row, column). The head width D holds D/2
/// rotation pairs, split into consecutive bands, one per axis; pair p of an axis with P pairs
/// turns at frequency theta^(-p / P) times that axis' coordinate. Pairs are interleaved:
/// (x[2i], x[2i+1]) -> (a cos - b sin, a sin + b cos). Built once per sequence layout and
/// shared by every layer.
/// <example><code>
/// // 3 tokens on one time axis at 0, 0.08 and 0.16 seconds, head width 8
/// var table = new RopeTable([0f, 0.08f, 0.16f], axes: 1, pairsPerAxis: [4]);
/// var y = Ops.Rope(x, table);   // x (B, 3, H, 8)
/// </code></example>
/// </summary>
public sealed class RopeTable
{
    /// <param name="positions">coordinates, row-major (token, axis): Tokens * axes values.</param>
    /// <param name="axes">coordinates per token.</param>
    /// <param name="pairsPerAxis">rotation pairs given to each axis; their sum is D / 2.</param>
    /// <param name="theta">base of the frequencies.</param>
    public RopeTable(float[] positions, int axes, int[] pairsPerAxis, float theta = 10000f)
    {
        if (axes <= 0 || pairsPerAxis.Length != axes)
            throw new ArgumentException($"rope: {pairsPerAxis.Length} pair counts for {axes} axes");
        if (positions.Length % axes != 0)
            throw new ArgumentException($"rope: {positions.Length} coordinates is not a multiple of {axes} axes");
        if (pairsPerAxis.Any(p => p < 0) || pairsPerAxis.Sum() == 0) throw new ArgumentException("rope: pair counts must be non-negative and not all zero");
        if (!(theta > 1f)) throw new ArgumentException($"rope: theta must be above 1; got {theta}");
        foreach (var p in positions)
            if (!float.IsFinite(p)) throw new ArgumentException("rope: positions must be finite");
        Tokens = positions.Length / axes;
        Pairs = pairsPerAxis.Sum();
        Cos = new float[Tokens * Pairs];
        Sin = new float[Tokens * Pairs];
        for (int n = 0; n < Tokens; n++)
        {
            int pair = 0;
            for (int a = 0; a < axes; a++)
            {
                int count = pairsPerAxis[a];
                double pos = positions[n * axes + a];
                for (int p = 0; p < count; p++, pair++)
                {
                    double angle = pos * Math.Pow(theta, -(double)p / count);
                    Cos[n * Pairs + pair] = (float)Math.Cos(angle);
                    Sin[n * Pairs + pair] = (float)Math.Sin(angle);
                }
            }
        }
    }

    public int Tokens { get; }

    /// <summary>Rotation pairs per token (D / 2).</summary>
    public int Pairs { get; }

    public int HeadDim => 2 * Pairs;

    /// <summary>cos of each (token, pair) angle, (N, D/2) row-major.</summary>
    public float[] Cos { get; }

    /// <summary>sin of each (token, pair) angle, (N, D/2) row-major.</summary>
    public float[] Sin { get; }
}

public partial interface IBackend
{
    /// <summary>
    /// y = rotate(x) by the table's angles (by minus them when <paramref name="inverse"/>, which is the backward pass).
    /// x (B, N, H, D) view with contiguous last axis; y (B, N, H, D) contiguous.
    /// </summary>
    void RopeForward(Tensor y, Tensor x, RopeTable table, bool inverse);
}

public static partial class Ops
{
    /// <summary>Rotary embedding of x (B, N, H, D) (token axis 1) by the table's positions.</summary>
    public static Tensor Rope(Tensor x, RopeTable table)
    {
        x.ThrowIfDisposed();
        if (x.Rank != 4) throw new ArgumentException($"rope needs x (B, N, H, D); got {x.ShapeString}");
        if (x.Shape[1] != table.Tokens || x.Shape[3] != table.HeadDim)
            throw new ArgumentException($"rope table for {table.Tokens} tokens of head width {table.HeadDim} cannot rotate {x.ShapeString}");
        var xv = LastAxisContiguous(x);
        var y = Tensor.Empty(x.Shape, x.Backend);
        x.Backend.RopeForward(y, xv, table, inverse: false);
        if (Tape.NeedsGrad(x))
        {
            Tape.Record("rope", y, g =>
            {
                var dx = Tensor.Empty(x.Shape, x.Backend);
                x.Backend.RopeForward(dx, g, table, inverse: true);
                Tape.Accumulate(x, dx);
            });
        }
        return y;
    }
}
