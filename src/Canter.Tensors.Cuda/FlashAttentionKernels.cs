using ILGPU;
using ILGPU.Algorithms;

namespace Canter.Tensors.Cuda;

/// <summary>
/// Flash-style attention kernels: one group (thread block) owns a tile of rows of one (batch, head) and
/// streams the other side's tiles through shared memory, so no score matrix ever reaches device memory.
/// <list type="bullet">
/// <item><see cref="Forward"/>: a group owns <see cref="QueryTile"/> query rows, streams K and V tiles of
/// <see cref="KeyTile"/> rows and keeps the running max, sum and output accumulator (online softmax); it writes
/// O and the log-sum-exp the backward pass reads, the same contract as the CPU backend.</item>
/// <item>Backward in two passes, chosen over atomics so that gradients are deterministic and need no zeroing:
/// <see cref="BackwardKeys"/> gives each group a key tile and walks every query tile, accumulating dK and dV in
/// shared memory; <see cref="BackwardQueries"/> gives each group a query tile and walks every key tile for dQ.
/// The price is recomputing the scores and dP = dO V^T twice: 7 head-width dot products per (query, key) pair
/// instead of 5 with atomics on dQ.</item>
/// </list>
/// Tiles are fixed at compile time (shared memory is static in ILGPU): head widths up to <see cref="MaxHeadDim"/>
/// (every model preset uses 64); each kernel stays under the 48 KB of static shared memory CUDA allows a block.
/// Every loop strides over the group's threads, so any group size works (128 on CUDA, 16 on ILGPU's CPU
/// accelerator). Rows of Q and K (and of V in the backward kernels) are padded to <see cref="PaddedDim"/> floats so
/// that threads reading one row each hit distinct shared-memory banks. The forward kernel's two products run in
/// register blocks (2 x 4 scores, 2 x 8 outputs per thread), the backward kernels' likewise (2 x 2 or 2 x 4 pairs of
/// P and dS, 2 x 8 gradient entries), written out for 32-key tiles and 64-wide rows.
/// <para>
/// <c>skipBarriers</c> is a test hook and 0 in every real launch: bit i leaves out the i-th barrier of the kernel,
/// so that the tests can show each barrier is needed (the CPU accelerator's sequential mode then gives wrong
/// results deterministically).
/// </para>
/// </summary>
internal static class FlashAttentionKernels
{
    /// <summary>Widest head the tiles hold.</summary>
    public const int MaxHeadDim = 64;

    /// <summary>Query rows per group in <see cref="Forward"/> and <see cref="BackwardQueries"/>.</summary>
    public const int QueryTile = 32;

    /// <summary>Key rows per streamed tile (and per group in <see cref="BackwardKeys"/>).</summary>
    public const int KeyTile = 32;

    /// <summary>Query rows per streamed tile in <see cref="BackwardKeys"/> (smaller: its group also holds dK and dV).</summary>
    public const int KeyPassQueryTile = 16;

    /// <summary>Threads per group on a GPU.</summary>
    public const int GroupSize = 128;

    /// <summary>Barriers in each kernel (for the test hook).</summary>
    public const int ForwardBarriers = 5, BackwardKeysBarriers = 3, BackwardQueriesBarriers = 3;

    private const int PaddedDim = MaxHeadDim + 1;
    private const int PaddedKeys = KeyTile + 1;

    /// <summary>Row stride of the output accumulators: threads of a warp then touch 4 rows x 8 columns on distinct banks.</summary>
    private const int AccStride = MaxHeadDim + 4;

    private static void Barrier(int skipBarriers, int index)
    {
        if ((skipBarriers & (1 << index)) == 0) Group.Barrier();
    }

    /// <summary>One scaled score, or -inf outside the tile or across segments.</summary>
    private static void StoreScore(ArrayView<float> p, ArrayView<int> segQ, ArrayView<int> segK, int r, int j, float dot, int tq, int tk, float scale) =>
        p[r * PaddedKeys + j] = r < tq && j < tk && segK[j] == segQ[r] ? dot * scale : float.NegativeInfinity;

