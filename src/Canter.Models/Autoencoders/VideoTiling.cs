using Canter.Tensors;
using Canter.Tensors.Autograd;

namespace Canter.Models.Autoencoders;

/// <summary>How big a piece the tiled encoder and decoder work on: latent frames and latent pixels per side (context not counted).</summary>
public sealed record TilePlan(int MaxGroups = 8, int MaxLatentSide = 24)
{
    public static TilePlan Default { get; } = new();

    public TilePlan Validate()
    {
        if (MaxGroups < 1 || MaxLatentSide < 1) throw new ArgumentException("tile sizes must be positive");
        return this;
    }
}

/// <summary>
/// Encoding and decoding of any length and size in bounded memory: the clip is cut into pieces of latent frames
/// and latent tiles, each piece is run with enough context (earlier latent frames, neighbouring pixels) to cover
/// the network's reach, and only the piece's own part is kept. Every layer is causal in time and local in space,
/// so the pieces put together equal the one-piece result (tests check it): no seams.
/// </summary>
public sealed partial class VideoAutoencoder
{
    /// <summary>video (B, 3, T, H, W) -> posterior means (B, Z, G, H / s, W / s), in pieces of at most the plan's size.</summary>
    public Tensor EncodeTiled(Tensor video, TilePlan? plan = null)
    {
        plan = (plan ?? TilePlan.Default).Validate();
        var c = Config;
        if (video.Rank != 5 || video.Dim(1) != 3) throw new ArgumentException($"video must be (B, 3, T, H, W); got {video.ShapeString}");
        int b = video.Dim(0), frames = video.Dim(2), height = video.Dim(3), width = video.Dim(4), s = c.SpatialRatio, r = c.TemporalRatio;
        int groups = c.LatentFrames(frames);
        c.CheckSize(width, height);
        int lh = height / s, lw = width / s;
        using var noGrad = Tape.NoGrad();
        var output = Tensor.Empty([b, c.LatentChannels, groups, lh, lw], video.Backend);
        int context = TemporalReach + 1, margin = SpatialReachLatent;
        for (int g0 = 0; g0 < groups; g0 += plan.MaxGroups)
        {
            int g1 = Math.Min(groups, g0 + plan.MaxGroups);
            // a piece starting after group 0 begins with the last frame of the group before it, which it encodes as its "image"
            int a = Math.Max(0, g0 - context);
            int firstFrame = a == 0 ? 0 : r * (a - 1);        // the last frame of group a - 1
            int lastFrame = r * (g1 - 1);                     // last frame of group g1 - 1
            int keepFrom = a == 0 ? g0 : g0 - a + 1;          // local group index of global group g0
            foreach (var (y0, y1, x0, x1) in Tiles(lh, lw, plan.MaxLatentSide))
            {
                int ty0 = Math.Max(0, y0 - margin), ty1 = Math.Min(lh, y1 + margin), tx0 = Math.Max(0, x0 - margin), tx1 = Math.Min(lw, x1 + margin);
                using var scope = TensorScope.Begin();
                var piece = Ops.Slice(Ops.Slice(Ops.Slice(video, 2, firstFrame, lastFrame - firstFrame + 1), 3, ty0 * s, (ty1 - ty0) * s), 4, tx0 * s, (tx1 - tx0) * s);
                var mean = Encode(Ops.Contiguous(piece)).Mean;                                            // (B, Z, g, th, tw)
                var part = Ops.Slice(Ops.Slice(Ops.Slice(mean, 2, keepFrom, g1 - g0), 3, y0 - ty0, y1 - y0), 4, x0 - tx0, x1 - x0);
                var target = Ops.Slice(Ops.Slice(Ops.Slice(output, 2, g0, g1 - g0), 3, y0, y1 - y0), 4, x0, x1 - x0);
                video.Backend.Copy(target, part);
            }
        }
        return output;
    }

