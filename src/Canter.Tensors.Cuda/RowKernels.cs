using ILGPU;
using ILGPU.Algorithms;

namespace Canter.Tensors.Cuda;

/// <summary>
/// Kernels that give each row to one warp: lanes stride over the row (coalesced) and combine
/// with warp shuffles. Launched with explicit groups (<see cref="GpuBackend"/>'s RowLaunch).
/// </summary>
internal static class RowKernels
{
    private static int Row() => Grid.IdxX * (Group.DimX / Warp.WarpSize) + Group.IdxX / Warp.WarpSize;

    private static float WarpSum(float v)
    {
        for (int o = Warp.WarpSize / 2; o > 0; o /= 2) v += Warp.ShuffleXor(v, o);
        return v;
    }

    private static float WarpMax(float v)
    {
        for (int o = Warp.WarpSize / 2; o > 0; o /= 2) v = XMath.Max(v, Warp.ShuffleXor(v, o));
        return v;
    }

    /// <summary>Attention scores of one batch entry: masked softmax in place (or probabilities from a saved log-sum-exp).</summary>
    public static void AttentionSoftmax(ArrayView<float> s, ArrayView<float> lse, ArrayView<int> segments, AttentionArgs a, int b, int probsFromLse)
    {
        int r = Row();
        if (r >= a.H * a.Nq) return;
        int lane = Warp.LaneIdx, ws = Warp.WarpSize;
        int nk = a.Nk, qi = r % a.Nq, o = r * nk;
        int lseIndex = b * a.H * a.Nq + r;
        int segQ = a.HasSegments != 0 ? segments[b * a.Nq + qi] : 0;
        if (probsFromLse != 0)
        {
            float l = lse[lseIndex];
            for (int j = lane; j < nk; j += ws)
            {
                bool masked = a.HasSegments != 0 && segments[b * nk + j] != segQ;
                s[o + j] = masked || l == float.PositiveInfinity ? 0f : XMath.Exp(s[o + j] - l);
            }
            return;
        }
        float max = float.NegativeInfinity;
        for (int j = lane; j < nk; j += ws)
        {
            if (a.HasSegments != 0 && segments[b * nk + j] != segQ) s[o + j] = float.NegativeInfinity;
            max = XMath.Max(max, s[o + j]);
        }
        max = WarpMax(max);
        if (max == float.NegativeInfinity)
        {
            for (int j = lane; j < nk; j += ws) s[o + j] = 0f;
            if (lane == 0) lse[lseIndex] = float.PositiveInfinity;
            return;
        }
        float sum = 0f;
        for (int j = lane; j < nk; j += ws)
        {
            float e = XMath.Exp(s[o + j] - max);
            s[o + j] = e;
            sum += e;
        }
        sum = WarpSum(sum);
        float inv = 1f / sum;
        for (int j = lane; j < nk; j += ws) s[o + j] *= inv;
        if (lane == 0) lse[lseIndex] = max + XMath.Log(sum);
    }

    /// <summary>LayerNorm (rms = 0) or RMSNorm (rms = 1) of one row, with affine or modulation.</summary>
    public static void NormForward(ArrayView<float> y, ArrayView<float> x, ArrayView<float> mean, ArrayView<float> rstd,
        ArrayView<float> w, ArrayView<float> b, ArrayView<float> shift, ArrayView<float> scale, NormArgs a, int rms)
    {
        int r = Row();
        if (r >= a.Rows) return;
        int lane = Warp.LaneIdx, ws = Warp.WarpSize;
        int xo = a.XOffset + r * a.XRow, yo = a.YOffset + r * a.C;
        float mu = 0f;
        if (rms == 0)
        {
            for (int j = lane; j < a.C; j += ws) mu += x[xo + j];
            mu = WarpSum(mu) / a.C;
        }
        float var = 0f;
        for (int j = lane; j < a.C; j += ws)
        {
            float d = x[xo + j] - mu;
            var += d * d;
        }
        var = WarpSum(var);
        float rs = XMath.Rsqrt(var / a.C + a.Eps);
        if (lane == 0)
        {
            if (rms == 0) mean[a.MeanOffset + r] = mu;
            rstd[a.RstdOffset + r] = rs;
        }
        int bi = r / a.Tokens, ni = r % a.Tokens;
        int sho = a.ShiftOffset + bi * a.ShiftBatch + ni * a.ShiftToken;
        int sco = a.ScaleOffset + bi * a.ScaleBatch + ni * a.ScaleToken;
        for (int j = lane; j < a.C; j += ws)
        {
            float v = (x[xo + j] - mu) * rs;
            if (a.HasWeight != 0) v *= w[a.WOffset + j];
            if (a.HasBias != 0) v += b[a.BOffset + j];
            if (a.HasScale != 0) v *= 1f + scale[sco + j];
            if (a.HasShift != 0) v += shift[sho + j];
            y[yo + j] = v;
        }
    }

