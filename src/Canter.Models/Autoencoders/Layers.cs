using Canter.Tensors;
using Canter.Tensors.Nn;

namespace Canter.Models.Autoencoders;

/// <summary>A layer with one input and one output, so a stack of them is a list.</summary>
public interface ILayer
{
    Tensor Forward(Tensor x);
}

/// <summary>
/// A causal 3-D convolution: x (B, Cin, F, H, W) -> (B, Cout, F / sf, H / sh, W / sw). In time it pads
/// Kf - 1 copies of the first frame in front, so output frame t sees input frames up to t and a clip's
/// first frame is convolved as if it were a still image. Space is padded symmetrically with zeros.
/// Initialised like PyTorch (uniform within ±1/sqrt(fan_in)) from a seed.
/// </summary>
public sealed class CausalConv3d : Module, ILayer
{
    private readonly (int F, int H, int W) _stride;
    private readonly (int H, int W) _padding;

    public CausalConv3d(int inChannels, int outChannels, (int F, int H, int W) kernel, ulong seed, (int F, int H, int W)? stride = null, float initScale = 1f)
    {
        if (inChannels <= 0 || outChannels <= 0) throw new ArgumentException($"conv channels must be positive: {inChannels} -> {outChannels}");
        _stride = stride ?? (1, 1, 1);
        _padding = (kernel.H / 2, kernel.W / 2);
        float bound = initScale / MathF.Sqrt(inChannels * kernel.F * kernel.H * kernel.W);
        Weight = RegisterParameter("weight", Tensor.Rand([outChannels, inChannels, kernel.F, kernel.H, kernel.W], seed * 2 + 1, -bound, bound));
        Bias = RegisterParameter("bias", Tensor.Zeros([outChannels]));
    }

    /// <summary>(Cout, Cin, Kf, Kh, Kw).</summary>
    public Tensor Weight { get; }

    /// <summary>(Cout).</summary>
    public Tensor Bias { get; }

    public Tensor Forward(Tensor x) =>
        Ops.Conv3d(x, Weight, Bias, _stride, _padding, causal: true, timePadding: TimePadding.Replicate);
}

/// <summary>
/// Nearest 2x upsampling in space, then a 1x3x3 conv: (B, Cin, F, H, W) -> (B, Cout, F, 2H, 2W). Computed without the
/// upsampled tensor: an output pixel (2i + a, 2j + b) reads input rows i + floor((a + ky - 1) / 2), so each of the four
/// phases (a, b) is a 3x3 conv of the input itself whose taps are sums of the kernel's (<see cref="PhaseWeights"/>);
/// one conv gives the four phases as 4 Cout channels and a pixel shuffle interleaves them. The same numbers (up to
/// rounding) and gradients as upsampling first, with a quarter of the column buffer and no 4x copy of the input.
/// </summary>
public sealed class SpatialUpsample : Module, ILayer
{
    public SpatialUpsample(int inChannels, int outChannels, ulong seed)
    {
        Conv = RegisterModule("conv", new CausalConv3d(inChannels, outChannels, (1, 3, 3), seed));
    }

    public CausalConv3d Conv { get; }

    public Tensor Forward(Tensor x)
    {
        if (x.Rank != 5) throw new ArgumentException($"spatial upsample input must be (B, C, F, H, W); got {x.ShapeString}");
        int b = x.Dim(0), f = x.Dim(2), h = x.Dim(3), w = x.Dim(4), cout = Conv.Weight.Dim(0);
        var phases = Ops.Conv3d(x, PhaseWeights(Conv.Weight), PhaseBias(Conv.Bias), padding: (1, 1), causal: true,
            timePadding: TimePadding.Replicate);                                                  // (B, 2 2 Cout, F, H, W)
        var y = Ops.Reshape(phases, b, 2, 2, cout, f, h, w);                                      // (B, a, b, Cout, F, H, W)
        y = Ops.Contiguous(Ops.Permute(y, 0, 3, 4, 5, 1, 6, 2));                                  // (B, Cout, F, H, a, W, b)
        return Ops.Reshape(y, b, cout, f, 2 * h, 2 * w);                                          // (B, Cout, F, 2H, 2W)
    }