    /// <summary>
    /// O and log-sum-exp of one query tile. Grid: B * H * ceil(Nq / QueryTile) groups.
    /// o (B, H, Nq, D) strided, lse (B, H, Nq) contiguous, q (B, H, Nq, D), k and v (B, H, Nk, D) strided,
    /// segments (B * N) read only when <see cref="AttentionArgs.HasSegments"/> is set.
    /// </summary>
    public static void Forward(ArrayView<float> o, ArrayView<float> lse, ArrayView<float> q, ArrayView<float> k, ArrayView<float> v,
        ArrayView<int> segments, AttentionArgs a, int skipBarriers)
    {
        var qs = SharedMemory.Allocate<float>(QueryTile * PaddedDim);      // (Tq, D + 1)
        var ks = SharedMemory.Allocate<float>(KeyTile * PaddedDim);        // (Tk, D + 1)
        var vs = SharedMemory.Allocate<float>(KeyTile * MaxHeadDim);       // (Tk, 64) zero beyond D
        var acc = SharedMemory.Allocate<float>(QueryTile * MaxHeadDim);    // (Tq, 64) unnormalised output
        var p = SharedMemory.Allocate<float>(QueryTile * PaddedKeys);      // (Tq, Tk + 1) scores, then probabilities
        var rowMax = SharedMemory.Allocate<float>(QueryTile);
        var rowSum = SharedMemory.Allocate<float>(QueryTile);
        var rowScale = SharedMemory.Allocate<float>(QueryTile);            // correction of acc for this key tile
        var segQ = SharedMemory.Allocate<int>(QueryTile);
        var segK = SharedMemory.Allocate<int>(KeyTile);

        int tiles = (a.Nq + QueryTile - 1) / QueryTile;
        int tile = Grid.IdxX % tiles, bh = Grid.IdxX / tiles, b = bh / a.H, h = bh % a.H;
        int q0 = tile * QueryTile, tq = XMath.Min(QueryTile, a.Nq - q0);
        int t = Group.IdxX, threads = Group.DimX, d = a.D;
        int qBase = a.QOffset + b * a.QB + h * a.QH, kBase = a.KOffset + b * a.KB + h * a.KH, vBase = a.VOffset + b * a.VB + h * a.VH;

        for (int e = t; e < QueryTile * MaxHeadDim; e += threads)
        {
            int r = e / MaxHeadDim, c = e % MaxHeadDim;
            qs[r * PaddedDim + c] = r < tq && c < d ? q[qBase + (q0 + r) * a.QN + c] : 0f;
            acc[e] = 0f;
        }
        for (int r = t; r < QueryTile; r += threads)
        {
            rowMax[r] = float.NegativeInfinity;
            rowSum[r] = 0f;
            segQ[r] = a.HasSegments != 0 && r < tq ? segments[b * a.Nq + q0 + r] : 0;
        }

        for (int k0 = 0; k0 < a.Nk; k0 += KeyTile)
        {
            int tk = XMath.Min(KeyTile, a.Nk - k0);
            for (int e = t; e < KeyTile * MaxHeadDim; e += threads)
            {
                int j = e / MaxHeadDim, c = e % MaxHeadDim;
                bool inside = j < tk && c < d;
                ks[j * PaddedDim + c] = inside ? k[kBase + (k0 + j) * a.KN + c] : 0f;
                vs[e] = inside ? v[vBase + (k0 + j) * a.VN + c] : 0f;
            }
            for (int j = t; j < KeyTile; j += threads) segK[j] = a.HasSegments != 0 && j < tk ? segments[b * a.Nk + k0 + j] : 0;
            Barrier(skipBarriers, 0); // also orders the query tile's loads before their first use

            // S = Q K^T * scale, masked (outside the tile or another segment) to -inf; each thread a 2 x 4 block
            // (rows r, r + 1; keys j, j + 8, j + 16, j + 24): 6 shared loads for 8 multiply-adds
            for (int m = t; m < QueryTile / 2 * (KeyTile / 4); m += threads)
            {
                int r = m / (KeyTile / 4) * 2, j = m % (KeyTile / 4);
                int qa = r * PaddedDim, qb = qa + PaddedDim;
                int k0a = j * PaddedDim, k1a = k0a + 8 * PaddedDim, k2a = k0a + 16 * PaddedDim, k3a = k0a + 24 * PaddedDim;
                float s00 = 0f, s01 = 0f, s02 = 0f, s03 = 0f, s10 = 0f, s11 = 0f, s12 = 0f, s13 = 0f;
                for (int c = 0; c < d; c++)
                {
                    float x0 = qs[qa + c], x1 = qs[qb + c];
                    float y0 = ks[k0a + c], y1 = ks[k1a + c], y2 = ks[k2a + c], y3 = ks[k3a + c];
                    s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
                    s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
                }
                StoreScore(p, segQ, segK, r, j, s00, tq, tk, a.Scale);
                StoreScore(p, segQ, segK, r, j + 8, s01, tq, tk, a.Scale);
                StoreScore(p, segQ, segK, r, j + 16, s02, tq, tk, a.Scale);
                StoreScore(p, segQ, segK, r, j + 24, s03, tq, tk, a.Scale);
                StoreScore(p, segQ, segK, r + 1, j, s10, tq, tk, a.Scale);
                StoreScore(p, segQ, segK, r + 1, j + 8, s11, tq, tk, a.Scale);
                StoreScore(p, segQ, segK, r + 1, j + 16, s12, tq, tk, a.Scale);
                StoreScore(p, segQ, segK, r + 1, j + 24, s13, tq, tk, a.Scale);
            }
            Barrier(skipBarriers, 1);

            // online softmax, one thread per row: P = exp(S - m_new), l = l * exp(m - m_new) + rowsum(P)
            for (int r = t; r < QueryTile; r += threads)
            {
                float m = rowMax[r], tileMax = float.NegativeInfinity;
                for (int j = 0; j < KeyTile; j++) tileMax = XMath.Max(tileMax, p[r * PaddedKeys + j]);
                float mNew = XMath.Max(m, tileMax);
                if (mNew == float.NegativeInfinity)
                {
                    // every key masked so far: nothing to add
                    for (int j = 0; j < KeyTile; j++) p[r * PaddedKeys + j] = 0f;
                    rowScale[r] = 1f;
                    continue;
                }
                float sum = 0f;
                for (int j = 0; j < KeyTile; j++)
                {
                    float e = XMath.Exp(p[r * PaddedKeys + j] - mNew);
                    p[r * PaddedKeys + j] = e;
                    sum += e;
                }
                float correction = XMath.Exp(m - mNew);
                rowSum[r] = rowSum[r] * correction + sum;
                rowMax[r] = mNew;
                rowScale[r] = correction;
            }
            Barrier(skipBarriers, 2);

            // acc = acc * correction + P V; each thread a 2 x 8 block (rows r, r + 1; columns c, c + 8, ..., c + 56):
            // 10 shared loads for 16 multiply-adds. Columns past D hold zeros and are never written out.
            for (int m = t; m < QueryTile / 2 * (MaxHeadDim / 8); m += threads)
            {
                int r = m / (MaxHeadDim / 8) * 2, c = m % (MaxHeadDim / 8);
                int oa = r * MaxHeadDim + c, ob = oa + MaxHeadDim;
                float ca = rowScale[r], cb = rowScale[r + 1];
                float a0 = acc[oa] * ca, a1 = acc[oa + 8] * ca, a2 = acc[oa + 16] * ca, a3 = acc[oa + 24] * ca;
                float a4 = acc[oa + 32] * ca, a5 = acc[oa + 40] * ca, a6 = acc[oa + 48] * ca, a7 = acc[oa + 56] * ca;
                float b0 = acc[ob] * cb, b1 = acc[ob + 8] * cb, b2 = acc[ob + 16] * cb, b3 = acc[ob + 24] * cb;
                float b4 = acc[ob + 32] * cb, b5 = acc[ob + 40] * cb, b6 = acc[ob + 48] * cb, b7 = acc[ob + 56] * cb;
                for (int j = 0; j < tk; j++)
                {
                    float pa = p[r * PaddedKeys + j], pb = p[(r + 1) * PaddedKeys + j];
                    int vj = j * MaxHeadDim + c;
                    float v0 = vs[vj], v1 = vs[vj + 8], v2 = vs[vj + 16], v3 = vs[vj + 24];
                    float v4 = vs[vj + 32], v5 = vs[vj + 40], v6 = vs[vj + 48], v7 = vs[vj + 56];
                    a0 += pa * v0; a1 += pa * v1; a2 += pa * v2; a3 += pa * v3; a4 += pa * v4; a5 += pa * v5; a6 += pa * v6; a7 += pa * v7;
                    b0 += pb * v0; b1 += pb * v1; b2 += pb * v2; b3 += pb * v3; b4 += pb * v4; b5 += pb * v5; b6 += pb * v6; b7 += pb * v7;
                }
                acc[oa] = a0; acc[oa + 8] = a1; acc[oa + 16] = a2; acc[oa + 24] = a3;
                acc[oa + 32] = a4; acc[oa + 40] = a5; acc[oa + 48] = a6; acc[oa + 56] = a7;
                acc[ob] = b0; acc[ob + 8] = b1; acc[ob + 16] = b2; acc[ob + 24] = b3;
                acc[ob + 32] = b4; acc[ob + 40] = b5; acc[ob + 48] = b6; acc[ob + 56] = b7;
            }
            Barrier(skipBarriers, 3); // the next tile overwrites K, V and P
        }
        Barrier(skipBarriers, 4); // only needed when Nk == 0: the row statistics and zeros then come from the initialising threads

        int oBase = a.OOffset + b * a.OB + h * a.OH;
        for (int e = t; e < tq * d; e += threads)
        {
            int r = e / d, c = e % d;
            float l = rowSum[r];
            o[oBase + (q0 + r) * a.ON + c] = l > 0f ? acc[r * MaxHeadDim + c] / l : 0f; // a query that sees no key attends to nothing
        }
        for (int r = t; r < tq; r += threads)
        {
            float l = rowSum[r];
            lse[bh * a.Nq + q0 + r] = l > 0f ? rowMax[r] + XMath.Log(l) : float.PositiveInfinity;
        }
    }

