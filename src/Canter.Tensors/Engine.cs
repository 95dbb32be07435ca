using Canter.Tensors.Backends.Cpu;

namespace Canter.Tensors;

/// <summary>Process-wide engine settings.</summary>
public static class Engine
{
    private static int _threads = Math.Max(1, Environment.ProcessorCount);
    private static int _serialDepth;
    private static readonly Lock Gate = new();

    /// <summary>Threads used by CPU kernels and by OpenBLAS. Defaults to the processor count.</summary>
    public static int Threads
    {
        get => _threads;
        set
        {
            if (value < 1) throw new ArgumentOutOfRangeException(nameof(value), "thread count must be at least 1");
            _threads = value;
            OpenBlas.SetNumThreads(value);
        }
    }

    /// <summary>Applies the thread setting to OpenBLAS (call once at start-up).</summary>
    public static void Initialize(int? threads = null)
    {
        Threads = threads ?? _threads;
    }

    /// <summary>Keeps OpenBLAS on one thread while the engine runs its own threads over BLAS calls.</summary>
    internal static SerialBlasScope SerialBlas()
    {
        lock (Gate)
        {
            if (_serialDepth++ == 0) OpenBlas.SetNumThreads(1);
        }
        return new SerialBlasScope();
    }

    internal readonly struct SerialBlasScope : IDisposable
    {
        public void Dispose()
        {
            lock (Gate)
            {
                if (--_serialDepth == 0) OpenBlas.SetNumThreads(_threads);
            }
        }
    }
}
