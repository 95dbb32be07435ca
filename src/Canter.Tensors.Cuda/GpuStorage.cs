using ILGPU;
using ILGPU.Runtime;

namespace Canter.Tensors.Cuda;

/// <summary>Device memory of the GPU backend, from its caching allocator.</summary>
public sealed class GpuStorage : Storage
{
    private MemoryBuffer1D<float, Stride1D.Dense>? _buffer;
    private readonly GpuBackend _owner;

    internal GpuStorage(GpuBackend backend, int length) : base(backend, length)
    {
        _owner = backend;
        _buffer = backend.Allocator.Rent(length);
    }

    ~GpuStorage()
    {
        // a leaked block cannot go back to the cache from the finalizer thread safely: free it
        _buffer?.Dispose();
        _buffer = null;
    }

    internal MemoryBuffer1D<float, Stride1D.Dense> Buffer => _buffer ?? throw new ObjectDisposedException(nameof(GpuStorage));

    /// <summary>The whole allocation as a kernel argument.</summary>
    public ArrayView<float> View => Buffer.View.AsContiguous();

    protected override void Free()
    {
        var b = _buffer;
        _buffer = null;
        if (b is not null) _owner.Allocator.Return(b);
    }
}

/// <summary>
/// Caching device allocator: blocks are kept per exact size after release, so a training or
/// sampling loop stops calling cudaMalloc after its first step. Out of memory is reported with
/// the sizes involved.
/// </summary>
public sealed class GpuAllocator(Accelerator accelerator)
{
    private readonly Dictionary<long, Stack<MemoryBuffer1D<float, Stride1D.Dense>>> _cache = [];
    private readonly Lock _gate = new();
    private long _cachedBytes, _liveBytes;

    public long LiveBytes => Interlocked.Read(ref _liveBytes);
    public long CachedBytes => Interlocked.Read(ref _cachedBytes);
    public long SystemAllocations { get; private set; }

    private static long Rounded(int floats) => Math.Max(64, (floats + 63) / 64 * 64);

    internal MemoryBuffer1D<float, Stride1D.Dense> Rent(int floats)
    {
        long n = Rounded(floats);
        lock (_gate)
        {
            if (_cache.TryGetValue(n, out var stack) && stack.Count > 0)
            {
                _cachedBytes -= n * 4;
                _liveBytes += n * 4;
                return stack.Pop();
            }
        }
        try
        {
            var buffer = accelerator.Allocate1D<float>(n);
            lock (_gate)
            {
                SystemAllocations++;
                _liveBytes += n * 4;
            }
            return buffer;
        }
        catch (Exception e) when (e is OutOfMemoryException or AcceleratorException)
        {
            Trim();
            try
            {
                var buffer = accelerator.Allocate1D<float>(n);
                lock (_gate) _liveBytes += n * 4;
                return buffer;
            }
            catch (Exception again) when (again is OutOfMemoryException or AcceleratorException)
            {
                throw new OutOfMemoryException(
                    $"GPU out of memory allocating {n * 4 / (1 << 20)} MiB ({LiveBytes / (1 << 20)} MiB in use by Canter on {accelerator.Name}, " +
                    $"{accelerator.MemorySize / (1 << 20)} MiB on the device): use a smaller batch, size or duration.", again);
            }
        }
    }

    internal void Return(MemoryBuffer1D<float, Stride1D.Dense> buffer)
    {
        long n = buffer.Length;
        lock (_gate)
        {
            _liveBytes -= n * 4;
            if (!_cache.TryGetValue(n, out var stack)) _cache[n] = stack = new();
            stack.Push(buffer);
            _cachedBytes += n * 4;
        }
    }

    /// <summary>Frees every cached block.</summary>
    public void Trim()
    {
        lock (_gate)
        {
            foreach (var stack in _cache.Values)
                while (stack.Count > 0) stack.Pop().Dispose();
            _cache.Clear();
            _cachedBytes = 0;
        }
    }
}
