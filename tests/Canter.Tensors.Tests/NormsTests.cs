using Canter.Tensors.Tests.Support;

namespace Canter.Tensors.Tests;

public class NormsTests
{
    [Theory]
    [InlineData(64)]
    [InlineData(37)] // not a multiple of the vector width: exercises the tails
    public void LayerNormMatchesTorch(int c)
    {
        var x = Tensor.Randn([2, 33, c], seed: 1, std: 2f);
        var w = Tensor.Randn([c], seed: 2);
        var b = Tensor.Randn([c], seed: 3);
        Check.Parity("layer_norm", t => Ops.LayerNorm(t[0], t[1], t[2]), [("x", x), ("w", w), ("b", b)], atol: 1e-5f, gradAtol: 1e-4f);
        Check.Gradients(t => Ops.LayerNorm(t[0], t[1], t[2]), [Tensor.Randn([3, 5], 4), Tensor.Randn([5], 5), Tensor.Randn([5], 6)], what: "layer_norm");
    }

    [Fact]
    public void LayerNormWithoutAffineMatchesTorch()
    {
        var x = Tensor.Randn([4, 19], seed: 7);
        Check.Parity("layer_norm", t => Ops.LayerNorm(t[0], null, null), [("x", x)]);
    }

    [Fact]
    public void ModulatedLayerNormPerTokenMatchesTorch()
    {
        // shift and scale are strided slices of a (B, N, 6, C) modulation, as in the DiT block
        var x = Tensor.Randn([2, 9, 40], seed: 8);
        var mod = Tensor.Randn([2, 9, 6, 40], seed: 9, std: 0.5f);
        var shift = Ops.Squeeze(Ops.Slice(mod, 2, 0, 1), 2);
        var scale = Ops.Squeeze(Ops.Slice(mod, 2, 1, 1), 2);
        Assert.False(shift.IsContiguous);
        var expected = TorchReference.Instance.Run("modulated_layer_norm",
            new Dictionary<string, Tensor> { ["x"] = x, ["shift"] = Ops.Contiguous(shift), ["scale"] = Ops.Contiguous(scale) });
        Check.Close(expected["y"], Ops.ModulatedLayerNorm(x, shift, scale).ToArray(), 1e-5f, 1e-4f, "modulated forward (strided)");
        Check.Parity("modulated_layer_norm", t => Ops.ModulatedLayerNorm(t[0], t[1], t[2]),
            [("x", x), ("shift", Ops.Contiguous(shift)), ("scale", Ops.Contiguous(scale))], atol: 1e-5f);
        Check.Gradients(t => Ops.ModulatedLayerNorm(t[0], t[1], t[2]),
            [Tensor.Randn([2, 3, 6], 10), Tensor.Randn([2, 3, 6], 11), Tensor.Randn([2, 3, 6], 12)], what: "modulated_layer_norm");
    }

    [Fact]
    public void ModulatedLayerNormPerSampleBroadcasts()
    {
        var x = Tensor.Randn([3, 7, 16], seed: 13);
        var shift = Tensor.Randn([3, 1, 16], seed: 14);
        var scale = Tensor.Randn([3, 1, 16], seed: 15);
        Check.Parity("modulated_layer_norm", t => Ops.ModulatedLayerNorm(t[0], t[1], t[2]), [("x", x), ("shift", shift), ("scale", scale)], atol: 1e-5f);
    }

    [Fact]
    public void RmsNormMatchesTorchOnStridedHeads()
    {
        // q sliced out of a (B, N, 3, H, D) projection: rows are strided
        var qkv = Tensor.Randn([2, 5, 3, 4, 16], seed: 16);
        var q = Ops.Squeeze(Ops.Slice(qkv, 2, 0, 1), 2);   // (B, N, H, D) view
        var w = Tensor.Randn([16], seed: 17);
        var expected = TorchReference.Instance.Run("rms_norm", new Dictionary<string, Tensor> { ["x"] = Ops.Contiguous(q), ["w"] = w });
        Check.Close(expected["y"], Ops.RmsNorm(q, w).ToArray(), 1e-5f, 1e-4f, "rms_norm strided");
        Check.Parity("rms_norm", t => Ops.RmsNorm(t[0], t[1]), [("x", Ops.Contiguous(q)), ("w", w)], atol: 1e-5f);
        Check.Gradients(t => Ops.RmsNorm(t[0], t[1]), [Tensor.Randn([4, 7], 18), Tensor.Randn([7], 19)], what: "rms_norm");
    }

