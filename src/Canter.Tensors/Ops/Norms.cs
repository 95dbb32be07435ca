using Canter.Tensors.Autograd;

namespace Canter.Tensors;

public partial interface IBackend
{
    /// <summary>
    /// Normalises rows of x over the last axis: y = (x - mean) * rstd, then y = y * (1 + scale) + shift
    /// when modulated, or y = y * weight + bias when affine. x (R, C) rows with row stride; y (R, C) contiguous;
    /// mean and rstd (R) saved for the backward pass. shift/scale (R, C) views with row stride (0 = broadcast).
    /// </summary>
    void LayerNormForward(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor? weight, Tensor? bias,
        Tensor? shift, Tensor? scale, float eps);

    /// <summary>
    /// Gradients of <see cref="LayerNormForward"/>: dx (R, C) written (not accumulated); dWeight, dBias (C) and
    /// dShift, dScale (R, C) written when not null. dy (R, C) contiguous.
    /// </summary>
    void LayerNormBackward(Tensor dx, Tensor? dWeight, Tensor? dBias, Tensor? dShift, Tensor? dScale,
        Tensor dy, Tensor x, Tensor mean, Tensor rstd, Tensor? weight, Tensor? scale);

    /// <summary>y = x * rsqrt(mean(x^2) + eps) * weight over the last axis; rstd (R) saved. x rows may have a row stride.</summary>
    void RmsNormForward(Tensor y, Tensor rstd, Tensor x, Tensor? weight, float eps);

    /// <summary>Gradients of <see cref="RmsNormForward"/>: dx (R, C) written; dWeight (C) written when not null.</summary>
    void RmsNormBackward(Tensor dx, Tensor? dWeight, Tensor dy, Tensor x, Tensor rstd, Tensor? weight);

    /// <summary>
    /// RMS norm over the channel axis of channel-major data: y = x * rsqrt(mean over C of x^2 + eps) * weight.
    /// x and y (B, C, S) contiguous, S positions per channel; rstd (B, S) saved for the backward pass.
    /// </summary>
    void ChannelRmsNormForward(Tensor y, Tensor rstd, Tensor x, Tensor? weight, float eps);

    /// <summary>Gradients of <see cref="ChannelRmsNormForward"/>: dx (B, C, S) written; dWeight (C) written when not null. dy contiguous.</summary>
    void ChannelRmsNormBackward(Tensor dx, Tensor? dWeight, Tensor dy, Tensor x, Tensor rstd, Tensor? weight);
}

public static partial class Ops
{
    /// <summary>LayerNorm over the last axis: x (..., C), weight and bias (C) or null.</summary>
    public static Tensor LayerNorm(Tensor x, Tensor? weight, Tensor? bias, float eps = 1e-5f)
    {
        int c = x.Shape[^1];
        CheckVector(weight, c, "layer_norm weight");
        CheckVector(bias, c, "layer_norm bias");
        return LayerNormCore(x, weight, bias, null, null, eps, "layer_norm");
    }

    /// <summary>
    /// Fused adaLN: LayerNorm(x) (no affine) * (1 + scale) + shift. x (B, N, C); shift and scale (B, N, C)
    /// per token or (B, 1, C) per sample; strided views (slices of a (B, N, 6, C) modulation) are read in place.
    /// </summary>
    public static Tensor ModulatedLayerNorm(Tensor x, Tensor shift, Tensor scale, float eps = 1e-6f)
    {
        if (x.Rank != 3) throw new ArgumentException($"modulated layer norm needs x (B, N, C); got {x.ShapeString}");
        foreach (var (m, name) in new[] { (shift, "shift"), (scale, "scale") })
        {
            if (m.Rank != 3 || m.Shape[0] != x.Shape[0] || m.Shape[2] != x.Shape[2] || (m.Shape[1] != x.Shape[1] && m.Shape[1] != 1))
                throw new ArgumentException($"modulation {name} {m.ShapeString} must be (B, N, C) or (B, 1, C) for x {x.ShapeString}");
        }
        return LayerNormCore(x, null, null, shift, scale, eps, "modulated_layer_norm");
    }

