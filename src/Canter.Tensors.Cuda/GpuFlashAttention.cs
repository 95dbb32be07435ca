using ILGPU;
using ILGPU.Runtime;

namespace Canter.Tensors.Cuda;

/// <summary>
/// Which attention kernels the GPU backend runs. Set per backend (<see cref="GpuBackend.AttentionKernels"/>) or for the
/// process with the environment variable <c>CANTER_ATTENTION</c> = <c>auto</c> | <c>flash</c> | <c>gemm</c>, so that a
/// benchmark can compare the paths on one GPU.
/// </summary>
public enum AttentionKernels
{
    /// <summary>
    /// On CUDA, the GEMM path: it is the one measured on an H100 (parity and speed), and the flash kernels have not run
    /// on a GPU yet; <c>flash</c> opts in until <c>canter bench attention --device cuda</c> has measured them. On ILGPU's
    /// CPU accelerator, the flash kernels where the head fits their tiles (D up to 64), the GEMM path otherwise.
    /// </summary>
    Auto,

    /// <summary>Always the flash kernels; a head wider than their tiles is an error.</summary>
    Flash,

    /// <summary>
    /// Never the flash kernels: on CUDA the scores of one batch entry go through cuBLAS batched GEMMs; on ILGPU's CPU
    /// accelerator (no cuBLAS) one thread per query row and per key row.
    /// </summary>
    Gemm,
}

/// <summary>Launches of the flash-style attention kernels (<see cref="FlashAttentionKernels"/>).</summary>
public sealed partial class GpuBackend
{
    /// <summary>The attention path this backend takes (from <c>CANTER_ATTENTION</c> at creation, <c>auto</c> when unset).</summary>
    public AttentionKernels AttentionKernels { get; set; } = AttentionKernelsFromEnvironment();

    /// <summary>Test hook: bit i leaves out barrier i of every flash kernel (0 outside tests; see <see cref="FlashAttentionKernels"/>).</summary>
    internal int FlashSkipBarriers { get; set; }

    /// <summary>Parses <c>CANTER_ATTENTION</c>; unset or empty is <see cref="AttentionKernels.Auto"/>.</summary>
    public static AttentionKernels AttentionKernelsFromEnvironment() => ParseAttentionKernels(Environment.GetEnvironmentVariable("CANTER_ATTENTION"));

    public static AttentionKernels ParseAttentionKernels(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        null or "" or "auto" => AttentionKernels.Auto,
        "flash" => AttentionKernels.Flash,
        "gemm" or "cublas" => AttentionKernels.Gemm,
        _ => throw new ArgumentException($"CANTER_ATTENTION='{value}' is not one of auto, flash, gemm"),
    };

    /// <summary>Query rows and key rows per tile of the flash kernels, and the widest head they hold.</summary>
    public static (int QueryRows, int KeyRows, int MaxHeadDim) FlashTiles =>
        (FlashAttentionKernels.QueryTile, FlashAttentionKernels.KeyTile, FlashAttentionKernels.MaxHeadDim);

    /// <summary>Whether the flash kernels' tiles hold a head of width <paramref name="headDim"/>.</summary>
    public static bool FlashFits(int headDim) => headDim >= 1 && headDim <= FlashAttentionKernels.MaxHeadDim;

    /// <summary>Whether an attention of head width <paramref name="headDim"/> runs the flash kernels under the current setting.</summary>
    public bool UsesFlashAttention(int headDim) => AttentionKernels switch
    {
        AttentionKernels.Gemm => false,
        AttentionKernels.Flash => FlashFits(headDim)
            ? true
            : throw new NotSupportedException($"flash attention holds heads up to {FlashAttentionKernels.MaxHeadDim} wide, not {headDim} (CANTER_ATTENTION=flash); use auto or gemm"),
        _ => _accelerator.AcceleratorType != AcceleratorType.Cuda && FlashFits(headDim),
    };

    /// <summary>Threads per group of the flash kernels: 128 on a GPU, what the accelerator allows below that.</summary>
    private int FlashGroupSize => Math.Min(FlashAttentionKernels.GroupSize, _accelerator.MaxNumThreadsPerGroup);

    private void AttentionForwardFlash(Tensor o, Tensor lse, Tensor q, Tensor k, Tensor v, ArrayView<int> segments, AttentionArgs a)
    {
        int groups = a.B * a.H * Tiles(a.Nq, FlashAttentionKernels.QueryTile);
        if (groups == 0) return;
        Kernel("flash_forward", acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, AttentionArgs, int>(FlashAttentionKernels.Forward))
            (new KernelConfig(groups, FlashGroupSize), V(o), V(lse), V(q), V(k), V(v), segments, a, FlashSkipBarriers);
    }

    private void AttentionBackwardFlash(Tensor dq, Tensor dk, Tensor dv, Tensor dO, Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse,
        ArrayView<int> segments, AttentionArgs a)
    {
        using var delta = Tensor.Empty([a.B * a.H * a.Nq], this);           // (B * H * Nq) rowsum(dO * O)
        using var dOc = Offsetless(dO);                                      // (B, H, Nq, D) contiguous
        if (a.Nq > 0)
            Kernel("attn_delta", acc => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, AttentionArgs>(AttentionGemmKernels.Delta))
                (a.B * a.H * a.Nq, V(delta), V(dOc), V(o), a);
        int keyGroups = a.B * a.H * Tiles(a.Nk, FlashAttentionKernels.KeyTile);
        if (keyGroups > 0)
            Kernel("flash_backward_keys", acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, AttentionArgs, int>(FlashAttentionKernels.BackwardKeys))
                (new KernelConfig(keyGroups, FlashGroupSize), V(dk), V(dv), V(dOc), V(lse), V(delta), V(q), V(k), V(v), segments, a, FlashSkipBarriers);
        int queryGroups = a.B * a.H * Tiles(a.Nq, FlashAttentionKernels.QueryTile);
        if (queryGroups > 0)
            Kernel("flash_backward_queries", acc => acc.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, AttentionArgs, int>(FlashAttentionKernels.BackwardQueries))
                (new KernelConfig(queryGroups, FlashGroupSize), V(dq), V(dOc), V(lse), V(delta), V(q), V(k), V(v), segments, a, FlashSkipBarriers);
    }

    private static int Tiles(int n, int tile) => (n + tile - 1) / tile;
}
