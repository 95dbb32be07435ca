using System.Runtime.CompilerServices;
using Canter.Tensors.Backends.Cpu;

namespace Canter.Tensors.Rng;

/// <summary>
/// Philox4x32-10, a counter-based generator (Salmon et al., 2011): the value at position i
/// of a stream depends only on (seed, i), so filling in parallel or in pieces gives the same
/// numbers as filling serially, whatever the thread count.
/// </summary>
public static class Philox
{
    private const uint M0 = 0xD2511F53, M1 = 0xCD9E8D57;
    private const uint W0 = 0x9E3779B9, W1 = 0xBB67AE85;

    /// <summary>Four 32-bit outputs for the 64-bit counter <paramref name="counter"/> under <paramref name="seed"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (uint, uint, uint, uint) Block(ulong seed, ulong counter)
    {
        uint c0 = (uint)counter, c1 = (uint)(counter >> 32), c2 = 0, c3 = 0;
        uint k0 = (uint)seed, k1 = (uint)(seed >> 32);
        for (int round = 0; round < 10; round++)
        {
            ulong p0 = (ulong)M0 * c0;
            ulong p1 = (ulong)M1 * c2;
            uint n0 = (uint)(p1 >> 32) ^ c1 ^ k0;
            uint n1 = (uint)p1;
            uint n2 = (uint)(p0 >> 32) ^ c3 ^ k1;
            uint n3 = (uint)p0;
            c0 = n0; c1 = n1; c2 = n2; c3 = n3;
            k0 += W0; k1 += W1;
        }
        return (c0, c1, c2, c3);
    }

    /// <summary>Uniform in (0, 1]: never 0, so it is safe under a logarithm.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ToUnitOpen(uint x) => ((x >> 8) + 1) * (1f / 16777216f);

    /// <summary>Fills <paramref name="dst"/> with stream positions [offset, offset + length) of Uniform[low, high).</summary>
    public static void FillUniform(Span<float> dst, ulong seed, ulong offset, float low = 0f, float high = 1f) =>
        FillBlocks(dst, seed, offset, (a, b, c, d) =>
        {
            // [0, 1) from each lane
            const float ulp = 1f / 16777216f;
            float w = high - low;
            return (low + w * (ToUnitOpen(a) - ulp), low + w * (ToUnitOpen(b) - ulp), low + w * (ToUnitOpen(c) - ulp), low + w * (ToUnitOpen(d) - ulp));
        });

    /// <summary>Fills <paramref name="dst"/> with stream positions [offset, offset + length) of Normal(0, std).</summary>
    public static void FillNormal(Span<float> dst, ulong seed, ulong offset, float std = 1f) =>
        FillBlocks(dst, seed ^ 0x5DEECE66DUL, offset, (a, b, c, d) =>
        {
            // Box-Muller: two pairs of uniforms give four normals
            float r0 = MathF.Sqrt(-2f * MathF.Log(ToUnitOpen(a))), t0 = 2f * MathF.PI * ToUnitOpen(b);
            float r1 = MathF.Sqrt(-2f * MathF.Log(ToUnitOpen(c))), t1 = 2f * MathF.PI * ToUnitOpen(d);
            return (std * r0 * MathF.Cos(t0), std * r0 * MathF.Sin(t0), std * r1 * MathF.Cos(t1), std * r1 * MathF.Sin(t1));
        });

    private delegate (float, float, float, float) BlockTransform(uint a, uint b, uint c, uint d);

    /// <summary>
    /// Writes stream positions [offset, offset + length): block k of the stream (positions 4k .. 4k+3) is
    /// <paramref name="transform"/> of Philox's four outputs for counter k, whichever thread computes it.
    /// </summary>
    private static unsafe void FillBlocks(Span<float> dst, ulong seed, ulong offset, BlockTransform transform)
    {
        fixed (float* p = dst)
        {
            float* ptr = p;
            int n = dst.Length;
            ulong firstBlock = offset / 4;
            CpuParallel.For((n + 3) / 4 + 1, 32, (s, e) =>
            {
                Span<float> v = stackalloc float[4];
                for (long local = s; local < e; local++)
                {
                    ulong block = firstBlock + (ulong)local;
                    var (a, b, c, d) = Block(seed, block);
                    (v[0], v[1], v[2], v[3]) = transform(a, b, c, d);
                    for (int lane = 0; lane < 4; lane++)
                    {
                        long index = (long)(block * 4 + (ulong)lane) - (long)offset;
                        if (index >= 0 && index < n) ptr[index] = v[lane];
                    }
                }
            });
        }
    }
}

/// <summary>
/// A seeded stream for host-side sampling decisions (shuffles, noise tensors, dropout masks):
/// each call advances a counter, so a run with the same seed replays exactly.
/// </summary>
public sealed class RandomStream(ulong seed)
{
    private ulong _position;

    public ulong Seed { get; } = seed;

    /// <summary>Stream position (save it in a checkpoint to resume the same sequence).</summary>
    public ulong Position { get => _position; set => _position = value; }

    public Tensor Normal(int[] shape, float std = 1f, Device? device = null)
    {
        var host = new float[ShapeUtil.CheckedCount(shape)];
        Philox.FillNormal(host, Seed, Advance(host.Length), std);
        return Tensor.FromArray(host, shape, device);
    }

    public Tensor Uniform(int[] shape, float low = 0f, float high = 1f, Device? device = null)
    {
        var host = new float[ShapeUtil.CheckedCount(shape)];
        Philox.FillUniform(host, Seed, Advance(host.Length), low, high);
        return Tensor.FromArray(host, shape, device);
    }

    /// <summary>A uniform float in [0, 1).</summary>
    public float NextFloat()
    {
        Span<float> one = stackalloc float[1];
        Philox.FillUniform(one, Seed, Advance(1));
        return one[0];
    }

    /// <summary>A uniform integer in [0, maxExclusive).</summary>
    public int NextInt(int maxExclusive)
    {
        if (maxExclusive <= 0) throw new ArgumentOutOfRangeException(nameof(maxExclusive));
        return Math.Min((int)(NextFloat() * maxExclusive), maxExclusive - 1);
    }

    private ulong Advance(int count)
    {
        // keep every draw block-aligned so that positions never straddle a Philox block
        ulong start = _position;
        _position += ((ulong)count + 3) / 4 * 4;
        return start;
    }
}
