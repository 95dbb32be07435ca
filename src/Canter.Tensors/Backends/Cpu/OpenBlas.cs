using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Canter.Tensors.Backends.Cpu;

/// <summary>
/// P/Invoke bindings to OpenBLAS (Debian package libopenblas0-pthread). The library is
/// looked up by its usual sonames; a missing library gives an error that says what to install.
/// OpenBLAS is kept on one thread: its threaded SGEMM gives results that depend on its
/// (process-wide) thread count, so two generations sharing a process could differ in the last
/// bits. The engine threads GEMMs itself instead (<c>CpuBackend.Sgemm</c>).
/// OpenBLAS picks its kernels from the CPU model when it loads, and Debian 12's 0.3.21 does not know every recent
/// x86 CPU: on one it falls back to its Prescott (SSE3) kernels, which doubles generation time. So when
/// <c>OPENBLAS_CORETYPE</c> is unset, the kernels are chosen here from the instruction sets the CPU reports, before
/// the library loads (<see cref="CoreTypeChosen"/>); a value the user sets is left as it is.
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

    private const string CoreTypeVariable = "OPENBLAS_CORETYPE";

    /// <summary>
    /// The kernel set Canter asked OpenBLAS for because <c>OPENBLAS_CORETYPE</c> was unset (SkylakeX on a CPU with
    /// AVX-512 F, BW, DQ and VL, Haswell on one with AVX2 and FMA), or null when the choice was the user's or
    /// OpenBLAS's own (the variable was set, or the CPU has neither).
    /// </summary>
    public static string? CoreTypeChosen { get; }

    static OpenBlas()
    {
        CoreTypeChosen = ChooseCoreType();
        QuietenWorkerThreads();
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

    /// <summary>
    /// Sets <c>OPENBLAS_CORETYPE</c> in the process's native environment, which OpenBLAS reads when it loads, and in
    /// .NET's copy of it, which child processes (the PyTorch reference of the benchmarks) inherit.
    /// </summary>
    private static string? ChooseCoreType()
    {
        var core = CoreTypeFor(Environment.GetEnvironmentVariable(CoreTypeVariable),
            avx512: Avx512F.IsSupported && Avx512BW.IsSupported && Avx512DQ.IsSupported && Avx512F.VL.IsSupported,
            avx2Fma: Avx2.IsSupported && Fma.IsSupported);
        if (core is null || !SetNativeWhereUnset(CoreTypeVariable, core)) return null;
        Environment.SetEnvironmentVariable(CoreTypeVariable, core);
        return core;
    }

    /// <summary>
    /// OpenBLAS's own worker threads run only the benchmarks' reference GEMMs (the engine keeps OpenBLAS on one thread).
    /// After each such call they spin for up to 2^28 cycles by default, taking the cores from the engine's threads that
    /// run next: <c>bench engine</c>'s GEMMs measured 14.4 ms where they take 8.4. <c>OPENBLAS_THREAD_TIMEOUT</c> 4, set
    /// here when unset (in the native environment only, so that the PyTorch reference keeps its defaults), makes them
    /// sleep at once; the reference's own times did not change (7.2 and 6.5 ms). Where it cannot be set, the default
    /// spinning only slows the benchmarks that time OpenBLAS itself.
    /// </summary>
    private static void QuietenWorkerThreads()
    {
        const string variable = "OPENBLAS_THREAD_TIMEOUT";
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(variable))) SetNativeWhereUnset(variable, "4");
    }

    /// <summary>
    /// Sets <paramref name="variable"/> in the native environment unless it holds a value there; false where that is not
    /// possible (not Linux, or no libc <c>setenv</c>).
    /// </summary>
    private static bool SetNativeWhereUnset(string variable, string value)
    {
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            return SetNativeEnvironment(variable, value, overwrite: 0) == 0;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    /// <summary>The kernel set to ask for, given the variable's current value and the CPU's instruction sets.</summary>
    internal static string? CoreTypeFor(string? current, bool avx512, bool avx2Fma) =>
        !string.IsNullOrEmpty(current) ? null : avx512 ? "SkylakeX" : avx2Fma ? "Haswell" : null;

    [LibraryImport("libc.so.6", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetNativeEnvironment(string name, string value, int overwrite);

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

    /// <summary>
    /// Makes the kernel choice (<see cref="CoreTypeChosen"/>) now. It writes the process's environment, which is safe only
    /// while no other thread reads it, so a program calls this first thing; otherwise the first use of OpenBLAS makes it.
    /// </summary>
    public static void Initialize()
    {
        // the static constructor has run by the time this body runs
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

    /// <summary>The kernel set in use and who chose it, for the lines that describe the machine.</summary>
    public static string CoreDescription => CoreTypeChosen is null
        ? CoreName
        : $"{CoreName} (chosen by Canter from the CPU's instruction sets: {CoreTypeVariable} unset)";
}
