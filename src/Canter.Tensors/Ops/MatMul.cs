using Canter.Tensors.Autograd;

namespace Canter.Tensors;

public partial interface IBackend
{
    /// <summary>
    /// c = alpha * a @ b + beta * c, batched. c is (Bt, M, N) or (M, N) with unit column stride;
    /// a is (Bt|1, M, K) and b is (Bt|1, K, N) (or rank 2), each a matrix view in row-major or
    /// transposed layout (see <see cref="MatrixLayout"/>); batch stride 0 broadcasts.
    /// </summary>
    void Gemm(Tensor c, Tensor a, Tensor b, float alpha, float beta);
}

/// <summary>How a strided matrix view maps onto BLAS arguments (transpose flag and leading dimension).</summary>
public readonly record struct MatrixLayout(bool Transposed, int LeadingDimension)
{
    /// <summary>The BLAS layout of the last two axes of <paramref name="t"/>, or null when it has none (needs a copy).</summary>
    public static MatrixLayout? Of(Tensor t)
    {
        int rows = t.Shape[^2], cols = t.Shape[^1];
        int rs = t.Strides[^2], cs = t.Strides[^1];
        if (cs == 1 || cols == 1)
        {
            int ld = rows == 1 ? Math.Max(cols, 1) : rs;
            if (ld >= Math.Max(cols, 1)) return new MatrixLayout(false, ld);
        }
        if (rs == 1 || rows == 1)
        {
            int ld = cols == 1 ? Math.Max(rows, 1) : cs;
            if (ld >= Math.Max(rows, 1)) return new MatrixLayout(true, ld);
        }
        return null;
    }
}

public static partial class Ops
{
    /// <summary>
    /// Matrix product over the last two axes: a (..., M, K) @ b (..., K, N) -> (..., M, N).
    /// b may be a plain matrix (K, N) shared by every batch entry. Views with transposed
    /// strides go to BLAS without a copy.
    /// </summary>
    public static Tensor MatMul(Tensor a, Tensor b)
    {
        a.ThrowIfDisposed();
        b.ThrowIfDisposed();
        CheckSameBackend(a, b);
        if (a.Rank < 2 || b.Rank < 2) throw new ArgumentException($"matmul needs rank >= 2; got {a.ShapeString} and {b.ShapeString}");
        int m = a.Shape[^2], k = a.Shape[^1], n = b.Shape[^1];
        if (b.Shape[^2] != k) throw new ArgumentException($"matmul: inner dimensions differ ({a.ShapeString} @ {b.ShapeString})");

        if (b.Rank == 2)
        {
            // fold the batch into rows: one large GEMM
            var batchShape = a.Shape[..^2];
            var a2 = AsMatrixRows(a);                                   // (B*M, K)
            var y2 = Tensor.Empty([a2.Shape[0], n], a.Backend);         // (B*M, N)
            var bm = BlasReady(b);
            a.Backend.Gemm(y2, a2, bm, 1f, 0f);
            if (Tape.NeedsGrad(a2, bm)) RecordMatMul2D(y2, a2, bm);
            var y = Reshape(y2, [.. batchShape, m, n]);
            y2.Dispose();
            return y;
        }

        if (!ShapeUtil.SameShape(a.Shape[..^2], b.Shape[..^2]))
            throw new ArgumentException($"batched matmul needs equal batch shapes; got {a.ShapeString} and {b.ShapeString}");
        var batch = ShapeUtil.Count(a.Shape.AsSpan(0, a.Rank - 2));
        var a3 = AsBatch(a);                                            // (Bt, M, K)
        var b3 = AsBatch(b);                                            // (Bt, K, N)
        var y3 = Tensor.Empty([batch, m, n], a.Backend);                // (Bt, M, N)
        a.Backend.Gemm(y3, a3, b3, 1f, 0f);
        if (Tape.NeedsGrad(a3, b3))
        {
            Tape.Record("bmm", y3, g =>
            {
                if (a3.RequiresGrad)
                {
                    var da = Tensor.Empty(a3.Shape, g.Backend);          // (Bt, M, K) = g @ b^T
                    using var bt = TransposeView(b3);
                    g.Backend.Gemm(da, g, bt, 1f, 0f);
                    Tape.Accumulate(a3, da);
                }
                if (b3.RequiresGrad)
                {
                    var db = Tensor.Empty(b3.Shape, g.Backend);          // (Bt, K, N) = a^T @ g
                    using var at = TransposeView(a3);
                    g.Backend.Gemm(db, at, g, 1f, 0f);
                    Tape.Accumulate(b3, db);
                }
            });
        }
        var result = Reshape(y3, [.. a.Shape[..^2], m, n]);
        return result;
    }

    private static void RecordMatMul2D(Tensor y2, Tensor a2, Tensor b)
    {
        Tape.Record("matmul", y2, g =>
        {
            if (a2.RequiresGrad)
            {
                var da = Tensor.Empty(a2.Shape, g.Backend);              // (M, K) = g @ b^T
                using var bt = TransposeView(b);
                g.Backend.Gemm(da, g, bt, 1f, 0f);
                Tape.Accumulate(a2, da);
            }
            if (b.RequiresGrad)
            {
                var db = Tensor.Empty(b.Shape, g.Backend);               // (K, N) = a^T @ g
                using var at = TransposeView(a2);
                g.Backend.Gemm(db, at, g, 1f, 0f);
                Tape.Accumulate(b, db);
            }
        });
    }

