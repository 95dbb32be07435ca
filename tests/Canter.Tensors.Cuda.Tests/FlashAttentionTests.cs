using Canter.Tensors.Autograd;
using Canter.Tensors.Tests.Support;

namespace Canter.Tensors.Cuda.Tests;

/// <summary>
/// The flash-style attention kernels (<see cref="FlashAttentionKernels"/>) against the CPU backend's attention, forward
/// and gradients, on ILGPU's CPU accelerator (groups, shared memory and barriers emulated). Tolerances: outputs within
/// 2e-5 + 1e-4 |expected|, gradients within 1e-4 + 1e-3 |expected| (float32 sums in another order; values are O(1)).
/// Sizes are odd on purpose: rows that do not fill the 32-row query tiles, the 32-key tiles or the 16-row query tiles of
/// the key pass.
/// </summary>
public class FlashAttentionTests
{
    private const float Atol = 2e-5f, Rtol = 1e-4f, GradAtol = 1e-4f, GradRtol = 1e-3f;

    private static readonly Lazy<Device> Parallel = new(() =>
    {
        GpuDevices.Register();
        return Device.Parse("ilgpu-cpu");
    });

    /// <summary>Threads of a group one at a time, switching at barriers: a missing barrier shows every time.</summary>
    private static readonly Lazy<Device> Sequential = new(() => new Device("ilgpu-cpu-sequential", GpuBackend.CreateCpuEmulation(sequential: true)));

    /// <summary>One attention problem: base inputs (on the CPU), how q, k, v are viewed from them, optional segment ids.</summary>
    public sealed record Problem(string Name, Func<Tensor[]> Inputs, Func<Tensor[], (Tensor Q, Tensor K, Tensor V)> Views, int[]? Segments = null);

    private static (Tensor, Tensor, Tensor) Plain(Tensor[] t) => (t[0], t[1], t[2]);

    private static Tensor[] Qkv(int b, int h, int nq, int nk, int d, ulong seed) =>
        [Tensor.Randn([b, h, nq, d], seed), Tensor.Randn([b, h, nk, d], seed + 1), Tensor.Randn([b, h, nk, d], seed + 2)];

    /// <summary>Heads permuted out of a (B, N, 3, H, D) projection, as the DiT block makes them.</summary>
    private static (Tensor, Tensor, Tensor) FromProjection(Tensor[] t)
    {
        Tensor Head(int i) => Ops.Permute(Ops.Squeeze(Ops.Slice(t[0], 2, i, 1), 2), 0, 2, 1, 3);
        return (Head(0), Head(1), Head(2));
    }

    private static int[] Segments(int b, int n, Func<int, int> id) => [.. Enumerable.Range(0, b * n).Select(i => id(i % n))];

    public static IReadOnlyList<Problem> Problems { get; } =
    [
        new("odd_sizes_many_heads", () => Qkv(2, 3, 45, 45, 64, 10), Plain),
        new("fewer_queries_than_keys", () => Qkv(2, 2, 37, 70, 24, 20), Plain),
        new("more_queries_than_keys", () => Qkv(1, 2, 67, 9, 16, 30), Plain),
        new("single_query_short_keys", () => Qkv(3, 1, 1, 5, 8, 40), Plain),
        new("strided_projection", () => [Tensor.Randn([2, 33, 3, 2, 16], 50)], FromProjection),
        new("strided_slices", () => [Tensor.Randn([2, 4, 41, 40], 60)], t =>
            (Ops.Slice(t[0], 3, 0, 12), Ops.Slice(t[0], 3, 13, 12), Ops.Slice(t[0], 3, 27, 12))),
        new("segments_interleaved", () => Qkv(2, 2, 50, 50, 8, 70), Plain, Segments(2, 50, i => i % 3)),
        new("segments_blocks_strided", () => [Tensor.Randn([2, 47, 3, 3, 32], 80)], FromProjection,
            Segments(2, 47, i => i < 20 ? 0 : i < 39 ? 1 : 2)),
    ];

    public static TheoryData<string> ProblemNames => [.. Problems.Select(p => p.Name)];

    private sealed record Outputs(float[] O, float[][] Grads);

    /// <summary>Forward and the gradients of the base inputs for a fixed upstream gradient; <paramref name="before"/> runs between the two.</summary>
    private static Outputs Evaluate(Problem p, Device device, Action? before = null)
    {
        using var scope = TensorScope.Begin();
        var inputs = p.Inputs().Select(x => (device == Device.Cpu ? x : x.To(device)).RequireGrad()).ToArray();
        var (q, k, v) = p.Views(inputs);
        var o = Ops.Attention(q, k, v, p.Segments);
        before?.Invoke();
        o.Backward(Tensor.Randn(o.Shape, seed: 99).To(device));
        return new Outputs(o.ToArray(), [.. inputs.Select(x => x.Grad!.ToArray())]);
    }

    private static GpuBackend Gpu(Device d) => (GpuBackend)d.Backend;

    private static Outputs OnGpu(Problem p, Device device, AttentionKernels kernels, int skipForward = 0, int skipBackward = 0)
    {
        var gpu = Gpu(device);
        var saved = gpu.AttentionKernels;
        try
        {
            gpu.AttentionKernels = kernels;
            gpu.FlashSkipBarriers = skipForward;
            return Evaluate(p, device, () => gpu.FlashSkipBarriers = skipBackward);
        }
        finally
        {
            gpu.AttentionKernels = saved;
            gpu.FlashSkipBarriers = 0;
        }
    }

    private static void AssertClose(Outputs expected, Outputs actual, string what)
    {
        Check.Close(expected.O, actual.O, Atol, Rtol, $"{what}: output");
        for (int i = 0; i < expected.Grads.Length; i++) Check.Close(expected.Grads[i], actual.Grads[i], GradAtol, GradRtol, $"{what}: gradient of input {i}");
    }