    private static Tensor LayerNormCore(Tensor x, Tensor? weight, Tensor? bias, Tensor? shift, Tensor? scale, float eps, string name)
    {
        x.ThrowIfDisposed();
        int c = x.Shape[^1];
        var rowsX = RowsView(x, out bool xCopied);                  // (R, C) with unit column stride
        int r = rowsX.Shape[0];
        var y = Tensor.Empty(x.Shape, x.Backend);                   // (..., C)
        var mean = Tensor.Empty([r], x.Backend);                    // (R)
        var rstd = Tensor.Empty([r], x.Backend);                    // (R)
        var shiftRows = shift is null ? null : ModulationRows(shift, x);
        var scaleRows = scale is null ? null : ModulationRows(scale, x);
        using (var y2 = View(y, [r, c]))
            x.Backend.LayerNormForward(y2, mean, rstd, rowsX, weight, bias, shiftRows, scaleRows, eps);

        if (Tape.NeedsGrad([x, weight, bias, shift, scale]))
        {
            Tape.Record(name, y, g =>
            {
                using var g2 = View(g, [r, c]);
                var dx = x.RequiresGrad ? Tensor.Empty([r, c], x.Backend) : null;
                var dw = weight is { RequiresGrad: true } ? Tensor.Empty([c], x.Backend) : null;
                var db = bias is { RequiresGrad: true } ? Tensor.Empty([c], x.Backend) : null;
                var dShift = shift is { RequiresGrad: true } ? Tensor.Empty([r, c], x.Backend) : null;
                var dScale = scale is { RequiresGrad: true } ? Tensor.Empty([r, c], x.Backend) : null;
                using var scratch = dx is null ? Tensor.Empty([r, c], x.Backend) : null;
                x.Backend.LayerNormBackward(dx ?? scratch!, dw, db, dShift, dScale, g2, rowsX, mean, rstd, weight, scaleRows);
                if (dx is not null) Tape.Accumulate(x, Reshaped(dx, x.Shape));
                if (dw is not null) Tape.Accumulate(weight!, dw);
                if (db is not null) Tape.Accumulate(bias!, db);
                if (dShift is not null) Tape.Accumulate(shift!, ModulationGrad(dShift, shift!, x));
                if (dScale is not null) Tape.Accumulate(scale!, ModulationGrad(dScale, scale!, x));
            });
        }
        else if (xCopied) rowsX.Dispose();
        return y;
    }

    /// <summary>RMSNorm over the last axis: x (..., C), weight (C) or null.</summary>
    public static Tensor RmsNorm(Tensor x, Tensor? weight, float eps = 1e-6f)
    {
        x.ThrowIfDisposed();
        int c = x.Shape[^1];
        CheckVector(weight, c, "rms_norm weight");
        var rowsX = RowsView(x, out bool xCopied);                  // (R, C)
        int r = rowsX.Shape[0];
        var y = Tensor.Empty(x.Shape, x.Backend);
        var rstd = Tensor.Empty([r], x.Backend);                    // (R)
        using (var y2 = View(y, [r, c]))
            x.Backend.RmsNormForward(y2, rstd, rowsX, weight, eps);
        if (Tape.NeedsGrad(x, weight))
        {
            Tape.Record("rms_norm", y, g =>
            {
                using var g2 = View(g, [r, c]);
                var dx = Tensor.Empty([r, c], x.Backend);
                var dw = weight is { RequiresGrad: true } ? Tensor.Empty([c], x.Backend) : null;
                x.Backend.RmsNormBackward(dx, dw, g2, rowsX, rstd, weight);
                if (x.RequiresGrad) Tape.Accumulate(x, Reshaped(dx, x.Shape));
                else dx.Dispose();
                if (dw is not null) Tape.Accumulate(weight!, dw);
            });
        }
        else if (xCopied) rowsX.Dispose();
        return y;
    }

