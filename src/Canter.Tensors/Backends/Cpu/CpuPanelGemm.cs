using System.Runtime.Intrinsics;

namespace Canter.Tensors.Backends.Cpu;

/// <summary>
/// The attention forward's tile products on 8-lane FMA: s = scale q k^T with a head's keys packed once into panels of 16
/// keys, dimension-major, that every query tile reads as they are, and acc += P v with v read in place. Through OpenBLAS
/// each of the 29 query tiles of a 1840-token head re-packed every key tile, and products of this size (64 x 256 x 64)
/// ran at about half the rate of a large GEMM. Each output element is one sum in order, so the results do not depend on
/// the thread count. (Linear layers stay on OpenBLAS: for their tall products this kernel was no faster.)
/// On a CPU with AVX-512 both products run on 16 lanes instead (<see cref="Wide"/>): a 16-key panel is one register, two
/// panels side by side make the 6 x 32 block (on 8 lanes a block is one panel as two registers). Every lane still adds
/// its own output element's terms in the same order, so the results are the same bits on either width.
/// </summary>
internal static unsafe class CpuPanelGemm
{
    /// <summary>Rows of b per packed panel: two 8-lane vectors.</summary>
    public const int Panel = 16;

    /// <summary>Query rows of the main kernels: 6 rows x 2 vectors is 12 accumulators, 15 of AVX2's 16 vector registers.</summary>
    private const int Rows = 6;

    /// <summary>Whether the products run on 16 lanes (AVX-512); settable so that tests compare both widths.</summary>
    internal static bool Wide { get; set; } = Vector512.IsHardwareAccelerated;

    /// <summary>Floats <paramref name="n"/> packed rows of length <paramref name="d"/> take.</summary>
    public static long PackedLength(int n, int d) => (long)(n + Panel - 1) / Panel * Panel * d;

    /// <summary>rows (n, d), row stride ks, into panels (ceil(n / 16), d, 16); rows past n are 0.</summary>
    public static void Pack(float* keys, int ks, int n, int d, float* packed)
    {
        int panels = (n + Panel - 1) / Panel;
        for (int p = 0; p < panels; p++)
        {
            float* dst = packed + (long)p * d * Panel;
            for (int j = 0; j < Panel; j++)
            {
                int key = p * Panel + j;
                if (key >= n)
                {
                    for (int c = 0; c < d; c++) dst[c * Panel + j] = 0f;
                    continue;
                }
                float* src = keys + (long)key * ks;
                for (int c = 0; c < d; c++) dst[c * Panel + j] = src[c];
            }
        }
    }

    /// <summary>
    /// s (tq, tk), row stride lds, = scale q (tq, d; row stride qs) @ k^T for the tk keys whose packed panels start at
    /// <paramref name="panels"/> (a multiple of 16 keys into the head).
    /// </summary>
    public static void MultiplyTransposed(float* q, int qs, int tq, float* panels, int d, int tk, float scale, float* s, int lds)
    {
        if (Wide) MultiplyTransposed<Lanes16, Vector512<float>>(q, qs, tq, panels, d, tk, scale, s, lds);
        else MultiplyTransposed<Lanes8, Vector256<float>>(q, qs, tq, panels, d, tk, scale, s, lds);
    }

