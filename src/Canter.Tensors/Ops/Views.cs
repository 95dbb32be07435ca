using Canter.Tensors.Autograd;

namespace Canter.Tensors;

/// <summary>
/// Views share storage with their input (reshape of a contiguous tensor, permute, slice,
/// broadcast); concat and split copy. Gradients: the inverse view, or a scatter into zeros.
/// </summary>
public static partial class Ops
{
    /// <summary>A contiguous tensor with the same values (the same storage when already contiguous).</summary>
    public static Tensor Contiguous(Tensor x)
    {
        x.ThrowIfDisposed();
        Tensor y;
        if (x.IsContiguous) y = new Tensor(x.Storage, x.Shape, ShapeUtil.ContiguousStrides(x.Shape), x.Offset, retain: true);
        else
        {
            y = Tensor.EmptyLike(x);
            x.Backend.Copy(y, x);
        }
        if (Tape.NeedsGrad(x)) Tape.Record("contiguous", y, g => Tape.AccumulateCopy(x, g));
        return y;
    }

    /// <summary>Same elements, new shape; one dimension may be -1. Copies only when x is not contiguous.</summary>
    public static Tensor Reshape(Tensor x, params int[] shape)
    {
        x.ThrowIfDisposed();
        shape = ResolveShape(shape, x.Count, x.Shape);
        var src = x.IsContiguous ? x : Contiguous(x);
        var y = new Tensor(src.Storage, shape, ShapeUtil.ContiguousStrides(shape), src.Offset, retain: true);
        if (Tape.NeedsGrad(src))
        {
            var inShape = src.Shape;
            Tape.Record("reshape", y, g => Tape.AccumulateCopy(src, View(g, inShape)));
        }
        return y;
    }

    /// <summary>Reshape without gradient bookkeeping for a contiguous gradient (used inside rules).</summary>
    internal static Tensor View(Tensor g, int[] shape)
    {
        var c = g.IsContiguous ? g : Contiguous(g);
        return new Tensor(c.Storage, shape, ShapeUtil.ContiguousStrides(shape), c.Offset, retain: true);
    }