    /// <summary>
    /// RMSNorm over axis 1 of x (B, C, ...) at every position, weight (C) or null: the norm of channel-major feature maps
    /// (conv layers), without moving the channels last and back.
    /// </summary>
    public static Tensor ChannelRmsNorm(Tensor x, Tensor? weight, float eps = 1e-6f)
    {
        x.ThrowIfDisposed();
        if (x.Rank < 2) throw new ArgumentException($"channel rms norm needs x (B, C, ...); got {x.ShapeString}");
        int b = x.Shape[0], c = x.Shape[1], positions = b * c == 0 ? 0 : x.Count / (b * c);
        CheckVector(weight, c, "channel_rms_norm weight");
        var xc = x.IsContiguous ? x.Detach() : ContiguousCopy(x);
        using var x3 = View(xc, [b, c, positions]);                 // (B, C, S)
        var y = Tensor.Empty(x.Shape, x.Backend);                   // (B, C, ...)
        var rstd = Tensor.Empty([b, positions], x.Backend);         // (B, S)
        using (var y3 = View(y, [b, c, positions]))
            x.Backend.ChannelRmsNormForward(y3, rstd, x3, weight, eps);
        if (Tape.NeedsGrad(x, weight))
        {
            var saved = View(xc, [b, c, positions]);
            Tape.Record("channel_rms_norm", y, g =>
            {
                using var gc = g.IsContiguous ? g.Detach() : ContiguousCopy(g);
                using var g3 = View(gc, [b, c, positions]);
                var dx = Tensor.Empty([b, c, positions], x.Backend);
                var dw = weight is { RequiresGrad: true } ? Tensor.Empty([c], x.Backend) : null;
                x.Backend.ChannelRmsNormBackward(dx, dw, g3, saved, rstd, weight);
                if (x.RequiresGrad) Tape.Accumulate(x, Reshaped(dx, x.Shape));
                else dx.Dispose();
                if (dw is not null) Tape.Accumulate(weight!, dw);
            });
        }
        xc.Dispose();
        return y;
    }

    private static void CheckVector(Tensor? t, int c, string what)
    {
        if (t is not null && (t.Rank != 1 || t.Shape[0] != c))
            throw new ArgumentException($"{what} {t.ShapeString} must be ({c},)");
    }

    /// <summary>x as (R, C) rows with unit column stride and one row stride, without a copy when its layout allows.</summary>
    internal static Tensor RowsView(Tensor x, out bool copied)
    {
        int c = x.Rank == 0 ? 1 : x.Shape[^1];
        int rows = c == 0 ? 0 : x.Count / c;
        copied = false;
        if (x.Rank >= 1 && (x.Strides[^1] == 1 || c == 1) && TryCollapseLeading(x, out int rowStride) && (rows <= 1 || rowStride >= c))
            return new Tensor(x.Storage, [rows, c], [rows <= 1 ? c : rowStride, 1], x.Offset, retain: true);
        copied = true;
        var copy = ContiguousCopy(x);
        var view = new Tensor(copy.Storage, [rows, c], [c, 1], 0, retain: true);
        copy.Dispose();
        return view;
    }

    /// <summary>Whether all axes but the last collapse into one with a single stride.</summary>
    private static bool TryCollapseLeading(Tensor x, out int stride)
    {
        stride = x.Shape[^1];
        long expected = -1;
        for (int d = x.Rank - 2; d >= 0; d--)
        {
            if (x.Shape[d] == 1) continue;
            if (expected == -1) stride = x.Strides[d];
            else if (x.Strides[d] != expected) return false;
            expected = (long)x.Strides[d] * x.Shape[d];
        }
        return true;
    }

    /// <summary>A (B, N|1, C) modulation as (R, C) rows over x's rows: row stride of the token axis, 0 when broadcast.</summary>
    private static Tensor ModulationRows(Tensor m, Tensor x)
    {
        int b = x.Shape[0], n = x.Shape[1], c = x.Shape[2];
        if (m.Strides[2] != 1)
        {
            var copy = ContiguousCopy(m);
            var rows = ModulationRows(copy, x);
            copy.Dispose();
            return rows;
        }
        // The kernel walks rows r = bi * N + ni; it needs a (B, N) pair of strides, carried as a rank-3 view.
        int tokenStride = m.Shape[1] == 1 ? 0 : m.Strides[1];
        return new Tensor(m.Storage, [b, n, c], [m.Strides[0], tokenStride, 1], m.Offset, retain: true);
    }

    private static Tensor ModulationGrad(Tensor dRows, Tensor m, Tensor x)
    {
        var full = Reshaped(dRows, x.Shape);                        // (B, N, C)
        if (m.Shape[1] == x.Shape[1]) return full;
        using (full) return SumTo(full, m.Shape);                    // (B, 1, C)
    }

    private static Tensor Reshaped(Tensor t, int[] shape)
    {
        var v = new Tensor(t.Storage, (int[])shape.Clone(), ShapeUtil.ContiguousStrides(shape), t.Offset, retain: true);
        t.Dispose();
        return v;
    }
}
