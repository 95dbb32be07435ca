using System.Diagnostics;
using Canter.Models.Blocks;
using Canter.Tensors;
using Canter.Tensors.Autograd;
using Canter.Tensors.IO;
using Canter.Tensors.Tests.Support;

namespace Canter.Models.Tests;

/// <summary>
/// A whole DiT stack (adaLN modulation, QK-norm, rotary attention, MLP) against the PyTorch
/// block of bench/torch/dit.py given the same weights: output and every gradient.
/// PyTorch runs in float64, so the tolerances measure our float32 error alone.
/// </summary>
public sealed class DitBlockParityTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("canter-dit-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void StackMatchesTorchForwardAndBackward()
    {
        var config = new DitConfig(Width: 64, Blocks: 2, Heads: 2);
        int b = 2, f = 3, rows = 2, cols = 4, n = f * rows * cols;
        var stack = new DitStack(config, seed: 5);
        var rope = SpaceTime.VideoGrid(f, rows, cols, config.HeadDim, frameRate: 6.25f);
        var x = Tensor.Randn([b, n, config.Width], seed: 1).RequireGrad();
        var e = Tensor.Randn([b, n, 6, config.Width], seed: 2, std: 0.3f).RequireGrad();
        var gy = Tensor.Randn([b, n, config.Width], seed: 3);

        var y = stack.Forward(x, e, rope);
        y.Backward(gy);

        var feed = new Dictionary<string, Tensor>
        {
            ["x"] = x, ["e"] = e, ["gy"] = gy,
            ["cos"] = Tensor.FromArray(rope.Cos, [n, config.HeadDim / 2]),
            ["sin"] = Tensor.FromArray(rope.Sin, [n, config.HeadDim / 2]),
            ["cfg.width"] = Tensor.Scalar(config.Width), ["cfg.heads"] = Tensor.Scalar(config.Heads), ["cfg.blocks"] = Tensor.Scalar(config.Blocks),
        };
        foreach (var (name, p) in stack.Parameters()) feed["w." + name] = p;
        var input = Path.Combine(_dir, "in.safetensors");
        var output = Path.Combine(_dir, "out.safetensors");
        SafeTensors.Save(input, feed);
        RunTorch(input, output);

        using var expected = SafeTensors.Load(output);
        Check.Close(expected["y"].ToArray(), y.ToArray(), 2e-5f, 2e-4f, "dit y");
        Check.Close(expected["grad.x"].ToArray(), x.Grad!.ToArray(), 5e-5f, 1e-3f, "dit dx");
        Check.Close(expected["grad.e"].ToArray(), e.Grad!.ToArray(), 5e-5f, 1e-3f, "dit de");
        foreach (var (name, p) in stack.Parameters())
        {
            Assert.True(p.Grad is not null, $"no gradient for {name}");
            Check.Close(expected["grad.w." + name].ToArray(), p.Grad!.ToArray(), 1e-4f, 1e-3f, "d/d " + name);
        }
    }

    [Fact]
    public void ForwardUnderNoGradKeepsNoTape()
    {
        var config = new DitConfig(Width: 32, Blocks: 1, Heads: 2);
        var stack = new DitStack(config, seed: 1);
        var rope = SpaceTime.VideoGrid(2, 2, 2, config.HeadDim);
        using var scope = TensorScope.Begin();
        using var _ = Tape.NoGrad();
        int before = Tape.Current.Count;
        var y = stack.Forward(Tensor.Randn([1, 8, 32], 1), Tensor.Randn([1, 8, 6, 32], 2), rope);
        Assert.Equal(before, Tape.Current.Count);
        Assert.All(y.ToArray(), v => Assert.True(float.IsFinite(v)));
    }

    private static void RunTorch(string input, string output)
    {
        var script = Path.Combine(RepoRoot.Path, "bench", "torch", "dit.py");
        var psi = new ProcessStartInfo(TorchReference.PythonExecutable, [script, "parity", input, output])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"dit.py parity failed: {err.Result}");
    }
}
