using System.Numerics.Tensors;

namespace Canter.Tensors.Backends.Cpu;

public sealed unsafe partial class CpuBackend
{
    public void Binary(BinaryOp op, Tensor dst, Tensor a, Tensor b)
    {
        float* pd = Ptr(dst), pa = Ptr(a), pb = Ptr(b);
        int n = dst.Count;
        if (n == 0) return;
        if (a.IsContiguous && b.IsContiguous)
        {
            CpuParallel.For(n, 1, (s, e) => BinaryRow(op, pd + s, pa + s, 1, pb + s, 1, e - s));
            return;
        }
        int rank = dst.Rank;
        int inner = dst.Shape[rank - 1];
        int sa = a.Strides[rank - 1], sb = b.Strides[rank - 1];
        int rows = n / inner;
        int[] shape = dst.Shape, stA = a.Strides, stB = b.Strides;
        CpuParallel.For(rows, inner, (r0, r1) =>
        {
            Span<int> index = stackalloc int[Math.Max(rank - 1, 1)];
            int rem = r0;
            for (int d = rank - 2; d >= 0; d--) { index[d] = rem % shape[d]; rem /= shape[d]; }
            for (int r = r0; r < r1; r++)
            {
                long oa = 0, ob = 0;
                for (int d = 0; d < rank - 1; d++) { oa += (long)index[d] * stA[d]; ob += (long)index[d] * stB[d]; }
                BinaryRow(op, pd + (long)r * inner, pa + oa, sa, pb + ob, sb, inner);
                for (int d = rank - 2; d >= 0; d--) { if (++index[d] < shape[d]) break; index[d] = 0; }
            }
        });
    }

    /// <summary>One row of a binary op; each input's stride is 1 (vector), 0 (scalar) or other (gathered).</summary>
    private static void BinaryRow(BinaryOp op, float* d, float* a, int sa, float* b, int sb, int n)
    {
        var dst = new Span<float>(d, n);
        if (sa == 1 && sb == 1)
        {
            var x = new ReadOnlySpan<float>(a, n);
            var y = new ReadOnlySpan<float>(b, n);
            switch (op)
            {
                case BinaryOp.Add: TensorPrimitives.Add(x, y, dst); return;
                case BinaryOp.Sub: TensorPrimitives.Subtract(x, y, dst); return;
                case BinaryOp.Mul: TensorPrimitives.Multiply(x, y, dst); return;
                case BinaryOp.Div: TensorPrimitives.Divide(x, y, dst); return;
                case BinaryOp.Maximum: TensorPrimitives.Max(x, y, dst); return;
                case BinaryOp.Minimum: TensorPrimitives.Min(x, y, dst); return;
            }
        }
        else if (sa == 1 && sb == 0)
        {
            var x = new ReadOnlySpan<float>(a, n);
            float y = *b;
            switch (op)
            {
                case BinaryOp.Add: TensorPrimitives.Add(x, y, dst); return;
                case BinaryOp.Sub: TensorPrimitives.Subtract(x, y, dst); return;
                case BinaryOp.Mul: TensorPrimitives.Multiply(x, y, dst); return;
                case BinaryOp.Div: TensorPrimitives.Divide(x, y, dst); return;
                case BinaryOp.Maximum: TensorPrimitives.Max(x, y, dst); return;
                case BinaryOp.Minimum: TensorPrimitives.Min(x, y, dst); return;
            }
        }
        else if (sa == 0 && sb == 1)
        {
            float x = *a;
            var y = new ReadOnlySpan<float>(b, n);
            switch (op)
            {
                case BinaryOp.Add: TensorPrimitives.Add(y, x, dst); return;
                case BinaryOp.Sub: TensorPrimitives.Subtract(x, y, dst); return;
                case BinaryOp.Mul: TensorPrimitives.Multiply(y, x, dst); return;
                case BinaryOp.Div: TensorPrimitives.Divide(x, y, dst); return;
                case BinaryOp.Maximum: TensorPrimitives.Max(y, x, dst); return;
                case BinaryOp.Minimum: TensorPrimitives.Min(y, x, dst); return;
            }
        }
        for (int i = 0; i < n; i++)
        {
            float x = a[(long)i * sa], y = b[(long)i * sb];
            d[i] = op switch
            {
                BinaryOp.Add => x + y,
                BinaryOp.Sub => x - y,
                BinaryOp.Mul => x * y,
                BinaryOp.Div => x / y,
                BinaryOp.Maximum => MathF.Max(x, y),
                BinaryOp.Minimum => MathF.Min(x, y),
                BinaryOp.GreaterEqual => x >= y ? 1f : 0f,
                BinaryOp.LessEqual => x <= y ? 1f : 0f,
                _ => throw new NotSupportedException(op.ToString()),
            };
        }
    }

