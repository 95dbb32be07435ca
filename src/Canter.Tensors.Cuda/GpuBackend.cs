using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;

namespace Canter.Tensors.Cuda;

/// <summary>
/// The GPU backend: kernels written in C# and compiled by ILGPU, GEMM through cuBLAS. On a
/// machine without a GPU the same kernels run on ILGPU's CPU accelerator (device "ilgpu-cpu"),
/// which is how CI tests every kernel against the CPU backend; GEMM there uses a plain kernel.
/// Kernels and memory stay on the device's stream; nothing crosses to the host inside a step
/// except where a kernel's doc says so.
/// </summary>
public sealed partial class GpuBackend : IBackend, IDisposable
{
    private readonly Context _context;
    private readonly Accelerator _accelerator;
    private readonly nint _cublas;
    private readonly Dictionary<string, Delegate> _kernels = [];

    private GpuBackend(Context context, Accelerator accelerator, string name)
    {
        _context = context;
        _accelerator = accelerator;
        Name = name;
        Allocator = new GpuAllocator(accelerator);
        if (accelerator is CudaAccelerator cuda)
        {
            CuBlas.Check(CuBlas.Create(out _cublas), "create");
            CuBlas.Check(CuBlas.SetStream(_cublas, ((CudaStream)cuda.DefaultStream).StreamPtr), "set stream");
            CuBlas.Check(CuBlas.SetMathMode(_cublas, CuBlas.PedanticMath), "math mode");
        }
    }

    /// <summary>The first CUDA GPU; throws with the reason when there is none.</summary>
    public static GpuBackend CreateCuda()
    {
        var context = Context.Create(b => b.Cuda().EnableAlgorithms().Math(MathMode.Default));
        var devices = context.GetCudaDevices();
        if (devices.Count == 0)
        {
            context.Dispose();
            throw new InvalidOperationException("No CUDA GPU was found (is the NVIDIA driver installed?). Use --device cpu.");
        }
        var accelerator = context.CreateCudaAccelerator(0);
        return new GpuBackend(context, accelerator, "cuda");
    }

    /// <summary>
    /// The same kernels on ILGPU's CPU accelerator (for tests without a GPU). <paramref name="sequential"/> runs the
    /// threads of a group one at a time, switching only at barriers: a missing barrier then gives wrong results every
    /// time instead of now and then.
    /// </summary>
    public static GpuBackend CreateCpuEmulation(bool sequential = false)
    {
        var context = Context.Create(b => b.CPU().EnableAlgorithms().Math(MathMode.Default));
        var accelerator = context.CreateCPUAccelerator(0, sequential ? CPUAcceleratorMode.Sequential : CPUAcceleratorMode.Parallel);
        return new GpuBackend(context, accelerator, "ilgpu-cpu");
    }

    public string Name { get; }

    public string DeviceName => _accelerator.Name;

    public bool IsCuda => _accelerator is CudaAccelerator;

    /// <summary>Uses TF32 tensor cores in cuBLAS GEMMs (faster, about 1e-3 relative error) instead of exact FP32.</summary>
    public bool AllowTf32
    {
        set
        {
            if (_cublas != 0) CuBlas.Check(CuBlas.SetMathMode(_cublas, value ? CuBlas.Tf32TensorOpMath : CuBlas.PedanticMath), "math mode");
        }
    }

    public GpuAllocator Allocator { get; }

    public bool Supports(string kernel) => typeof(IBackend).GetMethods().Any(m => m.Name == kernel);

    public Storage Allocate(int length) => new GpuStorage(this, length);

    public void Synchronize() => _accelerator.Synchronize();

    public void Dispose()
    {
        _accelerator.Synchronize();
        Allocator.Trim();
        _accelerator.Dispose();
        _context.Dispose();
    }

    private static ArrayView<float> V(Tensor t) => ((GpuStorage)t.Storage).View;

    private static ArrayView<float> V(Tensor? t, Tensor fallback) => V(t ?? fallback);

    /// <summary>Loads (once) and returns the kernel compiled from <paramref name="method"/>.</summary>
    private TDelegate Kernel<TDelegate>(string name, Func<Accelerator, TDelegate> load) where TDelegate : Delegate
    {
        lock (_kernels)
        {
            if (!_kernels.TryGetValue(name, out var d)) _kernels[name] = d = load(_accelerator);
            return (TDelegate)d;
        }
    }

    // ---- memory ---------------------------------------------------------------------

