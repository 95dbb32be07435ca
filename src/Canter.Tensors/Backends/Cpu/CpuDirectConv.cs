using System.Buffers;
using System.Runtime.Intrinsics;

namespace Canter.Tensors.Backends.Cpu;

/// <summary>
/// Direct convolution for the stride-1 convolutions of the video autoencoders with "same" zero padding in space (Kf x Kh
/// x Kw, any zero padding in time): for each (batch item, output frame) the Kf input frames it reads are copied once
/// into zero-bordered planes, (Cin, Kf) of them, and 4 output channels x 2 vectors of pixels are accumulated in
/// registers over every plane and tap. The column path copies every input value Kf Kh Kw times into a buffer larger
/// than the caches and, with few channels, runs thin GEMMs over it; this one reads the planes from cache. Each output
/// element is one sum in a fixed order (input channel, time tap, kernel row, kernel column), so the result does not
/// depend on the thread count.
/// </summary>
internal static unsafe class CpuDirectConv
{
    /// <summary>Output channels per register block.</summary>
    private const int Block = 4;

    /// <summary>Whether convolutions that qualify take this path; settable so that tests compare it with the column path.</summary>
    internal static bool Enabled { get; set; } = true;

    /// <summary>
    /// Whether a convolution of this geometry and size runs here: odd Kh and Kw, stride and dilation 1, "same" padding
    /// in space (any in time), rows of at least one vector (rows of one go two at a time), and planes within
    /// <see cref="PlaneBudget"/>. Measured on 2 AVX-512 cores (3x3 kernels, 25 or 97 frames): 24 -> 24 channels at
    /// 64x64 46 -> 142 GFLOP/s, 12 -> 3 at 128x128 6 -> 68, 64 -> 64 at 32x32 93 -> 158, 64 -> 192 at 32x32 121 -> 116
    /// (even); at 16x16 with one row at a time the column path won (129 against 43 for 128 -> 128), with two rows at a
    /// time this path is level or ahead (3x3x3 128 -> 128: 47 -> 60, beside a training run).
    /// </summary>
    public static bool Applies(ConvGeometry g, int cin, int height, int width)
    {
        if (!Enabled || width < Lanes) return false;
        // the planes one output frame reads are at most 16 MiB (a thread's; the column path's buffer is 32 MiB)
        if ((long)cin * g.Kernel[0] * (height + g.Kernel[1] - 1) * (width + g.Kernel[2] - 1) > PlaneBudget) return false;
        for (int i = 0; i < 3; i++)
            if (g.Stride[i] != 1 || g.Dilation[i] != 1) return false;
        return g.Kernel[1] % 2 == 1 && g.PadBefore[1] == g.Kernel[1] / 2 && g.PadAfter[1] == g.Kernel[1] / 2
            && g.Kernel[2] % 2 == 1 && g.PadBefore[2] == g.Kernel[2] / 2 && g.PadAfter[2] == g.Kernel[2] / 2;
    }

    /// <summary>Floats per vector of the kernels in use (16 with AVX-512, see <see cref="CpuPanelGemm.Wide"/>).</summary>
    private static int Lanes => CpuPanelGemm.Wide ? 16 : 8;

    /// <summary>Largest set of planes, in floats.</summary>
    private const long PlaneBudget = 4 << 20;

