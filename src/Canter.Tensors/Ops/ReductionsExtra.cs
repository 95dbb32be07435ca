using Canter.Tensors.Autograd;

namespace Canter.Tensors;

public partial interface IBackend
{
    /// <summary>Row maxima of x (R, C) into values (R) and the column of each maximum (first on ties) into argmax (R).</summary>
    void MaxRows(Tensor values, int[] argmax, Tensor x);
}

public static partial class Ops
{
    /// <summary>Maximum along an axis; the gradient goes to the (first) position of the maximum.</summary>
    public static Tensor Max(Tensor x, int axis, bool keepDim = false)
    {
        x.ThrowIfDisposed();
        int a = x.NormalizeAxis(axis);
        var moved = a == x.Rank - 1 ? x : Transpose(x, a, x.Rank - 1);
        var rowsView = RowsView(moved, out _);                            // (R, C)
        int r = rowsView.Shape[0], c = rowsView.Shape[1];
        if (c == 0) throw new ArgumentException("max over an empty axis");
        var values = Tensor.Empty([r], x.Backend);                        // (R)
        var argmax = new int[r];
        x.Backend.MaxRows(values, argmax, rowsView);
        var movedShape = moved.Shape[..^1];
        var y = Reshape(values, movedShape);                              // axis removed, others in moved order
        values.Dispose();
        if (Tape.NeedsGrad(moved))
        {
            Tape.Record("max", y, g =>
            {
                var gh = g.ToArray();
                var dx = new float[r * c];
                for (int i = 0; i < r; i++) dx[i * c + argmax[i]] = gh[i];
                Tape.Accumulate(moved, Tensor.FromArray(dx, moved.Shape, x.Backend));
            });
        }
        if (a != x.Rank - 1)
        {
            // y holds x's last axis at position a (the transpose put it there): move it back to the end
            var perm = Enumerable.Range(0, x.Rank - 1).Where(i => i != a).Append(a).ToArray();
            y = Permute(y, perm);
        }
        return keepDim ? Unsqueeze(y, a) : y;
    }
}
