using System.Buffers;

namespace Canter.Tensors.Backends.Cpu;

/// <summary>
/// Convolutions as GEMM over a column buffer (vol2col): each batch item is processed in
/// chunks of output positions so that the buffer stays under <see cref="ColumnBudget"/> floats.
/// </summary>
public sealed unsafe partial class CpuBackend
{
    /// <summary>Largest column buffer, in floats (32 MiB).</summary>
    private const int ColumnBudget = 8 << 20;

    /// <summary>Sizes of one convolution, read from its tensors.</summary>
    private readonly record struct ConvDims(int Batch, int Cin, int Cout, int F, int H, int W, int Fo, int Ho, int Wo, ConvGeometry G)
    {
        public int KernelVolume => G.Kernel[0] * G.Kernel[1] * G.Kernel[2];
        public int ColumnRows => Cin * KernelVolume;
        public int InputVolume => F * H * W;
        public int OutputVolume => Fo * Ho * Wo;
        public int ChunkLength => Balanced(ColumnBudget);

        /// <summary>Chunk when items run in parallel, each with its own buffer (half the budget each).</summary>
        public int ItemChunkLength => Balanced(ColumnBudget / 2);

        /// <summary>
        /// Output positions per chunk for a buffer of <paramref name="budget"/> floats: whole output frames where one
        /// fits, and chunks of even length (no small remainder GEMM).
        /// </summary>
        private int Balanced(int budget)
        {
            int most = Math.Clamp(budget / Math.Max(ColumnRows, 1), 1, OutputVolume);
            int frame = Ho * Wo;
            if (frame <= most)
            {
                int frames = most / frame, chunks = (Fo + frames - 1) / frames;
                return (Fo + chunks - 1) / chunks * frame;
            }
            int n = (OutputVolume + most - 1) / most;
            return (OutputVolume + n - 1) / n;
        }

        public static ConvDims Of(Tensor input, Tensor output, int cin, int cout, ConvGeometry g) =>
            new(input.Shape[0], cin, cout, input.Shape[2], input.Shape[3], input.Shape[4], output.Shape[2], output.Shape[3], output.Shape[4], g);
    }

    public void ConvForward(Tensor y, Tensor x, Tensor w, ConvGeometry geometry) =>
        Forward(Ptr(y), Ptr(x), Ptr(w), ConvDims.Of(x, y, x.Shape[1], w.Shape[0], geometry));

    /// <summary>y (B, Cout, Fo, Ho, Wo) = conv(x (B, Cin, F, H, W), w (Cout, Cin, Kf, Kh, Kw)).</summary>
    private static void Forward(float* py, float* px, float* pw, ConvDims d)
    {
        if (CpuDirectConv.Applies(d.G, d.Cin, d.H, d.W))
        {
            CpuDirectConv.Forward(py, px, pw, d.Batch, d.Cin, d.Cout, d.F, d.Fo, d.G.PadBefore[0], d.H, d.W, d.G.Kernel[0], d.G.Kernel[1], d.G.Kernel[2]);
            return;
        }
        ForEachChunk(d, (cols, b, p0, len, blocked) =>
        {
            Vol2Col(cols, px + (long)b * d.Cin * d.InputVolume, d, p0, len, blocked);
            // y[b][:, p0 : p0 + len] = w (Cout, CinK) @ cols (CinK, len)
            Gemm(blocked, OpenBlas.NoTrans, OpenBlas.NoTrans, d.Cout, len, d.ColumnRows, 1f,
                pw, d.ColumnRows, cols, len, 0f, py + (long)b * d.Cout * d.OutputVolume + p0, d.OutputVolume);
        });
    }