    /// <summary>
    /// y (B, Cout, Fo, H, W) = conv(x (B, Cin, F, H, W), w (Cout, Cin, Kf, Kh, Kw)) with <paramref name="padFront"/> zero
    /// frames in front (Fo = F + padFront + padBack - Kf + 1), for a geometry that <see cref="Applies"/>.
    /// </summary>
    public static void Forward(float* y, float* x, float* w, int batch, int cin, int cout, int frames, int outFrames, int padFront,
        int h, int wd, int kf, int kh, int kw)
    {
        int ph = kh / 2, pw = kw / 2, hp = h + 2 * ph, wp = wd + 2 * pw, blocks = (cout + Block - 1) / Block, planes = cin * kf;
        long frame = (long)h * wd, taps = (long)planes * kh * kw;
        bool pairs = wd < 2 * Lanes;                                  // rows of one vector go two rows at a time (the last alone when H is odd)
        // weights as (blocks, Cin, Kf, Kh, Kw, 4): a tap's 4 output channels side by side, zero past Cout
        var packed = new float[blocks * taps * Block];
        for (int co = 0; co < cout; co++)
            for (long t = 0; t < taps; t++)
                packed[(co / Block * taps + t) * Block + co % Block] = w[co * taps + t];
        fixed (float* pk = packed)
        {
            float* weights = pk;
            CpuParallel.For(batch * outFrames, 2L * cout * taps * frame, (i0, i1) =>
            {
                var buffer = ArrayPool<float>.Shared.Rent(planes * hp * wp);
                try
                {
                    fixed (float* plane = buffer)
                        for (int i = i0; i < i1; i++)
                        {
                            int b = i / outFrames, f = i % outFrames;
                            // plane (c, k) is input frame f - padFront + k of channel c, or zeros outside the clip
                            for (int c = 0; c < cin; c++)
                                for (int k = 0; k < kf; k++)
                                {
                                    int source = f - padFront + k;
                                    float* dst = plane + (long)(c * kf + k) * hp * wp;
                                    if ((uint)source >= (uint)frames) new Span<float>(dst, hp * wp).Clear();
                                    else Pad(dst, x + (((long)b * cin + c) * frames + source) * frame, h, wd, ph, pw);
                                }
                            float* output = y + ((long)b * cout * outFrames + f) * frame;
                            long channelStride = (long)outFrames * frame;
                            for (int blk = 0; blk < blocks; blk++)
                            {
                                int count = Math.Min(Block, cout - blk * Block);
                                float* wb = weights + blk * taps * Block;
                                float* yb = output + blk * Block * channelStride;
                                for (int row = 0; row < h; row += pairs && row + 1 < h ? 2 : 1)
                                {
                                    bool pair = pairs && row + 1 < h;
                                    if (CpuPanelGemm.Wide)
                                        Row<Lanes16, Vector512<float>>(plane, planes, hp, wp, kh, kw, wb, row, wd, yb + (long)row * wd, channelStride, count, pair);
                                    else
                                        Row<Lanes8, Vector256<float>>(plane, planes, hp, wp, kh, kw, wb, row, wd, yb + (long)row * wd, channelStride, count, pair);
                                }
                            }
                        }
                }
                finally
                {
                    ArrayPool<float>.Shared.Return(buffer);
                }
            });
        }
    }

    /// <summary>dst (H + 2 ph, W + 2 pw) = one frame (H, W) of one channel with a zero border.</summary>
    private static void Pad(float* dst, float* src, int h, int wd, int ph, int pw)
    {
        int wp = wd + 2 * pw;
        new Span<float>(dst, ph * wp).Clear();
        new Span<float>(dst + (long)(ph + h) * wp, ph * wp).Clear();
        for (int r = 0; r < h; r++)
        {
            float* d = dst + (long)(ph + r) * wp;
            for (int k = 0; k < pw; k++)
            {
                d[k] = 0f;
                d[pw + wd + k] = 0f;
            }
            new ReadOnlySpan<float>(src + (long)r * wd, wd).CopyTo(new Span<float>(d + pw, wd));
        }
    }