    [Theory]
    [InlineData(2, 6, 3, 5, 7)]
    [InlineData(1, 40, 2, 33, 31)]     // more than one block of positions per item, and a tail
    public void ChannelRmsNormMatchesTorch(int b, int c, int f, int h, int w)
    {
        var x = Tensor.Randn([b, c, f, h, w], seed: 20, std: 2f);
        var weight = Tensor.Randn([c], seed: 21);
        Check.Parity("channel_rms_norm", t => Ops.ChannelRmsNorm(t[0], t[1]), [("x", x), ("w", weight)], atol: 1e-5f, gradAtol: 1e-4f);
        Check.Parity("channel_rms_norm", t => Ops.ChannelRmsNorm(t[0], null), [("x", x)], atol: 1e-5f, gradAtol: 1e-4f);
        Check.Gradients(t => Ops.ChannelRmsNorm(t[0], t[1]), [Tensor.Randn([2, 3, 4], 22), Tensor.Randn([3], 23)], what: "channel_rms_norm");
        // a strided input (channels sliced out of a wider map) reads as its contiguous copy
        var wide = Tensor.Randn([b, c + 2, f, h, w], seed: 24);
        var slice = Ops.Slice(wide, 1, 1, c);
        Check.Close(Ops.ChannelRmsNorm(Ops.Contiguous(slice), weight).ToArray(), Ops.ChannelRmsNorm(slice, weight).ToArray(), 0f, 0f, "channel_rms_norm strided");
    }

    [Fact]
    public void NormErrorsNameTheShapes()
    {
        var x = Tensor.Zeros([2, 3, 8]);
        var e = Assert.Throws<ArgumentException>(() => Ops.ModulatedLayerNorm(x, Tensor.Zeros([2, 3, 4]), Tensor.Zeros([2, 3, 8])));
        Assert.Contains("(2, 3, 4)", e.Message);
        Assert.Throws<ArgumentException>(() => Ops.LayerNorm(x, Tensor.Zeros([7]), null));
    }
}

public class ActivationsTests
{
    [Theory]
    [InlineData("gelu_tanh")]
    [InlineData("gelu_exact")]
    [InlineData("silu")]
    public void ActivationsMatchTorch(string op)
    {
        var x = Tensor.Randn([3, 1031], seed: 20, std: 3f);
        Func<Tensor[], Tensor> f = op switch
        {
            "gelu_tanh" => t => Ops.Gelu(t[0], approximate: true),
            "gelu_exact" => t => Ops.Gelu(t[0], approximate: false),
            _ => t => Ops.Silu(t[0]),
        };
        Check.Parity(op, f, [("x", x)], atol: 2e-6f, rtol: 1e-5f, gradAtol: 2e-6f, gradRtol: 1e-4f);
        Check.Gradients(f, [Tensor.Randn([2, 9], 21, std: 2f)], what: op);
    }

    [Fact]
    public void TanhGeluSaturatesWithoutOverflowAtAnyMagnitude()
    {
        float[] xs = [-1e30f, -1e4f, -100f, -10f, -0f, 0f, 1e-30f, 10f, 100f, 1e4f, 1e30f, float.PositiveInfinity];   // -inf gives NaN, as the formula (and PyTorch) does
        var y = Ops.Gelu(Tensor.FromArray(xs, [xs.Length]), approximate: true).ToArray();
        for (int i = 0; i < xs.Length; i++)
        {
            double want = float.IsPositiveInfinity(xs[i]) ? double.PositiveInfinity : 0.5 * xs[i] * (1 + Math.Tanh(0.7978845608028654 * (xs[i] + 0.044715 * Math.Pow(xs[i], 3))));
            if (double.IsNaN(want)) want = xs[i] > 0 ? xs[i] : 0;   // x^3 overflows a double past 1e102: GELU is x or 0 there
            Assert.True(want == y[i] || Math.Abs(y[i] - want) <= 1e-6 * Math.Abs(want) + 1e-30, $"gelu({xs[i]:R}) = {y[i]:R}, expected {want:R}");
        }
    }

    [Fact]
    public void ErfIsAccurate()
    {
        // reference values of erf from tables (Abramowitz and Stegun, table 7.1)
        (double x, double erf)[] table = [(0.1, 0.1124629160), (0.5, 0.5204998778), (1.0, 0.8427007929), (2.0, 0.9953222650), (-1.5, -0.9661051465)];
        foreach (var (x, erf) in table)
            Assert.True(Math.Abs(Backends.Cpu.CpuBackend.Erf((float)x) - erf) < 2e-7, $"erf({x})");
    }
}

public class SoftmaxTests
{
    [Theory]
    [InlineData(-1)]
    [InlineData(1)]
    public void SoftmaxAndLogSoftmaxMatchTorch(int axis)
    {
        var x = Tensor.Randn([4, 6, 45], seed: 22, std: 4f);
        Check.Parity("softmax", t => Ops.Softmax(t[0], axis), [("x", x)], new { axis }, atol: 1e-6f, gradAtol: 1e-5f);
        Check.Parity("log_softmax", t => Ops.LogSoftmax(t[0], axis), [("x", x)], new { axis }, atol: 1e-5f, gradAtol: 1e-5f);
        Check.Gradients(t => Ops.Softmax(t[0], axis), [Tensor.Randn([2, 3, 5], 23)], what: "softmax");
        Check.Gradients(t => Ops.LogSoftmax(t[0], axis), [Tensor.Randn([2, 3, 5], 24)], what: "log_softmax");
    }

    [Fact]
    public void SoftmaxIsStableForLargeLogits()
    {
        var x = Tensor.FromArray([1000f, 1001f, 999f], [1, 3]);
        var y = Ops.Softmax(x).ToArray();
        Assert.All(y, v => Assert.True(float.IsFinite(v)));
        Assert.Equal(1f, y.Sum(), 5);
    }
}
