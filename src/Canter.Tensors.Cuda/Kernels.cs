using ILGPU;
using ILGPU.Algorithms;

namespace Canter.Tensors.Cuda;

/// <summary>Arguments of the fallback GEMM kernel (strides in elements; batch stride 0 broadcasts).</summary>
public struct GemmArgs
{
    public int M, N, K;
    public int AOffset, ABatch, ARow, ACol;
    public int BOffset, BBatch, BRow, BCol;
    public int COffset, CBatch, CRow;
    public float Alpha, Beta;
}

/// <summary>Arguments of the row-norm kernels (LayerNorm, RMSNorm, with optional affine or modulation).</summary>
public struct NormArgs
{
    public int Rows, C, Tokens;
    public int XOffset, XRow, YOffset;
    public int HasWeight, HasBias, HasShift, HasScale;
    public int WOffset, BOffset;
    public int ShiftOffset, ShiftBatch, ShiftToken;
    public int ScaleOffset, ScaleBatch, ScaleToken;
    public int MeanOffset, RstdOffset;
    public float Eps;
}

/// <summary>Arguments of the attention kernels: views of (B, H, N, D) tensors by offset and strides.</summary>
public struct AttentionArgs
{
    public int B, H, Nq, Nk, D;
    public int QOffset, QB, QH, QN;
    public int KOffset, KB, KH, KN;
    public int VOffset, VB, VH, VN;
    public int OOffset, OB, OH, ON;
    public int HasSegments;
    public float Scale;
}

/// <summary>
/// The GPU kernels, written in C# and compiled by ILGPU for CUDA (or run on ILGPU's CPU accelerator
/// in tests). Ops codes follow Canter's enums (<see cref="BinaryOp"/>, <see cref="UnaryOp"/>, <see cref="Activation"/>).
/// </summary>
internal static class Kernels
{
    public static void Fill(Index1D i, ArrayView<float> dst, int offset, float value) => dst[offset + i] = value;

    public static void Copy(Index1D i, ArrayView<float> dst, StridedLayout dl, ArrayView<float> src, StridedLayout sl, int add)
    {
        int d = dl.IndexOf(i);
        float v = src[sl.IndexOf(i)];
        dst[d] = add != 0 ? dst[d] + v : v;
    }

    public static void Axpy(Index1D i, ArrayView<float> y, int yOffset, ArrayView<float> x, int xOffset, float alpha) =>
        y[yOffset + i] += alpha * x[xOffset + i];

    public static void Affine(Index1D i, ArrayView<float> dst, int dOffset, ArrayView<float> x, int xOffset, float scale, float shift) =>
        dst[dOffset + i] = x[xOffset + i] * scale + shift;

    public static void Binary(Index1D i, ArrayView<float> dst, int dOffset, ArrayView<float> a, StridedLayout al, ArrayView<float> b, StridedLayout bl, int op)
    {
        float x = a[al.IndexOf(i)], y = b[bl.IndexOf(i)];
        float r;
        if (op == (int)BinaryOp.Add) r = x + y;
        else if (op == (int)BinaryOp.Sub) r = x - y;
        else if (op == (int)BinaryOp.Mul) r = x * y;
        else if (op == (int)BinaryOp.Div) r = x / y;
        else if (op == (int)BinaryOp.Maximum) r = XMath.Max(x, y);
        else if (op == (int)BinaryOp.Minimum) r = XMath.Min(x, y);
        else if (op == (int)BinaryOp.GreaterEqual) r = x >= y ? 1f : 0f;
        else r = x <= y ? 1f : 0f;
        dst[dOffset + i] = r;
    }

