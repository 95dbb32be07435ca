using System.Numerics.Tensors;

namespace Canter.Tensors.Backends.Cpu;

public sealed unsafe partial class CpuBackend
{
    public void SoftmaxForward(Tensor y, Tensor x, bool log)
    {
        int rows = x.Shape[0], c = x.Shape[1];
        float* px = Ptr(x), py = Ptr(y);
        CpuParallel.For(rows, 4L * c, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var xr = new ReadOnlySpan<float>(px + (long)r * c, c);
                var yr = new Span<float>(py + (long)r * c, c);
                SoftmaxRow(yr, xr, log);
            }
        });
    }

    internal static void SoftmaxRow(Span<float> y, ReadOnlySpan<float> x, bool log)
    {
        float max = TensorPrimitives.Max(x);
        TensorPrimitives.Subtract(x, max, y);
        if (log)
        {
            // y = x - max - log(sum(exp(x - max)))
            float sum = 0f;
            foreach (var v in y) sum += MathF.Exp(v);
            TensorPrimitives.Subtract(y, MathF.Log(sum), y);
        }
        else
        {
            TensorPrimitives.Exp(y, y);
            float sum = TensorPrimitives.Sum(y);
            TensorPrimitives.Multiply(y, 1f / sum, y);
        }
    }

    public void SoftmaxBackward(Tensor dx, Tensor dy, Tensor y, bool log)
    {
        int rows = y.Shape[0], c = y.Shape[1];
        float* pdx = Ptr(dx), pdy = Ptr(dy), py = Ptr(y);
        CpuParallel.For(rows, 4L * c, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var g = new ReadOnlySpan<float>(pdy + (long)r * c, c);
                var yr = new ReadOnlySpan<float>(py + (long)r * c, c);
                var d = new Span<float>(pdx + (long)r * c, c);
                if (log)
                {
                    float sum = TensorPrimitives.Sum(g);
                    TensorPrimitives.Exp(yr, d);
                    TensorPrimitives.Multiply(d, -sum, d);
                    TensorPrimitives.Add(d, g, d);
                }
                else
                {
                    float dot = TensorPrimitives.Dot(g, yr);
                    TensorPrimitives.Subtract(g, dot, d);
                    TensorPrimitives.Multiply(d, yr, d);
                }
            }
        });
    }
}