    /// <summary>
    /// <see cref="MultiplyTransposed(float*, int, int, float*, int, int, float, float*, int)"/> in blocks of two vectors'
    /// width of keys: one panel's two halves on 8 lanes, two panels on 16 (a lone last panel is read twice).
    /// </summary>
    private static void MultiplyTransposed<TL, TV>(float* q, int qs, int tq, float* panels, int d, int tk, float scale, float* s, int lds)
        where TL : struct, ILanes<TV> where TV : struct
    {
        int lanes = TL.Count, width = 2 * lanes, panelsPerBlock = width / Panel;
        var sc = TL.Broadcast(scale);
        float* edge = stackalloc float[Rows * 2 * Panel];
        int panelCount = (tk + Panel - 1) / Panel;
        for (int p = 0; p < panelCount; p += panelsPerBlock)
        {
            float* first = panels + (long)p * d * Panel;
            // the block's second vector of keys: the panel's upper half, or the next panel
            float* second = panelsPerBlock == 1 ? first + lanes : p + 1 < panelCount ? first + (long)d * Panel : first;
            int cols = Math.Min(width, tk - p * Panel);
            bool full = cols == width;
            int i = 0;
            for (; i + Rows <= tq; i += Rows)
            {
                var a00 = TL.Zero; var a01 = a00; var a10 = a00; var a11 = a00; var a20 = a00; var a21 = a00;
                var a30 = a00; var a31 = a00; var a40 = a00; var a41 = a00; var a50 = a00; var a51 = a00;
                float* q0 = q + (long)i * qs, q1 = q0 + qs, q2 = q1 + qs, q3 = q2 + qs, q4 = q3 + qs, q5 = q4 + qs;
                for (int c = 0; c < d; c++)
                {
                    var b0 = TL.Load(first + c * Panel);
                    var b1 = TL.Load(second + c * Panel);
                    var x = TL.Broadcast(q0[c]); a00 = TL.FusedMultiplyAdd(x, b0, a00); a01 = TL.FusedMultiplyAdd(x, b1, a01);
                    x = TL.Broadcast(q1[c]); a10 = TL.FusedMultiplyAdd(x, b0, a10); a11 = TL.FusedMultiplyAdd(x, b1, a11);
                    x = TL.Broadcast(q2[c]); a20 = TL.FusedMultiplyAdd(x, b0, a20); a21 = TL.FusedMultiplyAdd(x, b1, a21);
                    x = TL.Broadcast(q3[c]); a30 = TL.FusedMultiplyAdd(x, b0, a30); a31 = TL.FusedMultiplyAdd(x, b1, a31);
                    x = TL.Broadcast(q4[c]); a40 = TL.FusedMultiplyAdd(x, b0, a40); a41 = TL.FusedMultiplyAdd(x, b1, a41);
                    x = TL.Broadcast(q5[c]); a50 = TL.FusedMultiplyAdd(x, b0, a50); a51 = TL.FusedMultiplyAdd(x, b1, a51);
                }
                // a full block goes straight to s; the last, partial one through a buffer
                float* o = full ? s + (long)i * lds + p * Panel : edge;
                int ld = full ? lds : width;
                TL.Store(TL.Multiply(a00, sc), o); TL.Store(TL.Multiply(a01, sc), o + lanes); o += ld;
                TL.Store(TL.Multiply(a10, sc), o); TL.Store(TL.Multiply(a11, sc), o + lanes); o += ld;
                TL.Store(TL.Multiply(a20, sc), o); TL.Store(TL.Multiply(a21, sc), o + lanes); o += ld;
                TL.Store(TL.Multiply(a30, sc), o); TL.Store(TL.Multiply(a31, sc), o + lanes); o += ld;
                TL.Store(TL.Multiply(a40, sc), o); TL.Store(TL.Multiply(a41, sc), o + lanes); o += ld;
                TL.Store(TL.Multiply(a50, sc), o); TL.Store(TL.Multiply(a51, sc), o + lanes);
                if (!full)
                    for (int r = 0; r < Rows; r++)
                        new ReadOnlySpan<float>(edge + r * width, cols).CopyTo(new Span<float>(s + (long)(i + r) * lds + p * Panel, cols));
            }
            for (; i < tq; i++)
            {
                var a0 = TL.Zero;
                var a1 = a0;
                float* qi = q + (long)i * qs;
                for (int c = 0; c < d; c++)
                {
                    var x = TL.Broadcast(qi[c]);
                    a0 = TL.FusedMultiplyAdd(x, TL.Load(first + c * Panel), a0);
                    a1 = TL.FusedMultiplyAdd(x, TL.Load(second + c * Panel), a1);
                }
                TL.Store(TL.Multiply(a0, sc), edge);
                TL.Store(TL.Multiply(a1, sc), edge + lanes);
                new ReadOnlySpan<float>(edge, cols).CopyTo(new Span<float>(s + (long)i * lds + p * Panel, cols));
            }
        }
    }

    /// <summary>acc (tq, d), row stride d, += p (tq, tk), row stride tk, @ v (tk, d; row stride vs).</summary>
    public static void MultiplyAdd(float* p, int tq, int tk, float* v, int vs, int d, float* acc)
    {
        int c0 = Wide ? MultiplyAdd<Lanes16, Vector512<float>>(p, tq, tk, v, vs, d, acc, 0) : 0;
        c0 = MultiplyAdd<Lanes8, Vector256<float>>(p, tq, tk, v, vs, d, acc, c0);
        // columns past the last 16: one at a time (a head dimension that is not a multiple of 16)
        for (; c0 < d; c0++)
            for (int i = 0; i < tq; i++)
            {
                float* pi = p + (long)i * tk;
                float sum = acc[(long)i * d + c0];
                for (int j = 0; j < tk; j++) sum = MathF.FusedMultiplyAdd(pi[j], v[(long)j * vs + c0], sum);
                acc[(long)i * d + c0] = sum;
            }
    }

