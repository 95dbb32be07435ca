using System.Diagnostics;
using System.Text.Json.Nodes;
using Canter.Tensors;
using Canter.Tensors.Autograd;
using Canter.Tensors.Cuda;

namespace Canter.Bench;

/// <summary>One attention shape of <see cref="AttentionBench"/>: (B, H, N, D), and S contiguous segments when S &gt; 0.</summary>
public sealed record AttentionShape(string Name, int Batch, int Heads, int Tokens, int HeadDim, int Segments = 0)
{
    /// <summary>Multiply-adds of the two score-sized products of the forward pass, counted as 2 FLOPs each (dense, masks ignored).</summary>
    public double ForwardFlops => 4.0 * Batch * Heads * (double)Tokens * Tokens * HeadDim;
}

/// <summary>Settings of <see cref="AttentionBench"/>.</summary>
public sealed record AttentionBenchOptions(string Device = "cuda", int Repeats = 10, int Warmup = 3, bool SkipTorch = false, bool Quick = false)
{
    /// <summary>
    /// Head width 64 as every model preset: the engine benchmark's DiT (4 x 1024 tokens, 4 heads), the base preset's
    /// 12 heads at 4096 and 16384 tokens (a longer clip; the cuBLAS path then holds 12 GiB of scores), and packed
    /// sequences (segments).
    /// </summary>
    public IReadOnlyList<AttentionShape> Shapes => Quick
        ? [new("quick", 1, 2, 300, 64), new("quick_segments", 1, 2, 300, 64, 3)]
        :
        [
            new("dit_bench", 4, 4, 1024, 64),
            new("base_4k", 1, 12, 4096, 64),
            new("base_4k_segments", 1, 12, 4096, 64, 4),
            new("base_16k", 1, 12, 16384, 64),
        ];
}

/// <summary>
/// Attention on a GPU: the flash kernels against the cuBLAS path of the same backend (<see cref="AttentionKernels"/>),
/// and against PyTorch's scaled_dot_product_attention and its written-out softmax, all float32, forward alone and forward
/// plus backward. q, k, v are strided heads of one (B, N, 3, H, D) projection, as the DiT block makes them. Each shape
/// also checks that the two Canter paths agree on the GPU. Ratios are the other time divided by the flash time: above 1
/// means the flash kernels are faster.
/// </summary>
public static class AttentionBench
{
    public static IReadOnlyList<(string Name, double Value)> Run(AttentionBenchOptions options, TextWriter output)
    {
        var device = Device.Parse(options.Device);
        if (device.Backend is not GpuBackend gpu)
            throw new ArgumentException($"the attention benchmark compares GPU kernels: use --device cuda (or ilgpu-cpu with --quick), not '{device.Name}'");
        if (!gpu.IsCuda && !options.Quick)
            throw new ArgumentException($"'{device.Name}' only emulates the kernels for tests: use --device cuda, or --quick for a smoke run");
        output.WriteLine($"device: {gpu.DeviceName} ({device.Name}); attention float32, D = 64, flash tiles {GpuBackend.FlashTiles.QueryRows} x {GpuBackend.FlashTiles.KeyRows}");
        output.WriteLine();
        output.WriteLine("shape                 B  H      N    path     forward ms  fwd+bwd ms  TFLOP/s fwd  TFLOP/s fwd+bwd");
        var figures = new List<(string, double)>();
        var saved = gpu.AttentionKernels;
        try
        {
            foreach (var shape in options.Shapes)
            {
                var times = new Dictionary<string, (double Forward, double Train)>();
                foreach (var path in new[] { AttentionKernels.Flash, AttentionKernels.Gemm })
                {
                    gpu.AttentionKernels = path;
                    var t = Time(shape, device, options);
                    string name = path == AttentionKernels.Flash ? "flash" : "gemm";
                    times[name] = t;
                    Row(output, shape, name, t);
                    figures.Add(($"attention_{shape.Name}_{name}_forward_ms", t.Forward * 1e3));
                    figures.Add(($"attention_{shape.Name}_{name}_train_ms", t.Train * 1e3));
                }
                figures.Add(($"attention_{shape.Name}_forward_gemm_vs_flash", times["gemm"].Forward / times["flash"].Forward));
                figures.Add(($"attention_{shape.Name}_train_gemm_vs_flash", times["gemm"].Train / times["flash"].Train));
                figures.Add(($"attention_{shape.Name}_flash_tflops", shape.ForwardFlops / times["flash"].Forward / 1e12));
                figures.Add(($"attention_{shape.Name}_flash_vs_gemm_max_abs", Agreement(shape, device, gpu)));
                if (options.SkipTorch) continue;
                var torch = TimeTorch(shape, options);
                foreach (var (path, t) in torch.Paths)
                {
                    Row(output, shape, $"torch {path}", t);
                    figures.Add(($"attention_{shape.Name}_torch_{path}_forward_ms", t.Forward * 1e3));
                    figures.Add(($"attention_{shape.Name}_torch_{path}_train_ms", t.Train * 1e3));
                    figures.Add(($"attention_{shape.Name}_forward_torch_{path}_vs_flash", t.Forward / times["flash"].Forward));
                    figures.Add(($"attention_{shape.Name}_train_torch_{path}_vs_flash", t.Train / times["flash"].Train));
                }
                foreach (var note in torch.Notes) output.WriteLine($"  torch: {note}");
            }
        }
        finally
        {
            gpu.AttentionKernels = saved;
        }
        output.WriteLine();
        Measure.Figures(output, figures);
        return figures;
    }