    /// <summary>
    /// y = x @ w^T + bias, the layer of every transformer: x (..., In), w (Out, In), bias (Out) or null.
    /// </summary>
    public static Tensor Linear(Tensor x, Tensor w, Tensor? bias = null)
    {
        x.ThrowIfDisposed();
        w.ThrowIfDisposed();
        CheckSameBackend(x, w);
        if (w.Rank != 2) throw new ArgumentException($"linear weight must be (out, in); got {w.ShapeString}");
        int inF = w.Shape[1], outF = w.Shape[0];
        if (x.Shape[^1] != inF) throw new ArgumentException($"linear: input {x.ShapeString} has {x.Shape[^1]} features, weight {w.ShapeString} expects {inF}");
        if (bias is not null && (bias.Rank != 1 || bias.Shape[0] != outF))
            throw new ArgumentException($"linear: bias {bias.ShapeString} must be ({outF},)");

        var x2 = AsMatrixRows(x);                                       // (M, In)
        int rows = x2.Shape[0];
        var y2 = Tensor.Empty([rows, outF], x.Backend);                 // (M, Out)
        float beta = 0f;
        if (bias is not null)
        {
            using var bv = BroadcastView(bias, y2.Shape);
            x.Backend.Copy(y2, bv);
            beta = 1f;
        }
        var wm = BlasReady(w);
        using (var wt = TransposeView(wm))                              // (In, Out) view
            x.Backend.Gemm(y2, x2, wt, 1f, beta);

        if (Tape.NeedsGrad(x2, wm, bias))
        {
            Tape.Record("linear", y2, g =>
            {
                if (x2.RequiresGrad)
                {
                    var dx = Tensor.Empty(x2.Shape, g.Backend);          // (M, In) = g (M, Out) @ w (Out, In)
                    g.Backend.Gemm(dx, g, wm, 1f, 0f);
                    Tape.Accumulate(x2, dx);
                }
                if (wm.RequiresGrad)
                {
                    var dw = Tensor.Empty(wm.Shape, g.Backend);          // (Out, In) = g^T (Out, M) @ x (M, In)
                    using var gt = TransposeView(g);
                    g.Backend.Gemm(dw, gt, x2, 1f, 0f);
                    Tape.Accumulate(wm, dw);
                }
                if (bias is not null && bias.RequiresGrad) Tape.Accumulate(bias, SumTo(g, bias.Shape));
            });
        }
        var y = Reshape(y2, [.. x.Shape[..^1], outF]);
        y2.Dispose();
        return y;
    }

    /// <summary>x viewed as (rows, last) with a BLAS-compatible layout; copies (recorded) only when needed.</summary>
    private static Tensor AsMatrixRows(Tensor x)
    {
        if (x.Rank == 2 && MatrixLayout.Of(x) is { Transposed: false }) return x;
        return Reshape(x, -1, x.Shape[^1]);
    }

    /// <summary>x as (Bt, R, C) whose matrices BLAS can read directly; copies (recorded) only when needed.</summary>
    private static Tensor AsBatch(Tensor x)
    {
        if (x.Rank == 3 && MatrixLayout.Of(x) is not null) return x;
        if (x.Rank > 3)
        {
            // merge leading axes when their strides allow it without a copy
            bool mergeable = true;
            for (int d = 0; d < x.Rank - 3; d++)
                if (x.Strides[d] != x.Strides[d + 1] * x.Shape[d + 1]) { mergeable = false; break; }
            if (mergeable && MatrixLayout.Of(x) is not null)
            {
                int bt = ShapeUtil.Count(x.Shape.AsSpan(0, x.Rank - 2));
                var view = new Tensor(x.Storage, [bt, x.Shape[^2], x.Shape[^1]], [x.Strides[x.Rank - 3], x.Strides[^2], x.Strides[^1]], x.Offset, retain: true);
                if (Tape.NeedsGrad(x))
                {
                    var shape = x.Shape;
                    Tape.Record("merge-batch", view, g => Tape.AccumulateCopy(x, View(g, shape)));
                }
                return view;
            }
        }
        return Reshape(x, -1, x.Shape[^2], x.Shape[^1]);
    }

    private static Tensor BlasReady(Tensor m) => MatrixLayout.Of(m) is not null ? m : Contiguous(m);

    /// <summary>An unrecorded view swapping the last two axes.</summary>
    internal static Tensor TransposeView(Tensor t)
    {
        var shape = (int[])t.Shape.Clone();
        var strides = (int[])t.Strides.Clone();
        (shape[^1], shape[^2]) = (shape[^2], shape[^1]);
        (strides[^1], strides[^2]) = (strides[^2], strides[^1]);
        return new Tensor(t.Storage, shape, strides, t.Offset, retain: true);
    }
}
