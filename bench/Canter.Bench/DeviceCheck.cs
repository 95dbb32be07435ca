using Canter.Models.Blocks;
using Canter.Tensors;
using Canter.Tensors.Autograd;
using Canter.Tensors.Optim;

namespace Canter.Bench;

/// <summary>
/// One parity case: an op run on the CPU and on another device, forward and the gradient of every input
/// (and of every parameter of <see cref="Model"/>, built once per device, when the case has one).
/// </summary>
public sealed record DeviceCase(string Name, Func<Tensor[], Tensor> Op, Func<Tensor[]> Inputs, float Atol = 1e-5f, float Rtol = 1e-4f)
{
    /// <summary>Builds the case's op with a model placed on the given device.</summary>
    public Func<Device, (Func<Tensor[], Tensor> Op, Canter.Tensors.Nn.Module Model)>? Model { get; init; }
}

/// <summary>Result of one case: the worst excess over tolerance (0 = within) and the worst absolute error.</summary>
public sealed record DeviceCaseResult(string Name, double MaxAbsError, double WorstExcess)
{
    public bool Passed => WorstExcess <= 0;
}

/// <summary>
/// Checks a device's kernels against the CPU backend: every case runs an op (and its backward pass)
/// on both and compares. The GPU tests run these on ILGPU's CPU accelerator; `canter bench device`
/// runs them on a real GPU, where no test runner is installed.
/// </summary>
public static class DeviceCheck
{
    public static IReadOnlyList<DeviceCase> Cases { get; } =
    [
        new("elementwise", t => Ops.Sum(Ops.Tanh(t[0] * t[1] + Ops.Exp(Ops.Scale(t[1], 0.1f)) / t[2]), [0, 2], keepDim: true),
            () => [Tensor.Randn([2, 3, 5], 1), Tensor.Randn([3, 1], 2), Tensor.Rand([5], 3, 1f, 2f)]),
        new("views", t => Ops.Concat([Ops.Slice(Ops.Permute(t[0], 2, 0, 1), 0, 1, 2), Ops.Unsqueeze(Ops.Max(t[0], 2), 0)], 0),
            () => [Tensor.Randn([3, 4, 5], 4)]),
        new("linear", t => Ops.Linear(t[0], t[1], t[2]), () => [Tensor.Randn([2, 7, 16], 5), Tensor.Randn([9, 16], 6, 0.3f), Tensor.Randn([9], 7)], 1e-4f),
        new("linear_many_rows", t => Ops.Linear(t[0], t[1], t[2]), () => [Tensor.Randn([3, 200, 16], 37), Tensor.Randn([9, 16], 38, 0.3f), Tensor.Randn([9], 39)], 1e-4f),
        new("bmm", t => Ops.MatMul(t[0], Ops.Transpose(t[1], -1, -2)), () => [Tensor.Randn([3, 5, 8], 8), Tensor.Randn([3, 6, 8], 9)], 1e-4f),
        new("layer_norm", t => Ops.LayerNorm(t[0], t[1], t[2]), () => [Tensor.Randn([6, 37], 10), Tensor.Randn([37], 11), Tensor.Randn([37], 12)]),
        new("layer_norm_many_rows", t => Ops.LayerNorm(t[0], t[1], t[2]), () => [Tensor.Randn([300, 37], 40), Tensor.Randn([37], 41), Tensor.Randn([37], 42)]),
        new("modulated_layer_norm", t =>
        {
            var shift = Ops.Squeeze(Ops.Slice(t[1], 2, 0, 1), 2);
            var scale = Ops.Squeeze(Ops.Slice(t[1], 2, 1, 1), 2);
            return Ops.ModulatedLayerNorm(t[0], shift, scale);
        }, () => [Tensor.Randn([2, 5, 24], 13), Tensor.Randn([2, 5, 6, 24], 14, 0.3f)]),
        new("rms_norm", t => Ops.RmsNorm(Ops.Squeeze(Ops.Slice(t[0], 2, 1, 1), 2), t[1]), () => [Tensor.Randn([2, 4, 3, 2, 8], 15), Tensor.Randn([8], 16)]),
        new("channel_rms_norm", t => Ops.ChannelRmsNorm(t[0], t[1]), () => [Tensor.Randn([2, 6, 3, 5, 7], 31), Tensor.Randn([6], 32)]),
        new("gelu_tanh", t => Ops.Gelu(t[0], approximate: true), () => [Tensor.Randn([3, 41], 17, 2f)]),
        new("gelu_exact", t => Ops.Gelu(t[0], approximate: false), () => [Tensor.Randn([3, 41], 17, 2f)]),
        new("silu", t => Ops.Silu(t[0]), () => [Tensor.Randn([3, 41], 17, 2f)]),
        new("softmax", t => Ops.Softmax(t[0]), () => [Tensor.Randn([4, 19], 18, 3f)]),
        new("log_softmax", t => Ops.LogSoftmax(t[0], 0), () => [Tensor.Randn([4, 19], 19, 3f)]),
        new("cross_entropy", t => Ops.CrossEntropy(t[0], [1, 0, 4]), () => [Tensor.Randn([3, 5], 20)]),
        new("attention_segments", t => Ops.Attention(t[0], t[1], t[2], [.. Enumerable.Range(0, 26).Select(i => i % 13 < 5 ? 0 : 1)]),
            () => [Tensor.Randn([2, 2, 13, 8], 21), Tensor.Randn([2, 2, 13, 8], 22), Tensor.Randn([2, 2, 13, 8], 23)]),
        new("attention_strided", t =>
        {
            Tensor Head(int i) => Ops.Permute(Ops.Squeeze(Ops.Slice(t[0], 2, i, 1), 2), 0, 2, 1, 3);
            return Ops.Attention(Head(0), Head(1), Head(2));
        }, () => [Tensor.Randn([1, 9, 3, 2, 4], 24)]),
        new("attention_heads_batched", t =>
        {
            Tensor Head(int i) => Ops.Permute(Ops.Squeeze(Ops.Slice(t[0], 2, i, 1), 2), 0, 2, 1, 3);
            return Ops.Attention(Head(0), Head(1), Head(2), [.. Enumerable.Range(0, 80).Select(i => i % 40 < 25 ? 0 : 1)]);
        }, () => [Tensor.Randn([2, 40, 3, 3, 16], 36)]),
        new("attention_large", t => Ops.Attention(t[0], t[1], t[2]),
            () => [Tensor.Randn([1, 2, 300, 64], 33), Tensor.Randn([1, 2, 300, 64], 34), Tensor.Randn([1, 2, 300, 64], 35)], 1e-4f),
        new("attention_cross_odd", t => Ops.Attention(t[0], t[1], t[2]),
            () => [Tensor.Randn([2, 3, 45, 64], 56), Tensor.Randn([2, 3, 71, 64], 57), Tensor.Randn([2, 3, 71, 64], 58)], 1e-4f),
        new("rope", t => Ops.Rope(t[0], SpaceTime.VideoGrid(2, 2, 3, 8, frameRate: 6.25f)), () => [Tensor.Randn([2, 12, 3, 8], 25)]),
        new("embedding", t => Ops.Embedding(t[0], [3, 1, 3, 0], [2, 2]), () => [Tensor.Randn([5, 6], 26)]),
        new("conv1d_causal", t => Ops.Conv1d(t[0], t[1], t[2], stride: 2, padLeft: 4, padRight: 0, dilation: 1),
            () => [Tensor.Randn([2, 3, 23], 43), Tensor.Randn([5, 3, 5], 44, 0.3f), Tensor.Randn([5], 45)], 1e-4f),
        new("conv2d", t => Ops.Conv2d(t[0], t[1], t[2], stride: 2, padding: 1),
            () => [Tensor.Randn([2, 3, 9, 11], 46), Tensor.Randn([4, 3, 3, 3], 47, 0.3f), Tensor.Randn([4], 48)], 1e-4f),
        new("conv3d_causal_replicate", t => Ops.Conv3d(t[0], t[1], t[2], stride: (1, 2, 2), padding: (1, 1), causal: true, timePadding: TimePadding.Replicate),
            () => [Tensor.Randn([2, 3, 5, 7, 6], 49), Tensor.Randn([4, 3, 3, 3, 3], 50, 0.2f), Tensor.Randn([4], 51)], 1e-4f),
        new("conv_transpose1d", t => Ops.ConvTranspose1d(t[0], t[1], t[2], stride: 2, padding: 1),
            () => [Tensor.Randn([2, 4, 9], 52), Tensor.Randn([4, 3, 4], 53, 0.3f), Tensor.Randn([3], 54)], 1e-4f),
        new("upsample3d", t => Ops.Upsample3dNearest(t[0], 2, 2, 3), () => [Tensor.Randn([1, 2, 3, 4, 5], 55)]),
        new("dit_stack", _ => throw new InvalidOperationException("built per device"),
            () => [Tensor.Randn([2, 12, 32], 28), Tensor.Randn([2, 12, 6, 32], 29, 0.3f)], 1e-4f, 1e-3f)
        {
            Model = device =>
            {
                var stack = new DitStack(new DitConfig(Width: 32, Blocks: 2, Heads: 2), seed: 3);
                stack.To(device);
                var rope = SpaceTime.VideoGrid(2, 2, 3, 16);
                return (t => stack.Forward(t[0], t[1], rope), stack);
            },
        },
    ];

