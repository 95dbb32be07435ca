using System.Text.Json.Serialization;
using Canter.Tensors;
using Canter.Tensors.Nn;

namespace Canter.Models.Autoencoders;

/// <summary>
/// Sizes of the causal video autoencoder. Frames enter as RGB in [-1, 1]; a clip of 1 + r k frames
/// (r = <see cref="TemporalRatio"/>) becomes 1 + k latent frames of <see cref="LatentChannels"/> channels at
/// 1 / <see cref="SpatialRatio"/> of the size. The first frame is its own latent frame.
/// </summary>
public sealed record VideoAutoencoderConfig(
    int PatchSize = 4,
    int TemporalRatio = 4,
    int Channels = 64,
    int InnerChannels = 128,
    int Downsamples = 1,
    int BlocksPerLevel = 1,
    int LatentChannels = 16,
    int FineUpsamples = 0,
    int FineChannels = 32)
{
    /// <summary>The default model's autoencoder: 8x in space, 4x in time, 16 channels.</summary>
    public static VideoAutoencoderConfig Default { get; } = new();

    [JsonIgnore]
    public int SpatialRatio => PatchSize << Downsamples;

    /// <summary>Channels after folding r frames and p x p pixels of RGB into one position.</summary>
    [JsonIgnore]
    public int FoldedChannels => 3 * TemporalRatio * PatchSize * PatchSize;

    /// <summary>
    /// Pixels per side that the decoder's last convolution folds into channels: p without fine stages, p / 2^n with
    /// <see cref="FineUpsamples"/> = n (1 when the fine stages reach full size).
    /// </summary>
    [JsonIgnore]
    public int OutputPatch => PatchSize >> FineUpsamples;

    /// <summary>Channels of fine stage <paramref name="stage"/> (0: the frames as the time unfold gives them): halved at each stage, at least 8.</summary>
    public int FineChannelsAt(int stage) => Math.Max(8, FineChannels >> stage);

    public VideoAutoencoderConfig Validate()
    {
        if (PatchSize < 1 || PatchSize > 16) throw new ArgumentException($"patch size {PatchSize} must be in [1, 16]");
        if (TemporalRatio < 1 || TemporalRatio > 8) throw new ArgumentException($"temporal ratio {TemporalRatio} must be in [1, 8]");
        if (Downsamples < 0 || Downsamples > 3) throw new ArgumentException($"downsamples {Downsamples} must be in [0, 3]");
        if (Channels < 8 || InnerChannels < 8 || LatentChannels < 1) throw new ArgumentException("autoencoder channels are too small");
        if (BlocksPerLevel < 0 || BlocksPerLevel > 4) throw new ArgumentException($"blocks per level {BlocksPerLevel} must be in [0, 4]");
        if (FineUpsamples < 0 || (PatchSize >> FineUpsamples) << FineUpsamples != PatchSize)
            throw new ArgumentException($"fine upsamples {FineUpsamples} must be in [0, {System.Numerics.BitOperations.TrailingZeroCount(PatchSize)}]: each doubles the size, up to the patch size {PatchSize}");
        if (FineUpsamples > 0 && (FineChannels < 8 || FineChannels > 256)) throw new ArgumentException($"fine channels {FineChannels} must be in [8, 256]");
        return this;
    }

    /// <summary>Latent frames for <paramref name="frames"/> video frames (which must be 1 + r k).</summary>
    public int LatentFrames(int frames)
    {
        if (frames < 1 || (frames - 1) % TemporalRatio != 0)
            throw new ArgumentException($"a clip must have 1 + {TemporalRatio} k frames; {frames} frames do not fit");
        return 1 + (frames - 1) / TemporalRatio;
    }

    /// <summary>Video frames that <paramref name="latentFrames"/> latent frames decode to.</summary>
    public int VideoFrames(int latentFrames) => 1 + (latentFrames - 1) * TemporalRatio;

    /// <summary>Checks that a frame size can be encoded: both sides multiples of the spatial ratio.</summary>
    public void CheckSize(int width, int height)
    {
        if (width < SpatialRatio || height < SpatialRatio || width % SpatialRatio != 0 || height % SpatialRatio != 0)
            throw new ArgumentException($"frame size {width}x{height} must be a positive multiple of {SpatialRatio} on both sides");
    }
}

