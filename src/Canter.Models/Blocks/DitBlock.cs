using Canter.Tensors;
using Canter.Tensors.Nn;

namespace Canter.Models.Blocks;

/// <summary>
/// Self-attention with QK-RMSNorm and rotary positions: x (B, N, C) -> (B, N, C).
/// Heads read a (B, N, 3, H, D) projection without a copy; the fused attention kernel never
/// holds a full (N x N) score matrix.
/// </summary>
public sealed class SelfAttention : Module
{
    private readonly DitConfig _config;

    public SelfAttention(DitConfig config, ulong seed)
    {
        _config = config;
        Qkv = RegisterModule("qkv", new Linear(config.Width, 3 * config.Width, bias: true, seed: seed));
        QNorm = RegisterParameter("q_norm", Tensor.Ones([config.HeadDim]));
        KNorm = RegisterParameter("k_norm", Tensor.Ones([config.HeadDim]));
        Out = RegisterModule("out", new Linear(config.Width, config.Width, bias: true, seed: seed + 1));
    }

    public Linear Qkv { get; }
    public Tensor QNorm { get; }
    public Tensor KNorm { get; }
    public Linear Out { get; }

    /// <param name="segments">(B * N) attention groups or null: a token attends only to tokens of its group.</param>
    public Tensor Forward(Tensor x, RopeTable rope, int[]? segments = null)
    {
        int b = x.Dim(0), n = x.Dim(1), h = _config.Heads, d = _config.HeadDim;
        var qkv = Ops.Reshape(Qkv.Forward(x), b, n, 3, h, d);              // (B, N, 3, H, D)
        var parts = Ops.Split(qkv, 2, 1, 1, 1);
        var q = Ops.Reshape(parts[0], b, n, h, d);                          // (B, N, H, D)
        var k = Ops.Reshape(parts[1], b, n, h, d);                          // (B, N, H, D)
        var v = Ops.Permute(Ops.Reshape(parts[2], b, n, h, d), 0, 2, 1, 3); // (B, H, N, D) view
        q = Ops.Permute(Ops.Rope(Ops.RmsNorm(q, QNorm, _config.NormEps), rope), 0, 2, 1, 3); // (B, H, N, D)
        k = Ops.Permute(Ops.Rope(Ops.RmsNorm(k, KNorm, _config.NormEps), rope), 0, 2, 1, 3); // (B, H, N, D)
        var o = Ops.Attention(q, k, v, segments);                                     // (B, H, N, D)
        var merged = Ops.Reshape(Ops.Permute(o, 0, 2, 1, 3), b, n, h * d);  // (B, N, C)
        return Out.Forward(merged);
    }
}

/// <summary>The feed-forward half of a block: Linear, GELU (tanh), Linear.</summary>
public sealed class Mlp : Module
{
    public Mlp(DitConfig config, ulong seed)
    {
        Fc1 = RegisterModule("fc1", new Linear(config.Width, config.MlpRatio * config.Width, bias: true, seed: seed));
        Fc2 = RegisterModule("fc2", new Linear(config.MlpRatio * config.Width, config.Width, bias: true, seed: seed + 1));
    }

    public Linear Fc1 { get; }
    public Linear Fc2 { get; }

    public Tensor Forward(Tensor x) => Fc2.Forward(Ops.Gelu(Fc1.Forward(x), approximate: true));
}

/// <summary>
/// One DiT block with per-token adaLN modulation. Every token carries its own flow time, so
/// shift, scale and gate are per token: the stack computes e (B, N, 6, C) once from the
/// time embedding and each block adds its learned table (6, C):
/// <code>
/// x = x + gate1 * Attention(LN(x) * (1 + scale1) + shift1)
/// x = x + gate2 * Mlp(LN(x) * (1 + scale2) + shift2)
/// </code>
/// </summary>
public sealed class DitBlock : Module
{
    private readonly DitConfig _config;

    public DitBlock(DitConfig config, ulong seed)
    {
        _config = config.Validate();
        Table = RegisterParameter("table", Tensor.Randn([6, config.Width], seed, std: 0.02f));
        Attention = RegisterModule("attn", new SelfAttention(config, seed + 10));
        Mlp = RegisterModule("mlp", new Mlp(config, seed + 20));
    }

    /// <summary>Learned per-block offsets of the six modulation vectors, (6, C).</summary>
    public Tensor Table { get; }
    public SelfAttention Attention { get; }
    public Mlp Mlp { get; }

    /// <param name="x">(B, N, C) tokens.</param>
    /// <param name="e">(B, N, 6, C) per-token modulation from the time embedding.</param>
    /// <param name="rope">rotary tables of the sequence's positions.</param>
    public Tensor Forward(Tensor x, Tensor e, RopeTable rope, int[]? segments = null)
    {
        var mod = Ops.Add(e, Table);                                         // (B, N, 6, C)
        var m = Ops.Split(mod, 2, 1, 1, 1, 1, 1, 1);                          // six (B, N, 1, C) views
        var shift1 = Ops.Squeeze(m[0], 2);
        var scale1 = Ops.Squeeze(m[1], 2);
        var gate1 = Ops.Squeeze(m[2], 2);
        var shift2 = Ops.Squeeze(m[3], 2);
        var scale2 = Ops.Squeeze(m[4], 2);
        var gate2 = Ops.Squeeze(m[5], 2);

        var h = Ops.ModulatedLayerNorm(x, shift1, scale1, _config.NormEps); // (B, N, C)
        x = Ops.Add(x, Ops.Mul(gate1, Attention.Forward(h, rope, segments)));
        h = Ops.ModulatedLayerNorm(x, shift2, scale2, _config.NormEps);
        return Ops.Add(x, Ops.Mul(gate2, Mlp.Forward(h)));
    }
}

/// <summary>A stack of <see cref="DitBlock"/>s sharing one modulation input and one rotary table.</summary>
public sealed class DitStack : Module
{
    public DitStack(DitConfig config, ulong seed)
    {
        Config = config.Validate();
        Blocks = new DitBlock[config.Blocks];
        for (int i = 0; i < config.Blocks; i++)
            Blocks[i] = RegisterModule($"blocks.{i}", new DitBlock(config, seed + (ulong)(1000 * i)));
    }

    public DitConfig Config { get; }
    public DitBlock[] Blocks { get; }

    /// <summary>x (B, N, C), e (B, N, 6, C) -> (B, N, C).</summary>
    public Tensor Forward(Tensor x, Tensor e, RopeTable rope)
    {
        foreach (var block in Blocks) x = block.Forward(x, e, rope);
        return x;
    }

    /// <summary>As <see cref="Forward"/>, with attention restricted to tokens of the same group (segments (B * N)).</summary>
    public Tensor ForwardMasked(Tensor x, Tensor e, RopeTable rope, int[] segments)
    {
        foreach (var block in Blocks) x = block.Forward(x, e, rope, segments);
        return x;
    }
}
