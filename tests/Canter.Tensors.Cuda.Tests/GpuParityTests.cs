using Canter.Models.Blocks;
using Canter.Tensors.Autograd;
using Canter.Tensors.Optim;
using Canter.Tensors.Tests.Support;

namespace Canter.Tensors.Cuda.Tests;

/// <summary>
/// Every GPU kernel against the CPU backend: the same op on the same inputs, forward and gradients.
/// Without a GPU the kernels run on ILGPU's CPU accelerator (device "ilgpu-cpu"); on a GPU machine
/// set CANTER_TEST_DEVICE=cuda to run them on the GPU.
/// </summary>
public class GpuParityTests
{
    private static readonly Lazy<Device> TestDevice = new(() =>
    {
        GpuDevices.Register();
        return Device.Parse(Environment.GetEnvironmentVariable("CANTER_TEST_DEVICE") is { Length: > 0 } name ? name : "ilgpu-cpu");
    });

    private static Device Dev => TestDevice.Value;

    /// <summary>Runs f on the CPU and on the test device and compares the output and every input gradient.</summary>
    private static void Same(Func<Tensor[], Tensor> f, Tensor[] inputs, string what, float atol = 1e-5f, float rtol = 1e-4f)
    {
        using var scope = TensorScope.Begin();
        foreach (var x in inputs) { x.ZeroGrad(); x.RequireGrad(); }
        var y = f(inputs);
        var gy = Tensor.Randn(y.Shape, seed: 99);
        y.Backward(gy);
        var onDevice = inputs.Select(x => x.To(Dev).RequireGrad()).ToArray();
        var yd = f(onDevice);
        Assert.Equal(Dev.Backend.Name, yd.Backend.Name);
        yd.Backward(gy.To(Dev));
        Check.Close(y.ToArray(), yd.ToArray(), atol, rtol, $"{what} forward on {Dev.Name}");
        for (int i = 0; i < inputs.Length; i++)
            Check.Close(inputs[i].Grad!.ToArray(), onDevice[i].Grad!.ToArray(), atol * 10, rtol * 10, $"{what} d/dinput{i} on {Dev.Name}");
        foreach (var x in inputs) { x.ZeroGrad(); x.RequireGrad(false); }
    }

    [Fact]
    public void ElementwiseAndReductions() =>
        Same(t => Ops.Sum(Ops.Tanh(t[0] * t[1] + Ops.Exp(Ops.Scale(t[1], 0.1f)) / t[2]), [0, 2], keepDim: true),
            [Tensor.Randn([2, 3, 5], 1), Tensor.Randn([3, 1], 2), Tensor.Rand([5], 3, 1f, 2f)], "elementwise");

    [Fact]
    public void ViewsSlicesAndConcat() =>
        Same(t => Ops.Concat([Ops.Slice(Ops.Permute(t[0], 2, 0, 1), 0, 1, 2), Ops.Unsqueeze(Ops.Max(t[0], 2), 0)], 0),
            [Tensor.Randn([3, 4, 5], 4)], "views");

    [Fact]
    public void LinearAndBatchedMatmul()
    {
        Same(t => Ops.Linear(t[0], t[1], t[2]), [Tensor.Randn([2, 7, 16], 5), Tensor.Randn([9, 16], 6, 0.3f), Tensor.Randn([9], 7)], "linear", 1e-4f, 1e-4f);
        Same(t => Ops.MatMul(t[0], Ops.Transpose(t[1], -1, -2)), [Tensor.Randn([3, 5, 8], 8), Tensor.Randn([3, 6, 8], 9)], "bmm", 1e-4f, 1e-4f);
    }

    [Fact]
    public void Norms()
    {
        Same(t => Ops.LayerNorm(t[0], t[1], t[2]), [Tensor.Randn([6, 37], 10), Tensor.Randn([37], 11), Tensor.Randn([37], 12)], "layer_norm");
        Same(t =>
        {
            var shift = Ops.Squeeze(Ops.Slice(t[1], 2, 0, 1), 2);
            var scale = Ops.Squeeze(Ops.Slice(t[1], 2, 1, 1), 2);
            return Ops.ModulatedLayerNorm(t[0], shift, scale);
        }, [Tensor.Randn([2, 5, 24], 13), Tensor.Randn([2, 5, 6, 24], 14, 0.3f)], "modulated_layer_norm");
        Same(t => Ops.RmsNorm(Ops.Squeeze(Ops.Slice(t[0], 2, 1, 1), 2), t[1]), [Tensor.Randn([2, 4, 3, 2, 8], 15), Tensor.Randn([8], 16)], "rms_norm");
    }

