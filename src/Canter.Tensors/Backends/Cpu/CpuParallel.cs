namespace Canter.Tensors.Backends.Cpu;

/// <summary>
/// Splits kernel work over <see cref="Engine.Threads"/> threads. Work below a size
/// threshold runs inline, because a parallel loop costs a few microseconds to start.
/// </summary>
public static class CpuParallel
{
    /// <summary>Runs body(start, end) over [0, count) in contiguous chunks.</summary>
    /// <param name="costPerItem">rough floats touched per item, to decide whether threads pay.</param>
    public static void For(int count, long costPerItem, Action<int, int> body)
    {
        int threads = Engine.Threads;
        if (count <= 0) return;
        if (threads <= 1 || count == 1 || count * costPerItem < 32_768)
        {
            body(0, count);
            return;
        }
        int chunks = Math.Min(count, threads * 4);
        if (count * costPerItem < 1 << 20) chunks = Math.Min(count, threads);
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads };
        Parallel.For(0, chunks, options, c =>
        {
            int start = (int)((long)count * c / chunks);
            int end = (int)((long)count * (c + 1) / chunks);
            if (end > start) body(start, end);
        });
    }

    /// <summary>
    /// Runs body(index) for every index on the engine's threads, one item at a time, for loops
    /// whose items are each a sizeable piece of work such as a BLAS call (blocks of a GEMM,
    /// batched matmul of small matrices, attention tiles). OpenBLAS itself always runs on one
    /// thread (see <see cref="OpenBlas"/>), so nothing needs switching around these loops.
    /// </summary>
    public static void ForEachItem(int count, Action<int> body)
    {
        int threads = Engine.Threads;
        if (threads <= 1 || count == 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads };
        Parallel.For(0, count, options, body);
    }
}