/// <summary>
/// Causal 3-D convolutional VAE for video. Encoder: copies of the first frame pad the clip to whole
/// groups of r frames, each group of r frames and p x p pixels is folded into channels, then causal
/// 3x3x3 convolutions with residual blocks and strided spatial downsampling predict a Gaussian
/// latent (time is mixed only inside residual blocks, see <see cref="TemporalReach"/>). The decoder mirrors it and unfolds the channels back into frames. Every operation looks
/// only at earlier frames and at a bounded neighbourhood (norms are per position), so the first
/// frame's latent is that of the image alone, and encoding or decoding in overlapping tiles gives
/// the same numbers as in one piece.
/// </summary>
public sealed partial class VideoAutoencoder : Module
{
    public VideoAutoencoder(VideoAutoencoderConfig config, ulong seed = 0)
    {
        Config = config.Validate();
        var c = config;
        ulong s = seed * 1000 + 1;
        EncIn = RegisterModule("encoder.conv_in", new CausalConv3d(c.FoldedChannels, c.Channels, (1, 3, 3), s++));
        var enc = new List<ILayer>();
        int ch = c.Channels;
        for (int level = 0; level <= c.Downsamples; level++)
        {
            if (level > 0)
            {
                var down = new CausalConv3d(ch, c.InnerChannels, (1, 3, 3), s++, stride: (1, 2, 2));
                enc.Add(RegisterModule($"encoder.down{level}", down));
                ch = c.InnerChannels;
            }
            for (int i = 0; i < c.BlocksPerLevel; i++) enc.Add(RegisterModule($"encoder.level{level}.block{i}", new ResBlock3d(ch, ch, s += 3)));
        }
        _encoderBody = enc;
        EncNorm = RegisterModule("encoder.norm_out", new ChannelRmsNorm(ch));
        EncOut = RegisterModule("encoder.conv_out", new CausalConv3d(ch, 2 * c.LatentChannels, (1, 3, 3), s++));

        DecIn = RegisterModule("decoder.conv_in", new CausalConv3d(c.LatentChannels, ch, (1, 3, 3), s++));
        var dec = new List<ILayer>();
        for (int level = c.Downsamples; level >= 0; level--)
        {
            for (int i = 0; i < c.BlocksPerLevel; i++) dec.Add(RegisterModule($"decoder.level{level}.block{i}", new ResBlock3d(ch, ch, s += 3)));
            if (level > 0)
            {
                int next = level - 1 == 0 ? c.Channels : c.InnerChannels;
                dec.Add(RegisterModule($"decoder.up{level}", new SpatialUpsample(ch, next, s++)));
                ch = next;
            }
        }
        _decoderBody = dec;
        DecNorm = RegisterModule("decoder.norm_out", new ChannelRmsNorm(ch));
        int outChannels = c.FineUpsamples == 0 ? c.FoldedChannels : c.TemporalRatio * c.FineChannelsAt(0);
        DecOut = RegisterModule("decoder.conv_out", new CausalConv3d(ch, outChannels, (1, 3, 3), s++));

        // fine stages: each frame on its own, doubled in size by a convolution at the new size, with a residual block
        // at every size but the last, so edges and small patterns are drawn at (nearly) full resolution
        var fine = new List<ILayer>();
        for (int k = 1; k <= c.FineUpsamples; k++)
        {
            int cin = c.FineChannelsAt(k - 1), cout = c.FineChannelsAt(k);
            fine.Add(RegisterModule($"decoder.fine{k}.up", new SpatialUpsample(cin, cout, s++)));
            if (k < c.FineUpsamples) fine.Add(RegisterModule($"decoder.fine{k}.block", new ResBlock3d(cout, cout, s += 3, timeKernel: 1)));
        }
        _fineBody = fine;
        if (c.FineUpsamples > 0)
        {
            int last = c.FineChannelsAt(c.FineUpsamples), q = c.OutputPatch;
            FineNorm = RegisterModule("decoder.fine_norm", new ChannelRmsNorm(last));
            FineOut = RegisterModule("decoder.fine_out", new CausalConv3d(last, 3 * q * q, (1, 3, 3), s++));
        }
    }

