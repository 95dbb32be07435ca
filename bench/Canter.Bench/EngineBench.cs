using System.Diagnostics;
using System.Text.Json.Nodes;
using Canter.Models.Blocks;
using Canter.Tensors;
using Canter.Tensors.Autograd;
using Canter.Tensors.Backends.Cpu;
using Canter.Tensors.Cuda;
using Canter.Tensors.Optim;

namespace Canter.Bench;

/// <summary>Settings of <see cref="EngineBench"/>; the defaults are the configuration issue 2 fixes.</summary>
public sealed record EngineBenchOptions(int Threads = 2, int Batch = 4, int Tokens = 1024, int Repeats = 5, int Warmup = 1,
    bool SkipTorch = false, DitConfig? Config = null, string Device = "cpu")
{
    public DitConfig Dit => Config ?? DitConfig.Bench;

    /// <summary>A smaller, faster run for smoke tests (same code paths).</summary>
    public static EngineBenchOptions Quick { get; } = new(Batch: 1, Tokens: 256, Repeats: 3, Warmup: 3, Config: DitConfig.Bench with { Blocks = 2 });
}

/// <summary>
/// The engine benchmark: in one run, on this machine and the same configuration,
/// (a) GEMM through the engine against OpenBLAS called directly, (b) the DiT stack forward and
/// (c) one training step (forward, backward, AdamW) against PyTorch. Ratios are the other
/// system's time divided by ours: above 1 means Canter is faster.
/// </summary>
public static class EngineBench
{
    public static IReadOnlyList<(string Name, double Value)> Run(EngineBenchOptions options, TextWriter output)
    {
        Engine.Threads = options.Threads;
        var config = options.Dit.Validate();
        int b = options.Batch, n = options.Tokens;
        var device = Device.Parse(options.Device);
        if (device.Backend is GpuBackend gpu) return RunGpu(options, config, device, gpu, output);
        output.WriteLine($"machine: {Environment.ProcessorCount} cores, OpenBLAS {OpenBlas.CoreDescription}, engine threads {Engine.Threads}");
        output.WriteLine($"config: width {config.Width}, {config.Blocks} blocks, {config.Heads} heads, batch {b} x {n} tokens");
        var figures = new List<(string, double)>();

        // (a) GEMM: the linear layers of a block at this configuration
        int rows = b * n, c = config.Width, hidden = config.MlpRatio * c;
        (int M, int K, int N)[] shapes = [(rows, c, 3 * c), (rows, c, c), (rows, c, hidden), (rows, hidden, c)];
        double oursTotal = 0, blasTotal = 0;
        output.WriteLine();
        output.WriteLine("GEMM (M x K @ K x N)          ours ms   OpenBLAS ms   GFLOP/s (ours)");
        foreach (var (m, k, nn) in shapes)
        {
            var (ours, blas) = TimeGemm(m, k, nn, options);
            oursTotal += ours;
            blasTotal += blas;
            output.WriteLine(FormattableString.Invariant($"{m,5} x {k,4} @ {k,4} x {nn,4}      {ours * 1e3,8:0.00}   {blas * 1e3,11:0.00}   {2.0 * m * k * nn / ours / 1e9,10:0.0}"));
        }
        figures.Add(("sgemm_vs_openblas", blasTotal / oursTotal));

        // (b, c) DiT stack
        var (forward, step) = TimeDit(options, config);
        double flops = config.ForwardFlops(b, n);
        output.WriteLine();
        output.WriteLine(FormattableString.Invariant($"canter forward    {forward * 1e3,9:0.0} ms  ({flops / forward / 1e9:0.0} GFLOP/s)"));
        output.WriteLine(FormattableString.Invariant($"canter train step {step * 1e3,9:0.0} ms  ({3 * flops / step / 1e9:0.0} GFLOP/s, counting backward as 2x forward)"));
        figures.Add(("forward_ms", forward * 1e3));
        figures.Add(("train_step_ms", step * 1e3));

        if (!options.SkipTorch)
        {
            var torch = TimeTorch(options, config);
            output.WriteLine(FormattableString.Invariant($"torch {torch.Version} forward    {torch.Forward * 1e3,9:0.0} ms"));
            output.WriteLine(FormattableString.Invariant($"torch {torch.Version} train step {torch.Step * 1e3,9:0.0} ms   (torch threads {torch.Threads}, peak RSS {torch.PeakRssMb:0} MB)"));
            figures.Add(("torch_forward_ms", torch.Forward * 1e3));
            figures.Add(("torch_train_step_ms", torch.Step * 1e3));
            figures.Add(("forward_vs_torch", torch.Forward / forward));
            figures.Add(("train_step_vs_torch", torch.Step / step));
            figures.Add(("torch_peak_rss_mb", torch.PeakRssMb));
        }
        figures.Add(("peak_rss_mb", Measure.PeakRssMb()));
        output.WriteLine();
        Measure.Figures(output, figures);
        return figures;
    }

