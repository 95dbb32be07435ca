using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Canter.Tensors.Backends.Cpu;

public sealed unsafe partial class CpuBackend
{
    private const int ActivationBlock = 1024;

    public void ActivationForward(Activation kind, Tensor y, Tensor x)
    {
        float* px = Ptr(x), py = Ptr(y);
        CpuParallel.For(x.Count, 8, (s, e) =>
        {
            var tmp = ArrayPool<float>.Shared.Rent(ActivationBlock);
            try
            {
                for (int i = s; i < e; i += ActivationBlock)
                {
                    int n = Math.Min(ActivationBlock, e - i);
                    var xs = new ReadOnlySpan<float>(px + i, n);
                    var ys = new Span<float>(py + i, n);
                    var t = tmp.AsSpan(0, n);
                    switch (kind)
                    {
                        case Activation.GeluTanh:
                            {
                                // y = 0.5 x (1 + tanh(k (x + c x^3))) in one pass
                                int j = 0;
                                for (; j <= n - 8; j += 8) CpuMath.GeluTanh(Vector256.Load(px + i + j)).Store(py + i + j);
                                for (; j < n; j++) ys[j] = CpuMath.GeluTanh(Vector256.Create(xs[j]))[0];
                                break;
                            }
                        case Activation.GeluExact:
                            for (int j = 0; j < n; j++) ys[j] = 0.5f * xs[j] * (1f + Erf(xs[j] * 0.70710678f));
                            break;
                        case Activation.Silu:
                            TensorPrimitives.Sigmoid(xs, t);
                            TensorPrimitives.Multiply(t, xs, ys);
                            break;
                        default:
                            throw new NotSupportedException(kind.ToString());
                    }
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(tmp);
            }
        });
    }

    public void ActivationBackward(Activation kind, Tensor dx, Tensor dy, Tensor x)
    {
        float* px = Ptr(x), pdy = Ptr(dy), pdx = Ptr(dx);
        CpuParallel.For(x.Count, 10, (s, e) =>
        {
            var tmp = ArrayPool<float>.Shared.Rent(3 * ActivationBlock);
            try
            {
                for (int i = s; i < e; i += ActivationBlock)
                {
                    int n = Math.Min(ActivationBlock, e - i);
                    var xs = new ReadOnlySpan<float>(px + i, n);
                    var gs = new ReadOnlySpan<float>(pdy + i, n);
                    var ds = new Span<float>(pdx + i, n);
                    var t = tmp.AsSpan(0, n);
                    var u = tmp.AsSpan(ActivationBlock, n);
                    switch (kind)
                    {
                        case Activation.GeluTanh:
                            {
                                // u = k (x + c x^3); f' = 0.5 (1 + tanh u) + 0.5 x k (1 + 3 c x^2) / cosh(u)^2
                                // (1 / cosh^2 rather than 1 - tanh^2, which cancels near saturation)
                                var w = tmp.AsSpan(2 * ActivationBlock, n);
                                TensorPrimitives.Multiply(xs, xs, u);                 // x^2
                                TensorPrimitives.Multiply(u, CpuMath.GeluCubic, t);
                                TensorPrimitives.FusedMultiplyAdd(t, xs, xs, t);
                                TensorPrimitives.Multiply(t, CpuMath.SqrtTwoOverPi, t);       // u
                                TensorPrimitives.Cosh(t, w);
                                TensorPrimitives.Multiply(w, w, w);
                                TensorPrimitives.Reciprocal(w, w);                    // sech^2 u
                                TensorPrimitives.Tanh(t, t);
                                TensorPrimitives.Multiply(u, 3f * CpuMath.GeluCubic, u);
                                TensorPrimitives.Add(u, 1f, u);                       // 1 + 3 c x^2
                                TensorPrimitives.Multiply(u, w, u);
                                TensorPrimitives.Multiply(u, xs, u);
                                TensorPrimitives.Multiply(u, 0.5f * CpuMath.SqrtTwoOverPi, u);
                                TensorPrimitives.Add(t, 1f, t);
                                TensorPrimitives.FusedMultiplyAdd(t, 0.5f, u, t);      // f'
                                TensorPrimitives.Multiply(t, gs, ds);
                                break;
                            }
                        case Activation.GeluExact:
                            for (int j = 0; j < n; j++)
                            {
                                float xj = xs[j];
                                float cdf = 0.5f * (1f + Erf(xj * 0.70710678f));
                                float pdf = 0.3989422804f * MathF.Exp(-0.5f * xj * xj);
                                ds[j] = gs[j] * (cdf + xj * pdf);
                            }
                            break;
                        case Activation.Silu:
                            TensorPrimitives.Sigmoid(xs, t);
                            for (int j = 0; j < n; j++)
                            {
                                float sj = t[j];
                                ds[j] = gs[j] * sj * (1f + xs[j] * (1f - sj));
                            }
                            break;
                        default:
                            throw new NotSupportedException(kind.ToString());
                    }
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(tmp);
            }
        });
    }

    /// <summary>erf with relative error below 1.2e-7 (Chebyshev fit of erfc, Numerical Recipes 6.2), evaluated in double.</summary>
    internal static float Erf(float xf)
    {
        double x = xf;
        double z = Math.Abs(x);
        double t = 1.0 / (1.0 + 0.5 * z);
        double erfc = t * Math.Exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
            t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return (float)(x >= 0 ? 1.0 - erfc : erfc - 1.0);
    }
}
