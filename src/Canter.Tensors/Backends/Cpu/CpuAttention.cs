using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Canter.Tensors.Backends.Cpu;

public sealed unsafe partial class CpuBackend
{
    /// <summary>Query rows of a tile: a multiple of the tile kernels' 6 rows (64 left 4 rows of every tile to the one-row path).</summary>
    private const int QueryTile = 60;
    /// <summary>Keys of a tile: a multiple of <see cref="CpuPanelGemm.Panel"/>.</summary>
    private const int KeyTile = 256;

    /// <summary>Base pointer and row stride of the (b, h) matrix of a (B, H, N, D) view.</summary>
    private static (nint Base, int RowStride) HeadMatrix(Tensor t, int b, int h) =>
        ((nint)(Ptr(t) + (long)b * t.Strides[0] + (long)h * t.Strides[1]), t.Strides[2]);

    public void AttentionForward(Tensor o, Tensor lse, Tensor q, Tensor k, Tensor v, int[]? segments, float scale)
    {
        int bCount = q.Shape[0], hCount = q.Shape[1], d = q.Shape[3], nk = k.Shape[2];
        float* pl = Ptr(lse);
        // each head's keys packed once for all its query tiles
        long packedHead = CpuPanelGemm.PackedLength(nk, d);
        int length = checked((int)(bCount * hCount * packedHead));
        float* packed = CpuAllocator.Rent(length);                     // (B * H, ceil(Nk / 16), D, 16)
        try
        {
            CpuParallel.ForEachItem(bCount * hCount, bh =>
            {
                var (kBase, ks) = HeadMatrix(k, bh / hCount, bh % hCount);
                CpuPanelGemm.Pack((float*)kBase, ks, nk, d, packed + bh * packedHead);
            });
            AttentionTiles(o, packed, packedHead, pl, q, v, segments, scale);
        }
        finally
        {
            CpuAllocator.Return(packed, length, fromFinalizer: false);
        }
    }