    private static void Row(TextWriter output, AttentionShape s, string path, (double Forward, double Train) t) =>
        output.WriteLine(FormattableString.Invariant(
            $"{s.Name,-20} {s.Batch,2} {s.Heads,2} {s.Tokens,6}    {path,-12} {t.Forward * 1e3,7:0.000} {t.Train * 1e3,11:0.000} {s.ForwardFlops / t.Forward / 1e12,12:0.00} {3.5 * s.ForwardFlops / t.Train / 1e12,16:0.00}"));

    /// <summary>Segment ids of the shape: S contiguous groups per batch entry, or none.</summary>
    private static int[]? SegmentIds(AttentionShape s) =>
        s.Segments <= 0 ? null : [.. Enumerable.Range(0, s.Batch * s.Tokens).Select(i => (int)((long)(i % s.Tokens) * s.Segments / s.Tokens))];

    private static (Tensor Q, Tensor K, Tensor V) Heads(Tensor x)
    {
        Tensor Head(int i) => Ops.Permute(Ops.Squeeze(Ops.Slice(x, 2, i, 1), 2), 0, 2, 1, 3);   // (B, H, N, D) view
        return (Head(0), Head(1), Head(2));
    }

    /// <summary>Median times of attention alone and of attention with its backward pass, under the backend's current path.</summary>
    private static (double Forward, double Train) Time(AttentionShape s, Device device, AttentionBenchOptions options)
    {
        using var scope = TensorScope.Begin();
        var segments = SegmentIds(s);
        var x = Tensor.Randn([s.Batch, s.Tokens, 3, s.Heads, s.HeadDim], seed: 1, device: device).RequireGrad();   // (B, N, 3, H, D)
        var gy = Tensor.Randn([s.Batch, s.Heads, s.Tokens, s.HeadDim], seed: 2, device: device);                    // (B, H, N, D)
        double forward = Measure.Median(() =>
        {
            using var inner = TensorScope.Begin();
            using var _ = Tape.NoGrad();
            var (q, k, v) = Heads(x);
            Ops.Attention(q, k, v, segments);
            device.Backend.Synchronize();
        }, options.Warmup, options.Repeats);
        double train = Measure.Median(() =>
        {
            using var inner = TensorScope.Begin();
            x.Grad = null;
            var (q, k, v) = Heads(x);
            Ops.Attention(q, k, v, segments).Backward(gy);
            device.Backend.Synchronize();
        }, options.Warmup, options.Repeats);
        return (forward, train);
    }

    /// <summary>Largest difference between the flash and the GEMM path on this GPU, over the output and the input gradient.</summary>
    private static double Agreement(AttentionShape s, Device device, GpuBackend gpu)
    {
        using var scope = TensorScope.Begin();
        var segments = SegmentIds(s);
        var x = Tensor.Randn([s.Batch, s.Tokens, 3, s.Heads, s.HeadDim], seed: 3, device: device).RequireGrad();
        var gy = Tensor.Randn([s.Batch, s.Heads, s.Tokens, s.HeadDim], seed: 4, device: device);
        (float[] O, float[] G) Once(AttentionKernels path)
        {
            gpu.AttentionKernels = path;
            x.Grad = null;
            var (q, k, v) = Heads(x);
            var o = Ops.Attention(q, k, v, segments);
            o.Backward(gy);
            return (o.ToArray(), x.Grad!.ToArray());
        }
        var (of, gf) = Once(AttentionKernels.Flash);
        var (og, gg) = Once(AttentionKernels.Gemm);
        double worst = 0;
        for (int i = 0; i < of.Length; i++) worst = Math.Max(worst, Math.Abs(of[i] - og[i]));
        for (int i = 0; i < gf.Length; i++) worst = Math.Max(worst, Math.Abs(gf[i] - gg[i]));
        return double.IsNaN(worst) ? double.PositiveInfinity : worst;
    }

    private sealed record TorchTimes(List<(string Path, (double Forward, double Train) Times)> Paths, List<string> Notes);

    private static TorchTimes TimeTorch(AttentionShape s, AttentionBenchOptions options)
    {
        var script = Path.Combine(EngineBench.FindRepoRoot(), "bench", "torch", "attention.py");
        var json = ReferencePython.RunJson(
        [
            script, "--batch", $"{s.Batch}", "--heads", $"{s.Heads}", "--tokens", $"{s.Tokens}", "--dim", $"{s.HeadDim}",
            "--segments", $"{s.Segments}", "--repeats", $"{options.Repeats}", "--warmup", $"{options.Warmup}", "--device", "cuda",
        ], "the PyTorch side of the attention benchmark failed (is torch with CUDA installed?)").AsObject();
        var paths = new List<(string, (double, double))>();
        var notes = new List<string> { $"{json["version"]} on {json["device"]}" };
        foreach (var path in new[] { "sdpa", "math" })
        {
            if (json[$"{path}_error"] is { } e)
            {
                notes.Add($"{path}: {e}");
                continue;
            }
            paths.Add((path, (json[$"{path}_forward_s"]!.GetValue<double>(), json[$"{path}_train_s"]!.GetValue<double>())));
            if (json[$"{path}_peak_mb"] is { } peak) notes.Add(FormattableString.Invariant($"{path} peak memory {peak.GetValue<double>():0} MiB"));
        }
        return new TorchTimes(paths, notes);
    }
}
