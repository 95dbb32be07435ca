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
    public static Vector256<float> Exp(Vector256<float> x) => Exp<Lanes8, Vector256<float>>(x);

    /// <summary><see cref="Exp(Vector256{float})"/> on any width: the same operations lane by lane, so the same bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Exp<TL, TV>(TV x) where TL : struct, ILanes<TV> where TV : struct
    {
        var clamped = TL.Max(x, TL.Broadcast(-87.3f));
        // x = n ln 2 + r with |r| <= ln 2 / 2; ln 2 in two parts keeps r exact
        var n = TL.Round(TL.Multiply(clamped, TL.Broadcast(1.44269504f)));
        var r = TL.FusedMultiplyAdd(n, TL.Broadcast(-0.693359375f), clamped);
        r = TL.FusedMultiplyAdd(n, TL.Broadcast(2.12194440e-4f), r);
        // e^r by its Taylor series to r^7 (error under 1e-8 relative on |r| <= 0.35)
        var p = TL.Broadcast(1.98412698e-4f);
        p = TL.FusedMultiplyAdd(p, r, TL.Broadcast(1.38888889e-3f));
        p = TL.FusedMultiplyAdd(p, r, TL.Broadcast(8.33333333e-3f));
        p = TL.FusedMultiplyAdd(p, r, TL.Broadcast(4.16666667e-2f));
        p = TL.FusedMultiplyAdd(p, r, TL.Broadcast(1.66666667e-1f));
        p = TL.FusedMultiplyAdd(p, r, TL.Broadcast(0.5f));
        p = TL.FusedMultiplyAdd(p, r, TL.Broadcast(1f));
        p = TL.FusedMultiplyAdd(p, r, TL.Broadcast(1f));
        // times 2^n through the exponent bits (n >= -126 here)
        return TL.ZeroBelow(x, -87.3f, TL.Multiply(p, TL.Pow2(n)));
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
