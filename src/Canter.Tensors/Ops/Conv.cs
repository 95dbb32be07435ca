using Canter.Tensors.Autograd;

namespace Canter.Tensors;

/// <summary>
/// Geometry of a convolution over (F, H, W) (1-D and 2-D convolutions use F = H = 1):
/// kernel size, stride, dilation and zero padding before and after each axis.
/// </summary>
public sealed record ConvGeometry(int[] Kernel, int[] Stride, int[] Dilation, int[] PadBefore, int[] PadAfter)
{
    /// <summary>Output length along axis <paramref name="axis"/> for an input of length <paramref name="input"/>.</summary>
    public int OutputLength(int axis, int input) =>
        (input + PadBefore[axis] + PadAfter[axis] - Dilation[axis] * (Kernel[axis] - 1) - 1) / Stride[axis] + 1;

    /// <summary>Checks every number; throws with the offending axis otherwise.</summary>
    public ConvGeometry Validate()
    {
        foreach (var a in new[] { Kernel, Stride, Dilation, PadBefore, PadAfter })
            if (a.Length != 3) throw new ArgumentException("conv geometry needs 3 values per field (F, H, W)");
        for (int i = 0; i < 3; i++)
        {
            if (Kernel[i] < 1 || Stride[i] < 1 || Dilation[i] < 1) throw new ArgumentException($"conv: kernel, stride and dilation must be >= 1 (axis {i})");
            if (PadBefore[i] < 0 || PadAfter[i] < 0) throw new ArgumentException($"conv: padding must be >= 0 (axis {i})");
        }
        return this;
    }
}

/// <summary>How a causal video convolution fills the frames before the first one. Written to disk in configs: append only.</summary>
public enum TimePadding { Zero, Replicate }

public partial interface IBackend
{
    /// <summary>y (B, Cout, Fo, Ho, Wo) = conv(x (B, Cin, F, H, W), w (Cout, Cin, Kf, Kh, Kw)); all contiguous, no bias.</summary>
    void ConvForward(Tensor y, Tensor x, Tensor w, ConvGeometry geometry);

    /// <summary>dx (B, Cin, F, H, W) written from dy (B, Cout, Fo, Ho, Wo) and w.</summary>
    void ConvBackwardData(Tensor dx, Tensor dy, Tensor w, ConvGeometry geometry);

    /// <summary>dw (Cout, Cin, Kf, Kh, Kw) written from dy and x.</summary>
    void ConvBackwardWeight(Tensor dw, Tensor dy, Tensor x, ConvGeometry geometry);
}

public static partial class Ops
{
    /// <summary>
    /// 1-D convolution: x (B, Cin, T), w (Cout, Cin, K), bias (Cout) or null -> (B, Cout, Tout).
    /// Padding may be asymmetric: a causal convolution pads K - 1 on the left and 0 on the right.
    /// </summary>
    public static Tensor Conv1d(Tensor x, Tensor w, Tensor? bias = null, int stride = 1, int padLeft = 0, int padRight = 0, int dilation = 1)
    {
        Expect(x, 3, "conv1d input (B, Cin, T)");
        Expect(w, 3, "conv1d weight (Cout, Cin, K)");
        var g = new ConvGeometry([1, 1, w.Shape[2]], [1, 1, stride], [1, 1, dilation], [0, 0, padLeft], [0, 0, padRight]);
        var y = ConvNd(Reshape(x, x.Shape[0], x.Shape[1], 1, 1, x.Shape[2]), Reshape(w, w.Shape[0], w.Shape[1], 1, 1, w.Shape[2]), bias, g);
        return Reshape(y, y.Shape[0], y.Shape[1], y.Shape[4]);
    }

    /// <summary>2-D convolution: x (B, Cin, H, W), w (Cout, Cin, Kh, Kw), symmetric zero padding.</summary>
    public static Tensor Conv2d(Tensor x, Tensor w, Tensor? bias = null, int stride = 1, int padding = 0)
    {
        Expect(x, 4, "conv2d input (B, Cin, H, W)");
        Expect(w, 4, "conv2d weight (Cout, Cin, Kh, Kw)");
        var g = new ConvGeometry([1, w.Shape[2], w.Shape[3]], [1, stride, stride], [1, 1, 1], [0, padding, padding], [0, padding, padding]);
        var y = ConvNd(Unsqueeze(x, 2), Unsqueeze(w, 2), bias, g);
        return Squeeze(y, 2);
    }