    public void Fill(Tensor dst, float value)
    {
        if (dst.Count == 0) return;
        Kernel("fill", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, float>(Kernels.Fill))(dst.Count, V(dst), dst.Offset, value);
    }

    public void Upload(Tensor dst, ReadOnlySpan<float> source)
    {
        if (source.Length == 0) return;
        ((GpuStorage)dst.Storage).View.SubView(dst.Offset, source.Length).CopyFromCPU(source);
    }

    public void Download(Span<float> destination, Tensor src)
    {
        if (destination.Length == 0) return;
        _accelerator.Synchronize();
        ((GpuStorage)src.Storage).View.SubView(src.Offset, destination.Length).CopyToCPU(destination);
    }

    public void Copy(Tensor dst, Tensor src)
    {
        if (src.Count == 0) return;
        var dl = dst.IsContiguous && !ShapeUtil.SameShape(dst.Shape, src.Shape)
            ? StridedLayout.Of(src.Shape, ShapeUtil.ContiguousStrides(src.Shape), dst.Offset)
            : StridedLayout.Of(dst);
        CopyKernel()(src.Count, V(dst), dl, V(src), StridedLayout.Of(src), 0);
    }

    public void AddInto(Tensor dst, Tensor src)
    {
        if (src.Count == 0) return;
        CopyKernel()(src.Count, V(dst), StridedLayout.Of(dst), V(src), StridedLayout.Of(src), 1);
    }

    private Action<Index1D, ArrayView<float>, StridedLayout, ArrayView<float>, StridedLayout, int> CopyKernel() =>
        Kernel("copy", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, StridedLayout, ArrayView<float>, StridedLayout, int>(Kernels.Copy));

    public void Axpy(Tensor y, float alpha, Tensor x)
    {
        if (y.Count == 0) return;
        Kernel("axpy", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, ArrayView<float>, int, float>(Kernels.Axpy))
            (y.Count, V(y), y.Offset, V(x), x.Offset, alpha);
    }

    // ---- element-wise ---------------------------------------------------------------

    public void Binary(BinaryOp op, Tensor dst, Tensor a, Tensor b)
    {
        if (dst.Count == 0) return;
        Kernel("binary", acc => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, ArrayView<float>, StridedLayout, ArrayView<float>, StridedLayout, int>(Kernels.Binary))
            (dst.Count, V(dst), dst.Offset, V(a), StridedLayout.Of(a), V(b), StridedLayout.Of(b), (int)op);
    }

    public void Unary(UnaryOp op, Tensor dst, Tensor x)
    {
        if (dst.Count == 0) return;
        Kernel("unary", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, ArrayView<float>, int, int>(Kernels.Unary))
            (dst.Count, V(dst), dst.Offset, V(x), x.Offset, (int)op);
    }

    public void UnaryBackward(UnaryOp op, Tensor dx, Tensor dy, Tensor x, Tensor y)
    {
        if (dx.Count == 0) return;
        var offsets = new StridedLayout { D0 = dx.Offset, D1 = dy.Offset, D2 = x.Offset, D3 = y.Offset };
        Kernel("unary_backward", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, StridedLayout, int>(Kernels.UnaryBackward))
            (dx.Count, V(dx), V(dy), V(x), V(y), offsets, (int)op);
    }

    public void Affine(Tensor dst, Tensor x, float scale, float shift)
    {
        if (dst.Count == 0) return;
        Kernel("affine", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, ArrayView<float>, int, float, float>(Kernels.Affine))
            (dst.Count, V(dst), dst.Offset, V(x), x.Offset, scale, shift);
    }

    public void SumReduce(Tensor dst, Tensor src)
    {
        int rank = src.Rank;
        var keptShape = new int[rank];
        var reducedShape = new int[rank];
        for (int d = 0; d < rank; d++)
        {
            bool reduced = dst.Shape[d] == 1 && src.Shape[d] != 1;
            keptShape[d] = reduced ? 1 : src.Shape[d];
            reducedShape[d] = reduced ? src.Shape[d] : 1;
        }
        int reducedCount = ShapeUtil.Count(reducedShape);
        if (dst.Count == 0) return;
        var kept = StridedLayout.Of(keptShape, src.Strides, src.Offset);
        var reducedLayout = StridedLayout.Of(reducedShape, src.Strides, 0);
        if (reducedCount > 256 && dst.Count < 65536)
        {
            // few outputs with long sums: split each sum into parts so that enough threads work, then add the parts in order
            const int perPart = 128;
            int parts = (reducedCount + perPart - 1) / perPart;
            using var partial = Tensor.Empty([parts * dst.Count], this);
            Kernel("sum_partials", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, StridedLayout, StridedLayout, int, int, int>(RowKernels.SumPartials))
                (parts * dst.Count, V(partial), V(src), kept, reducedLayout, reducedCount, dst.Count, perPart);
            Kernel("sum_parts", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, ArrayView<float>, int, int>(RowKernels.SumParts))
                (dst.Count, V(dst), dst.Offset, V(partial), dst.Count, parts);
            return;
        }
        Kernel("sum_reduce", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, ArrayView<float>, StridedLayout, StridedLayout, int>(Kernels.SumReduce))
            (dst.Count, V(dst), dst.Offset, V(src), kept, reducedLayout, reducedCount);
    }