    public static void Unary(Index1D i, ArrayView<float> dst, int dOffset, ArrayView<float> src, int sOffset, int op)
    {
        float x = src[sOffset + i];
        float r;
        if (op == (int)UnaryOp.Exp) r = XMath.Exp(x);
        else if (op == (int)UnaryOp.Log) r = XMath.Log(x);
        else if (op == (int)UnaryOp.Sqrt) r = XMath.Sqrt(x);
        else if (op == (int)UnaryOp.Rsqrt) r = XMath.Rsqrt(x);
        else if (op == (int)UnaryOp.Square) r = x * x;
        else if (op == (int)UnaryOp.Abs) r = XMath.Abs(x);
        else if (op == (int)UnaryOp.Tanh) r = XMath.Tanh(x);
        else if (op == (int)UnaryOp.Sigmoid) r = 1f / (1f + XMath.Exp(-x));
        else if (op == (int)UnaryOp.Relu) r = XMath.Max(x, 0f);
        else if (op == (int)UnaryOp.Sin) r = XMath.Sin(x);
        else if (op == (int)UnaryOp.Cos) r = XMath.Cos(x);
        else r = 1f / x;
        dst[dOffset + i] = r;
    }

    public static void UnaryBackward(Index1D i, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> x, ArrayView<float> y, StridedLayout offsets, int op)
    {
        // offsets carries the four views' offsets in D0..D3 (an int struct keeps the parameter count low)
        float g = dy[offsets.D1 + i], xi = x[offsets.D2 + i], yi = y[offsets.D3 + i];
        float r;
        if (op == (int)UnaryOp.Exp) r = g * yi;
        else if (op == (int)UnaryOp.Log) r = g / xi;
        else if (op == (int)UnaryOp.Sqrt) r = g * 0.5f / yi;
        else if (op == (int)UnaryOp.Rsqrt) r = g * -0.5f * yi * yi * yi;
        else if (op == (int)UnaryOp.Square) r = g * 2f * xi;
        else if (op == (int)UnaryOp.Abs) r = xi > 0 ? g : xi < 0 ? -g : 0f;
        else if (op == (int)UnaryOp.Tanh) r = g * (1f - yi * yi);
        else if (op == (int)UnaryOp.Sigmoid) r = g * yi * (1f - yi);
        else if (op == (int)UnaryOp.Relu) r = xi > 0 ? g : 0f;
        else if (op == (int)UnaryOp.Sin) r = g * XMath.Cos(xi);
        else if (op == (int)UnaryOp.Cos) r = -g * XMath.Sin(xi);
        else r = -g * yi * yi;
        dx[offsets.D0 + i] = r;
    }

    /// <summary>One output of a sum: kept axes index the output, reduced axes are walked.</summary>
    public static void SumReduce(Index1D i, ArrayView<float> dst, int dOffset, ArrayView<float> src, StridedLayout kept, StridedLayout reduced, int reducedCount)
    {
        int baseIndex = kept.IndexOf(i);
        float sum = 0f;
        for (int r = 0; r < reducedCount; r++) sum += src[baseIndex + reduced.IndexOf(r)];
        dst[dOffset + i] = sum;
    }

    public static void Gemm(Index1D i, ArrayView<float> c, ArrayView<float> a, ArrayView<float> b, GemmArgs g)
    {
        int col = i % g.N, row = i / g.N % g.M, batch = i / (g.N * g.M);
        float acc = 0f;
        int ai = g.AOffset + batch * g.ABatch + row * g.ARow;
        int bi = g.BOffset + batch * g.BBatch + col * g.BCol;
        for (int p = 0; p < g.K; p++) acc += a[ai + p * g.ACol] * b[bi + p * g.BRow];
        int ci = g.COffset + batch * g.CBatch + row * g.CRow + col;
        c[ci] = g.Beta == 0f ? g.Alpha * acc : g.Alpha * acc + g.Beta * c[ci];
    }

