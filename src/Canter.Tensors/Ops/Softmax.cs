using Canter.Tensors.Autograd;

namespace Canter.Tensors;

public partial interface IBackend
{
    /// <summary>Row-wise softmax (or log-softmax) over the last axis of a contiguous (R, C) tensor.</summary>
    void SoftmaxForward(Tensor y, Tensor x, bool log);

    /// <summary>Gradient of <see cref="SoftmaxForward"/> from its output y: dx = y * (dy - sum(dy * y)) or, for log, dy - exp(y) * sum(dy).</summary>
    void SoftmaxBackward(Tensor dx, Tensor dy, Tensor y, bool log);
}

public static partial class Ops
{
    /// <summary>Softmax along <paramref name="axis"/> (numerically stable).</summary>
    public static Tensor Softmax(Tensor x, int axis = -1) => SoftmaxCore(x, axis, log: false);

    /// <summary>Log-softmax along <paramref name="axis"/> (numerically stable).</summary>
    public static Tensor LogSoftmax(Tensor x, int axis = -1) => SoftmaxCore(x, axis, log: true);

    private static Tensor SoftmaxCore(Tensor x, int axis, bool log)
    {
        x.ThrowIfDisposed();
        int a = x.NormalizeAxis(axis);
        if (a != x.Rank - 1)
        {
            // move the axis last, normalise, move it back
            using var moved = Transpose(x, a, x.Rank - 1);
            using var inner = SoftmaxCore(moved, -1, log);
            return Contiguous(Transpose(inner, a, x.Rank - 1));
        }
        int c = x.Shape[^1];
        var xc = x.IsContiguous ? x.Detach() : ContiguousCopy(x);
        var y = Tensor.EmptyLike(x);
        using (var x2 = View(xc, [x.Count / Math.Max(c, 1), c]))
        using (var y2 = View(y, [x.Count / Math.Max(c, 1), c]))
            x.Backend.SoftmaxForward(y2, x2, log);
        xc.Dispose();
        if (Tape.NeedsGrad(x))
        {
            Tape.Record(log ? "log_softmax" : "softmax", y, g =>
            {
                using var gc = g.IsContiguous ? g.Detach() : ContiguousCopy(g);
                var dx = Tensor.EmptyLike(x);
                int rows = x.Count / Math.Max(c, 1);
                using (var d2 = View(dx, [rows, c]))
                using (var g2 = View(gc, [rows, c]))
                using (var y2 = View(y, [rows, c]))
                    x.Backend.SoftmaxBackward(d2, g2, y2, log);
                Tape.Accumulate(x, dx);
            });
        }
        return y;
    }
}
