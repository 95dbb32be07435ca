using ILGPU;
using ILGPU.Runtime;

namespace Canter.Tensors.Cuda;

/// <summary>
/// Attention on CUDA through cuBLAS: per batch entry, the (H, Nq, Nk) scores are materialised by a
/// batched GEMM, normalised by a row kernel and multiplied by V by a second batched GEMM; the
/// backward pass recomputes the probabilities from the saved log-sum-exp. Not yet the flash-style
/// shared-memory kernel (the scores of one batch entry are held in device memory).
/// </summary>
public sealed partial class GpuBackend
{
    private nint Ptr(Tensor t, long extraElements = 0) => ((GpuStorage)t.Storage).Buffer.NativePtr + (nint)((t.Offset + extraElements) * 4);

    /// <summary>Row-major batched C = alpha op(A) op(B) + beta C on raw device pointers (strides in elements).</summary>
    private void GemmRaw(bool transA, bool transB, int m, int n, int k, float alpha, nint a, int lda, long strideA,
        nint b, int ldb, long strideB, float beta, nint c, int ldc, long strideC, int batch)
    {
        CuBlas.Check(CuBlas.SgemmStridedBatched(_cublas, transB ? CuBlas.OpT : CuBlas.OpN, transA ? CuBlas.OpT : CuBlas.OpN,
            n, m, k, ref alpha, b, ldb, strideB, a, lda, strideA, ref beta, c, ldc, strideC, batch), "attention gemm");
    }

    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<int>, AttentionArgs, int, int> SoftmaxRowsKernel() =>
        Kernel("attn_softmax_rows", acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<int>, AttentionArgs, int, int>(RowKernels.AttentionSoftmax));

    private void AttentionForwardCublas(Tensor o, Tensor lse, Tensor q, Tensor k, Tensor v, ArrayView<int> segments, AttentionArgs a)
    {
        using var scores = Tensor.Empty([a.H, a.Nq, a.Nk], this);           // (H, Nq, Nk) of one batch entry
        var softmax = SoftmaxRowsKernel();
        long sq = (long)a.Nq * a.Nk;
        for (int b = 0; b < a.B; b++)
        {
            // S = Q K^T * scale
            GemmRaw(false, true, a.Nq, a.Nk, a.D, a.Scale, Ptr(q, (long)b * a.QB), a.QN, a.QH, Ptr(k, (long)b * a.KB), a.KN, a.KH,
                0f, Ptr(scores), a.Nk, sq, a.H);
            softmax(RowConfig(a.H * a.Nq), V(scores), V(lse), segments, a, b, 0);
            // O = P V
            GemmRaw(false, false, a.Nq, a.D, a.Nk, 1f, Ptr(scores), a.Nk, sq, Ptr(v, (long)b * a.VB), a.VN, a.VH,
                0f, Ptr(o, (long)b * a.OB), a.ON, a.OH, a.H);
        }
    }

    private void AttentionBackwardCublas(Tensor dq, Tensor dk, Tensor dv, Tensor dO, Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse,
        ArrayView<int> segments, AttentionArgs a)
    {
        using var p = Tensor.Empty([a.H, a.Nq, a.Nk], this);                // (H, Nq, Nk) probabilities
        using var dp = Tensor.Empty([a.H, a.Nq, a.Nk], this);               // (H, Nq, Nk) dP, then dS
        using var delta = Tensor.Empty([a.B * a.H * a.Nq], this);           // (B * H * Nq)
        using var dOc = Offsetless(dO);                                      // (B, H, Nq, D) contiguous
        var softmax = SoftmaxRowsKernel();
        var ds = Kernel("attn_ds", acc => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(AttentionGemmKernels.Ds));
        Kernel("attn_delta", acc => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionArgs>(AttentionGemmKernels.Delta))
            (a.B * a.H * a.Nq, V(delta), V(dOc), V(o), a);
        long sq = (long)a.Nq * a.Nk, sqd = (long)a.Nq * a.D, skd = (long)a.Nk * a.D;
        for (int b = 0; b < a.B; b++)
        {
            nint qb = Ptr(q, (long)b * a.QB), kb = Ptr(k, (long)b * a.KB), vb = Ptr(v, (long)b * a.VB);
            nint gb = Ptr(dOc, b * a.H * sqd);
            GemmRaw(false, true, a.Nq, a.Nk, a.D, a.Scale, qb, a.QN, a.QH, kb, a.KN, a.KH, 0f, Ptr(p), a.Nk, sq, a.H);
            softmax(RowConfig(a.H * a.Nq), V(p), V(lse), segments, a, b, 1);
            // dV = P^T dO ; dP = dO V^T
            GemmRaw(true, false, a.Nk, a.D, a.Nq, 1f, Ptr(p), a.Nk, sq, gb, a.D, sqd, 0f, Ptr(dv, b * a.H * skd), a.D, skd, a.H);
            GemmRaw(false, true, a.Nq, a.Nk, a.D, 1f, gb, a.D, sqd, vb, a.VN, a.VH, 0f, Ptr(dp), a.Nk, sq, a.H);
            ds(a.H * a.Nq * a.Nk, V(dp), V(p), V(delta), a.Nk, b * a.H * a.Nq);
            // dQ = dS K * scale ; dK = dS^T Q * scale
            GemmRaw(false, false, a.Nq, a.D, a.Nk, a.Scale, Ptr(dp), a.Nk, sq, kb, a.KN, a.KH, 0f, Ptr(dq, b * a.H * sqd), a.D, sqd, a.H);
            GemmRaw(true, false, a.Nk, a.D, a.Nq, a.Scale, Ptr(dp), a.Nk, sq, qb, a.QN, a.QH, 0f, Ptr(dk, b * a.H * skd), a.D, skd, a.H);
        }
    }
}