    private static float Erf(float xf)
    {
        float z = XMath.Abs(xf);
        float t = 1f / (1f + 0.5f * z);
        float erfc = t * XMath.Exp(-z * z - 1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f +
            t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f)))))))));
        return xf >= 0 ? 1f - erfc : erfc - 1f;
    }

    private const float K = 0.7978845608028654f, C3 = 0.044715f;

    public static void ActivationForward(Index1D i, ArrayView<float> y, int yOffset, ArrayView<float> x, int xOffset, int kind)
    {
        float v = x[xOffset + i];
        float r;
        if (kind == (int)Activation.GeluTanh) r = 0.5f * v * (1f + XMath.Tanh(K * (v + C3 * v * v * v)));
        else if (kind == (int)Activation.GeluExact) r = 0.5f * v * (1f + Erf(v * 0.70710678f));
        else r = v / (1f + XMath.Exp(-v));
        y[yOffset + i] = r;
    }

    public static void ActivationBackward(Index1D i, ArrayView<float> dx, int dxOffset, ArrayView<float> dy, int dyOffset, ArrayView<float> x, int xOffset, int kind)
    {
        float v = x[xOffset + i], g = dy[dyOffset + i];
        float d;
        if (kind == (int)Activation.GeluTanh)
        {
            float u = K * (v + C3 * v * v * v);
            float e = XMath.Exp(-2f * XMath.Abs(u));
            float sech2 = 4f * e / ((1f + e) * (1f + e));
            d = 0.5f * (1f + XMath.Tanh(u)) + 0.5f * v * sech2 * K * (1f + 3f * C3 * v * v);
        }
        else if (kind == (int)Activation.GeluExact)
            d = 0.5f * (1f + Erf(v * 0.70710678f)) + v * 0.3989422804f * XMath.Exp(-0.5f * v * v);
        else
        {
            float s = 1f / (1f + XMath.Exp(-v));
            d = s * (1f + v * (1f - s));
        }
        dx[dxOffset + i] = g * d;
    }

    public static void AdamW(Index1D i, ArrayView<float> p, ArrayView<float> m, ArrayView<float> v, ArrayView<float> g, StridedLayout offsets,
        float lr, float beta1, float beta2, float eps, float decay, float bias1, float rsqrtBias2)
    {
        float gi = g[offsets.D3 + i];
        float mi = beta1 * m[offsets.D1 + i] + (1f - beta1) * gi;
        float vi = beta2 * v[offsets.D2 + i] + (1f - beta2) * gi * gi;
        m[offsets.D1 + i] = mi;
        v[offsets.D2 + i] = vi;
        int pi = offsets.D0 + i;
        p[pi] = p[pi] * decay - lr / bias1 * mi / (XMath.Sqrt(vi) * rsqrtBias2 + eps);
    }

    public static void SoftmaxForward(Index1D r, ArrayView<float> y, ArrayView<float> x, int c, int yOffset, int xOffset, int log)
    {
        int xo = xOffset + r * c, yo = yOffset + r * c;
        float max = float.NegativeInfinity;
        for (int j = 0; j < c; j++) max = XMath.Max(max, x[xo + j]);
        float sum = 0f;
        for (int j = 0; j < c; j++) sum += XMath.Exp(x[xo + j] - max);
        float logSum = XMath.Log(sum);
        for (int j = 0; j < c; j++)
            y[yo + j] = log != 0 ? x[xo + j] - max - logSum : XMath.Exp(x[xo + j] - max) / sum;
    }

    public static void SoftmaxBackward(Index1D r, ArrayView<float> dx, ArrayView<float> dy, ArrayView<float> y, int c, StridedLayout offsets, int log)
    {
        int dxo = offsets.D0 + r * c, dyo = offsets.D1 + r * c, yo = offsets.D2 + r * c;
        float s = 0f;
        for (int j = 0; j < c; j++) s += log != 0 ? dy[dyo + j] : dy[dyo + j] * y[yo + j];
        for (int j = 0; j < c; j++)
            dx[dxo + j] = log != 0 ? dy[dyo + j] - XMath.Exp(y[yo + j]) * s : y[yo + j] * (dy[dyo + j] - s);
    }

    /// <summary>One rotation pair of one (b, n, h) row.</summary>
    public static void Rope(Index1D i, ArrayView<float> y, ArrayView<float> x, ArrayView<float> cos, ArrayView<float> sin, StridedLayout xl, int pairs, float sign)
    {
        // xl: (B, N, H, pairs) view of x with the pair axis stride 2 (x's D axis), in the last four slots
        int p = i % pairs, rest = i / pairs;
        int h = rest % xl.D6, n = rest / xl.D6 % xl.D5, b = rest / (xl.D6 * xl.D5);
        int src = xl.Offset + b * xl.S4 + n * xl.S5 + h * xl.S6 + 2 * p;
        float a = x[src], c = x[src + 1];
        float co = cos[n * pairs + p], si = sign * sin[n * pairs + p];
        int dst = 2 * i;
        y[dst] = a * co - c * si;
        y[dst + 1] = a * si + c * co;
    }

    private static float Score(ArrayView<float> q, int qo, ArrayView<float> k, int ko, int d, float scale)
    {
        float s = 0f;
        for (int t = 0; t < d; t++) s += q[qo + t] * k[ko + t];
        return s * scale;
    }

    /// <summary>One query row: online softmax over all keys; the output row doubles as the accumulator.</summary>
    public static void AttentionForward(Index1D i, ArrayView<float> o, ArrayView<float> lse, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<int> segments, AttentionArgs a)
    {
        int qi = i % a.Nq, h = i / a.Nq % a.H, b = i / (a.Nq * a.H);
        int qo = a.QOffset + b * a.QB + h * a.QH + qi * a.QN;
        int oo = a.OOffset + b * a.OB + h * a.OH + qi * a.ON;
        for (int t = 0; t < a.D; t++) o[oo + t] = 0f;
        float max = float.NegativeInfinity, sum = 0f;
        int segQ = a.HasSegments != 0 ? segments[b * a.Nq + qi] : 0;
        for (int j = 0; j < a.Nk; j++)
        {
            if (a.HasSegments != 0 && segments[b * a.Nk + j] != segQ) continue;
            int ko = a.KOffset + b * a.KB + h * a.KH + j * a.KN;
            int vo = a.VOffset + b * a.VB + h * a.VH + j * a.VN;
            float s = Score(q, qo, k, ko, a.D, a.Scale);
            float mNew = XMath.Max(max, s);
            float corr = XMath.Exp(max - mNew), p = XMath.Exp(s - mNew);
            sum = sum * corr + p;
            for (int t = 0; t < a.D; t++) o[oo + t] = o[oo + t] * corr + p * v[vo + t];
            max = mNew;
        }
        float inv = sum > 0f ? 1f / sum : 0f;
        for (int t = 0; t < a.D; t++) o[oo + t] *= inv;
        lse[i] = sum > 0f ? max + XMath.Log(sum) : float.PositiveInfinity;
    }

    /// <summary>One query row of dQ; also stores delta = rowsum(dO * O) for the key pass.</summary>
    public static void AttentionBackwardQuery(Index1D i, ArrayView<float> dq, ArrayView<float> delta, ArrayView<float> dO, ArrayView<float> lse,
        ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<float> o, ArrayView<int> segments, AttentionArgs a)
    {
        int qi = i % a.Nq, h = i / a.Nq % a.H, b = i / (a.Nq * a.H);
        int qo = a.QOffset + b * a.QB + h * a.QH + qi * a.QN;
        int oo = a.OOffset + b * a.OB + h * a.OH + qi * a.ON;
        int go = i * a.D; // dO and dq are contiguous (B, H, Nq, D)
        float dl = 0f;
        for (int t = 0; t < a.D; t++) dl += dO[go + t] * o[oo + t];
        delta[i] = dl;
        for (int t = 0; t < a.D; t++) dq[go + t] = 0f;
        float l = lse[i];
        if (l == float.PositiveInfinity) return;
        int segQ = a.HasSegments != 0 ? segments[b * a.Nq + qi] : 0;
        for (int j = 0; j < a.Nk; j++)
        {
            if (a.HasSegments != 0 && segments[b * a.Nk + j] != segQ) continue;
            int ko = a.KOffset + b * a.KB + h * a.KH + j * a.KN;
            int vo = a.VOffset + b * a.VB + h * a.VH + j * a.VN;
            float p = XMath.Exp(Score(q, qo, k, ko, a.D, a.Scale) - l);
            float dp = 0f;
            for (int t = 0; t < a.D; t++) dp += dO[go + t] * v[vo + t];
            float ds = p * (dp - dl) * a.Scale;
            for (int t = 0; t < a.D; t++) dq[go + t] += ds * k[ko + t];
        }
    }

    /// <summary>One key row of dK and dV.</summary>
    public static void AttentionBackwardKey(Index1D i, ArrayView<float> dk, ArrayView<float> dv, ArrayView<float> delta, ArrayView<float> dO, ArrayView<float> lse,
        ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<int> segments, AttentionArgs a)
    {
        int kj = i % a.Nk, h = i / a.Nk % a.H, b = i / (a.Nk * a.H);
        int ko = a.KOffset + b * a.KB + h * a.KH + kj * a.KN;
        int vo = a.VOffset + b * a.VB + h * a.VH + kj * a.VN;
        int out0 = i * a.D;
        for (int t = 0; t < a.D; t++) { dk[out0 + t] = 0f; dv[out0 + t] = 0f; }
        int segK = a.HasSegments != 0 ? segments[b * a.Nk + kj] : 0;
        for (int qi = 0; qi < a.Nq; qi++)
        {
            if (a.HasSegments != 0 && segments[b * a.Nq + qi] != segK) continue;
            int row = (b * a.H + h) * a.Nq + qi;
            float l = lse[row];
            if (l == float.PositiveInfinity) continue;
            int qo = a.QOffset + b * a.QB + h * a.QH + qi * a.QN;
            int go = row * a.D;
            float p = XMath.Exp(Score(q, qo, k, ko, a.D, a.Scale) - l);
            float dp = 0f;
            for (int t = 0; t < a.D; t++) dp += dO[go + t] * v[vo + t];
            float ds = p * (dp - delta[row]) * a.Scale;
            for (int t = 0; t < a.D; t++)
            {
                dv[out0 + t] += p * dO[go + t];
                dk[out0 + t] += ds * q[qo + t];
            }
        }
    }

    public static void EmbeddingForward(Index1D i, ArrayView<float> y, ArrayView<float> w, ArrayView<int> ids, int c, int wOffset)
    {
        int row = i / c, col = i % c;
        y[i] = w[wOffset + ids[row] * c + col];
    }

    /// <summary>One column of the table gradient, ids walked in order (repeats add up deterministically).</summary>
    public static void EmbeddingBackward(Index1D col, ArrayView<float> dw, ArrayView<float> dy, ArrayView<int> ids, int c, int count)
    {
        for (int i = 0; i < count; i++) dw[ids[i] * c + col] += dy[i * c + col];
    }

    public static void MaxRows(Index1D r, ArrayView<float> values, ArrayView<int> argmax, ArrayView<float> x, int c, int xOffset, int rowStride)
    {
        int o = xOffset + r * rowStride;
        int best = 0;
        for (int j = 1; j < c; j++)
            if (x[o + j] > x[o + best]) best = j;
        argmax[r] = best;
        values[r] = x[o + best];
    }
}

/// <summary>Kernels of the GEMM-based attention used on CUDA (scores materialised per batch entry by cuBLAS).</summary>
internal static class AttentionGemmKernels
{
    /// <summary>delta of one query row (over all B * H * Nq rows) = rowsum(dO * O).</summary>
    public static void Delta(Index1D i, ArrayView<float> delta, ArrayView<float> dO, ArrayView<float> o, AttentionArgs a)
    {
        int qi = i % a.Nq, h = i / a.Nq % a.H, b = i / (a.Nq * a.H);
        int oo = a.OOffset + b * a.OB + h * a.OH + qi * a.ON;
        float d = 0f;
        for (int t = 0; t < a.D; t++) d += dO[i * a.D + t] * o[oo + t];
        delta[i] = d;
    }

    /// <summary>dS = P * (dP - delta) in place over dP, for one batch entry b.</summary>
    public static void Ds(Index1D i, ArrayView<float> dp, ArrayView<float> p, ArrayView<float> delta, int nk, int deltaOffset) =>
        dp[i] = p[i] * (dp[i] - delta[deltaOffset + i / nk]);
}
