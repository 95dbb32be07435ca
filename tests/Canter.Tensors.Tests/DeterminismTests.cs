using System.Buffers;
using System.Numerics.Tensors;
using Canter.Tensors.Autograd;

namespace Canter.Tensors.Tests;

/// <summary>
/// The same inputs must give bit-identical outputs however the process is loaded: where the
/// scratch memory lands, how many generations run at once, what OpenBLAS' thread count is.
/// </summary>
public class DeterminismTests
{
    private static void AssertBitIdentical(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what}: element {i} is {actual[i]:R}, expected {expected[i]:R} (diff {actual[i] - expected[i]:E2})");
    }

    private static float[] AttentionOnce(Tensor q, Tensor k, Tensor v) => Ops.Attention(q, k, v).ToArray();

    [Fact]
    public void AttentionDoesNotDependOnWhereItsScratchLands()
    {
        int saved = Engine.Threads;
        try
        {
            Engine.Threads = 1; // runs on this thread, so the scratch comes from this thread's pool
            var q = Tensor.Randn([1, 2, 70, 16], seed: 1);
            var k = Tensor.Randn([1, 2, 300, 16], seed: 2);
            var v = Tensor.Randn([1, 2, 300, 16], seed: 3);
            var expected = AttentionOnce(q, k, v);
            var held = new List<object>();
            for (int shift = 0; shift < 24; shift++)
            {
                // hold what the pool has and move the allocation pointer, so that new scratch
                // lands at another address (and alignment) than the last one
                for (int i = 0; i < 4; i++) held.Add(ArrayPool<float>.Shared.Rent(70 * 256 + 70 * 16 + 140));
                held.Add(new byte[shift + 1]);
                AssertBitIdentical(expected, AttentionOnce(q, k, v), $"attention with scratch shift {shift}");
            }
        }
        finally { Engine.Threads = saved; }
    }

    [Theory]
    [InlineData(64, 1968, 1968)] // the generation's head width and sequence: full and partial key tiles, a lone last panel
    [InlineData(48, 70, 300)]    // 32 columns on 16 lanes, 16 on 8; tail query rows
    [InlineData(20, 45, 45)]     // columns past the last 16 one at a time
    [InlineData(64, 600, 600, true)] // groups: keys of other groups masked, tiles of one other group skipped
    public void AttentionGivesTheSameBitsOn16LanesAsOn8(int d, int nq, int nk, bool groups = false)
    {
        var q = Tensor.Randn([1, 2, nq, d], seed: 11);
        var k = Tensor.Randn([1, 2, nk, d], seed: 12);
        var v = Tensor.Randn([1, 2, nk, d], seed: 13);
        int[]? segments = groups ? [.. Enumerable.Range(0, nk).Select(i => i < 280 ? 0 : i < 290 ? 1 : 2)] : null;
        bool saved = Backends.Cpu.CpuPanelGemm.Wide;
        try
        {
            Backends.Cpu.CpuPanelGemm.Wide = false;
            var narrow = Ops.Attention(q, k, v, segments).ToArray();
            Backends.Cpu.CpuPanelGemm.Wide = true;
            AssertBitIdentical(narrow, Ops.Attention(q, k, v, segments).ToArray(), $"attention d {d}, {nq} x {nk}, groups {groups}, on 16 lanes");
        }
        finally { Backends.Cpu.CpuPanelGemm.Wide = saved; }
    }

    [Theory]
    [InlineData(64, 64, 64)]
    [InlineData(1, 256, 1024)]
    [InlineData(16, 384, 96)]
    [InlineData(256, 96, 384)]
    [InlineData(512, 512, 512)]
    public void GemmDoesNotDependOnTheBlasThreadCount(int m, int k, int n)
    {
        int saved = Engine.Threads;
        try
        {
            var a = Tensor.Randn([m, k], seed: 4);
            var b = Tensor.Randn([k, n], seed: 5);
            Engine.Threads = 1;
            var one = Ops.MatMul(a, b).ToArray();
            Engine.Threads = 2;
            var two = Ops.MatMul(a, b).ToArray();
            AssertBitIdentical(one, two, $"gemm {m}x{k}x{n} on 1 vs 2 BLAS threads");
        }
        finally { Engine.Threads = saved; }
    }

    [Theory]
    [InlineData(1, 3)]   // one item: GEMM blocks and column copies over the threads
    [InlineData(5, 3)]   // several items in parallel, weight gradient from partial sums
    [InlineData(5, 1)]
    public void ConvAndItsGradientsDoNotDependOnTheThreadCount(int batch, int kf)
    {
        int saved = Engine.Threads;
        try
        {
            float[] Run(int threads)
            {
                Engine.Threads = threads;
                using var scope = TensorScope.Begin();
                var x = Tensor.Randn([batch, 24, 5, 12, 12], seed: 11).RequireGrad();
                var w = Tensor.Randn([32, 24, kf, 3, 3], seed: 12, std: 0.1f).RequireGrad();
                var down = Tensor.Randn([32, 32, 1, 3, 3], seed: 13, std: 0.1f).RequireGrad();
                var h = Ops.Conv3d(x, w, padding: (1, 1), causal: true);
                var y = Ops.Conv3d(h, down, stride: (1, 2, 2), padding: (1, 1), causal: true);
                y.Backward(Tensor.Randn(y.Shape, seed: 14));
                return [.. y.ToArray(), .. x.Grad!.ToArray(), .. w.Grad!.ToArray(), .. down.Grad!.ToArray()];
            }
            var one = Run(1);
            foreach (int threads in new[] { 2, 3 })
                AssertBitIdentical(one, Run(threads), $"conv batch {batch} kernel {kf}x3x3 on 1 vs {threads} threads");
        }
        finally { Engine.Threads = saved; }
    }

    [Fact]
    public void OpsOnTwoThreadsAtOnceMatchASequentialRun()
    {
        var q = Tensor.Randn([1, 4, 64, 32], seed: 6);
        var k = Tensor.Randn([1, 4, 300, 32], seed: 7);
        var v = Tensor.Randn([1, 4, 300, 32], seed: 8);
        var a = Tensor.Randn([256, 384], seed: 9);
        var w = Tensor.Randn([384, 384], seed: 10);
        float[] Run() => [.. AttentionOnce(q, k, v), .. Ops.MatMul(a, w).ToArray(), .. Ops.Softmax(Ops.MatMul(a, w), -1).ToArray()];
        var expected = Run();
        for (int round = 0; round < 20; round++)
        {
            var results = new float[2][];
            var threads = Enumerable.Range(0, 2).Select(t => new Thread(() => results[t] = Run())).ToArray();
            foreach (var t in threads) t.Start();
            foreach (var t in threads) t.Join();
            AssertBitIdentical(expected, results[0], $"round {round}, thread 0");
            AssertBitIdentical(expected, results[1], $"round {round}, thread 1");
        }
    }
}
