using Canter.Tensors.Autograd;

namespace Canter.Tensors;

/// <summary>Binary operations with NumPy broadcasting (GreaterEqual and LessEqual give 1 or 0, without gradient).</summary>
public enum BinaryOp { Add, Sub, Mul, Div, Maximum, Minimum, GreaterEqual, LessEqual }

/// <summary>Element-wise functions of one tensor.</summary>
public enum UnaryOp { Exp, Log, Sqrt, Rsqrt, Square, Abs, Tanh, Sigmoid, Relu, Sin, Cos, Reciprocal }

public partial interface IBackend
{
    /// <summary>dst = a op b. dst is contiguous; a and b are views of dst's shape (broadcast axes have stride 0).</summary>
    void Binary(BinaryOp op, Tensor dst, Tensor a, Tensor b);

    /// <summary>dst = f(x); both contiguous, same shape.</summary>
    void Unary(UnaryOp op, Tensor dst, Tensor x);

    /// <summary>dx = dy * f'(x) given x and y = f(x); all contiguous, same shape.</summary>
    void UnaryBackward(UnaryOp op, Tensor dx, Tensor dy, Tensor x, Tensor y);

    /// <summary>dst = x * scale + shift; both contiguous.</summary>
    void Affine(Tensor dst, Tensor x, float scale, float shift);

    /// <summary>dst = sum of src over the axes where dst has size 1 (dst and src have equal rank; src contiguous).</summary>
    void SumReduce(Tensor dst, Tensor src);
}

public static partial class Ops
{
    public static Tensor Add(Tensor a, Tensor b) => Binary(BinaryOp.Add, a, b);
    public static Tensor Sub(Tensor a, Tensor b) => Binary(BinaryOp.Sub, a, b);
    public static Tensor Mul(Tensor a, Tensor b) => Binary(BinaryOp.Mul, a, b);
    public static Tensor Div(Tensor a, Tensor b) => Binary(BinaryOp.Div, a, b);
    public static Tensor Maximum(Tensor a, Tensor b) => Binary(BinaryOp.Maximum, a, b);
    public static Tensor Minimum(Tensor a, Tensor b) => Binary(BinaryOp.Minimum, a, b);

    /// <summary>a op b with broadcasting; the gradient of each input is summed back to its shape.</summary>
    public static Tensor Binary(BinaryOp op, Tensor a, Tensor b)
    {
        a.ThrowIfDisposed();
        b.ThrowIfDisposed();
        CheckSameBackend(a, b);
        var shape = ShapeUtil.Broadcast(a.Shape, b.Shape);
        var y = Tensor.Empty(shape, a.Backend);
        using (var av = BroadcastView(a, shape))
        using (var bv = BroadcastView(b, shape))
            a.Backend.Binary(op, y, av, bv);

        bool differentiable = op is not (BinaryOp.GreaterEqual or BinaryOp.LessEqual);
        if (differentiable && Tape.NeedsGrad(a, b))
        {
            Tape.Record(op.ToString().ToLowerInvariant(), y, g =>
            {
                if (a.RequiresGrad) Tape.Accumulate(a, BinaryGrad(op, g, a, b, y, wrtA: true));
                if (b.RequiresGrad) Tape.Accumulate(b, BinaryGrad(op, g, a, b, y, wrtA: false));
            });
        }
        return y;
    }

    private static Tensor BinaryGrad(BinaryOp op, Tensor g, Tensor a, Tensor b, Tensor y, bool wrtA)
    {
        var target = wrtA ? a : b;
        Tensor full; // gradient in the broadcast shape
        switch (op)
        {
            case BinaryOp.Add:
                return SumTo(g, target.Shape);
            case BinaryOp.Sub:
                if (wrtA) return SumTo(g, target.Shape);
                using (var s = SumTo(g, target.Shape)) return Scale(s, -1f);
            case BinaryOp.Mul:
                full = Mul(g, wrtA ? b : a);
                break;
            case BinaryOp.Div:
                if (wrtA) full = Div(g, b);
                else
                {
                    // d(a/b)/db = -y / b
                    using var yb = Div(y, b);
                    using var gy = Mul(g, yb);
                    full = Scale(gy, -1f);
                }
                break;
            case BinaryOp.Maximum:
            case BinaryOp.Minimum:
                {
                    // the gradient goes to the input that was selected (ties go to a)
                    var compare = op == BinaryOp.Maximum ? BinaryOp.GreaterEqual : BinaryOp.LessEqual;
                    using var fromA = Tensor.Empty(y.Shape, y.Backend);
                    using (var av = BroadcastView(a, y.Shape))
                    using (var bv = BroadcastView(b, y.Shape))
                        y.Backend.Binary(compare, fromA, av, bv);
                    if (wrtA) full = Mul(g, fromA);
                    else
                    {
                        using var fromB = AffineOp(fromA, -1f, 1f);
                        full = Mul(g, fromB);
                    }
                    break;
                }
            default:
                throw new NotSupportedException($"no gradient rule for binary op {op}");
        }
        if (ShapeUtil.SameShape(full.Shape, target.Shape)) return full;
        using (full) return SumTo(full, target.Shape);
    }