    /// <summary>
    /// 3-D convolution: x (B, Cin, F, H, W), w (Cout, Cin, Kf, Kh, Kw). Spatial padding is symmetric zero;
    /// in time, <paramref name="causal"/> pads Kf - 1 frames in front (zeros or copies of the first frame) and none
    /// after, so frame t of the output sees input frames up to t only; otherwise time padding is symmetric zero.
    /// </summary>
    public static Tensor Conv3d(Tensor x, Tensor w, Tensor? bias = null, (int F, int H, int W)? stride = null, (int H, int W)? padding = null,
        bool causal = false, TimePadding timePadding = TimePadding.Zero, int timePaddingSymmetric = 0)
    {
        Expect(x, 5, "conv3d input (B, Cin, F, H, W)");
        Expect(w, 5, "conv3d weight (Cout, Cin, Kf, Kh, Kw)");
        var s = stride ?? (1, 1, 1);
        var p = padding ?? (0, 0);
        int kf = w.Shape[2];
        int front = causal ? kf - 1 : timePaddingSymmetric, back = causal ? 0 : timePaddingSymmetric;
        if (timePadding == TimePadding.Replicate && front > 0)
        {
            // copies of the first frame in front, then no time padding in the convolution itself
            var first = Slice(x, 2, 0, 1);
            var repeated = BroadcastTo(first, x.Shape[0], x.Shape[1], front, x.Shape[3], x.Shape[4]);
            x = Concat([repeated, x], 2);
            front = 0;
        }
        var g = new ConvGeometry([kf, w.Shape[3], w.Shape[4]], [s.F, s.H, s.W], [1, 1, 1], [front, p.H, p.W], [back, p.H, p.W]);
        return ConvNd(x, w, bias, g);
    }

    /// <summary>Convolution over (F, H, W) with full control of the geometry. x (B, Cin, F, H, W), w (Cout, Cin, Kf, Kh, Kw).</summary>
    public static Tensor ConvNd(Tensor x, Tensor w, Tensor? bias, ConvGeometry geometry)
    {
        x.ThrowIfDisposed();
        w.ThrowIfDisposed();
        geometry.Validate();
        Expect(x, 5, "conv input (B, Cin, F, H, W)");
        Expect(w, 5, "conv weight (Cout, Cin, Kf, Kh, Kw)");
        if (w.Shape[1] != x.Shape[1]) throw new ArgumentException($"conv: input has {x.Shape[1]} channels, weight {w.ShapeString} expects {w.Shape[1]}");
        for (int i = 0; i < 3; i++)
            if (w.Shape[2 + i] != geometry.Kernel[i]) throw new ArgumentException($"conv: weight {w.ShapeString} does not match kernel {string.Join("x", geometry.Kernel)}");
        if (bias is not null && (bias.Rank != 1 || bias.Shape[0] != w.Shape[0])) throw new ArgumentException($"conv: bias {bias.ShapeString} must be ({w.Shape[0]},)");
        var outShape = new int[] { x.Shape[0], w.Shape[0], 0, 0, 0 };
        for (int i = 0; i < 3; i++)
        {
            outShape[2 + i] = geometry.OutputLength(i, x.Shape[2 + i]);
            if (outShape[2 + i] < 1) throw new ArgumentException($"conv: input {x.ShapeString} is too small for kernel {string.Join("x", geometry.Kernel)} (axis {i})");
        }
        var xc = x.IsContiguous ? x : ContiguousCopy(x);
        var wc = w.IsContiguous ? w : ContiguousCopy(w);
        var y = Tensor.Empty(outShape, x.Backend);
        x.Backend.ConvForward(y, xc, wc, geometry);
        if (Tape.NeedsGrad(x, w))
        {
            Tape.Record("conv", y, g =>
            {
                using var gc = g.IsContiguous ? g.Detach() : ContiguousCopy(g);
                if (x.RequiresGrad)
                {
                    var dx = Tensor.Empty(x.Shape, x.Backend);
                    x.Backend.ConvBackwardData(dx, gc, wc, geometry);
                    Tape.Accumulate(x, dx);
                }
                if (w.RequiresGrad)
                {
                    var dw = Tensor.Empty(w.Shape, x.Backend);
                    x.Backend.ConvBackwardWeight(dw, gc, xc, geometry);
                    Tape.Accumulate(w, dw);
                }
            });
        }
        if (bias is null) return y;
        if (!Tape.NeedsGrad(x, w, bias))
        {
            // nothing to differentiate: the bias goes into the fresh output in place (no second output-sized tensor)
            using var column = Reshape(bias, 1, bias.Shape[0], 1, 1, 1);
            using var broadcast = BroadcastView(column, y.Shape);
            x.Backend.AddInto(y, broadcast);
            return y;
        }
        using var b = Reshape(bias, 1, bias.Shape[0], 1, 1, 1);
        return Add(y, b);
    }

