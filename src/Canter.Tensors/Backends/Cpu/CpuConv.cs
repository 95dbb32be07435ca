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
        public int ChunkLength => Math.Clamp(ColumnBudget / Math.Max(ColumnRows, 1), 1, OutputVolume);

        public static ConvDims Of(Tensor input, Tensor output, int cin, int cout, ConvGeometry g) =>
            new(input.Shape[0], cin, cout, input.Shape[2], input.Shape[3], input.Shape[4], output.Shape[2], output.Shape[3], output.Shape[4], g);
    }

    public void ConvForward(Tensor y, Tensor x, Tensor w, ConvGeometry geometry)
    {
        var d = ConvDims.Of(x, y, x.Shape[1], w.Shape[0], geometry);
        float* px = Ptr(x), pw = Ptr(w), py = Ptr(y);
        ForEachChunk(d, (cols, b, p0, len) =>
        {
            float* xb = px + (long)b * d.Cin * d.InputVolume;
            Vol2Col(cols, xb, d, p0, len);
            // y[b][:, p0 : p0 + len] = w (Cout, CinK) @ cols (CinK, len)
            Sgemm(OpenBlas.NoTrans, OpenBlas.NoTrans, d.Cout, len, d.ColumnRows, 1f,
                pw, d.ColumnRows, cols, len, 0f, py + (long)b * d.Cout * d.OutputVolume + p0, d.OutputVolume);
        });
    }

    public void ConvBackwardData(Tensor dx, Tensor dy, Tensor w, ConvGeometry geometry)
    {
        var d = ConvDims.Of(dx, dy, dx.Shape[1], w.Shape[0], geometry);
        float* pdx = Ptr(dx), pw = Ptr(w), pdy = Ptr(dy);
        Span(dx).Clear();
        ForEachChunk(d, (cols, b, p0, len) =>
        {
            // cols (CinK, len) = w^T (CinK, Cout) @ dy[b][:, p0 : p0 + len]
            Sgemm(OpenBlas.Trans, OpenBlas.NoTrans, d.ColumnRows, len, d.Cout, 1f,
                pw, d.ColumnRows, pdy + (long)b * d.Cout * d.OutputVolume + p0, d.OutputVolume, 0f, cols, len);
            Col2Vol(pdx + (long)b * d.Cin * d.InputVolume, cols, d, p0, len);
        });
    }

    public void ConvBackwardWeight(Tensor dw, Tensor dy, Tensor x, ConvGeometry geometry)
    {
        var d = ConvDims.Of(x, dy, x.Shape[1], dw.Shape[0], geometry);
        float* px = Ptr(x), pdw = Ptr(dw), pdy = Ptr(dy);
        Span(dw).Clear();
        ForEachChunk(d, (cols, b, p0, len) =>
        {
            Vol2Col(cols, px + (long)b * d.Cin * d.InputVolume, d, p0, len);
            // dw (Cout, CinK) += dy[b][:, p0 : p0 + len] @ cols^T
            Sgemm(OpenBlas.NoTrans, OpenBlas.Trans, d.Cout, d.ColumnRows, len, 1f,
                pdy + (long)b * d.Cout * d.OutputVolume + p0, d.OutputVolume, cols, len, 1f, pdw, d.ColumnRows);
        });
    }

    private delegate void ChunkAction(float* cols, int batchItem, int firstPosition, int length);

    /// <summary>Runs <paramref name="action"/> for each batch item and chunk of output positions with one reused column buffer.</summary>
    private static void ForEachChunk(ConvDims d, ChunkAction action)
    {
        int chunk = d.ChunkLength;
        var buffer = ArrayPool<float>.Shared.Rent(d.ColumnRows * chunk);
        try
        {
            fixed (float* cols = buffer)
            {
                for (int b = 0; b < d.Batch; b++)
                    for (int p0 = 0; p0 < d.OutputVolume; p0 += chunk)
                        action(cols, b, p0, Math.Min(chunk, d.OutputVolume - p0));
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Walks the output positions [p0, p0 + len) of one column row (ci, kf, kh, kw) as segments of one
    /// output row each: (offset in the chunk, input row pointer or null when padding, first ow, count).
    /// </summary>
    private static void ForEachSegment(in ConvDims d, int row, int p0, int len, float* plane, SegmentAction action, float* cols)
    {
        var g = d.G;
        int kv = d.KernelVolume;
        int ci = row / kv, k = row % kv;
        int kw = k % g.Kernel[2], kh = k / g.Kernel[2] % g.Kernel[1], kf = k / (g.Kernel[2] * g.Kernel[1]);
        float* channel = plane + (long)ci * d.InputVolume;
        int p = p0, end = p0 + len;
        while (p < end)
        {
            int ow = p % d.Wo, oh = p / d.Wo % d.Ho, of = p / (d.Wo * d.Ho);
            int count = Math.Min(d.Wo - ow, end - p);
            int f = of * g.Stride[0] - g.PadBefore[0] + kf * g.Dilation[0];
            int h = oh * g.Stride[1] - g.PadBefore[1] + kh * g.Dilation[1];
            float* inputRow = f >= 0 && f < d.F && h >= 0 && h < d.H ? channel + ((long)f * d.H + h) * d.W : null;
            int wStart = ow * g.Stride[2] - g.PadBefore[2] + kw * g.Dilation[2];
            action(cols + (long)row * len + (p - p0), inputRow, wStart, g.Stride[2], count, d.W);
            p += count;
        }
    }

    private delegate void SegmentAction(float* column, float* inputRow, int wStart, int wStride, int count, int width);

    private static void Vol2Col(float* cols, float* x, ConvDims d, int p0, int len)
    {
        CpuParallel.For(d.ColumnRows, len, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++) ForEachSegment(d, r, p0, len, x, GatherSegment, cols);
        });
    }

    private static void GatherSegment(float* column, float* inputRow, int wStart, int wStride, int count, int width)
    {
        if (inputRow == null)
        {
            new Span<float>(column, count).Clear();
            return;
        }
        if (wStride == 1 && wStart >= 0 && wStart + count <= width)
        {
            new ReadOnlySpan<float>(inputRow + wStart, count).CopyTo(new Span<float>(column, count));
            return;
        }
        for (int i = 0, iw = wStart; i < count; i++, iw += wStride)
            column[i] = (uint)iw < (uint)width ? inputRow[iw] : 0f;
    }

    private static void Col2Vol(float* dx, float* cols, ConvDims d, int p0, int len)
    {
        int kv = d.KernelVolume;
        // one input channel per work item: its column rows scatter only into its own plane
        CpuParallel.For(d.Cin, (long)kv * len, (c0, c1) =>
        {
            for (int ci = c0; ci < c1; ci++)
                for (int r = ci * kv; r < (ci + 1) * kv; r++) ForEachSegment(d, r, p0, len, dx, ScatterSegment, cols);
        });
    }

    private static void ScatterSegment(float* column, float* inputRow, int wStart, int wStride, int count, int width)
    {
        if (inputRow == null) return;
        for (int i = 0, iw = wStart; i < count; i++, iw += wStride)
            if ((uint)iw < (uint)width) inputRow[iw] += column[i];
    }
}
