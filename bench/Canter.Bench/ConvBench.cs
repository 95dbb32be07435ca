using System.Text.Json;
using System.Text.Json.Nodes;
using Canter.Tensors;
using Canter.Tensors.Autograd;

namespace Canter.Bench;

/// <summary>
/// One 3-D convolution of the video autoencoder: input (Batch, Cin, Frames, Height, Width), kernel (Kf, Kh, Kw),
/// causal in time (Kf - 1 zero frames in front), "same" zero padding in space, and a stride.
/// </summary>
public sealed record ConvLayer(string Name, int Batch, int Cin, int Cout, int Frames, int Height, int Width,
    (int F, int H, int W) Kernel, (int F, int H, int W) Stride, bool Fine = false)
{
    public int OutFrames => (Frames - 1) / Stride.F + 1;
    public int OutHeight => (Height + 2 * (Kernel.H / 2) - Kernel.H) / Stride.H + 1;
    public int OutWidth => (Width + 2 * (Kernel.W / 2) - Kernel.W) / Stride.W + 1;

    /// <summary>Multiply-adds of the forward pass times two.</summary>
    public double ForwardFlops => 2.0 * Batch * Cout * OutFrames * OutHeight * OutWidth * Cin * Kernel.F * Kernel.H * Kernel.W;

    public override string ToString() =>
        $"{Cin}->{Cout} k{Kernel.F}x{Kernel.H}x{Kernel.W} s{Stride.F}x{Stride.H}x{Stride.W} at {Frames}x{Height}x{Width}";
}

/// <summary>Settings of <see cref="ConvBench"/>.</summary>
public sealed record ConvBenchOptions(int Threads = 2, int Batch = 8, int Repeats = 5, int Warmup = 3, bool SkipTorch = false)
{
    /// <summary>A faster run with the same layers: batch 2, fewer repeats.</summary>
    public static ConvBenchOptions Quick { get; } = new(Batch: 2, Repeats: 3, Warmup: 3);
}

/// <summary>
/// The convolution benchmark: the video autoencoder's conv layers at their training shapes (default 8x model: patch 4,
/// channels 64/128, 17 frames = 5 latent frames of 64x64 crops) in Canter and in PyTorch's F.conv3d on the same inputs
/// and threads. Forward and forward + backward (data, weight and bias gradients) are timed; the results are checked
/// against PyTorch's. Ratios are our time divided by PyTorch's: below 1 means Canter is faster.
/// </summary>
public static class ConvBench
{
    /// <summary>Largest |ours - torch| accepted for any output or gradient, relative to the largest |torch| value.</summary>
    private const double Tolerance = 1e-4;

    public static IReadOnlyList<ConvLayer> Layers(int batch) =>
    [
        new("conv_in", batch, 192, 64, 5, 16, 16, (1, 3, 3), (1, 1, 1)),
        new("res64_conv1", batch, 64, 64, 5, 16, 16, (3, 3, 3), (1, 1, 1)),
        new("res64_conv2", batch, 64, 64, 5, 16, 16, (1, 3, 3), (1, 1, 1)),
        new("down", batch, 64, 128, 5, 16, 16, (1, 3, 3), (1, 2, 2)),
        new("res128_conv1", batch, 128, 128, 5, 8, 8, (3, 3, 3), (1, 1, 1)),
        new("res128_conv2", batch, 128, 128, 5, 8, 8, (1, 3, 3), (1, 1, 1)),
        new("up", batch, 128, 64, 5, 16, 16, (1, 3, 3), (1, 1, 1)),
        new("conv_out", batch, 64, 192, 5, 16, 16, (1, 3, 3), (1, 1, 1)),
        // the fine decoder stages (--fine-upsamples 2 --fine-channels 48) on the same crops: 17 frames, each on its own;
        // an upsampling conv runs on its input as four phase kernels (SpatialUpsample), so 4 Cout channels at the input's size
        new("fine1_up", batch, 48, 96, 17, 16, 16, (1, 3, 3), (1, 1, 1), Fine: true),
        new("fine1_res", batch, 24, 24, 17, 32, 32, (1, 3, 3), (1, 1, 1), Fine: true),
        new("fine2_up", batch, 24, 48, 17, 32, 32, (1, 3, 3), (1, 1, 1), Fine: true),
        new("fine_out", batch, 12, 3, 17, 64, 64, (1, 3, 3), (1, 1, 1), Fine: true),
    ];