    private static unsafe (double Ours, double Blas) TimeGemm(int m, int k, int n, EngineBenchOptions options)
    {
        using var scope = TensorScope.Begin();
        var x = Tensor.Randn([m, k], seed: 1);
        var w = Tensor.Randn([n, k], seed: 2, std: 0.05f);   // (Out, In) as a linear layer holds it
        var y = Tensor.Empty([m, n]);
        int reps = Math.Max(options.Repeats * 4, 8);
        float* px = ((CpuStorage)x.Storage).Pointer, pw = ((CpuStorage)w.Storage).Pointer, py = ((CpuStorage)y.Storage).Pointer;
        void Ours()
        {
            using var s = TensorScope.Begin();
            using var _ = Tape.NoGrad();
            Ops.Linear(x, w);
        }
        void Direct()
        {
            // the reference is OpenBLAS on its own threads (as many as ours), as a program calling it would run it
            OpenBlas.BeginReferenceThreads(options.Threads);
            try { OpenBlas.Sgemm(OpenBlas.RowMajor, OpenBlas.NoTrans, OpenBlas.Trans, m, n, k, 1f, px, k, pw, k, 0f, py, n); }
            finally { OpenBlas.EndReferenceThreads(); }
        }
        // interleave the two so that both see the same machine state (other load, clock, caches)
        var oursTimes = new List<double>();
        var blasTimes = new List<double>();
        for (int i = 0; i < options.Warmup + 1; i++) { Ours(); Direct(); }
        for (int i = 0; i < reps; i++)
        {
            oursTimes.Add(Measure.Median(Ours, 0, 1));
            blasTimes.Add(Measure.Median(Direct, 0, 1));
        }
        oursTimes.Sort();
        blasTimes.Sort();
        double ours = oursTimes[reps / 2], blas = blasTimes[reps / 2];
        return (ours, blas);
    }

    private static (double Forward, double Step) TimeDit(EngineBenchOptions options, DitConfig config, Device? device = null)
    {
        device ??= Device.Cpu;
        int b = options.Batch, n = options.Tokens;
        var stack = new DitStack(config, seed: 0);
        stack.To(device);
        var (f, r, c) = Grid(n);
        var rope = SpaceTime.VideoGrid(f, r, c, config.HeadDim);
        var x = Tensor.Randn([b, n, config.Width], seed: 1, device: device);
        var e = Tensor.Randn([b, n, 6, config.Width], seed: 2, std: 0.1f, device: device);
        var target = Tensor.Randn([b, n, config.Width], seed: 3, device: device);
        var optimizer = new AdamW(stack.Parameters(), new AdamWOptions(1e-4f, WeightDecay: 0.01f));

        double forward = Measure.Median(() =>
        {
            using var scope = TensorScope.Begin();
            using var _ = Tape.NoGrad();
            stack.Forward(x, e, rope);
            device.Backend.Synchronize();
        }, options.Warmup, options.Repeats);

        double step = Measure.Median(() =>
        {
            using var scope = TensorScope.Begin();
            stack.ZeroGrad();
            var loss = Ops.MeanAll(Ops.Square(Ops.Sub(stack.Forward(x, e, rope), target)));
            loss.Backward();
            optimizer.Step();
            device.Backend.Synchronize();
        }, options.Warmup, options.Repeats);
        return (forward, step);
    }