    // ---- GEMM -----------------------------------------------------------------------

    public void Gemm(Tensor c, Tensor a, Tensor b, float alpha, float beta)
    {
        int m = c.Shape[^2], n = c.Shape[^1], k = a.Shape[^1];
        var la = MatrixLayout.Of(a) ?? throw new ArgumentException($"Gemm: a {a.ShapeString} has no BLAS layout");
        var lb = MatrixLayout.Of(b) ?? throw new ArgumentException($"Gemm: b {b.ShapeString} has no BLAS layout");
        int batch = c.Rank == 3 ? c.Shape[0] : 1;
        int sa = a.Rank == 3 && a.Shape[0] != 1 ? a.Strides[0] : 0;
        int sb = b.Rank == 3 && b.Shape[0] != 1 ? b.Strides[0] : 0;
        int sc = c.Rank == 3 ? c.Strides[0] : 0;
        int ldc = MatrixLayout.Of(c)!.Value.LeadingDimension;
        if (m == 0 || n == 0) return;
        if (_cublas != 0 && k > 0)
        {
            // row-major C = A B is column-major C^T = B^T A^T: swap the operands, keep each one's transpose flag
            nint pa = ((GpuStorage)a.Storage).Buffer.NativePtr + (nint)a.Offset * 4;
            nint pb = ((GpuStorage)b.Storage).Buffer.NativePtr + (nint)b.Offset * 4;
            nint pc = ((GpuStorage)c.Storage).Buffer.NativePtr + (nint)c.Offset * 4;
            int opA = la.Transposed ? CuBlas.OpT : CuBlas.OpN, opB = lb.Transposed ? CuBlas.OpT : CuBlas.OpN;
            if (batch == 1)
                CuBlas.Check(CuBlas.Sgemm(_cublas, opB, opA, n, m, k, ref alpha, pb, lb.LeadingDimension, pa, la.LeadingDimension, ref beta, pc, ldc), "sgemm");
            else
                CuBlas.Check(CuBlas.SgemmStridedBatched(_cublas, opB, opA, n, m, k, ref alpha, pb, lb.LeadingDimension, sb,
                    pa, la.LeadingDimension, sa, ref beta, pc, ldc, sc, batch), "sgemm batched");
            return;
        }
        var args = new GemmArgs
        {
            M = m, N = n, K = k, Alpha = alpha, Beta = beta,
            AOffset = a.Offset, ABatch = sa, ARow = a.Strides[^2], ACol = a.Strides[^1],
            BOffset = b.Offset, BBatch = sb, BRow = b.Strides[^2], BCol = b.Strides[^1],
            COffset = c.Offset, CBatch = sc, CRow = ldc,
        };
        Kernel("gemm", acc => acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, GemmArgs>(Kernels.Gemm))
            (batch * m * n, V(c), V(a), V(b), args);
    }

    /// <summary>
    /// c (M, N) = a (M, K) @ b^T with b (N, K), straight to cuBLAS with no op machinery: the engine
    /// benchmark's reference for the GEMM our ops issue.
    /// </summary>
    public void DirectSgemmNt(Tensor c, Tensor a, Tensor b)
    {
        if (_cublas == 0) throw new InvalidOperationException("cuBLAS is only available on the CUDA device");
        int m = a.Shape[0], k = a.Shape[1], n = b.Shape[0];
        float alpha = 1f, beta = 0f;
        CuBlas.Check(CuBlas.Sgemm(_cublas, CuBlas.OpT, CuBlas.OpN, n, m, k, ref alpha, ((GpuStorage)b.Storage).Buffer.NativePtr, k,
            ((GpuStorage)a.Storage).Buffer.NativePtr, k, ref beta, ((GpuStorage)c.Storage).Buffer.NativePtr, n), "sgemm");
    }
}