    public static IReadOnlyList<(string Name, double Value)> Run(ConvBenchOptions options, TextWriter output)
    {
        if (options.Threads < 1 || options.Batch < 1 || options.Repeats < 1 || options.Warmup < 0)
            throw new ArgumentException("conv bench: threads, batch and repeats must be at least 1, warmup at least 0");
        Engine.Threads = options.Threads;
        var layers = Layers(options.Batch);
        output.WriteLine($"machine: {Environment.ProcessorCount} cores, engine threads {Engine.Threads}, batch {options.Batch}");
        var dir = Directory.CreateTempSubdirectory("canter-conv-bench-");
        try
        {
            var inputs = layers.Select((l, i) => Inputs.Make(l, (ulong)(10 * i + 1))).ToList();
            for (int i = 0; i < layers.Count; i++) inputs[i].Write(Path.Combine(dir.FullName, layers[i].Name));
            // one untimed pass over every layer first, so that no layer pays for the JIT or first allocations
            for (int i = 0; i < layers.Count; i++) TimeOurs(layers[i], inputs[i], options with { Warmup = 0, Repeats = 1 });
            var ours = layers.Select((l, i) => TimeOurs(l, inputs[i], options)).ToList();
            TorchTimes? torch = options.SkipTorch ? null : TimeTorch(layers, dir.FullName, options);

            output.WriteLine();
            output.WriteLine("layer          shape                                     fwd ms  torch ms   fwd+bwd ms  torch ms   GFLOP/s  max |diff|");
            // geometric means of the ratios: the shipped autoencoder's layers, and the fine stages' apart
            double logForward = 0, logTrain = 0, fineForward = 0, fineTrain = 0, trainFlops = 0, trainSeconds = 0, worst = 0, worstAbs = 0;
            for (int i = 0; i < layers.Count; i++)
            {
                var l = layers[i];
                var (fwd, train) = ours[i];
                trainFlops += 3 * l.ForwardFlops;
                trainSeconds += train;
                string torchFwd = "", torchTrain = "", diff = "";
                if (torch is not null)
                {
                    var (tf, tt) = torch.Layers[l.Name];
                    if (l.Fine)
                    {
                        fineForward += Math.Log(fwd / tf);
                        fineTrain += Math.Log(train / tt);
                    }
                    else
                    {
                        logForward += Math.Log(fwd / tf);
                        logTrain += Math.Log(train / tt);
                    }
                    var (d, abs) = Compare(l, inputs[i], Path.Combine(dir.FullName, l.Name));
                    worst = Math.Max(worst, d);
                    worstAbs = Math.Max(worstAbs, abs);
                    torchFwd = FormattableString.Invariant($"{tf * 1e3:0.00}");
                    torchTrain = FormattableString.Invariant($"{tt * 1e3:0.00}");
                    diff = FormattableString.Invariant($"{abs:0.0E+0}");
                }
                output.WriteLine(FormattableString.Invariant(
                    $"{l.Name,-14} {l,-40} {fwd * 1e3,7:0.00}  {torchFwd,8}   {train * 1e3,10:0.00}  {torchTrain,8}   {3 * l.ForwardFlops / train / 1e9,7:0.0}  {diff}"));
            }
            output.WriteLine(torch is null ? "torch: skipped" : $"torch {torch.Version}, {torch.Threads} threads");
            output.WriteLine("ratios are Canter's time / PyTorch's: below 1 is faster than PyTorch");
            output.WriteLine();
            var figures = new List<(string, double)>();
            if (torch is not null)
            {
                int fine = layers.Count(l => l.Fine), main = layers.Count - fine;
                figures.Add(("conv_forward_vs_torch", Math.Exp(logForward / main)));
                figures.Add(("conv_train_vs_torch", Math.Exp(logTrain / main)));
                figures.Add(("conv_fine_forward_vs_torch", Math.Exp(fineForward / fine)));
                figures.Add(("conv_fine_train_vs_torch", Math.Exp(fineTrain / fine)));
                figures.Add(("conv_max_abs_diff", worstAbs));
                figures.Add(("conv_max_rel_diff", worst));
            }
            figures.Add(("conv_train_ms", trainSeconds * 1e3));
            figures.Add(("conv_train_gflops", trainFlops / trainSeconds / 1e9));
            Measure.Figures(output, figures);
            if (worst > Tolerance)
                throw new InvalidOperationException(FormattableString.Invariant($"conv bench: Canter's results differ from PyTorch's by {worst:E2} (relative), more than {Tolerance:E0}"));
            return figures;
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>The inputs of one layer, as host arrays so both sides read the same numbers.</summary>
    private sealed record Inputs(float[] X, float[] W, float[] B, float[] Gy, int[] XShape, int[] WShape, int[] YShape)
    {
        public static Inputs Make(ConvLayer l, ulong seed)
        {
            int[] xs = [l.Batch, l.Cin, l.Frames, l.Height, l.Width];
            int[] ws = [l.Cout, l.Cin, l.Kernel.F, l.Kernel.H, l.Kernel.W];
            int[] ys = [l.Batch, l.Cout, l.OutFrames, l.OutHeight, l.OutWidth];
            float std = 1f / MathF.Sqrt(l.Cin * l.Kernel.F * l.Kernel.H * l.Kernel.W);
            using var scope = TensorScope.Begin();
            return new Inputs(Tensor.Randn(xs, seed).ToArray(), Tensor.Randn(ws, seed + 1, std).ToArray(), Tensor.Randn([l.Cout], seed + 2, 0.1f).ToArray(),
                Tensor.Randn(ys, seed + 3).ToArray(), xs, ws, ys);
        }

        public void Write(string basePath)
        {
            WriteFloats(basePath + ".x", X);
            WriteFloats(basePath + ".w", W);
            WriteFloats(basePath + ".b", B);
            WriteFloats(basePath + ".gy", Gy);
        }
    }

    private static Tensor Forward(ConvLayer l, Tensor x, Tensor w, Tensor b) =>
        Ops.Conv3d(x, w, b, stride: l.Stride, padding: (l.Kernel.H / 2, l.Kernel.W / 2), causal: true);

    private static (double Forward, double Train) TimeOurs(ConvLayer l, Inputs inputs, ConvBenchOptions options)
    {
        var x = Tensor.FromArray(inputs.X, inputs.XShape).AsParameter();
        var w = Tensor.FromArray(inputs.W, inputs.WShape).AsParameter();
        var b = Tensor.FromArray(inputs.B, [l.Cout]).AsParameter();
        var gy = Tensor.FromArray(inputs.Gy, inputs.YShape);
        try
        {
            double forward = Measure.Median(() =>
            {
                using var scope = TensorScope.Begin();
                using var _ = Tape.NoGrad();
                Forward(l, x, w, b);
            }, options.Warmup, options.Repeats);
            double train = Measure.Median(() =>
            {
                using var scope = TensorScope.Begin();
                x.Grad = w.Grad = b.Grad = null;
                Forward(l, x, w, b).Backward(gy);
            }, options.Warmup, options.Repeats);
            return (forward, train);
        }
        finally
        {
            foreach (var t in new[] { x, w, b, gy }) t.Dispose();
        }
    }

    /// <summary>
    /// Largest |ours - torch| over the output and the three gradients: relative to the largest |torch| value of each,
    /// and absolute.
    /// </summary>
    private static (double Relative, double Absolute) Compare(ConvLayer l, Inputs inputs, string basePath)
    {
        var x = Tensor.FromArray(inputs.X, inputs.XShape).AsParameter();
        var w = Tensor.FromArray(inputs.W, inputs.WShape).AsParameter();
        var b = Tensor.FromArray(inputs.B, [l.Cout]).AsParameter();
        try
        {
            using var scope = TensorScope.Begin();
            var y = Forward(l, x, w, b);
            y.Backward(Tensor.FromArray(inputs.Gy, inputs.YShape));
            double relative = 0, absolute = 0;
            foreach (var (suffix, ours) in new[] { (".y", y), (".dx", x.Grad!), (".dw", w.Grad!), (".db", b.Grad!) })
            {
                var (r, a) = Diff(ours.ToArray(), ReadFloats(basePath + suffix), $"{l.Name}{suffix}");
                relative = Math.Max(relative, r);
                absolute = Math.Max(absolute, a);
            }
            return (relative, absolute);
        }
        finally
        {
            foreach (var t in new[] { x, w, b }) t.Dispose();
        }
    }

    private static (double Relative, double Absolute) Diff(float[] ours, float[] torch, string what)
    {
        if (ours.Length != torch.Length) throw new InvalidOperationException($"conv bench: {what} has {ours.Length} values, PyTorch's {torch.Length}");
        double diff = 0, scale = 1e-12;
        for (int i = 0; i < ours.Length; i++)
        {
            if (!float.IsFinite(ours[i])) throw new InvalidOperationException($"conv bench: {what}[{i}] is {ours[i]}");
            diff = Math.Max(diff, Math.Abs(ours[i] - torch[i]));
            scale = Math.Max(scale, Math.Abs(torch[i]));
        }
        return (diff / scale, diff);
    }

    private static void WriteFloats(string path, float[] values)
    {
        var bytes = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);   // little-endian on every machine .NET runs this on
        File.WriteAllBytes(path, bytes);
    }

    private static float[] ReadFloats(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var values = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, values, 0, values.Length * 4);
        return values;
    }

