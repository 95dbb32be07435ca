using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Canter.Tensors.Backends.Cpu;

/// <summary>
/// One vector width of the hand-written kernels, as a struct type argument: <see cref="Lanes8"/> (AVX2) or
/// <see cref="Lanes16"/> (AVX-512). A kernel written once over <c>TL</c> is compiled for each width, and every operation
/// works lane by lane, so both widths give the same bits where each lane's sums run in the same order.
/// </summary>
internal unsafe interface ILanes<TV> where TV : struct
{
    /// <summary>Floats per vector.</summary>
    static abstract int Count { get; }

    static abstract TV Zero { get; }

    static abstract TV Load(float* source);

    static abstract void Store(TV value, float* destination);

    /// <summary>Every lane x.</summary>
    static abstract TV Broadcast(float x);

    static abstract TV Multiply(TV a, TV b);

    /// <summary>a b + c, rounded once.</summary>
    static abstract TV FusedMultiplyAdd(TV a, TV b, TV c);

    static abstract TV Max(TV a, TV b);

    /// <summary>To the nearest integer, ties to even.</summary>
    static abstract TV Round(TV x);

    /// <summary>2^n for integral n in [-126, 127], through the exponent bits.</summary>
    static abstract TV Pow2(TV n);

    /// <summary>0 in the lanes where x is below <paramref name="limit"/>, value elsewhere.</summary>
    static abstract TV ZeroBelow(TV x, float limit, TV value);
}

/// <summary>8 lanes: <see cref="Vector256{T}"/>.</summary>
internal readonly unsafe struct Lanes8 : ILanes<Vector256<float>>
{
    public static int Count => 8;
    public static Vector256<float> Zero => Vector256<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Load(float* source) => Vector256.Load(source);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector256<float> value, float* destination) => value.Store(destination);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Broadcast(float x) => Vector256.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> FusedMultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) => Vector256.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Max(Vector256<float> a, Vector256<float> b) => Vector256.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector256<float> Round(Vector256<float> x) => Vector256.Round(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Pow2(Vector256<float> n) => ((Vector256.ConvertToInt32(n) + Vector256.Create(127)) << 23).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ZeroBelow(Vector256<float> x, float limit, Vector256<float> value) =>
        Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(limit)), Vector256<float>.Zero, value);
}

/// <summary>16 lanes: <see cref="Vector512{T}"/>.</summary>
internal readonly unsafe struct Lanes16 : ILanes<Vector512<float>>
{
    public static int Count => 16;
    public static Vector512<float> Zero => Vector512<float>.Zero;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Load(float* source) => Vector512.Load(source);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(Vector512<float> value, float* destination) => value.Store(destination);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Broadcast(float x) => Vector512.Create(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> FusedMultiplyAdd(Vector512<float> a, Vector512<float> b, Vector512<float> c) => Vector512.FusedMultiplyAdd(a, b, c);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Max(Vector512<float> a, Vector512<float> b) => Vector512.Max(a, b);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static Vector512<float> Round(Vector512<float> x) => Vector512.Round(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Pow2(Vector512<float> n) => ((Vector512.ConvertToInt32(n) + Vector512.Create(127)) << 23).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ZeroBelow(Vector512<float> x, float limit, Vector512<float> value) =>
        Vector512.ConditionalSelect(Vector512.LessThan(x, Vector512.Create(limit)), Vector512<float>.Zero, value);
}
