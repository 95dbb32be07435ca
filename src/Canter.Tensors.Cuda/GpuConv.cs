using ILGPU;
using ILGPU.Runtime;

namespace Canter.Tensors.Cuda;

/// <summary>
/// Convolutions on the GPU as on the CPU: chunks of output positions, a column buffer filled by
/// <see cref="ConvKernels.Vol2Col"/>, one GEMM per chunk, and a gathering col2vol for the input gradient.
/// </summary>
public sealed partial class GpuBackend
{
    /// <summary>Largest column buffer, in floats (256 MiB by default; tests lower it to exercise chunking).</summary>
    public int ColumnBudget { get; set; } = 64 << 20;

    private static ConvArgs ConvArgsOf(Tensor input, Tensor output, ConvGeometry g) => new()
    {
        Cin = input.Shape[1], F = input.Shape[2], H = input.Shape[3], W = input.Shape[4],
        Fo = output.Shape[2], Ho = output.Shape[3], Wo = output.Shape[4],
        Kf = g.Kernel[0], Kh = g.Kernel[1], Kw = g.Kernel[2], Sf = g.Stride[0], Sh = g.Stride[1], Sw = g.Stride[2],
        Df = g.Dilation[0], Dh = g.Dilation[1], Dw = g.Dilation[2], Pf = g.PadBefore[0], Ph = g.PadBefore[1], Pw = g.PadBefore[2],
    };

    private delegate void ConvChunk(Tensor cols, ConvArgs chunk, int batchItem, int columnRows);

    /// <summary>Runs <paramref name="action"/> for each batch item and chunk of output positions with one reused column buffer.</summary>
    private void ForEachConvChunk(Tensor input, Tensor output, ConvGeometry g, ConvChunk action)
    {
        var a = ConvArgsOf(input, output, g);
        int rows = a.Cin * a.Kf * a.Kh * a.Kw, positions = a.Fo * a.Ho * a.Wo;
        int chunk = Math.Clamp(ColumnBudget / Math.Max(rows, 1), 1, positions);
        using var cols = Tensor.Empty([rows * chunk], this);
        for (int b = 0; b < input.Shape[0]; b++)
            for (int p0 = 0; p0 < positions; p0 += chunk)
                action(cols, a with { First = p0, Length = Math.Min(chunk, positions - p0), InputOffset = input.Offset + b * a.Cin * a.F * a.H * a.W }, b, rows);
    }

    /// <summary>Row-major C = op(A) op(B) (+ beta C) at element offsets of three tensors' storages; cuBLAS on CUDA, a plain kernel otherwise.</summary>
    private void GemmAt(bool transA, bool transB, int m, int n, int k, Tensor a, int aOffset, int lda, Tensor b, int bOffset, int ldb,
        float beta, Tensor c, int cOffset, int ldc)
    {
        if (_cublas != 0)
        {
            var ga = ((GpuStorage)a.Storage).Buffer.NativePtr + (nint)aOffset * 4;
            var gb = ((GpuStorage)b.Storage).Buffer.NativePtr + (nint)bOffset * 4;
            var gc = ((GpuStorage)c.Storage).Buffer.NativePtr + (nint)cOffset * 4;
            GemmRaw(transA, transB, m, n, k, 1f, ga, lda, 0, gb, ldb, 0, beta, gc, ldc, 0, 1);
            return;
        }
        var args = new GemmArgs
        {
            M = m, N = n, K = k, Alpha = 1f, Beta = beta,
            AOffset = aOffset, ARow = transA ? 1 : lda, ACol = transA ? lda : 1,
            BOffset = bOffset, BRow = transB ? 1 : ldb, BCol = transB ? ldb : 1,
            COffset = cOffset, CRow = ldc,
        };
        Kernel("gemm", acc => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs>(Kernels.Gemm))
            (m * n, V(c), V(a), V(b), args);
    }

    private Action<Index1D, ArrayView<float>, ArrayView<float>, ConvArgs> Vol2ColKernel() =>
        Kernel("vol2col", acc => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ConvArgs>(ConvKernels.Vol2Col));

    public void ConvForward(Tensor y, Tensor x, Tensor w, ConvGeometry geometry)
    {
        int cout = w.Shape[0], outVolume = y.Shape[2] * y.Shape[3] * y.Shape[4];
        ForEachConvChunk(x, y, geometry, (cols, a, b, rows) =>
        {
            Vol2ColKernel()(rows * a.Length, V(cols), V(x), a);
            // y[b][:, First : First + Length] = w (Cout, CinK) @ cols (CinK, Length)
            GemmAt(false, false, cout, a.Length, rows, w, w.Offset, rows, cols, 0, a.Length, 0f, y, y.Offset + b * cout * outVolume + a.First, outVolume);
        });
    }

    public void ConvBackwardData(Tensor dx, Tensor dy, Tensor w, ConvGeometry geometry)
    {
        int cout = w.Shape[0], outVolume = dy.Shape[2] * dy.Shape[3] * dy.Shape[4];
        Fill(dx, 0f);
        var col2vol = Kernel("col2vol", acc => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ConvArgs>(ConvKernels.Col2Vol));
        ForEachConvChunk(dx, dy, geometry, (cols, a, b, rows) =>
        {
            // cols (CinK, Length) = w^T (CinK, Cout) @ dy[b][:, First : First + Length]
            GemmAt(true, false, rows, a.Length, cout, w, w.Offset, rows, dy, dy.Offset + b * cout * outVolume + a.First, outVolume, 0f, cols, 0, a.Length);
            col2vol(a.Cin * a.F * a.H * a.W, V(dx), V(cols), a);
        });
    }

    public void ConvBackwardWeight(Tensor dw, Tensor dy, Tensor x, ConvGeometry geometry)
    {
        int cout = dw.Shape[0], outVolume = dy.Shape[2] * dy.Shape[3] * dy.Shape[4];
        Fill(dw, 0f);
        ForEachConvChunk(x, dy, geometry, (cols, a, b, rows) =>
        {
            Vol2ColKernel()(rows * a.Length, V(cols), V(x), a);
            // dw (Cout, CinK) += dy[b][:, First : First + Length] @ cols^T
            GemmAt(false, true, cout, rows, a.Length, dy, dy.Offset + b * cout * outVolume + a.First, outVolume, cols, 0, a.Length, 1f, dw, dw.Offset, rows);
        });
    }
}