    /// <summary>The same measurements on a GPU: GEMM against cuBLAS called directly, the DiT stack against PyTorch with CUDA.</summary>
    private static IReadOnlyList<(string Name, double Value)> RunGpu(EngineBenchOptions options, DitConfig config, Device device, GpuBackend gpu, TextWriter output)
    {
        if (!gpu.IsCuda) throw new ArgumentException($"the engine benchmark on a GPU needs --device cuda; '{device.Name}' only emulates the kernels for tests");
        int b = options.Batch, n = options.Tokens;
        double peak = FloatPeakTflops(gpu.DeviceName);
        output.WriteLine($"device: {gpu.DeviceName} ({device.Name}), FP32 peak {peak:0.0} TFLOP/s (no TF32)");
        output.WriteLine($"config: width {config.Width}, {config.Blocks} blocks, {config.Heads} heads, batch {b} x {n} tokens");
        var figures = new List<(string, double)>();
        int rows = b * n, c = config.Width, hidden = config.MlpRatio * c;
        (int M, int K, int N)[] shapes = [(rows, c, 3 * c), (rows, c, c), (rows, c, hidden), (rows, hidden, c), (8192, 8192, 8192)];
        double ours = 0, direct = 0, flops = 0;
        output.WriteLine();
        output.WriteLine("GEMM (M x K @ K x N)          ours ms     cuBLAS ms   TFLOP/s (ours)");
        foreach (var (m, k, nn) in shapes)
        {
            using var scope = TensorScope.Begin();
            var x = Tensor.Randn([m, k], seed: 1, device: device);
            var w = Tensor.Randn([nn, k], seed: 2, std: 0.05f, device: device);
            var y = Tensor.Empty([m, nn], device);
            int reps = Math.Max(options.Repeats * 4, 8);
            double o = Measure.Median(() =>
            {
                using var s = TensorScope.Begin();
                using var _ = Tape.NoGrad();
                Ops.Linear(x, w);
                gpu.Synchronize();
            }, options.Warmup + 2, reps);
            double d = Measure.Median(() => { gpu.DirectSgemmNt(y, x, w); gpu.Synchronize(); }, options.Warmup + 2, reps);
            ours += o;
            direct += d;
            flops += 2.0 * m * k * nn;
            output.WriteLine(FormattableString.Invariant($"{m,5} x {k,4} @ {k,4} x {nn,4}      {o * 1e3,8:0.000}   {d * 1e3,11:0.000}   {2.0 * m * k * nn / o / 1e12,10:0.0}"));
        }
        figures.Add(("sgemm_vs_cublas", direct / ours));
        figures.Add(("gemm_tflops", flops / ours / 1e12));
        figures.Add(("gemm_fraction_of_fp32_peak", flops / ours / 1e12 / peak));

        var (forward, step) = TimeDit(options, config, device);
        double ditFlops = config.ForwardFlops(b, n);
        output.WriteLine();
        output.WriteLine(FormattableString.Invariant($"canter forward    {forward * 1e3,9:0.00} ms  ({ditFlops / forward / 1e12:0.00} TFLOP/s)"));
        output.WriteLine(FormattableString.Invariant($"canter train step {step * 1e3,9:0.00} ms  ({3 * ditFlops / step / 1e12:0.00} TFLOP/s)"));
        figures.Add(("forward_ms", forward * 1e3));
        figures.Add(("train_step_ms", step * 1e3));
        figures.Add(("forward_tflops", ditFlops / forward / 1e12));
        figures.Add(("forward_fraction_of_fp32_peak", ditFlops / forward / 1e12 / peak));
        // the same stack with attention through cuBLAS instead of the flash kernels (CANTER_ATTENTION=gemm)
        var savedAttention = gpu.AttentionKernels;
        gpu.AttentionKernels = AttentionKernels.Gemm;
        var (forwardGemm, stepGemm) = TimeDit(options, config, device);
        gpu.AttentionKernels = savedAttention;
        output.WriteLine(FormattableString.Invariant($"canter forward    {forwardGemm * 1e3,9:0.00} ms  with attention through cuBLAS ({gpu.AttentionKernels} otherwise)"));
        output.WriteLine(FormattableString.Invariant($"canter train step {stepGemm * 1e3,9:0.00} ms  with attention through cuBLAS"));
        figures.Add(("forward_ms_gemm_attention", forwardGemm * 1e3));
        figures.Add(("train_step_ms_gemm_attention", stepGemm * 1e3));
        if (!options.SkipTorch)
        {
            var torch = TimeTorch(options, config, "cuda");
            output.WriteLine(FormattableString.Invariant($"torch {torch.Version} forward    {torch.Forward * 1e3,9:0.00} ms"));
            output.WriteLine(FormattableString.Invariant($"torch {torch.Version} train step {torch.Step * 1e3,9:0.00} ms"));
            figures.Add(("torch_forward_ms", torch.Forward * 1e3));
            figures.Add(("torch_train_step_ms", torch.Step * 1e3));
            figures.Add(("forward_vs_torch", torch.Forward / forward));
            figures.Add(("train_step_vs_torch", torch.Step / step));
        }
        figures.Add(("peak_rss_mb", Measure.PeakRssMb()));
        output.WriteLine();
        Measure.Figures(output, figures);
        return figures;
    }

