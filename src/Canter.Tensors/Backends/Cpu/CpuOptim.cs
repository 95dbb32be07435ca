using System.Numerics.Tensors;

namespace Canter.Tensors.Backends.Cpu;

public sealed unsafe partial class CpuBackend
{
    public void AdamWStep(Tensor p, Tensor m, Tensor v, Tensor g, float lr, float beta1, float beta2, float eps, float weightDecay,
        float bias1, float bias2)
    {
        float* pp = Ptr(p), pm = Ptr(m), pv = Ptr(v), pg = Ptr(g);
        float decay = 1f - lr * weightDecay;
        float stepSize = lr / bias1;
        float rsqrtBias2 = 1f / MathF.Sqrt(bias2);
        CpuParallel.For(p.Count, 8, (s, e) =>
        {
            int n = e - s;
            var ps = new Span<float>(pp + s, n);
            var ms = new Span<float>(pm + s, n);
            var vs = new Span<float>(pv + s, n);
            var gs = new ReadOnlySpan<float>(pg + s, n);
            for (int i = 0; i < n; i++)
            {
                float gi = gs[i];
                float mi = beta1 * ms[i] + (1f - beta1) * gi;
                float vi = beta2 * vs[i] + (1f - beta2) * gi * gi;
                ms[i] = mi;
                vs[i] = vi;
                ps[i] = ps[i] * decay - stepSize * mi / (MathF.Sqrt(vi) * rsqrtBias2 + eps);
            }
        });
    }
}