    /// <summary>
    /// dK and dV of one key tile, walking every query tile. Grid: B * H * ceil(Nk / KeyTile) groups.
    /// dk, dv (B, H, Nk, D) and dO (B, H, Nq, D) contiguous from offset 0; delta (B, H, Nq) = rowsum(dO * O).
    /// </summary>
    public static void BackwardKeys(ArrayView<float> dk, ArrayView<float> dv, ArrayView<float> dO, ArrayView<float> lse, ArrayView<float> delta,
        ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<int> segments, AttentionArgs a, int skipBarriers)
    {
        const int tileQ = KeyPassQueryTile;
        var ks = SharedMemory.Allocate<float>(KeyTile * PaddedDim);        // (Tk, D + 1)
        var vs = SharedMemory.Allocate<float>(KeyTile * PaddedDim);        // (Tk, D + 1)
        var dks = SharedMemory.Allocate<float>(KeyTile * AccStride);       // (Tk, 68) dK accumulator (unscaled)
        var dvs = SharedMemory.Allocate<float>(KeyTile * AccStride);       // (Tk, 68) dV accumulator
        var qs = SharedMemory.Allocate<float>(tileQ * PaddedDim);          // (Tq, D + 1) zero beyond D
        var gs = SharedMemory.Allocate<float>(tileQ * PaddedDim);          // (Tq, D + 1) dO, zero beyond D
        var ps = SharedMemory.Allocate<float>(tileQ * PaddedKeys);         // (Tq, Tk + 1) P
        var dss = SharedMemory.Allocate<float>(tileQ * PaddedKeys);        // (Tq, Tk + 1) dS = P * (dP - delta)
        var lseS = SharedMemory.Allocate<float>(tileQ);
        var deltaS = SharedMemory.Allocate<float>(tileQ);
        var segQ = SharedMemory.Allocate<int>(tileQ);
        var segK = SharedMemory.Allocate<int>(KeyTile);

        int tiles = (a.Nk + KeyTile - 1) / KeyTile;
        int tile = Grid.IdxX % tiles, bh = Grid.IdxX / tiles, b = bh / a.H, h = bh % a.H;
        int k0 = tile * KeyTile, tk = XMath.Min(KeyTile, a.Nk - k0);
        int t = Group.IdxX, threads = Group.DimX, d = a.D;
        int qBase = a.QOffset + b * a.QB + h * a.QH, kBase = a.KOffset + b * a.KB + h * a.KH, vBase = a.VOffset + b * a.VB + h * a.VH;

        for (int e = t; e < KeyTile * d; e += threads)
        {
            int j = e / d, c = e % d;
            ks[j * PaddedDim + c] = j < tk ? k[kBase + (k0 + j) * a.KN + c] : 0f;
            vs[j * PaddedDim + c] = j < tk ? v[vBase + (k0 + j) * a.VN + c] : 0f;
        }
        for (int j = t; j < KeyTile; j += threads) segK[j] = a.HasSegments != 0 && j < tk ? segments[b * a.Nk + k0 + j] : 0;
        // the accumulators belong to one thread each, as blocks of 2 keys x 8 columns (j, j + 1; c, c + 8, ..., c + 56),
        // from these zeros to the final write
        for (int m = t; m < KeyTile / 2 * (MaxHeadDim / 8); m += threads)
        {
            int j = m / (MaxHeadDim / 8) * 2, c = m % (MaxHeadDim / 8);
            for (int col = c; col < MaxHeadDim; col += 8)
            {
                dks[j * AccStride + col] = 0f;
                dks[(j + 1) * AccStride + col] = 0f;
                dvs[j * AccStride + col] = 0f;
                dvs[(j + 1) * AccStride + col] = 0f;
            }
        }

        for (int q0 = 0; q0 < a.Nq; q0 += tileQ)
        {
            int tq = XMath.Min(tileQ, a.Nq - q0);
            for (int e = t; e < tileQ * MaxHeadDim; e += threads)
            {
                int r = e / MaxHeadDim, c = e % MaxHeadDim;
                bool inside = r < tq && c < d;
                qs[r * PaddedDim + c] = inside ? q[qBase + (q0 + r) * a.QN + c] : 0f;
                gs[r * PaddedDim + c] = inside ? dO[(bh * a.Nq + q0 + r) * d + c] : 0f;
            }
            for (int r = t; r < tileQ; r += threads)
            {
                lseS[r] = r < tq ? lse[bh * a.Nq + q0 + r] : float.PositiveInfinity;
                deltaS[r] = r < tq ? delta[bh * a.Nq + q0 + r] : 0f;
                segQ[r] = a.HasSegments != 0 && r < tq ? segments[b * a.Nq + q0 + r] : 0;
            }
            Barrier(skipBarriers, 0); // also orders the key tile's loads before their first use

            // P = exp(S - lse), dS = P * (dO V^T - delta); each thread a 2 x 2 block (rows r, r + 1; keys j, j + 16)
            // of both products: 8 shared loads for 8 multiply-adds
            for (int m = t; m < tileQ / 2 * (KeyTile / 2); m += threads)
            {
                int r = m / (KeyTile / 2) * 2, j = m % (KeyTile / 2);
                int ra = r * PaddedDim, rb = ra + PaddedDim, ja = j * PaddedDim, jb = ja + KeyTile / 2 * PaddedDim;
                float s00 = 0f, s01 = 0f, s10 = 0f, s11 = 0f, g00 = 0f, g01 = 0f, g10 = 0f, g11 = 0f;
                for (int c = 0; c < d; c++)
                {
                    float x0 = qs[ra + c], x1 = qs[rb + c], o0 = gs[ra + c], o1 = gs[rb + c];
                    float y0 = ks[ja + c], y1 = ks[jb + c], w0 = vs[ja + c], w1 = vs[jb + c];
                    s00 += x0 * y0; s01 += x0 * y1; s10 += x1 * y0; s11 += x1 * y1;
                    g00 += o0 * w0; g01 += o0 * w1; g10 += o1 * w0; g11 += o1 * w1;
                }
                StorePAndDs(ps, dss, lseS, deltaS, segQ, segK, r, j, s00, g00, tk, a.Scale);
                StorePAndDs(ps, dss, lseS, deltaS, segQ, segK, r, j + KeyTile / 2, s01, g01, tk, a.Scale);
                StorePAndDs(ps, dss, lseS, deltaS, segQ, segK, r + 1, j, s10, g10, tk, a.Scale);
                StorePAndDs(ps, dss, lseS, deltaS, segQ, segK, r + 1, j + KeyTile / 2, s11, g11, tk, a.Scale);
            }
            Barrier(skipBarriers, 1);

            // dV += P^T dO ; dK += dS^T Q (scaled once at the end): 20 shared loads for 32 multiply-adds a row
            for (int m = t; m < KeyTile / 2 * (MaxHeadDim / 8); m += threads)
            {
                int j = m / (MaxHeadDim / 8) * 2, c = m % (MaxHeadDim / 8);
                int da = j * AccStride + c, db = da + AccStride;
                float va0 = dvs[da], va1 = dvs[da + 8], va2 = dvs[da + 16], va3 = dvs[da + 24], va4 = dvs[da + 32], va5 = dvs[da + 40], va6 = dvs[da + 48], va7 = dvs[da + 56];
                float vb0 = dvs[db], vb1 = dvs[db + 8], vb2 = dvs[db + 16], vb3 = dvs[db + 24], vb4 = dvs[db + 32], vb5 = dvs[db + 40], vb6 = dvs[db + 48], vb7 = dvs[db + 56];
                float ka0 = dks[da], ka1 = dks[da + 8], ka2 = dks[da + 16], ka3 = dks[da + 24], ka4 = dks[da + 32], ka5 = dks[da + 40], ka6 = dks[da + 48], ka7 = dks[da + 56];
                float kb0 = dks[db], kb1 = dks[db + 8], kb2 = dks[db + 16], kb3 = dks[db + 24], kb4 = dks[db + 32], kb5 = dks[db + 40], kb6 = dks[db + 48], kb7 = dks[db + 56];
                for (int r = 0; r < tq; r++)
                {
                    float pa = ps[r * PaddedKeys + j], pb = ps[r * PaddedKeys + j + 1];
                    float sa = dss[r * PaddedKeys + j], sb = dss[r * PaddedKeys + j + 1];
                    int ro = r * PaddedDim + c;
                    float g0 = gs[ro], g1 = gs[ro + 8], g2 = gs[ro + 16], g3 = gs[ro + 24], g4 = gs[ro + 32], g5 = gs[ro + 40], g6 = gs[ro + 48], g7 = gs[ro + 56];
                    va0 += pa * g0; va1 += pa * g1; va2 += pa * g2; va3 += pa * g3; va4 += pa * g4; va5 += pa * g5; va6 += pa * g6; va7 += pa * g7;
                    vb0 += pb * g0; vb1 += pb * g1; vb2 += pb * g2; vb3 += pb * g3; vb4 += pb * g4; vb5 += pb * g5; vb6 += pb * g6; vb7 += pb * g7;
                    float x0 = qs[ro], x1 = qs[ro + 8], x2 = qs[ro + 16], x3 = qs[ro + 24], x4 = qs[ro + 32], x5 = qs[ro + 40], x6 = qs[ro + 48], x7 = qs[ro + 56];
                    ka0 += sa * x0; ka1 += sa * x1; ka2 += sa * x2; ka3 += sa * x3; ka4 += sa * x4; ka5 += sa * x5; ka6 += sa * x6; ka7 += sa * x7;
                    kb0 += sb * x0; kb1 += sb * x1; kb2 += sb * x2; kb3 += sb * x3; kb4 += sb * x4; kb5 += sb * x5; kb6 += sb * x6; kb7 += sb * x7;
                }
                dvs[da] = va0; dvs[da + 8] = va1; dvs[da + 16] = va2; dvs[da + 24] = va3; dvs[da + 32] = va4; dvs[da + 40] = va5; dvs[da + 48] = va6; dvs[da + 56] = va7;
                dvs[db] = vb0; dvs[db + 8] = vb1; dvs[db + 16] = vb2; dvs[db + 24] = vb3; dvs[db + 32] = vb4; dvs[db + 40] = vb5; dvs[db + 48] = vb6; dvs[db + 56] = vb7;
                dks[da] = ka0; dks[da + 8] = ka1; dks[da + 16] = ka2; dks[da + 24] = ka3; dks[da + 32] = ka4; dks[da + 40] = ka5; dks[da + 48] = ka6; dks[da + 56] = ka7;
                dks[db] = kb0; dks[db + 8] = kb1; dks[db + 16] = kb2; dks[db + 24] = kb3; dks[db + 32] = kb4; dks[db + 40] = kb5; dks[db + 48] = kb6; dks[db + 56] = kb7;
            }
            Barrier(skipBarriers, 2); // the next query tile overwrites Q, dO, P and dS
        }

        for (int m = t; m < KeyTile / 2 * (MaxHeadDim / 8); m += threads)
        {
            int j = m / (MaxHeadDim / 8) * 2, c = m % (MaxHeadDim / 8);
            for (int jj = j; jj < j + 2 && jj < tk; jj++)
            {
                for (int col = c; col < d; col += 8)
                {
                    int at = (bh * a.Nk + k0 + jj) * d + col;
                    dk[at] = dks[jj * AccStride + col] * a.Scale;
                    dv[at] = dvs[jj * AccStride + col];
                }
            }
        }
    }