    /// <summary>
    /// Transposed 1-D convolution (the gradient of Conv1d with respect to its input):
    /// x (B, Cin, T), w (Cin, Cout, K) -> (B, Cout, (T - 1) * stride - 2 * padding + K).
    /// </summary>
    public static Tensor ConvTranspose1d(Tensor x, Tensor w, Tensor? bias = null, int stride = 1, int padding = 0)
    {
        x.ThrowIfDisposed();
        w.ThrowIfDisposed();
        Expect(x, 3, "conv_transpose1d input (B, Cin, T)");
        Expect(w, 3, "conv_transpose1d weight (Cin, Cout, K)");
        if (w.Shape[0] != x.Shape[1]) throw new ArgumentException($"conv_transpose1d: input has {x.Shape[1]} channels, weight {w.ShapeString} expects {w.Shape[0]}");
        int k = w.Shape[2], tOut = (x.Shape[2] - 1) * stride - 2 * padding + k;
        if (tOut < 1) throw new ArgumentException($"conv_transpose1d: output length {tOut} is not positive");
        if (bias is not null && (bias.Rank != 1 || bias.Shape[0] != w.Shape[1])) throw new ArgumentException($"conv_transpose1d: bias {bias.ShapeString} must be ({w.Shape[1]},)");
        var g = new ConvGeometry([1, 1, k], [1, 1, stride], [1, 1, 1], [0, 0, padding], [0, 0, padding]);
        // the equivalent convolution maps (B, Cout, 1, 1, tOut) to (B, Cin, 1, 1, T) with weight (Cin, Cout, 1, 1, K)
        int extra = tOut + 2 * padding - k - (x.Shape[2] - 1) * stride; // 0: output_padding is not supported
        if (extra != 0) throw new InvalidOperationException("conv_transpose1d geometry mismatch");
        var x5 = ContiguousCopy(x);
        var x5v = View(x5, [x.Shape[0], x.Shape[1], 1, 1, x.Shape[2]]);
        var w5 = w.IsContiguous ? View(w, [w.Shape[0], w.Shape[1], 1, 1, k]) : View(ContiguousCopy(w), [w.Shape[0], w.Shape[1], 1, 1, k]);
        var y5 = Tensor.Empty([x.Shape[0], w.Shape[1], 1, 1, tOut], x.Backend);
        x.Backend.ConvBackwardData(y5, x5v, w5, g);
        var y = View(y5, [x.Shape[0], w.Shape[1], tOut]);
        y5.Dispose();
        if (Tape.NeedsGrad(x, w))
        {
            Tape.Record("conv_transpose1d", y, gy =>
            {
                using var g5 = View(gy, [gy.Shape[0], gy.Shape[1], 1, 1, gy.Shape[2]]);
                if (x.RequiresGrad)
                {
                    var dx = Tensor.Empty([x.Shape[0], x.Shape[1], 1, 1, x.Shape[2]], x.Backend);
                    x.Backend.ConvForward(dx, g5, w5, g);
                    Tape.Accumulate(x, View(dx, x.Shape));
                    dx.Dispose();
                }
                if (w.RequiresGrad)
                {
                    var dw = Tensor.Empty(w5.Shape, x.Backend);
                    x.Backend.ConvBackwardWeight(dw, x5v, g5, g);
                    Tape.Accumulate(w, View(dw, w.Shape));
                    dw.Dispose();
                }
            });
        }
        if (bias is null) return y;
        using var b = Reshape(bias, 1, bias.Shape[0], 1);
        return Add(y, b);
    }

    /// <summary>Nearest-neighbour upsampling of x (B, C, T) by an integer factor; the gradient sums each group.</summary>
    public static Tensor Upsample1dNearest(Tensor x, int factor)
    {
        Expect(x, 3, "upsample1d input (B, C, T)");
        if (factor < 1) throw new ArgumentException("upsample factor must be >= 1");
        var e = BroadcastTo(Unsqueeze(x, 3), x.Shape[0], x.Shape[1], x.Shape[2], factor);
        return Reshape(e, x.Shape[0], x.Shape[1], x.Shape[2] * factor);
    }

    /// <summary>Nearest-neighbour upsampling of x (B, C, F, H, W) by integer factors per axis.</summary>
    public static Tensor Upsample3dNearest(Tensor x, int factorF, int factorH, int factorW)
    {
        Expect(x, 5, "upsample3d input (B, C, F, H, W)");
        if (factorF < 1 || factorH < 1 || factorW < 1) throw new ArgumentException("upsample factors must be >= 1");
        int b = x.Shape[0], c = x.Shape[1], f = x.Shape[2], h = x.Shape[3], w = x.Shape[4];
        var v = Reshape(x, b, c, f, 1, h, 1, w, 1);
        var e = BroadcastTo(v, b, c, f, factorF, h, factorH, w, factorW);
        return Reshape(e, b, c, f * factorF, h * factorH, w * factorW);
    }

    private static void Expect(Tensor t, int rank, string what)
    {
        if (t.Rank != rank) throw new ArgumentException($"{what}: got shape {t.ShapeString}");
    }
}
