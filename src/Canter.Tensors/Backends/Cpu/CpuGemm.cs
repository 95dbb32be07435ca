namespace Canter.Tensors.Backends.Cpu;

public sealed unsafe partial class CpuBackend
{
    /// <summary>Work (M*N*K) under which a batch of GEMMs runs one matrix per thread instead of threading each call.</summary>
    private const long SmallGemmWork = 1L << 21;

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
                OpenBlas.Sgemm(OpenBlas.RowMajor, ta, tb, m, n, k, alpha, pa + i * sa, lda, pb + i * sb, ldb, beta, pc + i * sc, ldc);
            return;
        }
        CpuParallel.ForWithSerialBlas(batch, i =>
            OpenBlas.Sgemm(OpenBlas.RowMajor, ta, tb, m, n, k, alpha, pa + i * sa, lda, pb + i * sb, ldb, beta, pc + i * sc, ldc));
    }
}
