using Canter.Tensors.Autograd;

namespace Canter.Tensors;

public static partial class Ops
{
    /// <summary>Sum of all elements, shape ().</summary>
    public static Tensor SumAll(Tensor x) => Sum(x, Enumerable.Range(0, x.Rank).ToArray(), keepDim: false);

    /// <summary>Mean of all elements, shape ().</summary>
    public static Tensor MeanAll(Tensor x)
    {
        using var s = SumAll(x);
        return Scale(s, 1f / Math.Max(x.Count, 1));
    }

    /// <summary>Sum over the given axes.</summary>
    public static Tensor Sum(Tensor x, int[] axes, bool keepDim = false)
    {
        x.ThrowIfDisposed();
        var reduced = new bool[x.Rank];
        foreach (var a in axes) reduced[x.NormalizeAxis(a)] = true;
        var keepShape = new int[x.Rank];
        for (int d = 0; d < x.Rank; d++) keepShape[d] = reduced[d] ? 1 : x.Shape[d];
        var outShape = keepDim ? keepShape : Enumerable.Range(0, x.Rank).Where(d => !reduced[d]).Select(d => x.Shape[d]).ToArray();

        var xc = x.IsContiguous ? x.Detach() : ContiguousCopy(x);
        var kept = Tensor.Empty(keepShape, x.Backend);
        x.Backend.SumReduce(kept, xc);
        xc.Dispose();
        var y = new Tensor(kept.Storage, outShape, ShapeUtil.ContiguousStrides(outShape), 0, retain: true);
        kept.Dispose();
        if (Tape.NeedsGrad(x))
        {
            Tape.Record("sum", y, g =>
            {
                using var gk = View(g, keepShape);
                using var gb = BroadcastView(gk, x.Shape);
                var dx = Tensor.EmptyLike(x);
                x.Backend.Copy(dx, gb);
                Tape.Accumulate(x, dx);
            });
        }
        return y;
    }

    /// <summary>Sum over one axis.</summary>
    public static Tensor Sum(Tensor x, int axis, bool keepDim = false) => Sum(x, [axis], keepDim);

    /// <summary>Mean over the given axes.</summary>
    public static Tensor Mean(Tensor x, int[] axes, bool keepDim = false)
    {
        int n = 1;
        foreach (var a in axes.Select(x.NormalizeAxis).Distinct()) n *= x.Shape[a];
        using var s = Sum(x, axes, keepDim);
        return Scale(s, 1f / Math.Max(n, 1));
    }

    /// <summary>Mean over one axis.</summary>
    public static Tensor Mean(Tensor x, int axis, bool keepDim = false) => Mean(x, [axis], keepDim);
}