    /// <summary>FP32 (non-tensor-core) peak of known GPUs in TFLOP/s; NaN when unknown.</summary>
    private static double FloatPeakTflops(string name) =>
        name.Contains("H100", StringComparison.OrdinalIgnoreCase) || name.Contains("H200", StringComparison.OrdinalIgnoreCase) ? 66.9
        : name.Contains("A100", StringComparison.OrdinalIgnoreCase) ? 19.5 : double.NaN;

    /// <summary>A (frames, rows, cols) token grid with the same rule as bench/torch/dit.py.</summary>
    private static (int F, int R, int C) Grid(int tokens) => tokens == 1024 ? (16, 8, 8) : tokens == 256 ? (4, 8, 8) : (tokens, 1, 1);

    private sealed record TorchTimes(double Forward, double Step, int Threads, string Version, double PeakRssMb);

    private static TorchTimes TimeTorch(EngineBenchOptions options, DitConfig config, string device = "cpu")
    {
        var script = Path.Combine(FindRepoRoot(), "bench", "torch", "dit.py");
        var json = ReferencePython.RunJson(
        [
            script, "time", "--width", $"{config.Width}", "--blocks", $"{config.Blocks}", "--heads", $"{config.Heads}",
            "--batch", $"{options.Batch}", "--tokens", $"{options.Tokens}", "--threads", $"{options.Threads}",
            "--repeats", $"{options.Repeats}", "--warmup", $"{options.Warmup}", "--device", device,
        ], "the PyTorch side of the benchmark failed (is python3-torch installed?)");
        return new TorchTimes(json["forward_s"]!.GetValue<double>(), json["train_step_s"]!.GetValue<double>(),
            json["threads"]!.GetValue<int>(), json["version"]!.GetValue<string>(), json["peak_rss_mb"]!.GetValue<double>());
    }

    /// <summary>The repository root (the folder with Canter.sln), from the working directory or the binaries.</summary>
    public static string FindRepoRoot()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            var dir = new DirectoryInfo(start);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Canter.sln"))) dir = dir.Parent;
            if (dir is not null) return dir.FullName;
        }
        var env = Environment.GetEnvironmentVariable("CANTER_ROOT");
        if (!string.IsNullOrEmpty(env)) return env;
        throw new InvalidOperationException("Cannot find the Canter repository (Canter.sln); run from inside it or set CANTER_ROOT.");
    }
}