    /// <summary>latents (B, Z, G, h, w) -> video (B, 3, 1 + r (G - 1), h s, w s), in pieces of at most the plan's size.</summary>
    public Tensor DecodeTiled(Tensor latents, TilePlan? plan = null)
    {
        plan = (plan ?? TilePlan.Default).Validate();
        var c = Config;
        if (latents.Rank != 5 || latents.Dim(1) != c.LatentChannels)
            throw new ArgumentException($"latents must be (B, {c.LatentChannels}, G, h, w); got {latents.ShapeString}");
        int b = latents.Dim(0), groups = latents.Dim(2), lh = latents.Dim(3), lw = latents.Dim(4), s = c.SpatialRatio, r = c.TemporalRatio;
        using var noGrad = Tape.NoGrad();
        var output = Tensor.Empty([b, 3, c.VideoFrames(groups), lh * s, lw * s], latents.Backend);
        int context = TemporalReach + 1, margin = SpatialReachLatent;
        for (int g0 = 0; g0 < groups; g0 += plan.MaxGroups)
        {
            int g1 = Math.Min(groups, g0 + plan.MaxGroups);
            int a = Math.Max(0, g0 - context);
            // frames of global groups g0..g1-1 inside the piece's output (whose group 0 is one frame)
            int outFirst = g0 == 0 ? 0 : 1 + r * (g0 - 1);
            int outCount = (g0 == 0 ? 1 + r * (g1 - 1) : r * (g1 - g0));
            int localFirst = g0 - a == 0 ? 0 : 1 + r * (g0 - a - 1);
            foreach (var (y0, y1, x0, x1) in Tiles(lh, lw, plan.MaxLatentSide))
            {
                int ty0 = Math.Max(0, y0 - margin), ty1 = Math.Min(lh, y1 + margin), tx0 = Math.Max(0, x0 - margin), tx1 = Math.Min(lw, x1 + margin);
                using var scope = TensorScope.Begin();
                var piece = Ops.Slice(Ops.Slice(Ops.Slice(latents, 2, a, g1 - a), 3, ty0, ty1 - ty0), 4, tx0, tx1 - tx0);
                var video = Decode(Ops.Contiguous(piece));                                                  // (B, 3, t, th s, tw s)
                var part = Ops.Slice(Ops.Slice(Ops.Slice(video, 2, localFirst, outCount), 3, (y0 - ty0) * s, (y1 - y0) * s), 4, (x0 - tx0) * s, (x1 - x0) * s);
                var target = Ops.Slice(Ops.Slice(Ops.Slice(output, 2, outFirst, outCount), 3, y0 * s, (y1 - y0) * s), 4, x0 * s, (x1 - x0) * s);
                latents.Backend.Copy(target, part);
            }
        }
        return output;
    }

    /// <summary>
    /// A plan for a clip of <paramref name="groups"/> latent frames of <paramref name="lh"/> x <paramref name="lw"/>: the
    /// largest piece <paramref name="bound"/> (default <see cref="TilePlan.Default"/>) makes, its latent frames with their
    /// context times its latent pixels with their margins, bounds the memory; a frame smaller than the bound's tile takes
    /// as many more latent frames per piece as fit in it (a 4 s clip at 128x128 is one piece, where the default cuts it
    /// in four and runs the context of three of them twice). Tiles stay the bound's.
    /// </summary>
    public TilePlan PlanFor(int groups, int lh, int lw, TilePlan? bound = null)
    {
        bound = (bound ?? TilePlan.Default).Validate();
        if (groups < 1 || lh < 1 || lw < 1) throw new ArgumentException($"a clip of {groups} latent frames of {lh}x{lw} has nothing to cut");
        int context = TemporalReach + 1, margin = SpatialReachLatent;
        long side = bound.MaxLatentSide + 2L * margin;
        long budget = (bound.MaxGroups + context) * side * side;
        long pieceArea = Math.Min(lh, side) * Math.Min(lw, side);   // a tile with its margins, cut by the frame's edges
        long fit = budget / pieceArea - context;
        return bound with { MaxGroups = (int)Math.Clamp(fit, bound.MaxGroups, Math.Max(bound.MaxGroups, groups)) };
    }

    private static IEnumerable<(int Y0, int Y1, int X0, int X1)> Tiles(int height, int width, int side)
    {
        for (int y = 0; y < height; y += side)
            for (int x = 0; x < width; x += side)
                yield return (y, Math.Min(height, y + side), x, Math.Min(width, x + side));
    }
}