    public void ConvBackwardData(Tensor dx, Tensor dy, Tensor w, ConvGeometry geometry)
    {
        var d = ConvDims.Of(dx, dy, dx.Shape[1], w.Shape[0], geometry);
        float* pdx = Ptr(dx), pw = Ptr(w), pdy = Ptr(dy);
        if (TransposedGeometry(d) is { } transposed)
        {
            BackwardDataAsForward(pdx, pdy, pw, d, transposed);
            return;
        }
        Span(dx).Clear();
        ForEachChunk(d, (cols, b, p0, len, blocked) =>
        {
            // cols (CinK, len) = w^T (CinK, Cout) @ dy[b][:, p0 : p0 + len]
            Gemm(blocked, OpenBlas.Trans, OpenBlas.NoTrans, d.ColumnRows, len, d.Cout, 1f,
                pw, d.ColumnRows, pdy + (long)b * d.Cout * d.OutputVolume + p0, d.OutputVolume, 0f, cols, len);
            Col2Vol(pdx + (long)b * d.Cin * d.InputVolume, cols, d, p0, len, blocked);
        });
    }

    public void ConvBackwardWeight(Tensor dw, Tensor dy, Tensor x, ConvGeometry geometry)
    {
        var d = ConvDims.Of(x, dy, x.Shape[1], dw.Shape[0], geometry);
        float* px = Ptr(x), pdw = Ptr(dw), pdy = Ptr(dy);
        if (!ItemsInParallel(d))
        {
            Span(dw).Clear();
            ForEachChunk(d, (cols, b, p0, len, blocked) =>
            {
                Vol2Col(cols, px + (long)b * d.Cin * d.InputVolume, d, p0, len, blocked);
                // dw (Cout, CinK) += dy[b][:, p0 : p0 + len] @ cols^T
                Gemm(blocked, OpenBlas.NoTrans, OpenBlas.Trans, d.Cout, d.ColumnRows, len, 1f,
                    pdy + (long)b * d.Cout * d.OutputVolume + p0, d.OutputVolume, cols, len, 1f, pdw, d.ColumnRows);
            });
            return;
        }
        // Items in parallel: partial sum s accumulates items s, s + S, s + 2S, ... in that order (S fixed by the batch
        // size), then the partials are added in order 0..S-1; the same bits whatever the thread count.
        int sums = Math.Min(d.Batch, PartialSums);
        long size = (long)d.Cout * d.ColumnRows;
        var partials = ArrayPool<float>.Shared.Rent((int)(size * (sums - 1)));
        try
        {
            fixed (float* pp = partials)
            {
                float* parts = pp;
                int chunk = d.ItemChunkLength;
                CpuParallel.ForEachItem(sums, s =>
                {
                    float* target = s == 0 ? pdw : parts + (s - 1) * size;
                    bool first = true;
                    WithColumns(d.ColumnRows * chunk, cols =>
                    {
                        for (int b = s; b < d.Batch; b += sums)
                            for (int p0 = 0; p0 < d.OutputVolume; p0 += chunk)
                            {
                                int len = Math.Min(chunk, d.OutputVolume - p0);
                                Vol2Col(cols, px + (long)b * d.Cin * d.InputVolume, d, p0, len, false);
                                Gemm(false, OpenBlas.NoTrans, OpenBlas.Trans, d.Cout, d.ColumnRows, len, 1f,
                                    pdy + (long)b * d.Cout * d.OutputVolume + p0, d.OutputVolume, cols, len, first ? 0f : 1f, target, d.ColumnRows);
                                first = false;
                            }
                    });
                });
                // dw += partial 1, partial 2, ... in order, split over the elements (each element's order is fixed)
                CpuParallel.For((int)((size + 4095) / 4096), 4096L * sums, (c0, c1) =>
                {
                    long e0 = c0 * 4096L, e1 = Math.Min(size, c1 * 4096L);
                    var acc = new Span<float>(pdw + e0, (int)(e1 - e0));
                    for (int s = 1; s < sums; s++)
                        System.Numerics.Tensors.TensorPrimitives.Add(acc, new ReadOnlySpan<float>(parts + (s - 1) * size + e0, (int)(e1 - e0)), acc);
                });
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(partials);
        }
    }

    /// <summary>
    /// For stride 1 with padding no wider than the kernel's reach, the input gradient is itself a convolution: of dy
    /// with the kernel flipped and its channel axes swapped, padded by reach - padding on each side. Returned then
    /// (null otherwise), so that it runs as a forward convolution (a GEMM over Cout * kernel taps, no scatter)
    /// instead of a GEMM over Cout alone followed by col2vol.
    /// </summary>
    private static ConvGeometry? TransposedGeometry(in ConvDims d)
    {
        var g = d.G;
        var before = new int[3];
        var after = new int[3];
        for (int i = 0; i < 3; i++)
        {
            int reach = (g.Kernel[i] - 1) * g.Dilation[i];
            if (g.Stride[i] != 1 || g.PadBefore[i] > reach || g.PadAfter[i] > reach) return null;
            before[i] = reach - g.PadBefore[i];
            after[i] = reach - g.PadAfter[i];
        }
        return new ConvGeometry(g.Kernel, g.Stride, g.Dilation, before, after);
    }

    /// <summary>dx = conv(dy, w flipped in F, H and W and transposed to (Cin, Cout, Kf, Kh, Kw)) with the <paramref name="transposed"/> geometry.</summary>
    private static void BackwardDataAsForward(float* pdx, float* pdy, float* pw, ConvDims d, ConvGeometry transposed)
    {
        int kv = d.KernelVolume;
        var flipped = ArrayPool<float>.Shared.Rent(d.Cin * d.Cout * kv);
        try
        {
            fixed (float* pf = flipped)
            {
                // flipping all three kernel axes reverses the flat tap index
                for (int co = 0; co < d.Cout; co++)
                    for (int ci = 0; ci < d.Cin; ci++)
                    {
                        float* src = pw + ((long)co * d.Cin + ci) * kv;
                        float* dst = pf + ((long)ci * d.Cout + co) * kv;
                        for (int k = 0; k < kv; k++) dst[kv - 1 - k] = src[k];
                    }
                var t = new ConvDims(d.Batch, d.Cout, d.Cin, d.Fo, d.Ho, d.Wo, d.F, d.H, d.W, transposed);
                Forward(pdx, pdy, pf, t);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(flipped);
        }
    }

    /// <summary>Most partial sums of a weight gradient when batch items run in parallel (a function of the batch size only).</summary>
    private const int PartialSums = 8;

    /// <summary>
    /// Whether batch items run in parallel, each on one thread with a single-threaded GEMM (several items), or one
    /// after the other with the GEMM and the column copies split over the threads (one item). Decided by the shape
    /// only, so the result has the same bits whatever the thread count.
    /// </summary>
    private static bool ItemsInParallel(in ConvDims d) => d.Batch >= 2;

    /// <summary>A GEMM on the engine's threads in fixed blocks (<paramref name="blocked"/>) or on this thread alone.</summary>
    private static void Gemm(bool blocked, int ta, int tb, int m, int n, int k, float alpha, float* a, int lda,
        float* b, int ldb, float beta, float* c, int ldc)
    {
        if (blocked) Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        else OpenBlas.Sgemm(OpenBlas.RowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }

    /// <param name="blocked">true when the work inside a chunk is to be split over the threads (one item at a time).</param>
    private delegate void ChunkAction(float* cols, int batchItem, int firstPosition, int length, bool blocked);

    private delegate void ColumnsAction(float* cols);

    private static void WithColumns(int floats, ColumnsAction action)
    {
        var buffer = ArrayPool<float>.Shared.Rent(floats);
        try
        {
            fixed (float* cols = buffer) action(cols);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Runs <paramref name="action"/> for each batch item and chunk of output positions: items in parallel with a
    /// column buffer each (<see cref="ItemsInParallel"/>), or one item at a time with one buffer and the work inside split.
    /// </summary>
    private static void ForEachChunk(ConvDims d, ChunkAction action)
    {
        if (ItemsInParallel(d))
        {
            int itemChunk = d.ItemChunkLength;
            CpuParallel.ForEachItem(d.Batch, b => WithColumns(d.ColumnRows * itemChunk, cols =>
            {
                for (int p0 = 0; p0 < d.OutputVolume; p0 += itemChunk)
                    action(cols, b, p0, Math.Min(itemChunk, d.OutputVolume - p0), false);
            }));
            return;
        }
        int chunk = d.ChunkLength;
        WithColumns(d.ColumnRows * chunk, cols =>
        {
            for (int b = 0; b < d.Batch; b++)
                for (int p0 = 0; p0 < d.OutputVolume; p0 += chunk)
                    action(cols, b, p0, Math.Min(chunk, d.OutputVolume - p0), true);
        });
    }

    /// <summary>
    /// Where one column row (input channel, kernel tap) reads its input: the channel's offset, the strides, the input
    /// (frame, row, column) of output (0, 0, 0), and the output columns [OwLo, OwHi) whose input column is inside [0, W).
    /// </summary>
    private readonly record struct RowWalk(long Channel, int Sf, int Sh, int Sw, int F0, int H0, int W0, int OwLo, int OwHi)
    {
        public static RowWalk Of(in ConvDims d, int row)
        {
            var g = d.G;
            int kv = d.KernelVolume;
            int ci = row / kv, k = row % kv;
            int kf = k / (g.Kernel[2] * g.Kernel[1]), kh = k / g.Kernel[2] % g.Kernel[1], kw = k % g.Kernel[2];
            long channel = (long)ci * d.InputVolume;
            int sw = g.Stride[2];
            int w0 = -g.PadBefore[2] + kw * g.Dilation[2];
            int owLo = w0 >= 0 ? 0 : Math.Min(d.Wo, (-w0 + sw - 1) / sw);
            int owHi = d.W - w0 <= 0 ? 0 : Math.Min(d.Wo, (d.W - w0 + sw - 1) / sw);
            return new(channel, g.Stride[0], g.Stride[1], sw, -g.PadBefore[0] + kf * g.Dilation[0], -g.PadBefore[1] + kh * g.Dilation[1], w0,
                owLo, Math.Max(owLo, owHi));
        }
    }

    /// <summary>cols (CinK, len) = the input values each output position [p0, p0 + len) sees through each kernel tap (0 in padding).</summary>
    private static void Vol2Col(float* cols, float* x, ConvDims d, int p0, int len, bool split)
    {
        if (!split)
        {
            for (int r = 0; r < d.ColumnRows; r++) GatherRow(cols + (long)r * len, x, d, r, p0, len);
            return;
        }
        CpuParallel.For(d.ColumnRows, len, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++) GatherRow(cols + (long)r * len, x, d, r, p0, len);
        });
    }

    /// <summary>Fills one column row: output positions [p0, p0 + len) walked row by row of Wo, without per-position division.</summary>
    private static void GatherRow(float* column, float* x, in ConvDims d, int row, int p0, int len)
    {
        if (FramesAreContiguous(d, p0, len))
        {
            GatherFrames(column, x, d, row, p0 / (d.Ho * d.Wo), len / (d.Ho * d.Wo));
            return;
        }
        var (channelOffset, sf, sh, sw, f0, h0, w0, owLo, owHi) = RowWalk.Of(d, row);
        float* channel = x + channelOffset;
        int ow = p0 % d.Wo, oh = p0 / d.Wo % d.Ho, of = p0 / (d.Wo * d.Ho);
        int done = 0;
        while (done < len)
        {
            int count = Math.Min(d.Wo - ow, len - done);
            float* outRow = column + done;
            int f = of * sf + f0, h = oh * sh + h0;
            if ((uint)f >= (uint)d.F || (uint)h >= (uint)d.H)
            {
                new Span<float>(outRow, count).Clear();
            }
            else
            {
                float* inputRow = channel + ((long)f * d.H + h) * d.W + w0;
                int end = ow + count;
                int lo = Math.Clamp(owLo, ow, end), hi = Math.Clamp(owHi, lo, end);
                int i = 0;
                for (int c = ow; c < lo; c++) outRow[i++] = 0f;
                if (sw == 1)
                {
                    for (int c = lo; c < hi; c++) outRow[i++] = inputRow[c];
                }
                else
                {
                    for (int c = lo; c < hi; c++) outRow[i++] = inputRow[(long)c * sw];
                }
                for (int c = hi; c < end; c++) outRow[i++] = 0f;
            }
            done += count;
            ow = 0;
            if (++oh == d.Ho) { oh = 0; of++; }
        }
    }

    /// <summary>dx (Cin, F, H, W) += the column rows scattered back to the inputs they were gathered from.</summary>
    private static void Col2Vol(float* dx, float* cols, ConvDims d, int p0, int len, bool split)
    {
        int kv = d.KernelVolume;
        if (!split)
        {
            for (int r = 0; r < d.ColumnRows; r++) ScatterRow(cols + (long)r * len, dx, d, r, p0, len);
            return;
        }
        // one input channel per work item: its column rows scatter only into its own plane
        CpuParallel.For(d.Cin, (long)kv * len, (c0, c1) =>
        {
            for (int r = c0 * kv; r < c1 * kv; r++) ScatterRow(cols + (long)r * len, dx, d, r, p0, len);
        });
    }

    /// <summary>Adds one column row into the input positions it was gathered from (the reverse of <see cref="GatherRow"/>).</summary>
    private static void ScatterRow(float* column, float* dx, in ConvDims d, int row, int p0, int len)
    {
        if (FramesAreContiguous(d, p0, len))
        {
            ScatterFrames(column, dx, d, row, p0 / (d.Ho * d.Wo), len / (d.Ho * d.Wo));
            return;
        }
        var (channelOffset, sf, sh, sw, f0, h0, w0, owLo, owHi) = RowWalk.Of(d, row);
        float* channel = dx + channelOffset;
        int ow = p0 % d.Wo, oh = p0 / d.Wo % d.Ho, of = p0 / (d.Wo * d.Ho);
        int done = 0;
        while (done < len)
        {
            int count = Math.Min(d.Wo - ow, len - done);
            int f = of * sf + f0, h = oh * sh + h0;
            if ((uint)f < (uint)d.F && (uint)h < (uint)d.H)
            {
                float* inputRow = channel + ((long)f * d.H + h) * d.W + w0;
                float* colRow = column + done - ow;   // colRow[c] is output column c of this row
                int end = ow + count;
                int lo = Math.Clamp(owLo, ow, end), hi = Math.Clamp(owHi, lo, end);
                if (sw == 1)
                {
                    for (int c = lo; c < hi; c++) inputRow[c] += colRow[c];
                }
                else
                {
                    for (int c = lo; c < hi; c++) inputRow[(long)c * sw] += colRow[c];
                }
            }
            done += count;
            ow = 0;
            if (++oh == d.Ho) { oh = 0; of++; }
        }
    }

    /// <summary>
    /// Whether the chunk is whole output frames of a convolution with stride 1 and dilation 1 in H and W and rows as
    /// wide as the input's: then the rows of one frame of a column row are one contiguous run of the input, shifted.
    /// </summary>
    private static bool FramesAreContiguous(in ConvDims d, int p0, int len)
    {
        var g = d.G;
        int frame = d.Ho * d.Wo;
        return g.Stride[1] == 1 && g.Stride[2] == 1 && g.Dilation[1] == 1 && g.Dilation[2] == 1 && d.Wo == d.W
            && p0 % frame == 0 && len % frame == 0;
    }

    /// <summary>
    /// Where the output frame <paramref name="of"/> of a column row reads (stride and dilation 1 in H and W, as
    /// <see cref="FramesAreContiguous"/> requires): the channel index of its first output position (may lie outside the
    /// channel: those positions are padding), and the output rows [ohLo, ohHi) that read inside the input; (0, 0) rows
    /// when the input frame is padding.
    /// </summary>
    private static (long Start, int OhLo, int OhHi) FrameOrigin(in ConvDims d, in RowWalk walk, int of)
    {
        int f = of * walk.Sf + walk.F0;
        if ((uint)f >= (uint)d.F) return (0, 0, 0);
        int ohLo = Math.Clamp(-walk.H0, 0, d.Ho), ohHi = Math.Clamp(d.H - walk.H0, ohLo, d.Ho);
        return (((long)f * d.H + walk.H0) * d.W + walk.W0, ohLo, ohHi);
    }

    /// <summary><see cref="GatherRow"/> for <see cref="FramesAreContiguous"/> chunks: one copy per frame, then the padding zeroed.</summary>
    private static void GatherFrames(float* column, float* x, in ConvDims d, int row, int firstFrame, int frames)
    {
        var walk = RowWalk.Of(d, row);
        float* channel = x + walk.Channel;
        long plane = d.InputVolume;
        int wo = d.Wo, frame = d.Ho * wo, owLo = walk.OwLo, owHi = walk.OwHi;
        for (int i = 0; i < frames; i++)
        {
            float* outFrame = column + (long)i * frame;
            var (start, ohLo, ohHi) = FrameOrigin(d, walk, firstFrame + i);
            new Span<float>(outFrame, ohLo * wo).Clear();
            new Span<float>(outFrame + (long)ohHi * wo, (d.Ho - ohHi) * wo).Clear();
            if (ohHi == ohLo) continue;
            // positions [a, e) of the frame read channel[start + a .. start + e), clipped to the channel (what lies
            // outside it is padding, zeroed below)
            long a = Math.Max((long)ohLo * wo, -start), e = Math.Min((long)ohHi * wo, plane - start);
            if (e > a) new ReadOnlySpan<float>(channel + start + a, (int)(e - a)).CopyTo(new Span<float>(outFrame + a, (int)(e - a)));
            if (owLo == 0 && owHi == wo) continue;
            for (int oh = ohLo; oh < ohHi; oh++)
            {
                float* r = outFrame + (long)oh * wo;
                for (int c = 0; c < owLo; c++) r[c] = 0f;
                for (int c = owHi; c < wo; c++) r[c] = 0f;
            }
        }
    }

    /// <summary>
    /// <see cref="ScatterRow"/> for <see cref="FramesAreContiguous"/> chunks: the padding entries of the column row
    /// (scratch) are zeroed, then each frame is added in one run.
    /// </summary>
    private static void ScatterFrames(float* column, float* dx, in ConvDims d, int row, int firstFrame, int frames)
    {
        var walk = RowWalk.Of(d, row);
        float* channel = dx + walk.Channel;
        long plane = d.InputVolume;
        int wo = d.Wo, frame = d.Ho * wo, owLo = walk.OwLo, owHi = walk.OwHi;
        for (int i = 0; i < frames; i++)
        {
            float* colFrame = column + (long)i * frame;
            var (start, ohLo, ohHi) = FrameOrigin(d, walk, firstFrame + i);
            if (ohHi == ohLo) continue;
            if (owLo != 0 || owHi != wo)
                for (int oh = ohLo; oh < ohHi; oh++)
                {
                    float* r = colFrame + (long)oh * wo;
                    for (int c = 0; c < owLo; c++) r[c] = 0f;
                    for (int c = owHi; c < wo; c++) r[c] = 0f;
                }
            long a = Math.Max((long)ohLo * wo, -start), e = Math.Min((long)ohHi * wo, plane - start);
            if (e <= a) continue;
            var target = new Span<float>(channel + start + a, (int)(e - a));
            System.Numerics.Tensors.TensorPrimitives.Add(target, new ReadOnlySpan<float>(colFrame + a, (int)(e - a)), target);
        }
    }
}