    /// <summary>Input (and modulation) gradients of one norm row.</summary>
    public static void NormBackwardRows(ArrayView<float> dx, ArrayView<float> dShift, ArrayView<float> dScale, ArrayView<float> dy,
        ArrayView<float> x, ArrayView<float> mean, ArrayView<float> rstd, ArrayView<float> w, ArrayView<float> scale, NormArgs a, int rms, int modulationGrads)
    {
        int r = Row();
        if (r >= a.Rows) return;
        int lane = Warp.LaneIdx, ws = Warp.WarpSize;
        int xo = a.XOffset + r * a.XRow, ro = r * a.C;
        float mu = rms == 0 ? mean[a.MeanOffset + r] : 0f, rs = rstd[a.RstdOffset + r];
        int bi = r / a.Tokens, ni = r % a.Tokens;
        int sco = a.ScaleOffset + bi * a.ScaleBatch + ni * a.ScaleToken;
        float sumG = 0f, sumGx = 0f;
        for (int j = lane; j < a.C; j += ws)
        {
            float xhat = (x[xo + j] - mu) * rs;
            float gy = dy[ro + j];
            float g = gy;
            if (a.HasScale != 0) g *= 1f + scale[sco + j];
            if (a.HasWeight != 0) g *= w[a.WOffset + j];
            if (modulationGrads != 0)
            {
                dShift[ro + j] = gy;
                dScale[ro + j] = gy * xhat;
            }
            sumG += g;
            sumGx += g * xhat;
        }
        sumG = WarpSum(sumG);
        sumGx = WarpSum(sumGx);
        float meanG = rms == 0 ? sumG / a.C : 0f, meanGx = sumGx / a.C;
        for (int j = lane; j < a.C; j += ws)
        {
            float xhat = (x[xo + j] - mu) * rs;
            float g = dy[ro + j];
            if (a.HasScale != 0) g *= 1f + scale[sco + j];
            if (a.HasWeight != 0) g *= w[a.WOffset + j];
            dx[ro + j] = rs * (g - meanG - xhat * meanGx);
        }
    }

    /// <summary>
    /// Partial column sums of a norm's weight and bias gradients over a chunk of rows:
    /// partial (chunks, 2, C), thread (chunk, column).
    /// </summary>
    public static void NormColumnPartials(Index1D i, ArrayView<float> partial, ArrayView<float> dy, ArrayView<float> x,
        ArrayView<float> mean, ArrayView<float> rstd, NormArgs a, int rms, int rowsPerChunk)
    {
        int j = i % a.C, chunk = i / a.C;
        int r0 = chunk * rowsPerChunk, r1 = XMath.Min(a.Rows, r0 + rowsPerChunk);
        float sw = 0f, sb = 0f;
        for (int r = r0; r < r1; r++)
        {
            float mu = rms == 0 ? mean[a.MeanOffset + r] : 0f;
            float xhat = (x[a.XOffset + r * a.XRow + j] - mu) * rstd[a.RstdOffset + r];
            float g = dy[r * a.C + j];
            sw += g * xhat;
            sb += g;
        }
        partial[(chunk * 2) * a.C + j] = sw;
        partial[(chunk * 2 + 1) * a.C + j] = sb;
    }

    /// <summary>Sums partials (chunks, 2, C) in chunk order into dw and db.</summary>
    public static void NormColumnTotals(Index1D j, ArrayView<float> dw, ArrayView<float> db, ArrayView<float> partial, int c, int chunks)
    {
        float sw = 0f, sb = 0f;
        for (int k = 0; k < chunks; k++)
        {
            sw += partial[(k * 2) * c + j];
            sb += partial[(k * 2 + 1) * c + j];
        }
        dw[j] = sw;
        db[j] = sb;
    }

    /// <summary>Partial sums of a reduction: output i, part p of the reduced index space.</summary>
    public static void SumPartials(Index1D t, ArrayView<float> partial, ArrayView<float> src, StridedLayout kept, StridedLayout reduced, int reducedCount, int outputs, int perPart)
    {
        int i = t % outputs, part = t / outputs;
        int r0 = part * perPart, r1 = XMath.Min(reducedCount, r0 + perPart);
        int baseIndex = kept.IndexOf(i);
        float sum = 0f;
        for (int r = r0; r < r1; r++) sum += src[baseIndex + reduced.IndexOf(r)];
        partial[t] = sum;
    }

    /// <summary>dst[i] = sum over parts of partial[part * outputs + i], in part order.</summary>
    public static void SumParts(Index1D i, ArrayView<float> dst, int dOffset, ArrayView<float> partial, int outputs, int parts)
    {
        float sum = 0f;
        for (int p = 0; p < parts; p++) sum += partial[p * outputs + i];
        dst[dOffset + i] = sum;
    }
}