    /// <summary>The forward's query tiles, in parallel, with each head's keys packed (<see cref="CpuPanelGemm"/>).</summary>
    private static void AttentionTiles(Tensor o, float* packed, long packedHead, float* pl, Tensor q, Tensor v, int[]? segments, float scale)
    {
        int bCount = q.Shape[0], hCount = q.Shape[1], nq = q.Shape[2], d = q.Shape[3], nk = v.Shape[2];
        int qTiles = (nq + QueryTile - 1) / QueryTile;
        CpuParallel.ForEachItem(bCount * hCount * qTiles, task =>
        {
            int tile = task % qTiles, bh = task / qTiles, b = bh / hCount, h = bh % hCount;
            int q0 = tile * QueryTile, tq = Math.Min(QueryTile, nq - q0);
            var (qBase, qs) = HeadMatrix(q, b, h);
            float* keys = packed + (long)bh * packedHead;
            var (vBase, vs) = HeadMatrix(v, b, h);
            var (oBase, os) = HeadMatrix(o, b, h);
            var buffer = ArrayPool<float>.Shared.Rent(tq * KeyTile + tq * d + 2 * tq);
            try
            {
                fixed (float* work = buffer)
                {
                    float* scores = work;                       // (Tq, Tk)
                    float* acc = scores + tq * KeyTile;         // (Tq, D)
                    float* rowMax = acc + tq * d;               // (Tq)
                    float* rowSum = rowMax + tq;                // (Tq)
                    new Span<float>(acc, tq * d).Clear();
                    new Span<float>(rowMax, tq).Fill(float.NegativeInfinity);
                    new Span<float>(rowSum, tq).Clear();
                    float* qt = (float*)qBase + (long)q0 * qs;
                    for (int k0 = 0; k0 < nk; k0 += KeyTile)
                    {
                        int tk = Math.Min(KeyTile, nk - k0);
                        // scores = q_tile @ k_tile^T * scale (k0 is a multiple of the panel width)
                        CpuPanelGemm.MultiplyTransposed(qt, qs, tq, keys + (long)k0 * d, d, tk, scale, scores, tk);
                        int keySegment = segments is null ? 0 : UniformSegment(segments, b * nk + k0, tk);
                        for (int i = 0; i < tq; i++)
                        {
                            float* row = scores + i * tk;
                            if (segments is not null && !MaskRow(row, tk, segments, b * nk + k0, keySegment, segments[b * nq + q0 + i])) continue;
                            float mNew = MathF.Max(rowMax[i], RowMax(row, tk));
                            if (float.IsNegativeInfinity(mNew))
                            {
                                new Span<float>(row, tk).Clear(); // every key masked so far: nothing to add
                                continue;
                            }
                            float correction = MathF.Exp(rowMax[i] - mNew);
                            rowSum[i] = rowSum[i] * correction + ExpShiftedSum(row, tk, mNew);
                            rowMax[i] = mNew;
                            if (correction != 1f)
                            {
                                var a = new Span<float>(acc + i * d, d);
                                TensorPrimitives.Multiply(a, correction, a);
                            }
                        }
                        // acc += P @ v_tile
                        CpuPanelGemm.MultiplyAdd(scores, tq, tk, (float*)vBase + (long)k0 * vs, vs, d, acc);
                    }
                    float* lseRow = pl + ((long)b * hCount + h) * nq + q0;
                    for (int i = 0; i < tq; i++)
                    {
                        var dst = new Span<float>((float*)oBase + (long)(q0 + i) * os, d);
                        var src = new ReadOnlySpan<float>(acc + i * d, d);
                        if (rowSum[i] > 0f)
                        {
                            TensorPrimitives.Multiply(src, 1f / rowSum[i], dst);
                            lseRow[i] = rowMax[i] + MathF.Log(rowSum[i]);
                        }
                        else
                        {
                            dst.Clear(); // a query that sees no key attends to nothing
                            lseRow[i] = float.PositiveInfinity;
                        }
                    }
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(buffer);
            }
        });
    }

    /// <summary>The group of keys [start, start + count) when they all share one, else -1.</summary>
    private static int UniformSegment(int[] segments, int start, int count)
    {
        int first = segments[start];
        for (int j = 1; j < count; j++)
            if (segments[start + j] != first) return -1;
        return first;
    }

    /// <summary>
    /// Applies the groups to one query's row of a score tile whose keys start at <paramref name="kStart"/> and all belong
    /// to <paramref name="keySegment"/> (-1: mixed, see <see cref="UniformSegment"/>). False when no key of the tile is in
    /// the query's group: the row is cleared and adds nothing. Else true, with the scores of keys of other groups at minus
    /// infinity.
    /// </summary>
    private static bool MaskRow(float* row, int tk, int[] segments, int kStart, int keySegment, int querySegment)
    {
        if (keySegment == querySegment) return true;
        if (keySegment >= 0)
        {
            new Span<float>(row, tk).Clear();
            return false;
        }
        for (int j = 0; j < tk; j++)
            if (segments[kStart + j] != querySegment) row[j] = float.NegativeInfinity;
        return true;
    }

    private static float RowMax(float* row, int n)
    {
        int j = 0;
        float m = float.NegativeInfinity;
        if (CpuPanelGemm.Wide && n >= 16)
        {
            // a maximum is exact in any order
            var wide = Vector512.Load(row);
            for (j = 16; j <= n - 16; j += 16) wide = Vector512.Max(wide, Vector512.Load(row + j));
            var half = Vector256.Max(wide.GetLower(), wide.GetUpper());
            for (int l = 0; l < 8; l++) m = MathF.Max(m, half[l]);
        }
        else if (n >= 8)
        {
            var acc = Vector256.Load(row);
            for (j = 8; j <= n - 8; j += 8) acc = Vector256.Max(acc, Vector256.Load(row + j));
            for (int l = 0; l < 8; l++) m = MathF.Max(m, acc[l]);
        }
        for (; j < n; j++) m = MathF.Max(m, row[j]);
        return m;
    }

    /// <summary>row = exp(row - shift) in place, in one pass; returns the sum (lanes added in a fixed order).</summary>
    private static float ExpShiftedSum(float* row, int n, float shift)
    {
        var by = Vector256.Create(shift);
        var acc = Vector256<float>.Zero;
        int j = 0;
        if (CpuPanelGemm.Wide)
        {
            // 16 at a time, each half added as the 8-lane loop adds it: the same sum
            var wideBy = Vector512.Create(shift);
            for (; j <= n - 16; j += 16)
            {
                var e = CpuMath.Exp<Lanes16, Vector512<float>>(Vector512.Load(row + j) - wideBy);
                e.Store(row + j);
                acc += e.GetLower();
                acc += e.GetUpper();
            }
        }
        for (; j <= n - 8; j += 8)
        {
            var e = CpuMath.Exp(Vector256.Load(row + j) - by);
            e.Store(row + j);
            acc += e;
        }
        float sum = Vector256.Sum(acc);
        for (; j < n; j++)
        {
            float e = MathF.Exp(row[j] - shift);
            row[j] = e;
            sum += e;
        }
        return sum;
    }

    public void AttentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dO, Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse,
        int[]? segments, float scale)
    {
        int bCount = q.Shape[0], hCount = q.Shape[1], nq = q.Shape[2], d = q.Shape[3], nk = k.Shape[2];
        float* pl = Ptr(lse);
        // one task per (b, h): dK and dV of a head are written by one thread only
        CpuParallel.ForEachItem(bCount * hCount, bh =>
        {
            int b = bh / hCount, h = bh % hCount;
            var (qBase, qs) = HeadMatrix(q, b, h);
            var (kBase, ks) = HeadMatrix(k, b, h);
            var (vBase, vs) = HeadMatrix(v, b, h);
            var (oBase, os) = HeadMatrix(o, b, h);
            var (gBase, gs) = HeadMatrix(dO, b, h);
            var (dqBase, dqs) = HeadMatrix(dq, b, h);
            var (dkBase, dks) = HeadMatrix(dk, b, h);
            var (dvBase, dvs) = HeadMatrix(dv, b, h);
            for (int r = 0; r < nq; r++) new Span<float>((float*)dqBase + (long)r * dqs, d).Clear();
            for (int r = 0; r < nk; r++)
            {
                new Span<float>((float*)dkBase + (long)r * dks, d).Clear();
                new Span<float>((float*)dvBase + (long)r * dvs, d).Clear();
            }
            float* lseHead = pl + ((long)b * hCount + h) * nq;
            var buffer = ArrayPool<float>.Shared.Rent(2 * QueryTile * KeyTile + QueryTile);
            try
            {
                fixed (float* work = buffer)
                {
                    float* p = work;                                // (Tq, Tk) probabilities
                    float* dp = p + QueryTile * KeyTile;            // (Tq, Tk) dP, then dS
                    float* delta = dp + QueryTile * KeyTile;        // (Tq) rowsum(dO * O)
                    for (int q0 = 0; q0 < nq; q0 += QueryTile)
                    {
                        int tq = Math.Min(QueryTile, nq - q0);
                        float* qt = (float*)qBase + (long)q0 * qs;
                        float* gt = (float*)gBase + (long)q0 * gs;
                        float* dqt = (float*)dqBase + (long)q0 * dqs;
                        for (int i = 0; i < tq; i++)
                            delta[i] = TensorPrimitives.Dot(new ReadOnlySpan<float>(gt + (long)i * gs, d),
                                new ReadOnlySpan<float>((float*)oBase + (long)(q0 + i) * os, d));
                        for (int k0 = 0; k0 < nk; k0 += KeyTile)
                        {
                            int tk = Math.Min(KeyTile, nk - k0);
                            float* kt = (float*)kBase + (long)k0 * ks;
                            float* vt = (float*)vBase + (long)k0 * vs;
                            // P = exp(q k^T * scale - lse)
                            OpenBlas.Sgemm(OpenBlas.RowMajor, OpenBlas.NoTrans, OpenBlas.Trans, tq, tk, d, scale, qt, qs, kt, ks, 0f, p, tk);
                            int keySegment = segments is null ? 0 : UniformSegment(segments, b * nk + k0, tk);
                            for (int i = 0; i < tq; i++)
                            {
                                float* row = p + i * tk;
                                float l = lseHead[q0 + i];
                                if (segments is not null && !MaskRow(row, tk, segments, b * nk + k0, keySegment, segments[b * nq + q0 + i])) continue;
                                if (float.IsPositiveInfinity(l)) { new Span<float>(row, tk).Clear(); continue; }
                                ExpShiftedSum(row, tk, l);
                            }
                            // dV += P^T dO
                            OpenBlas.Sgemm(OpenBlas.RowMajor, OpenBlas.Trans, OpenBlas.NoTrans, tk, d, tq, 1f, p, tk, gt, gs, 1f,
                                (float*)dvBase + (long)k0 * dvs, dvs);
                            // dP = dO v^T
                            OpenBlas.Sgemm(OpenBlas.RowMajor, OpenBlas.NoTrans, OpenBlas.Trans, tq, tk, d, 1f, gt, gs, vt, vs, 0f, dp, tk);
                            // dS = P * (dP - delta)
                            for (int i = 0; i < tq; i++)
                            {
                                var dpr = new Span<float>(dp + i * tk, tk);
                                TensorPrimitives.Subtract(dpr, delta[i], dpr);
                                TensorPrimitives.Multiply(dpr, new ReadOnlySpan<float>(p + i * tk, tk), dpr);
                            }
                            // dQ += dS k * scale ; dK += dS^T q * scale
                            OpenBlas.Sgemm(OpenBlas.RowMajor, OpenBlas.NoTrans, OpenBlas.NoTrans, tq, d, tk, scale, dp, tk, kt, ks, 1f, dqt, dqs);
                            OpenBlas.Sgemm(OpenBlas.RowMajor, OpenBlas.Trans, OpenBlas.NoTrans, tk, d, tq, scale, dp, tk, qt, qs, 1f,
                                (float*)dkBase + (long)k0 * dks, dks);
                        }
                    }
                }
            }
            finally
            {
                ArrayPool<float>.Shared.Return(buffer);
            }
        });
    }
}
