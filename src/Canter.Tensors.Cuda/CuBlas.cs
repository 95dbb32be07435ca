using System.Reflection;
using System.Runtime.InteropServices;

namespace Canter.Tensors.Cuda;

/// <summary>P/Invoke bindings to the machine's cuBLAS (libcublas.so.13/12/11, or CANTER_CUBLAS).</summary>
internal static partial class CuBlas
{
    private const string Lib = "canter_cublas";
    public const int OpN = 0, OpT = 1;
    public const int DefaultMath = 0, Tf32TensorOpMath = 3, PedanticMath = 2;

    static CuBlas()
    {
        NativeLibrary.SetDllImportResolver(typeof(CuBlas).Assembly, Resolve);
    }

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (name != Lib) return 0;
        var env = Environment.GetEnvironmentVariable("CANTER_CUBLAS");
        if (!string.IsNullOrEmpty(env) && NativeLibrary.TryLoad(env, out var h)) return h;
        foreach (var c in new[] { "libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so", "/usr/local/cuda/lib64/libcublas.so" })
            if (NativeLibrary.TryLoad(c, out h)) return h;
        throw new DllNotFoundException("cuBLAS was not found: install the CUDA toolkit's libcublas or set CANTER_CUBLAS to its path.");
    }

    [LibraryImport(Lib, EntryPoint = "cublasCreate_v2")]
    public static partial int Create(out nint handle);

    [LibraryImport(Lib, EntryPoint = "cublasSetStream_v2")]
    public static partial int SetStream(nint handle, nint stream);

    [LibraryImport(Lib, EntryPoint = "cublasSetMathMode")]
    public static partial int SetMathMode(nint handle, int mode);

    [LibraryImport(Lib, EntryPoint = "cublasSgemm_v2")]
    public static partial int Sgemm(nint handle, int transA, int transB, int m, int n, int k, ref float alpha,
        nint a, int lda, nint b, int ldb, ref float beta, nint c, int ldc);

    [LibraryImport(Lib, EntryPoint = "cublasSgemmStridedBatched")]
    public static partial int SgemmStridedBatched(nint handle, int transA, int transB, int m, int n, int k, ref float alpha,
        nint a, int lda, long strideA, nint b, int ldb, long strideB, ref float beta, nint c, int ldc, long strideC, int batch);

    public static void Check(int status, string what)
    {
        if (status != 0) throw new InvalidOperationException($"cuBLAS {what} failed with status {status}");
    }
}