    private readonly List<ILayer> _encoderBody;
    private readonly List<ILayer> _decoderBody;
    private readonly List<ILayer> _fineBody;

    public VideoAutoencoderConfig Config { get; }
    public CausalConv3d EncIn { get; }
    public ChannelRmsNorm EncNorm { get; }
    public CausalConv3d EncOut { get; }
    public CausalConv3d DecIn { get; }
    public ChannelRmsNorm DecNorm { get; }
    public CausalConv3d DecOut { get; }
    public ChannelRmsNorm? FineNorm { get; }
    public CausalConv3d? FineOut { get; }

    /// <summary>
    /// Latent frames of look-back of the encoder or the decoder: only the first conv of each residual block mixes time
    /// (3 taps, two frames back), so the reach stays short and training windows longer than it show the network every
    /// kind of history it meets on long clips.
    /// </summary>
    public int TemporalReach => 2 * Config.BlocksPerLevel * (Config.Downsamples + 1);

    /// <summary>
    /// Latent pixels on each side that an output position of the encoder or decoder depends on (one more for safety):
    /// every 3x3 conv at a level reaches one position of that level, 2^(level - D) latent pixels.
    /// </summary>
    public int SpatialReachLatent
    {
        get
        {
            int d = Config.Downsamples, b = Config.BlocksPerLevel;
            double reach = Math.Pow(2, -d) + 1;                                 // conv at full rate, conv at latent rate
            for (int level = 0; level <= d; level++) reach += 2 * b * Math.Pow(2, level - d);
            for (int level = 1; level <= d; level++) reach += Math.Pow(2, level - 1 - d);
            // fine stage k works on pixels of (p >> k) / s latent pixels: its upsampling conv, its block's two convs
            // (not at the last stage), and the last stage's output conv
            int n = Config.FineUpsamples;
            double s = Config.SpatialRatio;
            for (int k = 1; k <= n; k++) reach += (k < n ? 3 : 2) * (Config.PatchSize >> k) / s;
            return (int)Math.Ceiling(reach) + 1;
        }
    }

    /// <summary>video (B, 3, T, H, W) in [-1, 1], T = 1 + r k -> posterior over latents (B, Z, 1 + k, H / s, W / s).</summary>
    public LatentDistribution Encode(Tensor video)
    {
        var c = Config;
        if (video.Rank != 5 || video.Dim(1) != 3) throw new ArgumentException($"video must be (B, 3, T, H, W); got {video.ShapeString}");
        int b = video.Dim(0), t = video.Dim(2), hgt = video.Dim(3), wid = video.Dim(4);
        int groups = c.LatentFrames(t);
        c.CheckSize(wid, hgt);
        int r = c.TemporalRatio, p = c.PatchSize;
        var padded = video;
        if (r > 1)
        {
            var first = Ops.BroadcastTo(Ops.Slice(video, 2, 0, 1), b, 3, r - 1, hgt, wid);   // (B, 3, r-1, H, W)
            padded = Ops.Concat([first, video], 2);                                             // (B, 3, r G, H, W)
        }
        var x = Ops.Reshape(Ops.Contiguous(padded), b * 3, groups, r, hgt / p, p, wid / p, p);      // (B*3, G, r, H/p, p, W/p, p)
        x = Ops.Contiguous(Ops.Permute(x, 0, 2, 4, 6, 1, 3, 5));                                  // (B*3, r, p, p, G, H/p, W/p)
        x = Ops.Reshape(x, b, c.FoldedChannels, groups, hgt / p, wid / p);                        // (B, 3 r p p, G, H/p, W/p)
        var h = EncIn.Forward(x);
        foreach (var m in _encoderBody) h = m.Forward(h);
        h = EncOut.Forward(Ops.Silu(EncNorm.Forward(h)));                                          // (B, 2Z, G, H/s, W/s)
        return LatentDistribution.FromMoments(h);
    }