    /// <summary>
    /// One output row of up to 4 output channels (row pointer <paramref name="y"/>, channel stride <paramref name="ys"/>)
    /// from the padded planes (<paramref name="cin"/> of them: input channel and time tap): two vectors of pixels at a
    /// time, then one, then single pixels.
    /// </summary>
    private static void Row<TL, TV>(float* plane, int cin, int hp, int wp, int kh, int kw, float* wb, int row, int width, float* y, long ys, int count,
        bool pair)
        where TL : ILanes<TV> where TV : struct
    {
        // the second vector: the next v pixels of the row, or (rows of one vector) the same pixels of the next row
        int v = TL.Count, x0 = 0, step = pair ? v : 2 * v;
        long second = pair ? wp : v, secondOut = pair ? width : v;
        for (; x0 + step <= width; x0 += step)
        {
            TV a0 = TL.Zero, a1 = TL.Zero, a2 = TL.Zero, a3 = TL.Zero, b0 = TL.Zero, b1 = TL.Zero, b2 = TL.Zero, b3 = TL.Zero;
            float* k = wb;
            for (int c = 0; c < cin; c++)
                for (int dy = 0; dy < kh; dy++)
                {
                    float* src = plane + ((long)c * hp + row + dy) * wp + x0;
                    for (int dx = 0; dx < kw; dx++, k += Block)
                    {
                        TV p = TL.Load(src + dx), q = TL.Load(src + dx + second);
                        TV w0 = TL.Broadcast(k[0]), w1 = TL.Broadcast(k[1]), w2 = TL.Broadcast(k[2]), w3 = TL.Broadcast(k[3]);
                        a0 = TL.FusedMultiplyAdd(w0, p, a0);
                        b0 = TL.FusedMultiplyAdd(w0, q, b0);
                        a1 = TL.FusedMultiplyAdd(w1, p, a1);
                        b1 = TL.FusedMultiplyAdd(w1, q, b1);
                        a2 = TL.FusedMultiplyAdd(w2, p, a2);
                        b2 = TL.FusedMultiplyAdd(w2, q, b2);
                        a3 = TL.FusedMultiplyAdd(w3, p, a3);
                        b3 = TL.FusedMultiplyAdd(w3, q, b3);
                    }
                }
            Store<TL, TV>(y + x0, ys, count, a0, a1, a2, a3);
            Store<TL, TV>(y + x0 + secondOut, ys, count, b0, b1, b2, b3);
        }
        for (; !pair && x0 + v <= width; x0 += v)
        {
            TV a0 = TL.Zero, a1 = TL.Zero, a2 = TL.Zero, a3 = TL.Zero;
            float* k = wb;
            for (int c = 0; c < cin; c++)
                for (int dy = 0; dy < kh; dy++)
                {
                    float* src = plane + ((long)c * hp + row + dy) * wp + x0;
                    for (int dx = 0; dx < kw; dx++, k += Block)
                    {
                        TV p = TL.Load(src + dx);
                        a0 = TL.FusedMultiplyAdd(TL.Broadcast(k[0]), p, a0);
                        a1 = TL.FusedMultiplyAdd(TL.Broadcast(k[1]), p, a1);
                        a2 = TL.FusedMultiplyAdd(TL.Broadcast(k[2]), p, a2);
                        a3 = TL.FusedMultiplyAdd(TL.Broadcast(k[3]), p, a3);
                    }
                }
            Store<TL, TV>(y + x0, ys, count, a0, a1, a2, a3);
        }
        for (int r = 0; r < (pair ? 2 : 1); r++)
            for (int x = x0; x < width; x++)
                for (int j = 0; j < count; j++)
                {
                    // the same order of terms as a vector lane: channel, kernel row, kernel column
                    float sum = 0f;
                    float* k = wb + j;
                    for (int c = 0; c < cin; c++)
                        for (int dy = 0; dy < kh; dy++)
                        {
                            float* src = plane + ((long)c * hp + row + r + dy) * wp + x;
                            for (int dx = 0; dx < kw; dx++, k += Block) sum = MathF.FusedMultiplyAdd(*k, src[dx], sum);
                        }
                    y[j * ys + (long)r * width + x] = sum;
                }
    }

    private static void Store<TL, TV>(float* y, long ys, int count, TV a0, TV a1, TV a2, TV a3) where TL : ILanes<TV> where TV : struct
    {
        TL.Store(a0, y);
        if (count > 1) TL.Store(a1, y + ys);
        if (count > 2) TL.Store(a2, y + 2 * ys);
        if (count > 3) TL.Store(a3, y + 3 * ys);
    }
}
