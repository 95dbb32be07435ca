using Canter.Tensors.Backends.Cpu;

namespace Canter.Tensors;

/// <summary>Process-wide engine settings.</summary>
public static class Engine
{
    private static int _threads = Math.Max(1, Environment.ProcessorCount);

    /// <summary>
    /// Threads used by CPU kernels, GEMMs included. Defaults to the processor count. OpenBLAS
    /// stays on one thread whatever this is: the engine splits GEMMs itself, in blocks that do
    /// not depend on this count, so results are the same bits for any setting.
    /// </summary>
    public static int Threads
    {
        get => _threads;
        set
        {
            if (value < 1) throw new ArgumentOutOfRangeException(nameof(value), "thread count must be at least 1");
            _threads = value;
        }
    }

    /// <summary>Sets the thread count and loads OpenBLAS (call once at start-up).</summary>
    public static void Initialize(int? threads = null)
    {
        Threads = threads ?? _threads;
        OpenBlas.EnsureLoaded();
    }
}