    private sealed record TorchTimes(string Version, int Threads, IReadOnlyDictionary<string, (double Forward, double Train)> Layers);

    private static TorchTimes TimeTorch(IReadOnlyList<ConvLayer> layers, string dir, ConvBenchOptions options)
    {
        var spec = new JsonArray(layers.Select(l => (JsonNode)new JsonObject
        {
            ["name"] = l.Name, ["batch"] = l.Batch, ["cin"] = l.Cin, ["cout"] = l.Cout,
            ["frames"] = l.Frames, ["height"] = l.Height, ["width"] = l.Width,
            ["kernel"] = new JsonArray(l.Kernel.F, l.Kernel.H, l.Kernel.W),
            ["stride"] = new JsonArray(l.Stride.F, l.Stride.H, l.Stride.W),
        }).ToArray());
        var script = Path.Combine(EngineBench.FindRepoRoot(), "bench", "torch", "conv.py");
        var json = ReferencePython.RunJson(
        [
            script, "--dir", dir, "--layers", spec.ToJsonString(new JsonSerializerOptions { WriteIndented = false }),
            "--threads", $"{options.Threads}", "--repeats", $"{options.Repeats}", "--warmup", $"{options.Warmup}",
        ], "the PyTorch side of the conv benchmark failed (is python3-torch installed?)");
        var times = new Dictionary<string, (double, double)>();
        foreach (var l in layers)
        {
            var node = json["layers"]?[l.Name] ?? throw new InvalidOperationException($"conv bench: PyTorch returned no times for {l.Name}");
            times[l.Name] = (node["forward_s"]!.GetValue<double>(), node["train_s"]!.GetValue<double>());
        }
        return new TorchTimes(json["version"]!.GetValue<string>(), json["threads"]!.GetValue<int>(), times);
    }
}
