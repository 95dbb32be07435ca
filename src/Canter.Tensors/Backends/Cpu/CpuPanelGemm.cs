using System.Runtime.Intrinsics;

namespace Canter.Tensors.Backends.Cpu;

/// <summary>
/// The attention forward's tile products on 8-lane FMA: s = scale q k^T with a head's keys packed once into panels of 16
/// keys, dimension-major, that every query tile reads as they are, and acc += P v with v read in place. Through OpenBLAS
/// each of the 29 query tiles of a 1840-token head re-packed every key tile, and products of this size (64 x 256 x 64)
/// ran at about half the rate of a large GEMM. Each output element is one sum in order, so the results do not depend on
/// the thread count. (Linear layers stay on OpenBLAS: for their tall products this kernel was no faster.)
/// On a CPU with AVX-512 both products run on 16 lanes instead (<see cref="Wide"/>): a 16-key panel is one register, two
/// panels side by side make the 6 x 32 block. Every lane still adds its own output element's terms in the same order, so
/// the results are the same bits on either width.
/// </summary>
internal static unsafe class CpuPanelGemm
{
    /// <summary>Rows of b per packed panel: two 8-lane vectors.</summary>
    public const int Panel = 16;

    /// <summary>Query rows of the main kernels: 6 rows x 16 columns is 12 accumulators, 15 of the 16 vector registers.</summary>
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
        if (Wide)
        {
            MultiplyTransposedWide(q, qs, tq, panels, d, tk, scale, s, lds);
            return;
        }
        var sc = Vector256.Create(scale);
        float* edge = stackalloc float[Rows * Panel];
        for (int p = 0; p * Panel < tk; p++)
        {
            float* panel = panels + (long)p * d * Panel;
            int cols = Math.Min(Panel, tk - p * Panel);
            int i = 0;
            for (; i + Rows <= tq; i += Rows)
            {
                var a00 = Vector256<float>.Zero; var a01 = a00; var a10 = a00; var a11 = a00; var a20 = a00; var a21 = a00;
                var a30 = a00; var a31 = a00; var a40 = a00; var a41 = a00; var a50 = a00; var a51 = a00;
                float* q0 = q + (long)i * qs, q1 = q0 + qs, q2 = q1 + qs, q3 = q2 + qs, q4 = q3 + qs, q5 = q4 + qs;
                float* b = panel;
                for (int c = 0; c < d; c++, b += Panel)
                {
                    var b0 = Vector256.Load(b);
                    var b1 = Vector256.Load(b + 8);
                    var x = Vector256.Create(q0[c]); a00 = Vector256.FusedMultiplyAdd(x, b0, a00); a01 = Vector256.FusedMultiplyAdd(x, b1, a01);
                    x = Vector256.Create(q1[c]); a10 = Vector256.FusedMultiplyAdd(x, b0, a10); a11 = Vector256.FusedMultiplyAdd(x, b1, a11);
                    x = Vector256.Create(q2[c]); a20 = Vector256.FusedMultiplyAdd(x, b0, a20); a21 = Vector256.FusedMultiplyAdd(x, b1, a21);
                    x = Vector256.Create(q3[c]); a30 = Vector256.FusedMultiplyAdd(x, b0, a30); a31 = Vector256.FusedMultiplyAdd(x, b1, a31);
                    x = Vector256.Create(q4[c]); a40 = Vector256.FusedMultiplyAdd(x, b0, a40); a41 = Vector256.FusedMultiplyAdd(x, b1, a41);
                    x = Vector256.Create(q5[c]); a50 = Vector256.FusedMultiplyAdd(x, b0, a50); a51 = Vector256.FusedMultiplyAdd(x, b1, a51);
                }
                // a full panel goes straight to s; the last, partial one through a buffer
                bool full = cols == Panel;
                float* o = full ? s + (long)i * lds + p * Panel : edge;
                int ld = full ? lds : Panel;
                (a00 * sc).Store(o); (a01 * sc).Store(o + 8); o += ld;
                (a10 * sc).Store(o); (a11 * sc).Store(o + 8); o += ld;
                (a20 * sc).Store(o); (a21 * sc).Store(o + 8); o += ld;
                (a30 * sc).Store(o); (a31 * sc).Store(o + 8); o += ld;
                (a40 * sc).Store(o); (a41 * sc).Store(o + 8); o += ld;
                (a50 * sc).Store(o); (a51 * sc).Store(o + 8);
                if (!full)
                    for (int r = 0; r < Rows; r++)
                        new ReadOnlySpan<float>(edge + r * Panel, cols).CopyTo(new Span<float>(s + (long)(i + r) * lds + p * Panel, cols));
            }
            for (; i < tq; i++)
            {
                var a0 = Vector256<float>.Zero;
                var a1 = a0;
                float* qi = q + (long)i * qs;
                float* b = panel;
                for (int c = 0; c < d; c++, b += Panel)
                {
                    var x = Vector256.Create(qi[c]);
                    a0 = Vector256.FusedMultiplyAdd(x, Vector256.Load(b), a0);
                    a1 = Vector256.FusedMultiplyAdd(x, Vector256.Load(b + 8), a1);
                }
                (a0 * sc).Store(edge);
                (a1 * sc).Store(edge + 8);
                new ReadOnlySpan<float>(edge, cols).CopyTo(new Span<float>(s + (long)i * lds + p * Panel, cols));
            }
        }
    }

    /// <summary><see cref="MultiplyTransposed"/> on 16 lanes: two panels (32 keys) per block; a lone last panel is read twice.</summary>
    private static void MultiplyTransposedWide(float* q, int qs, int tq, float* panels, int d, int tk, float scale, float* s, int lds)
    {
        const int Pair = 2 * Panel;
        var sc = Vector512.Create(scale);
        float* edge = stackalloc float[Rows * Pair];
        int panelCount = (tk + Panel - 1) / Panel;
        for (int p = 0; p < panelCount; p += 2)
        {
            float* first = panels + (long)p * d * Panel;
            float* second = p + 1 < panelCount ? first + (long)d * Panel : first;
            int cols = Math.Min(Pair, tk - p * Panel);
            bool full = cols == Pair;
            int i = 0;
            for (; i + Rows <= tq; i += Rows)
            {
                var a00 = Vector512<float>.Zero; var a01 = a00; var a10 = a00; var a11 = a00; var a20 = a00; var a21 = a00;
                var a30 = a00; var a31 = a00; var a40 = a00; var a41 = a00; var a50 = a00; var a51 = a00;
                float* q0 = q + (long)i * qs, q1 = q0 + qs, q2 = q1 + qs, q3 = q2 + qs, q4 = q3 + qs, q5 = q4 + qs;
                for (int c = 0; c < d; c++)
                {
                    var b0 = Vector512.Load(first + c * Panel);
                    var b1 = Vector512.Load(second + c * Panel);
                    var x = Vector512.Create(q0[c]); a00 = Vector512.FusedMultiplyAdd(x, b0, a00); a01 = Vector512.FusedMultiplyAdd(x, b1, a01);
                    x = Vector512.Create(q1[c]); a10 = Vector512.FusedMultiplyAdd(x, b0, a10); a11 = Vector512.FusedMultiplyAdd(x, b1, a11);
                    x = Vector512.Create(q2[c]); a20 = Vector512.FusedMultiplyAdd(x, b0, a20); a21 = Vector512.FusedMultiplyAdd(x, b1, a21);
                    x = Vector512.Create(q3[c]); a30 = Vector512.FusedMultiplyAdd(x, b0, a30); a31 = Vector512.FusedMultiplyAdd(x, b1, a31);
                    x = Vector512.Create(q4[c]); a40 = Vector512.FusedMultiplyAdd(x, b0, a40); a41 = Vector512.FusedMultiplyAdd(x, b1, a41);
                    x = Vector512.Create(q5[c]); a50 = Vector512.FusedMultiplyAdd(x, b0, a50); a51 = Vector512.FusedMultiplyAdd(x, b1, a51);
                }
                float* o = full ? s + (long)i * lds + p * Panel : edge;
                int ld = full ? lds : Pair;
                (a00 * sc).Store(o); (a01 * sc).Store(o + Panel); o += ld;
                (a10 * sc).Store(o); (a11 * sc).Store(o + Panel); o += ld;
                (a20 * sc).Store(o); (a21 * sc).Store(o + Panel); o += ld;
                (a30 * sc).Store(o); (a31 * sc).Store(o + Panel); o += ld;
                (a40 * sc).Store(o); (a41 * sc).Store(o + Panel); o += ld;
                (a50 * sc).Store(o); (a51 * sc).Store(o + Panel);
                if (!full)
                    for (int r = 0; r < Rows; r++)
                        new ReadOnlySpan<float>(edge + r * Pair, cols).CopyTo(new Span<float>(s + (long)(i + r) * lds + p * Panel, cols));
            }
            for (; i < tq; i++)
            {
                var a0 = Vector512<float>.Zero;
                var a1 = a0;
                float* qi = q + (long)i * qs;
                for (int c = 0; c < d; c++)
                {
                    var x = Vector512.Create(qi[c]);
                    a0 = Vector512.FusedMultiplyAdd(x, Vector512.Load(first + c * Panel), a0);
                    a1 = Vector512.FusedMultiplyAdd(x, Vector512.Load(second + c * Panel), a1);
                }
                (a0 * sc).Store(edge);
                (a1 * sc).Store(edge + Panel);
                new ReadOnlySpan<float>(edge, cols).CopyTo(new Span<float>(s + (long)i * lds + p * Panel, cols));
            }
        }
    }

    /// <summary>acc (tq, d), row stride d, += p (tq, tk), row stride tk, @ v (tk, d; row stride vs).</summary>
    public static void MultiplyAdd(float* p, int tq, int tk, float* v, int vs, int d, float* acc)
    {
        int c0 = Wide ? MultiplyAddWide(p, tq, tk, v, vs, d, acc) : 0;
        for (; c0 + Panel <= d; c0 += Panel)
        {
            int i = 0;
            for (; i + Rows <= tq; i += Rows)
            {
                float* o0 = acc + (long)i * d + c0, o1 = o0 + d, o2 = o1 + d, o3 = o2 + d, o4 = o3 + d, o5 = o4 + d;
                var a00 = Vector256.Load(o0); var a01 = Vector256.Load(o0 + 8);
                var a10 = Vector256.Load(o1); var a11 = Vector256.Load(o1 + 8);
                var a20 = Vector256.Load(o2); var a21 = Vector256.Load(o2 + 8);
                var a30 = Vector256.Load(o3); var a31 = Vector256.Load(o3 + 8);
                var a40 = Vector256.Load(o4); var a41 = Vector256.Load(o4 + 8);
                var a50 = Vector256.Load(o5); var a51 = Vector256.Load(o5 + 8);
                float* p0 = p + (long)i * tk, p1 = p0 + tk, p2 = p1 + tk, p3 = p2 + tk, p4 = p3 + tk, p5 = p4 + tk;
                float* vr = v + c0;
                for (int j = 0; j < tk; j++, vr += vs)
                {
                    var b0 = Vector256.Load(vr);
                    var b1 = Vector256.Load(vr + 8);
                    var x = Vector256.Create(p0[j]); a00 = Vector256.FusedMultiplyAdd(x, b0, a00); a01 = Vector256.FusedMultiplyAdd(x, b1, a01);
                    x = Vector256.Create(p1[j]); a10 = Vector256.FusedMultiplyAdd(x, b0, a10); a11 = Vector256.FusedMultiplyAdd(x, b1, a11);
                    x = Vector256.Create(p2[j]); a20 = Vector256.FusedMultiplyAdd(x, b0, a20); a21 = Vector256.FusedMultiplyAdd(x, b1, a21);
                    x = Vector256.Create(p3[j]); a30 = Vector256.FusedMultiplyAdd(x, b0, a30); a31 = Vector256.FusedMultiplyAdd(x, b1, a31);
                    x = Vector256.Create(p4[j]); a40 = Vector256.FusedMultiplyAdd(x, b0, a40); a41 = Vector256.FusedMultiplyAdd(x, b1, a41);
                    x = Vector256.Create(p5[j]); a50 = Vector256.FusedMultiplyAdd(x, b0, a50); a51 = Vector256.FusedMultiplyAdd(x, b1, a51);
                }
                a00.Store(o0); a01.Store(o0 + 8); a10.Store(o1); a11.Store(o1 + 8); a20.Store(o2); a21.Store(o2 + 8);
                a30.Store(o3); a31.Store(o3 + 8); a40.Store(o4); a41.Store(o4 + 8); a50.Store(o5); a51.Store(o5 + 8);
            }
            for (; i < tq; i++)
            {
                float* o0 = acc + (long)i * d + c0;
                var a0 = Vector256.Load(o0);
                var a1 = Vector256.Load(o0 + 8);
                float* pi = p + (long)i * tk;
                float* vr = v + c0;
                for (int j = 0; j < tk; j++, vr += vs)
                {
                    var x = Vector256.Create(pi[j]);
                    a0 = Vector256.FusedMultiplyAdd(x, Vector256.Load(vr), a0);
                    a1 = Vector256.FusedMultiplyAdd(x, Vector256.Load(vr + 8), a1);
                }
                a0.Store(o0);
                a1.Store(o0 + 8);
            }
        }
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
    /// <see cref="MultiplyAdd"/> on 16 lanes for the columns in whole blocks of 32; returns the first column it left to
    /// the 8-lane code.
    /// </summary>
    private static int MultiplyAddWide(float* p, int tq, int tk, float* v, int vs, int d, float* acc)
    {
        const int Block = 2 * Panel;
        int c0 = 0;
        for (; c0 + Block <= d; c0 += Block)
        {
            int i = 0;
            for (; i + Rows <= tq; i += Rows)
            {
                float* o0 = acc + (long)i * d + c0, o1 = o0 + d, o2 = o1 + d, o3 = o2 + d, o4 = o3 + d, o5 = o4 + d;
                var a00 = Vector512.Load(o0); var a01 = Vector512.Load(o0 + Panel);
                var a10 = Vector512.Load(o1); var a11 = Vector512.Load(o1 + Panel);
                var a20 = Vector512.Load(o2); var a21 = Vector512.Load(o2 + Panel);
                var a30 = Vector512.Load(o3); var a31 = Vector512.Load(o3 + Panel);
                var a40 = Vector512.Load(o4); var a41 = Vector512.Load(o4 + Panel);
                var a50 = Vector512.Load(o5); var a51 = Vector512.Load(o5 + Panel);
                float* p0 = p + (long)i * tk, p1 = p0 + tk, p2 = p1 + tk, p3 = p2 + tk, p4 = p3 + tk, p5 = p4 + tk;
                float* vr = v + c0;
                for (int j = 0; j < tk; j++, vr += vs)
                {
                    var b0 = Vector512.Load(vr);
                    var b1 = Vector512.Load(vr + Panel);
                    var x = Vector512.Create(p0[j]); a00 = Vector512.FusedMultiplyAdd(x, b0, a00); a01 = Vector512.FusedMultiplyAdd(x, b1, a01);
                    x = Vector512.Create(p1[j]); a10 = Vector512.FusedMultiplyAdd(x, b0, a10); a11 = Vector512.FusedMultiplyAdd(x, b1, a11);
                    x = Vector512.Create(p2[j]); a20 = Vector512.FusedMultiplyAdd(x, b0, a20); a21 = Vector512.FusedMultiplyAdd(x, b1, a21);
                    x = Vector512.Create(p3[j]); a30 = Vector512.FusedMultiplyAdd(x, b0, a30); a31 = Vector512.FusedMultiplyAdd(x, b1, a31);
                    x = Vector512.Create(p4[j]); a40 = Vector512.FusedMultiplyAdd(x, b0, a40); a41 = Vector512.FusedMultiplyAdd(x, b1, a41);
                    x = Vector512.Create(p5[j]); a50 = Vector512.FusedMultiplyAdd(x, b0, a50); a51 = Vector512.FusedMultiplyAdd(x, b1, a51);
                }
                a00.Store(o0); a01.Store(o0 + Panel); a10.Store(o1); a11.Store(o1 + Panel); a20.Store(o2); a21.Store(o2 + Panel);
                a30.Store(o3); a31.Store(o3 + Panel); a40.Store(o4); a41.Store(o4 + Panel); a50.Store(o5); a51.Store(o5 + Panel);
            }
            for (; i < tq; i++)
            {
                float* o0 = acc + (long)i * d + c0;
                var a0 = Vector512.Load(o0);
                var a1 = Vector512.Load(o0 + Panel);
                float* pi = p + (long)i * tk;
                float* vr = v + c0;
                for (int j = 0; j < tk; j++, vr += vs)
                {
                    var x = Vector512.Create(pi[j]);
                    a0 = Vector512.FusedMultiplyAdd(x, Vector512.Load(vr), a0);
                    a1 = Vector512.FusedMultiplyAdd(x, Vector512.Load(vr + Panel), a1);
                }
                a0.Store(o0);
                a1.Store(o0 + Panel);
            }
        }
        return c0;
    }
}
