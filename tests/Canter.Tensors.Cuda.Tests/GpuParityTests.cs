using Canter.Bench;
using Canter.Tensors.Optim;
using Canter.Tensors.Tests.Support;

namespace Canter.Tensors.Cuda.Tests;

/// <summary>
/// Every GPU kernel against the CPU backend (the cases of <see cref="DeviceCheck"/>: forward and gradients).
/// Without a GPU the kernels run on ILGPU's CPU accelerator (device "ilgpu-cpu"); on a GPU machine
/// `canter bench device --device cuda` runs the same cases there.
/// </summary>
public class GpuParityTests
{
    private static readonly Lazy<Device> TestDevice = new(() =>
    {
        GpuDevices.Register();
        return Device.Parse(Environment.GetEnvironmentVariable("CANTER_TEST_DEVICE") is { Length: > 0 } name ? name : "ilgpu-cpu");
    });

    private static Device Dev => TestDevice.Value;

    public static TheoryData<string> CaseNames => [.. DeviceCheck.Cases.Select(c => c.Name)];

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void MatchesTheCpuBackend(string name)
    {
        var result = DeviceCheck.Run(DeviceCheck.Cases.Single(c => c.Name == name), Dev);
        Assert.True(result.Passed, $"{name} on {Dev.Name}: max abs error {result.MaxAbsError:E2} exceeds the tolerance by {result.WorstExcess:E2}");
    }

    public static TheoryData<string> AttentionCaseNames => [.. DeviceCheck.Cases.Select(c => c.Name).Where(n => n.StartsWith("attention", StringComparison.Ordinal))];

    /// <summary>The attention cases once more through the path without the flash kernels (as `canter bench device` does).</summary>
    [Theory]
    [MemberData(nameof(AttentionCaseNames))]
    public void AttentionMatchesTheCpuBackendThroughTheGemmPath(string name)
    {
        var gpu = (GpuBackend)Dev.Backend;
        var saved = gpu.AttentionKernels;
        try
        {
            gpu.AttentionKernels = AttentionKernels.Gemm;
            var result = DeviceCheck.Run(DeviceCheck.Cases.Single(c => c.Name == name), Dev);
            Assert.True(result.Passed, $"{name} (gemm) on {Dev.Name}: max abs error {result.MaxAbsError:E2} exceeds the tolerance by {result.WorstExcess:E2}");
        }
        finally
        {
            gpu.AttentionKernels = saved;
        }
    }

    [Fact]
    public void ResultsStayOnTheDevice()
    {
        var y = Ops.Gelu(Tensor.Randn([4, 4], 1).To(Dev) * Tensor.Randn([4], 2).To(Dev));
        Assert.Equal(Dev.Backend.Name, y.Backend.Name);
    }

    [Fact]
    public void AdamWStepMatchesTheCpu()
    {
        var cpu = Tensor.Randn([50], 27).AsParameter("p");
        var dev = Tensor.Randn([50], 27).To(Dev).AsParameter("p");
        var optCpu = new AdamW([("p", cpu)], new AdamWOptions(0.01f, WeightDecay: 0.1f));
        var optDev = new AdamW([("p", dev)], new AdamWOptions(0.01f, WeightDecay: 0.1f));
        for (int i = 0; i < 5; i++)
        {
            var g = Tensor.Randn([50], 100 + (ulong)i);
            cpu.Grad = g;
            dev.Grad = g.To(Dev);
            optCpu.Step();
            optDev.Step();
        }
        Check.Close(cpu.ToArray(), dev.ToArray(), 1e-6f, 1e-5f, "adamw");
    }

    [Fact]
    public void ChunkedConvolutionMatchesTheCpu()
    {
        // a column budget far below the problem's size forces many chunks per batch item
        var gpu = (GpuBackend)Dev.Backend;
        int saved = gpu.ColumnBudget;
        try
        {
            gpu.ColumnBudget = 4096;
            var result = DeviceCheck.Run(DeviceCheck.Cases.Single(c => c.Name == "conv3d_causal_replicate"), Dev);
            Assert.True(result.Passed, $"chunked conv3d: max abs error {result.MaxAbsError:E2}");
        }
        finally
        {
            gpu.ColumnBudget = saved;
        }
    }
}