    private static int[] ResolveShape(int[] shape, int count, int[] from)
    {
        var result = (int[])shape.Clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < result.Length; i++)
        {
            if (result[i] == -1)
            {
                if (infer >= 0) throw new ArgumentException("reshape: only one dimension may be -1");
                infer = i;
            }
            else if (result[i] < 0) throw new ArgumentException($"reshape: invalid dimension {result[i]}");
            else known *= result[i];
        }
        if (infer >= 0)
        {
            if (known == 0 || count % known != 0)
                throw new ArgumentException($"cannot reshape {ShapeUtil.Format(from)} into {ShapeUtil.Format(shape)}");
            result[infer] = (int)(count / known);
        }
        if (ShapeUtil.Count(result) != count)
            throw new ArgumentException($"cannot reshape {ShapeUtil.Format(from)} ({count} elements) into {ShapeUtil.Format(shape)}");
        return result;
    }

    /// <summary>Reorders axes: y.Shape[i] = x.Shape[axes[i]]. A view.</summary>
    public static Tensor Permute(Tensor x, params int[] axes)
    {
        x.ThrowIfDisposed();
        if (axes.Length != x.Rank) throw new ArgumentException($"permute: {axes.Length} axes for a tensor of rank {x.Rank}");
        var seen = new bool[x.Rank];
        var shape = new int[x.Rank];
        var strides = new int[x.Rank];
        var inverse = new int[x.Rank];
        for (int i = 0; i < axes.Length; i++)
        {
            int a = x.NormalizeAxis(axes[i]);
            if (seen[a]) throw new ArgumentException($"permute: axis {a} repeated");
            seen[a] = true;
            shape[i] = x.Shape[a];
            strides[i] = x.Strides[a];
            inverse[a] = i;
        }
        var y = new Tensor(x.Storage, shape, strides, x.Offset, retain: true);
        if (Tape.NeedsGrad(x)) Tape.Record("permute", y, g => Tape.AccumulateCopy(x, PermuteView(g, inverse)));
        return y;
    }

    private static Tensor PermuteView(Tensor g, int[] axes)
    {
        var shape = new int[axes.Length];
        var strides = new int[axes.Length];
        for (int i = 0; i < axes.Length; i++)
        {
            shape[i] = g.Shape[axes[i]];
            strides[i] = g.Strides[axes[i]];
        }
        return new Tensor(g.Storage, shape, strides, g.Offset, retain: true);
    }

    /// <summary>Swaps two axes. A view.</summary>
    public static Tensor Transpose(Tensor x, int axis0, int axis1)
    {
        var axes = Enumerable.Range(0, x.Rank).ToArray();
        int a = x.NormalizeAxis(axis0), b = x.NormalizeAxis(axis1);
        (axes[a], axes[b]) = (axes[b], axes[a]);
        return Permute(x, axes);
    }

    /// <summary>Elements [start, start + length) along one axis. A view.</summary>
    public static Tensor Slice(Tensor x, int axis, int start, int length)
    {
        x.ThrowIfDisposed();
        int a = x.NormalizeAxis(axis);
        if (start < 0 || length < 0 || start + length > x.Shape[a])
            throw new ArgumentOutOfRangeException(nameof(start), $"slice [{start}, {start + length}) out of range for axis {a} of size {x.Shape[a]}");
        var shape = (int[])x.Shape.Clone();
        shape[a] = length;
        var y = new Tensor(x.Storage, shape, (int[])x.Strides.Clone(), x.Offset + start * x.Strides[a], retain: true);
        if (Tape.NeedsGrad(x))
        {
            Tape.Record("slice", y, g =>
                Tape.AccumulateRegion(x, g, full => new Tensor(full.Storage, shape, full.Strides, full.Offset + start * full.Strides[a], retain: true)));
        }
        return y;
    }

    /// <summary>Inserts an axis of size 1. A view, whatever the strides.</summary>
    public static Tensor Unsqueeze(Tensor x, int axis)
    {
        x.ThrowIfDisposed();
        int a = axis < 0 ? axis + x.Rank + 1 : axis;
        if (a < 0 || a > x.Rank) throw new ArgumentOutOfRangeException(nameof(axis), $"axis {axis} out of range for unsqueeze of rank {x.Rank}");
        var shape = x.Shape.ToList();
        var strides = x.Strides.ToList();
        shape.Insert(a, 1);
        strides.Insert(a, a < x.Rank ? x.Strides[a] * x.Shape[a] : 1);
        return AxisView(x, [.. shape], [.. strides], "unsqueeze");
    }

    /// <summary>Removes an axis of size 1. A view, whatever the strides.</summary>
    public static Tensor Squeeze(Tensor x, int axis)
    {
        x.ThrowIfDisposed();
        int a = x.NormalizeAxis(axis);
        if (x.Shape[a] != 1) throw new ArgumentException($"squeeze: axis {a} has size {x.Shape[a]}, not 1");
        var shape = x.Shape.ToList();
        var strides = x.Strides.ToList();
        shape.RemoveAt(a);
        strides.RemoveAt(a);
        return AxisView(x, [.. shape], [.. strides], "squeeze");
    }

    /// <summary>A view that only adds or removes axes of size 1; its gradient is the same elements in x's shape.</summary>
    private static Tensor AxisView(Tensor x, int[] shape, int[] strides, string op)
    {
        var y = new Tensor(x.Storage, shape, strides, x.Offset, retain: true);
        if (Tape.NeedsGrad(x)) Tape.Record(op, y, g => Tape.AccumulateCopy(x, View(g, x.Shape)));
        return y;
    }

    /// <summary>Broadcasts x to <paramref name="shape"/> (stride 0 on repeated axes). A view; gradient sums back.</summary>
    public static Tensor BroadcastTo(Tensor x, params int[] shape)
    {
        x.ThrowIfDisposed();
        var strides = BroadcastStrides(x, shape);
        var y = new Tensor(x.Storage, (int[])shape.Clone(), strides, x.Offset, retain: true);
        if (Tape.NeedsGrad(x)) Tape.Record("broadcast", y, g => Tape.Accumulate(x, SumTo(g, x.Shape)));
        return y;
    }

    /// <summary>Strides that view x as <paramref name="shape"/> under NumPy broadcasting.</summary>
    internal static int[] BroadcastStrides(Tensor x, int[] shape)
    {
        if (shape.Length < x.Rank) throw new ArgumentException($"cannot broadcast {x.ShapeString} to {ShapeUtil.Format(shape)}");
        var strides = new int[shape.Length];
        int lead = shape.Length - x.Rank;
        for (int i = 0; i < shape.Length; i++)
        {
            if (i < lead) { strides[i] = 0; continue; }
            int d = x.Shape[i - lead];
            if (d == shape[i]) strides[i] = d == 1 ? 0 : x.Strides[i - lead];
            else if (d == 1) strides[i] = 0;
            else throw new ArgumentException($"cannot broadcast {x.ShapeString} to {ShapeUtil.Format(shape)}");
        }
        return strides;
    }

    /// <summary>Joins tensors along an axis (all other dimensions equal). Copies.</summary>
    public static Tensor Concat(IReadOnlyList<Tensor> xs, int axis)
    {
        if (xs.Count == 0) throw new ArgumentException("concat of no tensors");
        var first = xs[0];
        int a = first.NormalizeAxis(axis);
        int total = 0;
        foreach (var x in xs)
        {
            x.ThrowIfDisposed();
            if (x.Rank != first.Rank) throw new ArgumentException($"concat: ranks differ ({first.ShapeString} vs {x.ShapeString})");
            for (int d = 0; d < x.Rank; d++)
                if (d != a && x.Shape[d] != first.Shape[d])
                    throw new ArgumentException($"concat along axis {a}: shapes {first.ShapeString} and {x.ShapeString} differ off that axis");
            total += x.Shape[a];
        }
        var shape = (int[])first.Shape.Clone();
        shape[a] = total;
        var y = Tensor.Empty(shape, first.Backend);
        int offset = 0;
        var starts = new int[xs.Count];
        for (int i = 0; i < xs.Count; i++)
        {
            starts[i] = offset;
            var partShape = (int[])shape.Clone();
            partShape[a] = xs[i].Shape[a];
            using var part = new Tensor(y.Storage, partShape, y.Strides, offset * y.Strides[a], retain: true);
            y.Backend.Copy(part, xs[i]);
            offset += xs[i].Shape[a];
        }
        var inputs = xs.ToArray();
        if (Tape.NeedsGrad(inputs))
        {
            Tape.Record("concat", y, g =>
            {
                for (int i = 0; i < inputs.Length; i++)
                {
                    if (!inputs[i].RequiresGrad) continue;
                    var partShape = (int[])g.Shape.Clone();
                    partShape[a] = inputs[i].Shape[a];
                    using var part = new Tensor(g.Storage, partShape, g.Strides, g.Offset + starts[i] * g.Strides[a], retain: true);
                    Tape.AccumulateCopy(inputs[i], part);
                }
            });
        }
        return y;
    }

    /// <summary>Splits along an axis into pieces of the given sizes. Each piece is a view.</summary>
    public static Tensor[] Split(Tensor x, int axis, params int[] sizes)
    {
        int a = x.NormalizeAxis(axis);
        if (sizes.Sum() != x.Shape[a])
            throw new ArgumentException($"split sizes [{string.Join(", ", sizes)}] do not add up to {x.Shape[a]} (axis {a} of {x.ShapeString})");
        var parts = new Tensor[sizes.Length];
        int start = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            parts[i] = Slice(x, a, start, sizes[i]);
            start += sizes[i];
        }
        return parts;
    }

    /// <summary>Splits into <paramref name="chunks"/> equal pieces along an axis.</summary>
    public static Tensor[] Chunk(Tensor x, int chunks, int axis)
    {
        int a = x.NormalizeAxis(axis);
        if (chunks <= 0 || x.Shape[a] % chunks != 0)
            throw new ArgumentException($"cannot split axis {a} of size {x.Shape[a]} into {chunks} equal chunks");
        return Split(x, a, Enumerable.Repeat(x.Shape[a] / chunks, chunks).ToArray());
    }
}
