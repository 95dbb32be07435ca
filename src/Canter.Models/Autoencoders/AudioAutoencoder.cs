using System.Text.Json.Serialization;
using Canter.Tensors;
using Canter.Tensors.Nn;

namespace Canter.Models.Autoencoders;

/// <summary>
/// Sizes of the audio autoencoder over mono waveform. <see cref="Patch"/> samples are folded into channels,
/// then each stride divides the rate again: latent rate = sample rate / (patch * product of strides).
/// The default: 24 kHz, 20 * 5 * 5 = 500 samples a latent, 48 latents a second, 8 per video latent frame at 24 fps / 4.
/// </summary>
public sealed record AudioAutoencoderConfig(
    int SampleRate = 24000,
    int Patch = 20,
    int[]? Strides = null,
    int[]? Channels = null,
    int BlocksPerLevel = 1,
    int LatentChannels = 16)
{
    public static AudioAutoencoderConfig Default { get; } = new();

    [JsonIgnore]
    public int[] StrideList => Strides ?? [5, 5];

    [JsonIgnore]
    public int[] ChannelList => Channels ?? [96, 160, 192];

    /// <summary>Waveform samples per latent frame.</summary>
    [JsonIgnore]
    public int Hop => Patch * StrideList.Aggregate(1, (a, b) => a * b);

    [JsonIgnore]
    public double LatentRate => (double)SampleRate / Hop;

    public AudioAutoencoderConfig Validate()
    {
        if (SampleRate is < 8000 or > 96000) throw new ArgumentException($"sample rate {SampleRate} must be in [8000, 96000]");
        if (Patch < 1 || Patch > 256) throw new ArgumentException($"patch {Patch} must be in [1, 256]");
        if (StrideList.Any(s => s < 2 || s > 16)) throw new ArgumentException("strides must be in [2, 16]");
        if (ChannelList.Length != StrideList.Length + 1) throw new ArgumentException($"{StrideList.Length} strides need {StrideList.Length + 1} channel counts");
        if (ChannelList.Any(c => c < 8) || LatentChannels < 1) throw new ArgumentException("autoencoder channels are too small");
        if (BlocksPerLevel < 0 || BlocksPerLevel > 4) throw new ArgumentException($"blocks per level {BlocksPerLevel} must be in [0, 4]");
        return this;
    }

    /// <summary>Latent frames for a waveform of <paramref name="samples"/> samples (padded up to whole hops).</summary>
    public int LatentFrames(int samples) => (samples + Hop - 1) / Hop;
}

/// <summary>
/// 1-D convolutional VAE over mono waveform in [-1, 1]: (B, 1, L) -> latents (B, Z, L / hop) -> (B, 1, L).
/// Norms are per position, so decoding in overlapping pieces gives the same samples as in one piece.
/// </summary>
public sealed class AudioAutoencoder : Module
{
    private readonly List<ILayer> _encoderBody = [];
    private readonly List<ILayer> _decoderBody = [];

    public AudioAutoencoder(AudioAutoencoderConfig config, ulong seed = 0)
    {
        Config = config.Validate();
        var ch = config.ChannelList;
        var strides = config.StrideList;
        ulong s = seed * 1000 + 7;
        EncIn = RegisterModule("encoder.conv_in", new Conv1dLayer(config.Patch, ch[0], 7, s++));
        for (int level = 0; level <= strides.Length; level++)
        {
            if (level > 0)
                _encoderBody.Add(RegisterModule($"encoder.down{level}", new Conv1dLayer(ch[level - 1], ch[level], strides[level - 1], s++, stride: strides[level - 1])));
            for (int i = 0; i < config.BlocksPerLevel; i++)
                _encoderBody.Add(RegisterModule($"encoder.level{level}.block{i}", new ResBlock1d(ch[level], s += 2)));
        }
        int top = ch[^1];
        EncNorm = RegisterModule("encoder.norm_out", new ChannelRmsNorm(top));
        EncOut = RegisterModule("encoder.conv_out", new Conv1dLayer(top, 2 * config.LatentChannels, 3, s++));

        DecIn = RegisterModule("decoder.conv_in", new Conv1dLayer(config.LatentChannels, top, 3, s++));
        for (int level = strides.Length; level >= 0; level--)
        {
            for (int i = 0; i < config.BlocksPerLevel; i++)
                _decoderBody.Add(RegisterModule($"decoder.level{level}.block{i}", new ResBlock1d(ch[level], s += 2)));
            if (level > 0)
                _decoderBody.Add(RegisterModule($"decoder.up{level}", new TimeUpsample(ch[level], ch[level - 1], strides[level - 1], s++)));
        }
        DecNorm = RegisterModule("decoder.norm_out", new ChannelRmsNorm(ch[0]));
        DecOut = RegisterModule("decoder.conv_out", new Conv1dLayer(ch[0], config.Patch, 7, s++));
    }

    public AudioAutoencoderConfig Config { get; }
    public Conv1dLayer EncIn { get; }
    public ChannelRmsNorm EncNorm { get; }
    public Conv1dLayer EncOut { get; }
    public Conv1dLayer DecIn { get; }
    public ChannelRmsNorm DecNorm { get; }
    public Conv1dLayer DecOut { get; }

    /// <summary>waveform (B, 1, L), L a multiple of the hop -> posterior over latents (B, Z, L / hop).</summary>
    public LatentDistribution Encode(Tensor waveform)
    {
        if (waveform.Rank != 3 || waveform.Dim(1) != 1) throw new ArgumentException($"waveform must be (B, 1, L); got {waveform.ShapeString}");
        int b = waveform.Dim(0), len = waveform.Dim(2), p = Config.Patch;
        if (len == 0 || len % Config.Hop != 0) throw new ArgumentException($"waveform length {len} must be a positive multiple of {Config.Hop} samples");
        var x = Ops.Reshape(Ops.Contiguous(waveform), b, len / p, p);       // (B, L/p, p)
        x = Ops.Contiguous(Ops.Transpose(x, 1, 2));                          // (B, p, L/p)
        var h = EncIn.Forward(x);
        foreach (var m in _encoderBody) h = m.Forward(h);
        h = EncOut.Forward(Ops.Silu(EncNorm.Forward(h)));                    // (B, 2Z, L/hop)
        return LatentDistribution.FromMoments(h);
    }

    /// <summary>latents (B, Z, n) -> waveform (B, 1, n hop).</summary>
    public Tensor Decode(Tensor latents)
    {
        if (latents.Rank != 3 || latents.Dim(1) != Config.LatentChannels)
            throw new ArgumentException($"latents must be (B, {Config.LatentChannels}, n); got {latents.ShapeString}");
        int b = latents.Dim(0);
        var h = DecIn.Forward(latents);
        foreach (var m in _decoderBody) h = m.Forward(h);
        h = DecOut.Forward(Ops.Silu(DecNorm.Forward(h)));                    // (B, p, L/p)
        int frames = h.Dim(2);
        var x = Ops.Contiguous(Ops.Transpose(h, 1, 2));                      // (B, L/p, p)
        return Ops.Reshape(x, b, 1, frames * Config.Patch);                  // (B, 1, L)
    }
}