    /// <summary>x * s.</summary>
    public static Tensor Scale(Tensor x, float s) => AffineOp(x, s, 0f);

    /// <summary>x + s.</summary>
    public static Tensor AddScalar(Tensor x, float s) => AffineOp(x, 1f, s);

    /// <summary>x * scale + shift.</summary>
    public static Tensor AffineOp(Tensor x, float scale, float shift)
    {
        x.ThrowIfDisposed();
        using var xc = x.IsContiguous ? x.Detach() : ContiguousCopy(x);
        var y = Tensor.EmptyLike(x);
        x.Backend.Affine(y, xc, scale, shift);
        if (Tape.NeedsGrad(x))
        {
            Tape.Record("affine", y, g =>
            {
                var dx = Tensor.EmptyLike(g);
                using var gc = g.IsContiguous ? g.Detach() : ContiguousCopy(g);
                g.Backend.Affine(dx, gc, scale, 0f);
                Tape.Accumulate(x, dx);
            });
        }
        return y;
    }

    public static Tensor Exp(Tensor x) => Unary(UnaryOp.Exp, x);
    public static Tensor Log(Tensor x) => Unary(UnaryOp.Log, x);
    public static Tensor Sqrt(Tensor x) => Unary(UnaryOp.Sqrt, x);
    public static Tensor Rsqrt(Tensor x) => Unary(UnaryOp.Rsqrt, x);
    public static Tensor Square(Tensor x) => Unary(UnaryOp.Square, x);
    public static Tensor Abs(Tensor x) => Unary(UnaryOp.Abs, x);
    public static Tensor Tanh(Tensor x) => Unary(UnaryOp.Tanh, x);
    public static Tensor Sigmoid(Tensor x) => Unary(UnaryOp.Sigmoid, x);
    public static Tensor Relu(Tensor x) => Unary(UnaryOp.Relu, x);
    public static Tensor Sin(Tensor x) => Unary(UnaryOp.Sin, x);
    public static Tensor Cos(Tensor x) => Unary(UnaryOp.Cos, x);
    public static Tensor Reciprocal(Tensor x) => Unary(UnaryOp.Reciprocal, x);

    /// <summary>f(x) element-wise.</summary>
    public static Tensor Unary(UnaryOp op, Tensor x)
    {
        x.ThrowIfDisposed();
        var xc = x.IsContiguous ? x : ContiguousCopy(x);
        var y = Tensor.EmptyLike(x);
        x.Backend.Unary(op, y, xc);
        if (Tape.NeedsGrad(x))
        {
            Tape.Record(op.ToString().ToLowerInvariant(), y, g =>
            {
                var dx = Tensor.EmptyLike(x);
                using var gc = g.IsContiguous ? g.Detach() : ContiguousCopy(g);
                x.Backend.UnaryBackward(op, dx, gc, xc, y);
                Tape.Accumulate(x, dx);
            });
        }
        else if (!ReferenceEquals(xc, x)) xc.Dispose();
        return y;
    }

    /// <summary>Sums <paramref name="g"/> over broadcast axes so that it has <paramref name="shape"/>. Not recorded.</summary>
    public static Tensor SumTo(Tensor g, int[] shape)
    {
        if (ShapeUtil.SameShape(g.Shape, shape))
        {
            var copy = Tensor.EmptyLike(g);
            g.Backend.Copy(copy, g);
            return copy;
        }
        // align ranks: reduce leading axes and axes where shape has 1
        var keep = new int[g.Rank];
        int lead = g.Rank - shape.Length;
        if (lead < 0) throw new ArgumentException($"cannot sum {g.ShapeString} to {ShapeUtil.Format(shape)}");
        for (int i = 0; i < g.Rank; i++)
        {
            int target = i < lead ? 1 : shape[i - lead];
            if (target != 1 && target != g.Shape[i]) throw new ArgumentException($"cannot sum {g.ShapeString} to {ShapeUtil.Format(shape)}");
            keep[i] = target;
        }
        using var gc = g.IsContiguous ? g.Detach() : ContiguousCopy(g);
        var reduced = Tensor.Empty(keep, g.Backend);
        g.Backend.SumReduce(reduced, gc);
        var result = new Tensor(reduced.Storage, (int[])shape.Clone(), ShapeUtil.ContiguousStrides(shape), 0, retain: true);
        reduced.Dispose();
        return result;
    }

    /// <summary>A contiguous copy that is not recorded (for kernels that need contiguous input).</summary>
    internal static Tensor ContiguousCopy(Tensor x)
    {
        var c = Tensor.EmptyLike(x);
        x.Backend.Copy(c, x);
        return c;
    }

    /// <summary>An unrecorded broadcast view of x as <paramref name="shape"/>.</summary>
    internal static Tensor BroadcastView(Tensor x, int[] shape) =>
        new(x.Storage, shape, BroadcastStrides(x, shape), x.Offset, retain: true);

    internal static void CheckSameBackend(Tensor a, Tensor b)
    {
        if (!ReferenceEquals(a.Backend, b.Backend))
            throw new ArgumentException($"tensors on different devices ({a.Backend.Name} and {b.Backend.Name})");
    }
}
