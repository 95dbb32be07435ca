using System.Reflection;
using System.Runtime.InteropServices;

namespace Canter.Tensors.Backends.Cpu;

/// <summary>
/// P/Invoke bindings to OpenBLAS (Debian package libopenblas0-pthread). The library is
/// looked up by its usual sonames; a missing library gives an error that says what to install.
/// OpenBLAS is kept on one thread: its threaded SGEMM gives results that depend on its
/// (process-wide) thread count, so two generations sharing a process could differ in the last
/// bits. The engine threads GEMMs itself instead (<c>CpuBackend.Sgemm</c>).
/// </summary>
public static unsafe partial class OpenBlas
{
    private const string Lib = "canter_openblas";

    public const int RowMajor = 101;
    public const int NoTrans = 111;
    public const int Trans = 112;

    private static readonly string[] Candidates =
    [
        "libopenblas.so.0",
        "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
        "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
        "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
        "libopenblas.so",
        "libopenblas.dylib",
        "libopenblas.dll",
    ];

    static OpenBlas()
    {
        NativeLibrary.SetDllImportResolver(typeof(OpenBlas).Assembly, Resolve);
        try
        {
            SetNumThreadsNative(1);
        }
        catch (DllNotFoundException)
        {
            // reported with its install hint by the first call that needs the library
        }
    }

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? path)
    {
        if (name != Lib) return 0;
        var env = Environment.GetEnvironmentVariable("CANTER_OPENBLAS");
        if (!string.IsNullOrEmpty(env) && NativeLibrary.TryLoad(env, out var h)) return h;
        var local = Path.Combine(AppContext.BaseDirectory, "libopenblas.so.0");
        if (File.Exists(local) && NativeLibrary.TryLoad(local, out h)) return h;
        foreach (var c in Candidates)
            if (NativeLibrary.TryLoad(c, out h)) return h;
        throw new DllNotFoundException(
            "OpenBLAS was not found. Install it with 'apt-get install libopenblas0-pthread' " +
            "(or set CANTER_OPENBLAS to the path of libopenblas.so.0).");
    }

    /// <summary>Forces the library to load now (so a missing install is reported at start-up).</summary>
    public static void EnsureLoaded() => _ = GetNumThreads();

    [LibraryImport(Lib, EntryPoint = "cblas_sgemm")]
    public static partial void Sgemm(int order, int transA, int transB, int m, int n, int k,
        float alpha, float* a, int lda, float* b, int ldb, float beta, float* c, int ldc);

    [LibraryImport(Lib, EntryPoint = "openblas_set_num_threads")]
    private static partial void SetNumThreadsNative(int threads);

    /// <summary>
    /// For a benchmark that times OpenBLAS itself as the reference: its own threads for the calls that follow, until
    /// <see cref="EndReferenceThreads"/> sets it back to one. The count is process-wide and OpenBLAS rounds differently
    /// with another count, so only between engine work, never while the engine runs GEMMs on other threads.
    /// </summary>
    public static void BeginReferenceThreads(int threads) => SetNumThreadsNative(Math.Max(1, threads));

    /// <summary>Back to one OpenBLAS thread, as the engine needs it (its own threads split each GEMM).</summary>
    public static void EndReferenceThreads() => SetNumThreadsNative(1);

    [LibraryImport(Lib, EntryPoint = "openblas_get_num_threads")]
    public static partial int GetNumThreads();

    [LibraryImport(Lib, EntryPoint = "openblas_get_config")]
    private static partial nint GetConfigPtr();

    public static string Config => Marshal.PtrToStringAnsi(GetConfigPtr()) ?? "";

    [LibraryImport(Lib, EntryPoint = "openblas_get_corename")]
    private static partial nint GetCoreNamePtr();

    public static string CoreName => Marshal.PtrToStringAnsi(GetCoreNamePtr()) ?? "";
}
