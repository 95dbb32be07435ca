using ILGPU;

namespace Canter.Tensors.Cuda;

/// <summary>Sizes of one convolution chunk for the column kernels.</summary>
public struct ConvArgs
{
    public int Cin, F, H, W, Fo, Ho, Wo;
    public int Kf, Kh, Kw, Sf, Sh, Sw, Df, Dh, Dw, Pf, Ph, Pw;
    public int First, Length;     // output positions [First, First + Length) of this chunk
    public int InputOffset;       // element offset of the batch item's (Cin, F, H, W) block
}

/// <summary>vol2col and col2vol for the GPU convolutions (the GEMMs go to cuBLAS).</summary>
internal static class ConvKernels
{
    /// <summary>cols (CinK, Length): element (row, p) is the input value under kernel tap row at output position First + p, or 0 in the padding.</summary>
    public static void Vol2Col(Index1D i, ArrayView<float> cols, ArrayView<float> x, ConvArgs a)
    {
        int p = i % a.Length, row = i / a.Length;
        int kw = row % a.Kw, kh = row / a.Kw % a.Kh, kf = row / (a.Kw * a.Kh) % a.Kf, ci = row / (a.Kw * a.Kh * a.Kf);
        int pos = a.First + p;
        int ow = pos % a.Wo, oh = pos / a.Wo % a.Ho, of = pos / (a.Wo * a.Ho);
        int f = of * a.Sf - a.Pf + kf * a.Df, h = oh * a.Sh - a.Ph + kh * a.Dh, w = ow * a.Sw - a.Pw + kw * a.Dw;
        bool inside = f >= 0 && f < a.F && h >= 0 && h < a.H && w >= 0 && w < a.W;
        cols[i] = inside ? x[a.InputOffset + ((ci * a.F + f) * a.H + h) * a.W + w] : 0f;
    }

    /// <summary>dx (one element of the batch item) += every column entry that read it in this chunk (a gather: no atomics).</summary>
    public static void Col2Vol(Index1D i, ArrayView<float> dx, ArrayView<float> cols, ConvArgs a)
    {
        int w = i % a.W, h = i / a.W % a.H, f = i / (a.W * a.H) % a.F, ci = i / (a.W * a.H * a.F);
        float acc = 0f;
        for (int kf = 0; kf < a.Kf; kf++)
        {
            int tf = f + a.Pf - kf * a.Df;
            if (tf < 0 || tf % a.Sf != 0) continue;
            int of = tf / a.Sf;
            if (of >= a.Fo) continue;
            for (int kh = 0; kh < a.Kh; kh++)
            {
                int th = h + a.Ph - kh * a.Dh;
                if (th < 0 || th % a.Sh != 0) continue;
                int oh = th / a.Sh;
                if (oh >= a.Ho) continue;
                for (int kw = 0; kw < a.Kw; kw++)
                {
                    int tw = w + a.Pw - kw * a.Dw;
                    if (tw < 0 || tw % a.Sw != 0) continue;
                    int ow = tw / a.Sw;
                    if (ow >= a.Wo) continue;
                    int pos = (of * a.Ho + oh) * a.Wo + ow - a.First;
                    if (pos < 0 || pos >= a.Length) continue;
                    int row = ((ci * a.Kf + kf) * a.Kh + kh) * a.Kw + kw;
                    acc += cols[row * a.Length + pos];
                }
            }
        }
        dx[a.InputOffset + i] += acc;
    }
}