    public void Unary(UnaryOp op, Tensor dst, Tensor x)
    {
        float* pd = Ptr(dst), px = Ptr(x);
        CpuParallel.For(dst.Count, 4, (s, e) =>
        {
            var src = new ReadOnlySpan<float>(px + s, e - s);
            var d = new Span<float>(pd + s, e - s);
            switch (op)
            {
                case UnaryOp.Exp: TensorPrimitives.Exp(src, d); break;
                case UnaryOp.Log: TensorPrimitives.Log(src, d); break;
                case UnaryOp.Sqrt: TensorPrimitives.Sqrt(src, d); break;
                case UnaryOp.Rsqrt: TensorPrimitives.ReciprocalSqrt(src, d); break;
                case UnaryOp.Square: TensorPrimitives.Multiply(src, src, d); break;
                case UnaryOp.Abs: TensorPrimitives.Abs(src, d); break;
                case UnaryOp.Tanh: TensorPrimitives.Tanh(src, d); break;
                case UnaryOp.Sigmoid: TensorPrimitives.Sigmoid(src, d); break;
                case UnaryOp.Relu: TensorPrimitives.Max(src, 0f, d); break;
                case UnaryOp.Sin: TensorPrimitives.Sin(src, d); break;
                case UnaryOp.Cos: TensorPrimitives.Cos(src, d); break;
                case UnaryOp.Reciprocal: TensorPrimitives.Reciprocal(src, d); break;
                default: throw new NotSupportedException(op.ToString());
            }
        });
    }

    public void UnaryBackward(UnaryOp op, Tensor dx, Tensor dy, Tensor x, Tensor y)
    {
        float* pdx = Ptr(dx), pdy = Ptr(dy), px = Ptr(x), py = Ptr(y);
        CpuParallel.For(dx.Count, 4, (s, e) =>
        {
            for (int i = s; i < e; i++)
            {
                float g = pdy[i], xi = px[i], yi = py[i];
                pdx[i] = op switch
                {
                    UnaryOp.Exp => g * yi,
                    UnaryOp.Log => g / xi,
                    UnaryOp.Sqrt => g * 0.5f / yi,
                    UnaryOp.Rsqrt => g * -0.5f * yi * yi * yi,
                    UnaryOp.Square => g * 2f * xi,
                    UnaryOp.Abs => xi > 0 ? g : xi < 0 ? -g : 0f,
                    UnaryOp.Tanh => g * (1f - yi * yi),
                    UnaryOp.Sigmoid => g * yi * (1f - yi),
                    UnaryOp.Relu => xi > 0 ? g : 0f,
                    UnaryOp.Sin => g * MathF.Cos(xi),
                    UnaryOp.Cos => -g * MathF.Sin(xi),
                    UnaryOp.Reciprocal => -g * yi * yi,
                    _ => throw new NotSupportedException(op.ToString()),
                };
            }
        });
    }

    public void Affine(Tensor dst, Tensor x, float scale, float shift)
    {
        float* pd = Ptr(dst), px = Ptr(x);
        CpuParallel.For(dst.Count, 1, (s, e) =>
        {
            var src = new ReadOnlySpan<float>(px + s, e - s);
            var d = new Span<float>(pd + s, e - s);
            TensorPrimitives.Multiply(src, scale, d);
            if (shift != 0f) TensorPrimitives.Add(d, shift, d);
        });
    }

    public void SumReduce(Tensor dst, Tensor src)
    {
        int rank = src.Rank;
        float* pd = Ptr(dst), ps = Ptr(src);
        // Reduced axes that form a suffix: every output is the sum of one contiguous chunk.
        int firstReducedSuffix = rank;
        while (firstReducedSuffix > 0 && dst.Shape[firstReducedSuffix - 1] == 1) firstReducedSuffix--;
        bool suffixOnly = true;
        for (int d = 0; d < firstReducedSuffix; d++)
            if (dst.Shape[d] != src.Shape[d]) { suffixOnly = false; break; }
        if (suffixOnly)
        {
            int outer = dst.Count;
            int chunk = outer == 0 ? 0 : src.Count / outer;
            CpuParallel.For(outer, chunk, (s, e) =>
            {
                for (int o = s; o < e; o++) pd[o] = SumPairwise(new ReadOnlySpan<float>(ps + (long)o * chunk, chunk));
            });
            return;
        }
        // General case: walk source rows of the last axis and add each into its output row.
        new Span<float>(pd, dst.Count).Clear();
        int inner = src.Shape[rank - 1];
        bool innerReduced = dst.Shape[rank - 1] == 1;
        int rows = src.Count / inner;
        var dstStrides = dst.Strides;
        Span<int> index = stackalloc int[Math.Max(rank - 1, 1)];
        for (int r = 0; r < rows; r++)
        {
            long od = 0;
            for (int d = 0; d < rank - 1; d++) if (dst.Shape[d] != 1) od += (long)index[d] * dstStrides[d];
            var row = new ReadOnlySpan<float>(ps + (long)r * inner, inner);
            if (innerReduced) pd[od] += SumPairwise(row);
            else
            {
                var o = new Span<float>(pd + od, inner);
                TensorPrimitives.Add(o, row, o);
            }
            for (int d = rank - 2; d >= 0; d--) { if (++index[d] < src.Shape[d]) break; index[d] = 0; }
        }
    }

    /// <summary>Sum with bounded rounding error (vectorised blocks added pairwise).</summary>
    internal static float SumPairwise(ReadOnlySpan<float> x)
    {
        const int Block = 4096;
        if (x.Length <= Block) return TensorPrimitives.Sum(x);
        int half = x.Length / 2;
        return SumPairwise(x[..half]) + SumPairwise(x[half..]);
    }
}
