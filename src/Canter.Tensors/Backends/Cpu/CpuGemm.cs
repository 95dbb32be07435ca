namespace Canter.Tensors.Backends.Cpu;

public sealed unsafe partial class CpuBackend
{
    /// <summary>Work (M*N*K) under which a batch of GEMMs runs one matrix per thread instead of threading each call.</summary>
    private const long SmallGemmWork = 1L << 21;

    /// <summary>Least work (M*N*K) of one block of a partitioned GEMM.</summary>
    private const long GemmBlockWork = 1L << 20;

    /// <summary>Most blocks one GEMM is cut into.</summary>
    private const int MaxGemmBlocks = 32;

    /// <summary>Rows (or columns) of C in a block are a multiple of this.</summary>
    private const int GemmBlockQuantum = 16;

    /// <summary>
    /// Fewest rows (or columns) of C in a block: thinner blocks make OpenBLAS re-pack the other operand for little
    /// work each (a convolution's 64 x 1280 x 1728 GEMM was cut into 48-column blocks).
    /// </summary>
    private const int MinGemmBlockExtent = 128;

    /// <summary>
    /// One row-major SGEMM, C = alpha A B + beta C, with the engine's threads over blocks of C's rows
    /// (or columns, when C is wider than tall) and OpenBLAS on one thread inside each block.
    /// The blocks depend on (m, n, k) only, never on the thread count or on other callers, so the
    /// result is the same bits however loaded the process is. (OpenBLAS threading its own GEMM
    /// gives results that depend on its thread count, which is process-wide state.)
    /// </summary>
    internal static void Sgemm(int ta, int tb, int m, int n, int k, float alpha, float* a, int lda,
        float* b, int ldb, float beta, float* c, int ldc)
    {
        long work = (long)m * n * k;
        int wanted = (int)Math.Min(MaxGemmBlocks, work / GemmBlockWork);
        bool byRows = m >= n;
        int extent = byRows ? m : n;
        int size = wanted <= 1 ? extent
            : Math.Max(MinGemmBlockExtent, (int)(((long)extent + wanted - 1) / wanted + GemmBlockQuantum - 1) / GemmBlockQuantum * GemmBlockQuantum);
        int blocks = (extent + size - 1) / size;
        if (blocks <= 1)
        {
            OpenBlas.Sgemm(OpenBlas.RowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
            return;
        }
        CpuParallel.ForEachItem(blocks, i =>
        {
            int start = i * size, len = Math.Min(size, extent - start);
            if (byRows)
            {
                float* ai = ta == OpenBlas.NoTrans ? a + (long)start * lda : a + start;
                OpenBlas.Sgemm(OpenBlas.RowMajor, ta, tb, len, n, k, alpha, ai, lda, b, ldb, beta, c + (long)start * ldc, ldc);
            }
            else
            {
                float* bj = tb == OpenBlas.NoTrans ? b + start : b + (long)start * ldb;
                OpenBlas.Sgemm(OpenBlas.RowMajor, ta, tb, m, len, k, alpha, a, lda, bj, ldb, beta, c + start, ldc);
            }
        });
    }

    public void Gemm(Tensor c, Tensor a, Tensor b, float alpha, float beta)
    {
        int m = c.Shape[^2], n = c.Shape[^1];
        int k = a.Shape[^1];
        if (a.Shape[^2] != m || b.Shape[^2] != k || b.Shape[^1] != n)
            throw new ArgumentException($"Gemm: {a.ShapeString} @ {b.ShapeString} -> {c.ShapeString}");
        var la = MatrixLayout.Of(a) ?? throw new ArgumentException($"Gemm: a {a.ShapeString} strides {ShapeUtil.Format(a.Strides)} has no BLAS layout");
        var lb = MatrixLayout.Of(b) ?? throw new ArgumentException($"Gemm: b {b.ShapeString} strides {ShapeUtil.Format(b.Strides)} has no BLAS layout");
        var lc = MatrixLayout.Of(c);
        if (lc is not { Transposed: false }) throw new ArgumentException("Gemm: c must be row-major");
        int batch = c.Rank == 3 ? c.Shape[0] : 1;
        long sa = a.Rank == 3 ? (a.Shape[0] == 1 ? 0 : a.Strides[0]) : 0;
        long sb = b.Rank == 3 ? (b.Shape[0] == 1 ? 0 : b.Strides[0]) : 0;
        long sc = c.Rank == 3 ? c.Strides[0] : 0;
        float* pa = Ptr(a), pb = Ptr(b), pc = Ptr(c);
        int ta = la.Transposed ? OpenBlas.Trans : OpenBlas.NoTrans;
        int tb = lb.Transposed ? OpenBlas.Trans : OpenBlas.NoTrans;
        int lda = la.LeadingDimension, ldb = lb.LeadingDimension, ldc = lc.Value.LeadingDimension;

        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            for (int i = 0; i < batch; i++)
                for (int r = 0; r < m; r++)
                {
                    var row = new Span<float>(pc + i * sc + (long)r * ldc, n);
                    if (beta == 0f) row.Clear();
                    else System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
                }
            return;
        }

        if (batch == 1 || (long)m * n * k >= SmallGemmWork)
        {
            for (int i = 0; i < batch; i++)
                Sgemm(ta, tb, m, n, k, alpha, pa + i * sa, lda, pb + i * sb, ldb, beta, pc + i * sc, ldc);
            return;
        }
        CpuParallel.ForEachItem(batch, i =>
            OpenBlas.Sgemm(OpenBlas.RowMajor, ta, tb, m, n, k, alpha, pa + i * sa, lda, pb + i * sb, ldb, beta, pc + i * sc, ldc));
    }
}
