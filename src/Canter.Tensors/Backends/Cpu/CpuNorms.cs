using System.Buffers;
using System.Collections.Concurrent;
using System.Numerics.Tensors;

namespace Canter.Tensors.Backends.Cpu;

public sealed unsafe partial class CpuBackend
{
    /// <summary>Pointer to row r of a modulation view (B, N, C) with strides (sb, sn, 1), rows r = b * N + n.</summary>
    private static float* ModRow(float* p, Tensor m, int r)
    {
        int n = m.Shape[1];
        return p + (long)(r / n) * m.Strides[0] + (long)(r % n) * m.Strides[1];
    }

    public void LayerNormForward(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor? weight, Tensor? bias,
        Tensor? shift, Tensor? scale, float eps)
    {
        int rows = x.Shape[0], c = x.Shape[1], xs = x.Strides[0];
        float* px = Ptr(x), py = Ptr(y), pm = Ptr(mean), pr = Ptr(rstd);
        float* pw = weight is null ? null : Ptr(weight), pb = bias is null ? null : Ptr(bias);
        float* psh = shift is null ? null : Ptr(shift), psc = scale is null ? null : Ptr(scale);
        CpuParallel.For(rows, 4L * c, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var xr = new ReadOnlySpan<float>(px + (long)r * xs, c);
                var yr = new Span<float>(py + (long)r * c, c);
                float mu = TensorPrimitives.Sum(xr) / c;
                TensorPrimitives.Subtract(xr, mu, yr);
                float variance = TensorPrimitives.SumOfSquares(yr) / c;
                float rs = 1f / MathF.Sqrt(variance + eps);
                TensorPrimitives.Multiply(yr, rs, yr);
                pm[r] = mu;
                pr[r] = rs;
                if (pw != null) TensorPrimitives.Multiply(yr, new ReadOnlySpan<float>(pw, c), yr);
                if (pb != null) TensorPrimitives.Add(yr, new ReadOnlySpan<float>(pb, c), yr);
                if (psc != null)
                {
                    var sc = new ReadOnlySpan<float>(ModRow(psc, scale!, r), c);
                    TensorPrimitives.FusedMultiplyAdd(yr, sc, yr, yr);       // y * (1 + scale)
                }
                if (psh != null) TensorPrimitives.Add(yr, new ReadOnlySpan<float>(ModRow(psh, shift!, r), c), yr);
            }
        });
    }

    public void LayerNormBackward(Tensor dx, Tensor? dWeight, Tensor? dBias, Tensor? dShift, Tensor? dScale,
        Tensor dy, Tensor x, Tensor mean, Tensor rstd, Tensor? weight, Tensor? scale)
    {
        int rows = x.Shape[0], c = x.Shape[1], xs = x.Strides[0];
        float* px = Ptr(x), pdy = Ptr(dy), pdx = Ptr(dx), pm = Ptr(mean), pr = Ptr(rstd);
        float* pw = weight is null ? null : Ptr(weight), psc = scale is null ? null : Ptr(scale);
        float* pdsh = dShift is null ? null : Ptr(dShift), pdsc = dScale is null ? null : Ptr(dScale);
        bool paramGrads = dWeight is not null || dBias is not null;
        var partials = new ConcurrentDictionary<int, (float[] W, float[] B)>(); // keyed by first row: summed in order, so results do not depend on timing
        CpuParallel.For(rows, 6L * c, (r0, r1) =>
        {
            var g = ArrayPool<float>.Shared.Rent(c);
            var partialW = paramGrads ? new float[c] : null;
            var partialB = paramGrads ? new float[c] : null;
            try
            {
                var gs = g.AsSpan(0, c);
                for (int r = r0; r < r1; r++)
                {
                    var xr = new ReadOnlySpan<float>(px + (long)r * xs, c);
                    var dyr = new ReadOnlySpan<float>(pdy + (long)r * c, c);
                    var xhat = new Span<float>(pdx + (long)r * c, c); // dx row holds xhat until the end
                    TensorPrimitives.Subtract(xr, pm[r], xhat);
                    TensorPrimitives.Multiply(xhat, pr[r], xhat);
                    if (pdsh != null) dyr.CopyTo(new Span<float>(pdsh + (long)r * c, c));
                    if (pdsc != null) TensorPrimitives.Multiply(dyr, xhat, new Span<float>(pdsc + (long)r * c, c));
                    if (partialW is not null)
                    {
                        TensorPrimitives.FusedMultiplyAdd(dyr, xhat, partialW, partialW);
                        TensorPrimitives.Add(partialB!, dyr, partialB);
                    }
                    // g = dL/d(xhat)
                    if (psc != null) TensorPrimitives.FusedMultiplyAdd(dyr, new ReadOnlySpan<float>(ModRow(psc, scale!, r), c), dyr, gs);
                    else if (pw != null) TensorPrimitives.Multiply(dyr, new ReadOnlySpan<float>(pw, c), gs);
                    else dyr.CopyTo(gs);
                    float meanG = TensorPrimitives.Sum(gs) / c;
                    float meanGx = TensorPrimitives.Dot(gs, xhat) / c;
                    // dx = rstd * (g - meanG - xhat * meanGx)
                    TensorPrimitives.FusedMultiplyAdd(xhat, -meanGx, gs, xhat);
                    TensorPrimitives.Add(xhat, -meanG, xhat);
                    TensorPrimitives.Multiply(xhat, pr[r], xhat);
                }
                if (partialW is not null) partials[r0] = (partialW, partialB!);
            }
            finally
            {
                ArrayPool<float>.Shared.Return(g);
            }
        });
        if (!paramGrads) return;
        var totalW = new float[c];
        var totalB = new float[c];
        foreach (var key in partials.Keys.Order())
        {
            TensorPrimitives.Add(totalW, partials[key].W, totalW);
            TensorPrimitives.Add(totalB, partials[key].B, totalB);
        }
        if (dWeight is not null) totalW.AsSpan().CopyTo(Span(dWeight));
        if (dBias is not null) totalB.AsSpan().CopyTo(Span(dBias));
    }

    public void RmsNormForward(Tensor y, Tensor rstd, Tensor x, Tensor? weight, float eps)
    {
        int rows = x.Shape[0], c = x.Shape[1], xs = x.Strides[0];
        float* px = Ptr(x), py = Ptr(y), pr = Ptr(rstd);
        float* pw = weight is null ? null : Ptr(weight);
        CpuParallel.For(rows, 3L * c, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                var xr = new ReadOnlySpan<float>(px + (long)r * xs, c);
                var yr = new Span<float>(py + (long)r * c, c);
                float rs = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(xr) / c + eps);
                pr[r] = rs;
                TensorPrimitives.Multiply(xr, rs, yr);
                if (pw != null) TensorPrimitives.Multiply(yr, new ReadOnlySpan<float>(pw, c), yr);
            }
        });
    }

    public void RmsNormBackward(Tensor dx, Tensor? dWeight, Tensor dy, Tensor x, Tensor rstd, Tensor? weight)
    {
        int rows = x.Shape[0], c = x.Shape[1], xs = x.Strides[0];
        float* px = Ptr(x), pdy = Ptr(dy), pdx = Ptr(dx), pr = Ptr(rstd);
        float* pw = weight is null ? null : Ptr(weight);
        var partials = new ConcurrentDictionary<int, float[]>();
        CpuParallel.For(rows, 5L * c, (r0, r1) =>
        {
            var g = ArrayPool<float>.Shared.Rent(c);
            var partialW = dWeight is null ? null : new float[c];
            try
            {
                var gs = g.AsSpan(0, c);
                for (int r = r0; r < r1; r++)
                {
                    var xr = new ReadOnlySpan<float>(px + (long)r * xs, c);
                    var dyr = new ReadOnlySpan<float>(pdy + (long)r * c, c);
                    var xhat = new Span<float>(pdx + (long)r * c, c);
                    TensorPrimitives.Multiply(xr, pr[r], xhat);
                    if (partialW is not null) TensorPrimitives.FusedMultiplyAdd(dyr, xhat, partialW, partialW);
                    if (pw != null) TensorPrimitives.Multiply(dyr, new ReadOnlySpan<float>(pw, c), gs);
                    else dyr.CopyTo(gs);
                    float meanGx = TensorPrimitives.Dot(gs, xhat) / c;
                    // dx = rstd * (g - xhat * meanGx)
                    TensorPrimitives.FusedMultiplyAdd(xhat, -meanGx, gs, xhat);
                    TensorPrimitives.Multiply(xhat, pr[r], xhat);
                }
                if (partialW is not null) partials[r0] = partialW;
            }
            finally
            {
                ArrayPool<float>.Shared.Return(g);
            }
        });
        if (dWeight is null) return;
        var totalW = new float[c];
        foreach (var key in partials.Keys.Order()) TensorPrimitives.Add(totalW, partials[key], totalW);
        totalW.AsSpan().CopyTo(Span(dWeight));
    }

    /// <summary>Positions per work item of the channel norms: a (C, 512) block of x stays in L2 between its two passes.</summary>
    private const int ChannelNormBlock = 512;

    public void ChannelRmsNormForward(Tensor y, Tensor rstd, Tensor x, Tensor? weight, float eps)
    {
        int b = x.Shape[0], c = x.Shape[1], positions = x.Shape[2], blocks = (positions + ChannelNormBlock - 1) / ChannelNormBlock;
        float* px = Ptr(x), py = Ptr(y), pr = Ptr(rstd);
        float* pw = weight is null ? null : Ptr(weight);
        CpuParallel.For(b * blocks, 3L * c * ChannelNormBlock, (i0, i1) =>
        {
            for (int i = i0; i < i1; i++)
            {
                int item = i / blocks, s0 = i % blocks * ChannelNormBlock, n = Math.Min(ChannelNormBlock, positions - s0);
                float* xs = px + (long)item * c * positions + s0, ys = py + (long)item * c * positions + s0;
                var r = new Span<float>(pr + (long)item * positions + s0, n);                  // (n) sums of squares, then rstd
                r.Clear();
                for (int ch = 0; ch < c; ch++)
                {
                    var row = new ReadOnlySpan<float>(xs + (long)ch * positions, n);
                    TensorPrimitives.FusedMultiplyAdd(row, row, r, r);
                }
                for (int k = 0; k < n; k++) r[k] = 1f / MathF.Sqrt(r[k] / c + eps);
                for (int ch = 0; ch < c; ch++)
                {
                    var yr = new Span<float>(ys + (long)ch * positions, n);
                    TensorPrimitives.Multiply(new ReadOnlySpan<float>(xs + (long)ch * positions, n), r, yr);
                    if (pw != null) TensorPrimitives.Multiply(yr, pw[ch], yr);
                }
            }
        });
    }

    public void ChannelRmsNormBackward(Tensor dx, Tensor? dWeight, Tensor dy, Tensor x, Tensor rstd, Tensor? weight)
    {
        int b = x.Shape[0], c = x.Shape[1], positions = x.Shape[2], blocks = (positions + ChannelNormBlock - 1) / ChannelNormBlock, items = b * blocks;
        float* px = Ptr(x), pdy = Ptr(dy), pdx = Ptr(dx), pr = Ptr(rstd);
        float* pw = weight is null ? null : Ptr(weight);
        // each work item's weight gradient apart, added in item order after: the same bits whatever the thread count
        var partials = dWeight is null ? null : new float[(long)items * c];
        CpuParallel.For(items, 6L * c * ChannelNormBlock, (i0, i1) =>
        {
            var m = new float[ChannelNormBlock];                                               // (n) r * sum_c w dy x / C
            for (int i = i0; i < i1; i++)
            {
                int item = i / blocks, s0 = i % blocks * ChannelNormBlock, n = Math.Min(ChannelNormBlock, positions - s0);
                long at = (long)item * c * positions + s0;
                var r = new ReadOnlySpan<float>(pr + (long)item * positions + s0, n);
                var ms = m.AsSpan(0, n);
                ms.Clear();
                for (int ch = 0; ch < c; ch++)
                {
                    var xr = new ReadOnlySpan<float>(px + at + (long)ch * positions, n);
                    var dyr = new ReadOnlySpan<float>(pdy + at + (long)ch * positions, n);
                    var scratch = new Span<float>(pdx + at + (long)ch * positions, n);              // x * dy, overwritten below
                    TensorPrimitives.Multiply(xr, dyr, scratch);
                    if (partials is not null) partials[(long)i * c + ch] = TensorPrimitives.Dot(scratch, r);
                    TensorPrimitives.FusedMultiplyAdd(scratch, pw == null ? 1f : pw[ch], ms, ms);
                }
                // -m = -r^3 sum / C, so that dx = r w dy - x m is one fused multiply-add per channel
                for (int k = 0; k < n; k++) ms[k] *= -r[k] * r[k] * r[k] / c;
                for (int ch = 0; ch < c; ch++)
                {
                    var xr = new ReadOnlySpan<float>(px + at + (long)ch * positions, n);
                    var dyr = new ReadOnlySpan<float>(pdy + at + (long)ch * positions, n);
                    var dxr = new Span<float>(pdx + at + (long)ch * positions, n);
                    TensorPrimitives.Multiply(dyr, r, dxr);
                    if (pw != null) TensorPrimitives.Multiply(dxr, pw[ch], dxr);
                    TensorPrimitives.FusedMultiplyAdd(xr, ms, dxr, dxr);
                }
            }
        });
        if (dWeight is null) return;
        var total = new float[c];
        for (int i = 0; i < items; i++) TensorPrimitives.Add(total, new ReadOnlySpan<float>(partials, i * c, c), total);
        total.AsSpan().CopyTo(Span(dWeight));
    }
}