    /// <summary>
    /// <see cref="MultiplyAdd(float*, int, int, float*, int, int, float*)"/> for the columns from <paramref name="c0"/> in
    /// whole blocks of two vectors; returns the first column it left.
    /// </summary>
    private static int MultiplyAdd<TL, TV>(float* p, int tq, int tk, float* v, int vs, int d, float* acc, int c0)
        where TL : struct, ILanes<TV> where TV : struct
    {
        int lanes = TL.Count;
        for (; c0 + 2 * lanes <= d; c0 += 2 * lanes)
        {
            int i = 0;
            for (; i + Rows <= tq; i += Rows)
            {
                float* o0 = acc + (long)i * d + c0, o1 = o0 + d, o2 = o1 + d, o3 = o2 + d, o4 = o3 + d, o5 = o4 + d;
                var a00 = TL.Load(o0); var a01 = TL.Load(o0 + lanes);
                var a10 = TL.Load(o1); var a11 = TL.Load(o1 + lanes);
                var a20 = TL.Load(o2); var a21 = TL.Load(o2 + lanes);
                var a30 = TL.Load(o3); var a31 = TL.Load(o3 + lanes);
                var a40 = TL.Load(o4); var a41 = TL.Load(o4 + lanes);
                var a50 = TL.Load(o5); var a51 = TL.Load(o5 + lanes);
                float* p0 = p + (long)i * tk, p1 = p0 + tk, p2 = p1 + tk, p3 = p2 + tk, p4 = p3 + tk, p5 = p4 + tk;
                float* vr = v + c0;
                for (int j = 0; j < tk; j++, vr += vs)
                {
                    var b0 = TL.Load(vr);
                    var b1 = TL.Load(vr + lanes);
                    var x = TL.Broadcast(p0[j]); a00 = TL.FusedMultiplyAdd(x, b0, a00); a01 = TL.FusedMultiplyAdd(x, b1, a01);
                    x = TL.Broadcast(p1[j]); a10 = TL.FusedMultiplyAdd(x, b0, a10); a11 = TL.FusedMultiplyAdd(x, b1, a11);
                    x = TL.Broadcast(p2[j]); a20 = TL.FusedMultiplyAdd(x, b0, a20); a21 = TL.FusedMultiplyAdd(x, b1, a21);
                    x = TL.Broadcast(p3[j]); a30 = TL.FusedMultiplyAdd(x, b0, a30); a31 = TL.FusedMultiplyAdd(x, b1, a31);
                    x = TL.Broadcast(p4[j]); a40 = TL.FusedMultiplyAdd(x, b0, a40); a41 = TL.FusedMultiplyAdd(x, b1, a41);
                    x = TL.Broadcast(p5[j]); a50 = TL.FusedMultiplyAdd(x, b0, a50); a51 = TL.FusedMultiplyAdd(x, b1, a51);
                }
                TL.Store(a00, o0); TL.Store(a01, o0 + lanes); TL.Store(a10, o1); TL.Store(a11, o1 + lanes);
                TL.Store(a20, o2); TL.Store(a21, o2 + lanes); TL.Store(a30, o3); TL.Store(a31, o3 + lanes);
                TL.Store(a40, o4); TL.Store(a41, o4 + lanes); TL.Store(a50, o5); TL.Store(a51, o5 + lanes);
            }
            for (; i < tq; i++)
            {
                float* o0 = acc + (long)i * d + c0;
                var a0 = TL.Load(o0);
                var a1 = TL.Load(o0 + lanes);
                float* pi = p + (long)i * tk;
                float* vr = v + c0;
                for (int j = 0; j < tk; j++, vr += vs)
                {
                    var x = TL.Broadcast(pi[j]);
                    a0 = TL.FusedMultiplyAdd(x, TL.Load(vr), a0);
                    a1 = TL.FusedMultiplyAdd(x, TL.Load(vr + lanes), a1);
                }
                TL.Store(a0, o0);
                TL.Store(a1, o0 + lanes);
            }
        }
        return c0;
    }
}