    /// <summary>
    /// Kernel (Cout, Cin, 1, 3, 3) -> the four phases' kernels over the input, (2 2 Cout, Cin, 1, 3, 3): phase (a, b)'s
    /// tap (u, v) sums the taps (ky, kx) with floor((a + ky - 1) / 2) = u - 1 and floor((b + kx - 1) / 2) = v - 1.
    /// </summary>
    public static Tensor PhaseWeights(Tensor weight)
    {
        int cout = weight.Dim(0), cin = weight.Dim(1);
        if (weight.Rank != 5 || weight.Dim(2) != 1 || weight.Dim(3) != 3 || weight.Dim(4) != 3)
            throw new ArgumentException($"a spatial upsample's kernel must be (Cout, Cin, 1, 3, 3); got {weight.ShapeString}");
        var taps = Tensor.FromArray(PhaseTaps, [9, 4 * 9], weight.Backend);                      // (9, 4 * 9)
        var mixed = Ops.MatMul(Ops.Reshape(weight, cout * cin, 9), taps);                        // (Cout Cin, 4 * 9)
        var perPhase = Ops.Contiguous(Ops.Permute(Ops.Reshape(mixed, cout, cin, 4, 9), 2, 0, 1, 3)); // (4, Cout, Cin, 9)
        return Ops.Reshape(perPhase, 4 * cout, cin, 1, 3, 3);                                     // (4 Cout, Cin, 1, 3, 3)
    }

    private static Tensor PhaseBias(Tensor bias) =>
        Ops.Reshape(Ops.BroadcastTo(Ops.Reshape(bias, 1, bias.Dim(0)), 4, bias.Dim(0)), 4 * bias.Dim(0)); // (4 Cout)

    /// <summary>(9, 4 * 9): row ky * 3 + kx, column (a * 2 + b) * 9 + u * 3 + v; 1 where that tap lands on that phase tap.</summary>
    private static readonly float[] PhaseTaps = BuildPhaseTaps();

    private static float[] BuildPhaseTaps()
    {
        var m = new float[9 * 36];
        for (int a = 0; a < 2; a++)
            for (int bb = 0; bb < 2; bb++)
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++)
                    {
                        int u = (int)Math.Floor((a + ky - 1) / 2.0) + 1, v = (int)Math.Floor((bb + kx - 1) / 2.0) + 1;
                        m[(ky * 3 + kx) * 36 + (a * 2 + bb) * 9 + u * 3 + v] = 1f;
                    }
        return m;
    }
}

/// <summary>Nearest upsampling in time by an integer factor, then a 1-D conv of 7 taps: (B, Cin, T) -> (B, Cout, T f).</summary>
public sealed class TimeUpsample : Module, ILayer
{
    private readonly int _factor;

    public TimeUpsample(int inChannels, int outChannels, int factor, ulong seed)
    {
        _factor = factor;
        Conv = RegisterModule("conv", new Conv1dLayer(inChannels, outChannels, 7, seed));
    }

    public Conv1dLayer Conv { get; }

    public Tensor Forward(Tensor x) => Conv.Forward(Ops.Upsample1dNearest(x, _factor));
}

/// <summary>A 1-D convolution with symmetric zero padding ("same" length for stride 1): x (B, Cin, T) -> (B, Cout, T / stride).</summary>
public sealed class Conv1dLayer : Module, ILayer
{
    private readonly int _stride;
    private readonly int _kernel;

    public Conv1dLayer(int inChannels, int outChannels, int kernel, ulong seed, int stride = 1, float initScale = 1f)
    {
        if (inChannels <= 0 || outChannels <= 0) throw new ArgumentException($"conv channels must be positive: {inChannels} -> {outChannels}");
        if (kernel % 2 == 0 && kernel != stride) throw new ArgumentException("an even 1-D kernel must equal its stride");
        _stride = stride;
        _kernel = kernel;
        float bound = initScale / MathF.Sqrt(inChannels * kernel);
        Weight = RegisterParameter("weight", Tensor.Rand([outChannels, inChannels, kernel], seed * 2 + 1, -bound, bound));
        Bias = RegisterParameter("bias", Tensor.Zeros([outChannels]));
    }

    /// <summary>(Cout, Cin, K).</summary>
    public Tensor Weight { get; }

    /// <summary>(Cout).</summary>
    public Tensor Bias { get; }

    public Tensor Forward(Tensor x)
    {
        int pad = _kernel == _stride ? 0 : _kernel / 2;
        return Ops.Conv1d(x, Weight, Bias, _stride, pad, pad);
    }
}

/// <summary>
/// RMS normalisation over channels at every position: x (B, C, ...) -> same shape. It looks at one
/// position only, so it is causal in time and gives the same result on a tile as on the whole frame.
/// </summary>
public sealed class ChannelRmsNorm : Module
{
    public ChannelRmsNorm(int channels)
    {
        Weight = RegisterParameter("weight", Tensor.Ones([channels]));
    }

    /// <summary>(C).</summary>
    public Tensor Weight { get; }

    public Tensor Forward(Tensor x) => Ops.ChannelRmsNorm(x, Weight, 1e-6f);          // (B, C, ...)
}