    /// <summary>Runs one case on the CPU and on <paramref name="device"/>.</summary>
    public static DeviceCaseResult Run(DeviceCase c, Device device)
    {
        using var scope = TensorScope.Begin();
        var inputs = c.Inputs();
        foreach (var x in inputs) x.RequireGrad();
        var (y, grads) = Evaluate(c, inputs, Device.Cpu);
        var (yd, gradsD) = Evaluate(c, inputs.Select(x => x.To(device).RequireGrad()).ToArray(), device);
        double maxAbs = 0, worst = double.NegativeInfinity;
        void Compare(float[] expected, float[] actual, float atol, float rtol)
        {
            for (int i = 0; i < expected.Length; i++)
            {
                double err = Math.Abs((double)expected[i] - actual[i]);
                if (double.IsNaN(err)) err = double.PositiveInfinity;
                maxAbs = Math.Max(maxAbs, err);
                worst = Math.Max(worst, err - (atol + rtol * Math.Abs(expected[i])));
            }
        }
        Compare(y, yd, c.Atol, c.Rtol);
        for (int i = 0; i < grads.Count; i++) Compare(grads[i], gradsD[i], c.Atol * 10, c.Rtol * 10);
        return new DeviceCaseResult(c.Name, maxAbs, worst);
    }