    [Theory]
    [MemberData(nameof(ProblemNames))]
    public void FlashMatchesTheCpuBackend(string name)
    {
        var p = Problems.Single(x => x.Name == name);
        AssertClose(Evaluate(p, Device.Cpu), OnGpu(p, Parallel.Value, AttentionKernels.Flash), $"{name} (flash)");
    }

    [Theory]
    [InlineData("odd_sizes_many_heads")]
    [InlineData("fewer_queries_than_keys")]
    [InlineData("segments_blocks_strided")]
    public void FlashMatchesWithThreadsRunOneAtATime(string name)
    {
        var p = Problems.Single(x => x.Name == name);
        AssertClose(Evaluate(p, Device.Cpu), OnGpu(p, Sequential.Value, AttentionKernels.Flash), $"{name} (flash, sequential)");
    }

    [Theory]
    [InlineData("fewer_queries_than_keys")]
    [InlineData("segments_interleaved")]
    public void GemmPathStillMatches(string name)
    {
        var p = Problems.Single(x => x.Name == name);
        AssertClose(Evaluate(p, Device.Cpu), OnGpu(p, Parallel.Value, AttentionKernels.Gemm), $"{name} (gemm)");
    }

    [Fact]
    public void AutoTakesFlashUpToItsTileAndFallsBackBeyond()
    {
        var gpu = Gpu(Parallel.Value);
        var saved = gpu.AttentionKernels;
        try
        {
            gpu.AttentionKernels = AttentionKernels.Auto;
            Assert.True(gpu.UsesFlashAttention(64));
            Assert.True(gpu.UsesFlashAttention(1));
            Assert.False(gpu.UsesFlashAttention(65));
            gpu.AttentionKernels = AttentionKernels.Gemm;
            Assert.False(gpu.UsesFlashAttention(64));
            gpu.AttentionKernels = AttentionKernels.Flash;
            var e = Assert.Throws<NotSupportedException>(() => gpu.UsesFlashAttention(96));
            Assert.Contains("96", e.Message);
        }
        finally
        {
            gpu.AttentionKernels = saved;
        }
        // a head wider than the tiles still matches the CPU under auto (the fallback path)
        var wide = new Problem("wide_head", () => Qkv(1, 2, 19, 23, 96, 90), Plain);
        AssertClose(Evaluate(wide, Device.Cpu), OnGpu(wide, Parallel.Value, AttentionKernels.Auto), "wide head (auto)");
    }

    [Fact]
    public void TheEnvironmentSettingIsParsedStrictly()
    {
        Assert.Equal(AttentionKernels.Auto, GpuBackend.ParseAttentionKernels(null));
        Assert.Equal(AttentionKernels.Auto, GpuBackend.ParseAttentionKernels(" Auto "));
        Assert.Equal(AttentionKernels.Flash, GpuBackend.ParseAttentionKernels("flash"));
        Assert.Equal(AttentionKernels.Gemm, GpuBackend.ParseAttentionKernels("gemm"));
        Assert.Equal(AttentionKernels.Gemm, GpuBackend.ParseAttentionKernels("cublas"));
        Assert.Throws<ArgumentException>(() => GpuBackend.ParseAttentionKernels("fast"));
    }

    /// <summary>
    /// Each barrier of each flash kernel is needed, and the emulation notices when one is missing: with the threads of a
    /// group run one at a time, leaving out any single barrier must break the result the kernel writes. (The forward
    /// kernel's last barrier only matters when there are no keys, so it is not dropped here.)
    /// </summary>
    [Fact]
    public void DroppingAnyBarrierBreaksTheResult()
    {
        var p = new Problem("barriers", () => Qkv(1, 2, 40, 70, 24, 100), Plain, null);
        var expected = Evaluate(p, Device.Cpu);
        AssertClose(expected, OnGpu(p, Sequential.Value, AttentionKernels.Flash), "all barriers");
        for (int i = 0; i < FlashAttentionKernels.ForwardBarriers - 1; i++)
        {
            var broken = OnGpu(p, Sequential.Value, AttentionKernels.Flash, skipForward: 1 << i);
            Assert.True(Excess(expected.O, broken.O, Atol, Rtol) > 0, $"the forward kernel without barrier {i} still matched");
        }
        Assert.Equal(FlashAttentionKernels.BackwardKeysBarriers, FlashAttentionKernels.BackwardQueriesBarriers);
        for (int i = 0; i < FlashAttentionKernels.BackwardKeysBarriers; i++)
        {
            var broken = OnGpu(p, Sequential.Value, AttentionKernels.Flash, skipBackward: 1 << i);
            Check.Close(expected.O, broken.O, Atol, Rtol, "forward with every barrier");
            Assert.True(Excess(expected.Grads[0], broken.Grads[0], GradAtol, GradRtol) > 0, $"dQ without barrier {i} still matched");
            Assert.True(Excess(expected.Grads[1], broken.Grads[1], GradAtol, GradRtol) > 0 || Excess(expected.Grads[2], broken.Grads[2], GradAtol, GradRtol) > 0,
                $"dK and dV without barrier {i} still matched");
        }
    }

    /// <summary>The worst amount by which <paramref name="actual"/> leaves the tolerance (NaN counts as infinitely far).</summary>
    private static double Excess(float[] expected, float[] actual, float atol, float rtol)
    {
        double worst = double.NegativeInfinity;
        for (int i = 0; i < expected.Length; i++)
        {
            double err = Math.Abs((double)expected[i] - actual[i]);
            if (double.IsNaN(err)) err = double.PositiveInfinity;
            worst = Math.Max(worst, err - (atol + rtol * Math.Abs(expected[i])));
        }
        return worst;
    }
}