/// <summary>Norm, SiLU, causal 3x3x3 (or 1x3x3) conv, norm, SiLU, 1x3x3 conv, plus the input (1x1x1 conv when channels change). (B, Cin, F, H, W) -> (B, Cout, F, H, W).</summary>
public sealed class ResBlock3d : Module, ILayer
{
    /// <param name="timeKernel">Taps in time of the first conv: 3 (two frames back) or 1 (each frame on its own).</param>
    public ResBlock3d(int inChannels, int outChannels, ulong seed, int timeKernel = 3)
    {
        if (timeKernel is not (1 or 3)) throw new ArgumentException($"a residual block's time kernel is 1 or 3, not {timeKernel}");
        Norm1 = RegisterModule("norm1", new ChannelRmsNorm(inChannels));
        Conv1 = RegisterModule("conv1", new CausalConv3d(inChannels, outChannels, (timeKernel, 3, 3), seed));
        Norm2 = RegisterModule("norm2", new ChannelRmsNorm(outChannels));
        Conv2 = RegisterModule("conv2", new CausalConv3d(outChannels, outChannels, (1, 3, 3), seed + 1, initScale: 0.1f));
        if (inChannels != outChannels) Skip = RegisterModule("skip", new CausalConv3d(inChannels, outChannels, (1, 1, 1), seed + 2));
    }

    public ChannelRmsNorm Norm1 { get; }
    public CausalConv3d Conv1 { get; }
    public ChannelRmsNorm Norm2 { get; }
    public CausalConv3d Conv2 { get; }
    public CausalConv3d? Skip { get; }

    public Tensor Forward(Tensor x)
    {
        var h = Conv1.Forward(Ops.Silu(Norm1.Forward(x)));
        h = Conv2.Forward(Ops.Silu(Norm2.Forward(h)));
        return Ops.Add(Skip is null ? x : Skip.Forward(x), h);
    }
}

/// <summary>The 1-D counterpart of <see cref="ResBlock3d"/>, with a dilation-free kernel of 7 then 1. (B, C, T) -> (B, C, T).</summary>
public sealed class ResBlock1d : Module, ILayer
{
    public ResBlock1d(int channels, ulong seed)
    {
        Norm1 = RegisterModule("norm1", new ChannelRmsNorm(channels));
        Conv1 = RegisterModule("conv1", new Conv1dLayer(channels, channels, 7, seed));
        Norm2 = RegisterModule("norm2", new ChannelRmsNorm(channels));
        Conv2 = RegisterModule("conv2", new Conv1dLayer(channels, channels, 1, seed + 1, initScale: 0.1f));
    }

    public ChannelRmsNorm Norm1 { get; }
    public Conv1dLayer Conv1 { get; }
    public ChannelRmsNorm Norm2 { get; }
    public Conv1dLayer Conv2 { get; }

    public Tensor Forward(Tensor x)
    {
        var h = Conv1.Forward(Ops.Silu(Norm1.Forward(x)));
        h = Conv2.Forward(Ops.Silu(Norm2.Forward(h)));
        return Ops.Add(x, h);
    }
}

/// <summary>The Gaussian posterior a VAE encoder predicts: mean and log-variance, each (B, C, ...).</summary>
public sealed record LatentDistribution(Tensor Mean, Tensor LogVar)
{
    /// <summary>Splits an encoder output (B, 2C, ...) into mean and clamped log-variance.</summary>
    public static LatentDistribution FromMoments(Tensor moments)
    {
        int c = moments.Dim(1) / 2;
        var parts = Ops.Split(moments, 1, c, c);
        var logVar = Ops.Maximum(Ops.Minimum(parts[1], ScalarOn(8f, moments.Backend)), ScalarOn(-20f, moments.Backend));
        return new LatentDistribution(parts[0], logVar);
    }

    private static Tensor ScalarOn(float value, IBackend backend)
    {
        var t = Tensor.Empty([], backend);
        backend.Fill(t, value);
        return t;
    }

    /// <summary>mean + exp(logvar / 2) * noise, with noise from <paramref name="seed"/>.</summary>
    public Tensor Sample(ulong seed)
    {
        var host = new float[Mean.Count];
        Canter.Tensors.Rng.Philox.FillNormal(host, seed, 0, 1f);
        var noise = Tensor.FromArray(host, Mean.Shape, Mean.Backend);
        return Ops.Add(Mean, Ops.Mul(Ops.Exp(Ops.Scale(LogVar, 0.5f)), noise));
    }

    /// <summary>KL divergence to N(0, 1), averaged over elements: mean(0.5 (mu^2 + var - 1 - logvar)).</summary>
    public Tensor KlMean() =>
        Ops.Scale(Ops.MeanAll(Ops.Sub(Ops.Add(Ops.Square(Mean), Ops.Exp(LogVar)), Ops.AddScalar(LogVar, 1f))), 0.5f);
}