    /// <summary>P and dS of one (query, key) pair from its two dot products: zero outside the tile, across segments or for a query that saw no key.</summary>
    private static void StorePAndDs(ArrayView<float> ps, ArrayView<float> dss, ArrayView<float> lseS, ArrayView<float> deltaS, ArrayView<int> segQ,
        ArrayView<int> segK, int r, int j, float qk, float dOv, int tk, float scale)
    {
        float l = lseS[r], pr = 0f, ds = 0f;
        if (j < tk && l != float.PositiveInfinity && segK[j] == segQ[r])
        {
            pr = XMath.Exp(qk * scale - l);
            ds = pr * (dOv - deltaS[r]);
        }
        ps[r * PaddedKeys + j] = pr;
        dss[r * PaddedKeys + j] = ds;
    }

    /// <summary>
    /// dQ of one query tile, walking every key tile. Grid: B * H * ceil(Nq / QueryTile) groups.
    /// dq (B, H, Nq, D) and dO contiguous from offset 0; delta (B, H, Nq).
    /// </summary>
    public static void BackwardQueries(ArrayView<float> dq, ArrayView<float> dO, ArrayView<float> lse, ArrayView<float> delta,
        ArrayView<float> q, ArrayView<float> k, ArrayView<float> v, ArrayView<int> segments, AttentionArgs a, int skipBarriers)
    {
        var qs = SharedMemory.Allocate<float>(QueryTile * PaddedDim);      // (Tq, D + 1)
        var gs = SharedMemory.Allocate<float>(QueryTile * PaddedDim);      // (Tq, D + 1) dO
        var dqs = SharedMemory.Allocate<float>(QueryTile * AccStride);     // (Tq, 68) dQ accumulator (unscaled)
        var ks = SharedMemory.Allocate<float>(KeyTile * PaddedDim);        // (Tk, D + 1) zero beyond D
        var vs = SharedMemory.Allocate<float>(KeyTile * PaddedDim);        // (Tk, D + 1)
        var dss = SharedMemory.Allocate<float>(QueryTile * PaddedKeys);    // (Tq, Tk + 1) dS; the P half of it is not kept
        var lseS = SharedMemory.Allocate<float>(QueryTile);
        var deltaS = SharedMemory.Allocate<float>(QueryTile);
        var segQ = SharedMemory.Allocate<int>(QueryTile);
        var segK = SharedMemory.Allocate<int>(KeyTile);

        int tiles = (a.Nq + QueryTile - 1) / QueryTile;
        int tile = Grid.IdxX % tiles, bh = Grid.IdxX / tiles, b = bh / a.H, h = bh % a.H;
        int q0 = tile * QueryTile, tq = XMath.Min(QueryTile, a.Nq - q0);
        int t = Group.IdxX, threads = Group.DimX, d = a.D;
        int qBase = a.QOffset + b * a.QB + h * a.QH, kBase = a.KOffset + b * a.KB + h * a.KH, vBase = a.VOffset + b * a.VB + h * a.VH;

        for (int e = t; e < QueryTile * d; e += threads)
        {
            int r = e / d, c = e % d;
            qs[r * PaddedDim + c] = r < tq ? q[qBase + (q0 + r) * a.QN + c] : 0f;
            gs[r * PaddedDim + c] = r < tq ? dO[(bh * a.Nq + q0 + r) * d + c] : 0f;
        }
        for (int r = t; r < QueryTile; r += threads)
        {
            lseS[r] = r < tq ? lse[bh * a.Nq + q0 + r] : float.PositiveInfinity;
            deltaS[r] = r < tq ? delta[bh * a.Nq + q0 + r] : 0f;
            segQ[r] = a.HasSegments != 0 && r < tq ? segments[b * a.Nq + q0 + r] : 0;
        }
        // the accumulator belongs to one thread each, as blocks of 2 rows x 8 columns, from these zeros to the final write
        for (int m = t; m < QueryTile / 2 * (MaxHeadDim / 8); m += threads)
        {
            int r = m / (MaxHeadDim / 8) * 2, c = m % (MaxHeadDim / 8);
            for (int col = c; col < MaxHeadDim; col += 8)
            {
                dqs[r * AccStride + col] = 0f;
                dqs[(r + 1) * AccStride + col] = 0f;
            }
        }

        for (int k0 = 0; k0 < a.Nk; k0 += KeyTile)
        {
            int tk = XMath.Min(KeyTile, a.Nk - k0);
            for (int e = t; e < KeyTile * MaxHeadDim; e += threads)
            {
                int j = e / MaxHeadDim, c = e % MaxHeadDim;
                bool inside = j < tk && c < d;
                ks[j * PaddedDim + c] = inside ? k[kBase + (k0 + j) * a.KN + c] : 0f;
                vs[j * PaddedDim + c] = inside ? v[vBase + (k0 + j) * a.VN + c] : 0f;
            }
            for (int j = t; j < KeyTile; j += threads) segK[j] = a.HasSegments != 0 && j < tk ? segments[b * a.Nk + k0 + j] : 0;
            Barrier(skipBarriers, 0); // also orders the query tile's loads before their first use

            // dS = P * (dO V^T - delta); each thread a 2 x 4 block (rows r, r + 1; keys j, j + 8, j + 16, j + 24) of both
            // products: 12 shared loads for 16 multiply-adds
            for (int m = t; m < QueryTile / 2 * (KeyTile / 4); m += threads)
            {
                int r = m / (KeyTile / 4) * 2, j = m % (KeyTile / 4);
                int ra = r * PaddedDim, rb = ra + PaddedDim;
                int j0 = j * PaddedDim, j1 = j0 + 8 * PaddedDim, j2 = j0 + 16 * PaddedDim, j3 = j0 + 24 * PaddedDim;
                float s00 = 0f, s01 = 0f, s02 = 0f, s03 = 0f, s10 = 0f, s11 = 0f, s12 = 0f, s13 = 0f;
                float g00 = 0f, g01 = 0f, g02 = 0f, g03 = 0f, g10 = 0f, g11 = 0f, g12 = 0f, g13 = 0f;
                for (int c = 0; c < d; c++)
                {
                    float x0 = qs[ra + c], x1 = qs[rb + c];
                    float y0 = ks[j0 + c], y1 = ks[j1 + c], y2 = ks[j2 + c], y3 = ks[j3 + c];
                    s00 += x0 * y0; s01 += x0 * y1; s02 += x0 * y2; s03 += x0 * y3;
                    s10 += x1 * y0; s11 += x1 * y1; s12 += x1 * y2; s13 += x1 * y3;
                    float o0 = gs[ra + c], o1 = gs[rb + c];
                    float w0 = vs[j0 + c], w1 = vs[j1 + c], w2 = vs[j2 + c], w3 = vs[j3 + c];
                    g00 += o0 * w0; g01 += o0 * w1; g02 += o0 * w2; g03 += o0 * w3;
                    g10 += o1 * w0; g11 += o1 * w1; g12 += o1 * w2; g13 += o1 * w3;
                }
                StoreDs(dss, lseS, deltaS, segQ, segK, r, j, s00, g00, tk, a.Scale);
                StoreDs(dss, lseS, deltaS, segQ, segK, r, j + 8, s01, g01, tk, a.Scale);
                StoreDs(dss, lseS, deltaS, segQ, segK, r, j + 16, s02, g02, tk, a.Scale);
                StoreDs(dss, lseS, deltaS, segQ, segK, r, j + 24, s03, g03, tk, a.Scale);
                StoreDs(dss, lseS, deltaS, segQ, segK, r + 1, j, s10, g10, tk, a.Scale);
                StoreDs(dss, lseS, deltaS, segQ, segK, r + 1, j + 8, s11, g11, tk, a.Scale);
                StoreDs(dss, lseS, deltaS, segQ, segK, r + 1, j + 16, s12, g12, tk, a.Scale);
                StoreDs(dss, lseS, deltaS, segQ, segK, r + 1, j + 24, s13, g13, tk, a.Scale);
            }
            Barrier(skipBarriers, 1);

            // dQ += dS K (scaled once at the end): 10 shared loads for 16 multiply-adds a key
            for (int m = t; m < QueryTile / 2 * (MaxHeadDim / 8); m += threads)
            {
                int r = m / (MaxHeadDim / 8) * 2, c = m % (MaxHeadDim / 8);
                int da = r * AccStride + c, db = da + AccStride;
                float a0 = dqs[da], a1 = dqs[da + 8], a2 = dqs[da + 16], a3 = dqs[da + 24], a4 = dqs[da + 32], a5 = dqs[da + 40], a6 = dqs[da + 48], a7 = dqs[da + 56];
                float b0 = dqs[db], b1 = dqs[db + 8], b2 = dqs[db + 16], b3 = dqs[db + 24], b4 = dqs[db + 32], b5 = dqs[db + 40], b6 = dqs[db + 48], b7 = dqs[db + 56];
                for (int j = 0; j < tk; j++)
                {
                    float sa = dss[r * PaddedKeys + j], sb = dss[(r + 1) * PaddedKeys + j];
                    int kj = j * PaddedDim + c;
                    float y0 = ks[kj], y1 = ks[kj + 8], y2 = ks[kj + 16], y3 = ks[kj + 24], y4 = ks[kj + 32], y5 = ks[kj + 40], y6 = ks[kj + 48], y7 = ks[kj + 56];
                    a0 += sa * y0; a1 += sa * y1; a2 += sa * y2; a3 += sa * y3; a4 += sa * y4; a5 += sa * y5; a6 += sa * y6; a7 += sa * y7;
                    b0 += sb * y0; b1 += sb * y1; b2 += sb * y2; b3 += sb * y3; b4 += sb * y4; b5 += sb * y5; b6 += sb * y6; b7 += sb * y7;
                }
                dqs[da] = a0; dqs[da + 8] = a1; dqs[da + 16] = a2; dqs[da + 24] = a3; dqs[da + 32] = a4; dqs[da + 40] = a5; dqs[da + 48] = a6; dqs[da + 56] = a7;
                dqs[db] = b0; dqs[db + 8] = b1; dqs[db + 16] = b2; dqs[db + 24] = b3; dqs[db + 32] = b4; dqs[db + 40] = b5; dqs[db + 48] = b6; dqs[db + 56] = b7;
            }
            Barrier(skipBarriers, 2); // the next key tile overwrites K, V and dS
        }

        for (int m = t; m < QueryTile / 2 * (MaxHeadDim / 8); m += threads)
        {
            int r = m / (MaxHeadDim / 8) * 2, c = m % (MaxHeadDim / 8);
            for (int rr = r; rr < r + 2 && rr < tq; rr++)
                for (int col = c; col < d; col += 8)
                    dq[(bh * a.Nq + q0 + rr) * d + col] = dqs[rr * AccStride + col] * a.Scale;
        }
    }

    /// <summary>dS of one (query, key) pair from its two dot products (zero where P is).</summary>
    private static void StoreDs(ArrayView<float> dss, ArrayView<float> lseS, ArrayView<float> deltaS, ArrayView<int> segQ, ArrayView<int> segK,
        int r, int j, float qk, float dOv, int tk, float scale)
    {
        float l = lseS[r], ds = 0f;
        if (j < tk && l != float.PositiveInfinity && segK[j] == segQ[r]) ds = XMath.Exp(qk * scale - l) * (dOv - deltaS[r]);
        dss[r * PaddedKeys + j] = ds;
    }
}
