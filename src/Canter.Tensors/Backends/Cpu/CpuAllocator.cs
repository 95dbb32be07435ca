using System.Runtime.InteropServices;

namespace Canter.Tensors.Backends.Cpu;

/// <summary>
/// Caching allocator for host memory: 64-byte aligned blocks, kept per exact (rounded)
/// size after release so that a training or sampling loop, which asks for the same sizes
/// every step, stops calling the system allocator after its first step.
/// </summary>
public static unsafe class CpuAllocator
{
    private const int Alignment = 64;
    private static readonly Dictionary<long, Stack<nint>> Cache = [];
    private static readonly Lock Gate = new();
    private static long _cachedBytes;
    private static long _liveBytes;
    private static long _peakLiveBytes;
    private static long _systemAllocations;

    /// <summary>Upper bound on bytes kept in the cache; beyond it released blocks are freed.</summary>
    public static long CacheLimitBytes { get; set; } = 4L << 30;

    public static long LiveBytes => Interlocked.Read(ref _liveBytes);
    public static long PeakLiveBytes => Interlocked.Read(ref _peakLiveBytes);
    public static long CachedBytes => Interlocked.Read(ref _cachedBytes);

    /// <summary>Blocks requested from the system so far (a steady loop stops adding to it once warm).</summary>
    public static long SystemAllocations => Interlocked.Read(ref _systemAllocations);

    public static void ResetPeak() => Interlocked.Exchange(ref _peakLiveBytes, Interlocked.Read(ref _liveBytes));

    /// <summary>Rounded byte size used for a block of <paramref name="floats"/> elements.</summary>
    internal static long BlockBytes(int floats) => ((long)floats * sizeof(float) + Alignment - 1) / Alignment * Alignment;

    internal static float* Rent(int floats)
    {
        long bytes = BlockBytes(floats);
        nint ptr = 0;
        lock (Gate)
        {
            if (Cache.TryGetValue(bytes, out var stack) && stack.Count > 0)
            {
                ptr = stack.Pop();
                _cachedBytes -= bytes;
            }
        }
        if (ptr == 0)
        {
            ptr = (nint)NativeMemory.AlignedAlloc((nuint)bytes, Alignment);
            if (ptr == 0) throw new OutOfMemoryException($"could not allocate {bytes / (1 << 20)} MiB of host memory");
            GC.AddMemoryPressure(bytes);
            Interlocked.Increment(ref _systemAllocations);
        }
        long live = Interlocked.Add(ref _liveBytes, bytes);
        long peak;
        while (live > (peak = Interlocked.Read(ref _peakLiveBytes)) && Interlocked.CompareExchange(ref _peakLiveBytes, live, peak) != peak) { }
        return (float*)ptr;
    }

    internal static void Return(float* ptr, int floats, bool fromFinalizer)
    {
        long bytes = BlockBytes(floats);
        Interlocked.Add(ref _liveBytes, -bytes);
        if (!fromFinalizer)
        {
            lock (Gate)
            {
                if (_cachedBytes + bytes <= CacheLimitBytes)
                {
                    if (!Cache.TryGetValue(bytes, out var stack)) Cache[bytes] = stack = new Stack<nint>();
                    stack.Push((nint)ptr);
                    _cachedBytes += bytes;
                    return;
                }
            }
        }
        NativeMemory.AlignedFree(ptr);
        GC.RemoveMemoryPressure(bytes);
    }

    /// <summary>Frees every cached block.</summary>
    public static void Trim()
    {
        lock (Gate)
        {
            foreach (var (bytes, stack) in Cache)
            {
                while (stack.Count > 0)
                {
                    NativeMemory.AlignedFree((void*)stack.Pop());
                    GC.RemoveMemoryPressure(bytes);
                }
            }
            Cache.Clear();
            _cachedBytes = 0;
        }
    }
}

/// <summary>Host memory of the CPU backend.</summary>
public sealed unsafe class CpuStorage : Storage
{
    private float* _ptr;

    internal CpuStorage(CpuBackend backend, int length) : base(backend, length)
    {
        _ptr = CpuAllocator.Rent(length);
    }

    ~CpuStorage()
    {
        if (_ptr != null) CpuAllocator.Return(_ptr, Length, fromFinalizer: true);
        _ptr = null;
    }

    public float* Pointer
    {
        get
        {
            if (_ptr == null) throw new ObjectDisposedException(nameof(CpuStorage));
            return _ptr;
        }
    }

    protected override void Free()
    {
        var p = _ptr;
        _ptr = null;
        if (p != null) CpuAllocator.Return(p, Length, fromFinalizer: false);
    }
}