    private static (float[] Y, List<float[]> Grads) Evaluate(DeviceCase c, Tensor[] inputs, Device device)
    {
        var (op, model) = c.Model is null ? (c.Op, null) : c.Model(device);
        var y = op(inputs);
        y.Backward(Tensor.Randn(y.Shape, seed: 99).To(device));
        var grads = inputs.Select(x => x.Grad!.ToArray()).ToList();
        if (model is not null) grads.AddRange(model.Parameters().Select(p => p.Value.Grad!.ToArray()));
        return (y.ToArray(), grads);
    }

    /// <summary>Runs every case and prints one line each, then the figures.</summary>
    public static bool RunAll(Device device, TextWriter output)
    {
        output.WriteLine($"device check: {device.Name} against the CPU backend, forward and gradients");
        int failed = 0;
        double worstAbs = 0;
        foreach (var c in Cases)
        {
            DeviceCaseResult r;
            try
            {
                r = Run(c, device);
            }
            catch (Exception e) when (e is NotSupportedException or InvalidOperationException)
            {
                output.WriteLine($"  {c.Name,-24} ERROR {e.Message}");
                failed++;
                continue;
            }
            worstAbs = Math.Max(worstAbs, r.MaxAbsError);
            if (!r.Passed) failed++;
            output.WriteLine(FormattableString.Invariant($"  {c.Name,-24} {(r.Passed ? "ok  " : "FAIL")} max abs error {r.MaxAbsError:E2}"));
        }
        int cases = Cases.Count;
        if (device.Backend is Canter.Tensors.Cuda.GpuBackend gpu)
        {
            // the attention cases once more through the other path (cuBLAS on CUDA) than the one taken above
            var saved = gpu.AttentionKernels;
            try
            {
                gpu.AttentionKernels = Canter.Tensors.Cuda.AttentionKernels.Gemm;
                foreach (var c in Cases.Where(c => c.Name.StartsWith("attention", StringComparison.Ordinal)))
                {
                    var r = Run(c, device);
                    cases++;
                    worstAbs = Math.Max(worstAbs, r.MaxAbsError);
                    if (!r.Passed) failed++;
                    output.WriteLine(FormattableString.Invariant($"  {c.Name + " (gemm)",-24} {(r.Passed ? "ok  " : "FAIL")} max abs error {r.MaxAbsError:E2}"));
                }
            }
            finally
            {
                gpu.AttentionKernels = saved;
            }
        }
        output.WriteLine();
        Measure.Figures(output, [("device_cases", cases), ("device_cases_failed", failed), ("device_max_abs_error", worstAbs)]);
        return failed == 0;
    }
}
