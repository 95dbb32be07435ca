using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Canter.Tensors.Backends.Cpu;

/// <summary>Float functions on 8 (and 16) lanes in one pass, for the CPU kernels' inner loops (no widening to double).</summary>
internal static class CpuMath
{
    /// <summary>The tanh GELU's u = k (x + c x^3): k.</summary>
    public const float SqrtTwoOverPi = 0.7978845608028654f;

    /// <summary>The tanh GELU's u = k (x + c x^3): c.</summary>
    public const float GeluCubic = 0.044715f;

    /// <summary>
    /// e^x in float for x &lt;= 0 (what a softmax row minus its maximum holds), within 2 ulp of MathF.Exp; minus infinity and
    /// anything below -87.3 (where e^x is under float's normal range) give exactly 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        var tiny = Vector256.LessThan(x, Vector256.Create(-87.3f));
        x = Vector256.Max(x, Vector256.Create(-87.3f));
        // x = n ln 2 + r with |r| <= ln 2 / 2; ln 2 in two parts keeps r exact
        var n = Vector256.Round(x * Vector256.Create(1.44269504f));
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-0.693359375f), x);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(2.12194440e-4f), r);
        // e^r by its Taylor series to r^7 (error under 1e-8 relative on |r| <= 0.35)
        var p = Vector256.Create(1.98412698e-4f);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.38888889e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(8.33333333e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(4.16666667e-2f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.66666667e-1f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(0.5f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256<float>.One);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256<float>.One);
        // times 2^n through the exponent bits (n >= -126 here)
        var scale = (Vector256.ConvertToInt32(n) + Vector256.Create(127)) << 23;
        return Vector256.ConditionalSelect(tiny, Vector256<float>.Zero, p * scale.AsSingle());
    }

    /// <summary><see cref="Exp(Vector256{float})"/> on 16 lanes: the same operations lane by lane, so the same bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        var tiny = Vector512.LessThan(x, Vector512.Create(-87.3f));
        x = Vector512.Max(x, Vector512.Create(-87.3f));
        var n = Vector512.Round(x * Vector512.Create(1.44269504f));
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693359375f), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(2.12194440e-4f), r);
        var p = Vector512.Create(1.98412698e-4f);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.38888889e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(8.33333333e-3f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(4.16666667e-2f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.66666667e-1f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.5f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512<float>.One);
        var scale = (Vector512.ConvertToInt32(n) + Vector512.Create(127)) << 23;
        return Vector512.ConditionalSelect(tiny, Vector512<float>.Zero, p * scale.AsSingle());
    }

    /// <summary>
    /// GELU, tanh form: 0.5 x (1 + tanh(k (x + c x^3))) written as x sigmoid(2u), with the exponent taken of -2|u| only
    /// (never above 0, never overflowing).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> GeluTanh(Vector256<float> x)
    {
        var u = x * Vector256.FusedMultiplyAdd(x * x, Vector256.Create(SqrtTwoOverPi * GeluCubic), Vector256.Create(SqrtTwoOverPi));
        var a = Exp(Vector256.Create(-2f) * Vector256.Abs(u));          // e^(-2|u|) in (0, 1]
        var sigmoid = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(u, Vector256<float>.Zero), Vector256<float>.One, a) / (Vector256<float>.One + a);
        return x * sigmoid;
    }
}