    [Theory]
    [InlineData(Activation.GeluTanh)]
    [InlineData(Activation.GeluExact)]
    [InlineData(Activation.Silu)]
    public void Activations(Activation kind) => Same(t => Ops.Activate(t[0], kind), [Tensor.Randn([3, 41], 17, 2f)], kind.ToString());

    [Fact]
    public void SoftmaxAndLosses()
    {
        Same(t => Ops.Softmax(t[0]), [Tensor.Randn([4, 19], 18, 3f)], "softmax");
        Same(t => Ops.LogSoftmax(t[0], 0), [Tensor.Randn([4, 19], 19, 3f)], "log_softmax");
        Same(t => Ops.CrossEntropy(t[0], [1, 0, 4]), [Tensor.Randn([3, 5], 20)], "cross_entropy");
    }

    [Fact]
    public void AttentionWithSegmentsAndStridedHeads()
    {
        int[] seg = [.. Enumerable.Range(0, 2 * 13).Select(i => i % 13 < 5 ? 0 : 1)];
        Same(t => Ops.Attention(t[0], t[1], t[2], seg), [Tensor.Randn([2, 2, 13, 8], 21), Tensor.Randn([2, 2, 13, 8], 22), Tensor.Randn([2, 2, 13, 8], 23)], "attention");
        Same(t =>
        {
            Tensor Head(int i) => Ops.Permute(Ops.Squeeze(Ops.Slice(t[0], 2, i, 1), 2), 0, 2, 1, 3);
            return Ops.Attention(Head(0), Head(1), Head(2));
        }, [Tensor.Randn([1, 9, 3, 2, 4], 24)], "attention (strided)");
    }

    [Fact]
    public void RopeAndEmbedding()
    {
        var table = SpaceTime.VideoGrid(2, 2, 3, 8, frameRate: 6.25f);
        Same(t => Ops.Rope(t[0], table), [Tensor.Randn([2, 12, 3, 8], 25)], "rope");
        Same(t => Ops.Embedding(t[0], [3, 1, 3, 0], [2, 2]), [Tensor.Randn([5, 6], 26)], "embedding");
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
    public void WholeDitStackForwardAndBackward()
    {
        var config = new DitConfig(Width: 32, Blocks: 2, Heads: 2);
        var rope = SpaceTime.VideoGrid(2, 2, 3, config.HeadDim);
        var cpuStack = new DitStack(config, seed: 3);
        var devStack = new DitStack(config, seed: 3);
        devStack.To(Dev);
        var x = Tensor.Randn([2, 12, 32], 28);
        var e = Tensor.Randn([2, 12, 6, 32], 29, 0.3f);
        var gy = Tensor.Randn([2, 12, 32], 30);
        cpuStack.Forward(x, e, rope).Backward(gy);
        var yd = devStack.Forward(x.To(Dev), e.To(Dev), rope);
        yd.Backward(gy.To(Dev));
        Check.Close(cpuStack.Forward(x, e, rope).ToArray(), yd.ToArray(), 1e-4f, 1e-4f, "dit forward");
        var cpuParams = cpuStack.Parameters().ToList();
        var devParams = devStack.Parameters().ToList();
        for (int i = 0; i < cpuParams.Count; i++)
            Check.Close(cpuParams[i].Value.Grad!.ToArray(), devParams[i].Value.Grad!.ToArray(), 1e-4f, 1e-3f, "dit d/d" + cpuParams[i].Name);
    }

    [Fact]
    public void UnsupportedKernelsSaySo()
    {
        Assert.False(Dev.Backend.Supports("ConvForward"));
        Assert.True(Dev.Backend.Supports("AttentionForward"));
        var x = Tensor.Randn([1, 2, 8], 31).To(Dev);
        var w = Tensor.Randn([2, 2, 3], 32).To(Dev);
        var e = Assert.Throws<NotSupportedException>(() => Ops.Conv1d(x, w));
        Assert.Contains("ConvForward", e.Message);
    }
}