    /// <summary>latents (B, Z, G, h, w) -> video (B, 3, 1 + r (G - 1), h s, w s), roughly in [-1, 1].</summary>
    public Tensor Decode(Tensor latents)
    {
        var c = Config;
        if (latents.Rank != 5 || latents.Dim(1) != c.LatentChannels)
            throw new ArgumentException($"latents must be (B, {c.LatentChannels}, G, h, w); got {latents.ShapeString}");
        int b = latents.Dim(0), groups = latents.Dim(2);
        var h = DecIn.Forward(latents);
        foreach (var m in _decoderBody) h = m.Forward(h);
        h = DecOut.Forward(Ops.Silu(DecNorm.Forward(h)));                                        // (B, 3 r p p, G, H/p, W/p) or (B, r F, G, H/p, W/p)
        if (c.FineUpsamples > 0) return DecodeFine(h);
        int r = c.TemporalRatio, p = c.PatchSize, hp = h.Dim(3), wp = h.Dim(4);
        var x = Ops.Reshape(h, b * 3, r, p, p, groups, hp, wp);                                    // (B*3, r, p, p, G, H/p, W/p)
        x = Ops.Contiguous(Ops.Permute(x, 0, 4, 1, 5, 2, 6, 3));                                  // (B*3, G, r, H/p, p, W/p, p)
        x = Ops.Reshape(x, b, 3, groups * r, hp * p, wp * p);                                      // (B, 3, r G, H, W)
        return r > 1 ? Ops.Slice(x, 2, r - 1, c.VideoFrames(groups)) : x;                         // (B, 3, T, H, W)
    }

    /// <summary>
    /// The fine stages: h (B, r F, G, H/p, W/p), each latent frame's r frames of F channels side by side, is unfolded in
    /// time (the r - 1 frames in front of the first are dropped before any work), then each frame is doubled in size
    /// per stage and its last q x q pixels unfolded: -> (B, 3, T, H, W).
    /// </summary>
    private Tensor DecodeFine(Tensor h)
    {
        var c = Config;
        int b = h.Dim(0), groups = h.Dim(2), hp = h.Dim(3), wp = h.Dim(4);
        int r = c.TemporalRatio, f = c.FineChannelsAt(0), q = c.OutputPatch, frames = c.VideoFrames(groups);
        var x = Ops.Reshape(h, b, r, f, groups, hp, wp);                                          // (B, r, F, G, H/p, W/p): channels are r-major
        x = Ops.Reshape(Ops.Contiguous(Ops.Permute(x, 0, 2, 3, 1, 4, 5)), b, f, groups * r, hp, wp); // (B, F, G r, H/p, W/p)
        if (r > 1) x = Ops.Contiguous(Ops.Slice(x, 2, r - 1, frames));                           // (B, F, T, H/p, W/p)
        foreach (var m in _fineBody) x = m.Forward(x);                                            // (B, F_n, T, H/q, W/q)
        x = FineOut!.Forward(Ops.Silu(FineNorm!.Forward(x)));                                     // (B, 3 q q, T, H/q, W/q)
        if (q == 1) return x;                                                                     // (B, 3, T, H, W)
        int hq = x.Dim(3), wq = x.Dim(4);
        x = Ops.Reshape(x, b, 3, q, q, frames, hq, wq);                                           // (B, 3, q, q, T, H/q, W/q)
        x = Ops.Contiguous(Ops.Permute(x, 0, 1, 4, 5, 2, 6, 3));                                  // (B, 3, T, H/q, q, W/q, q)
        return Ops.Reshape(x, b, 3, frames, hq * q, wq * q);                                      // (B, 3, T, H, W)
    }
}
