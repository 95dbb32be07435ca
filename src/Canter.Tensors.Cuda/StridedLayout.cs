namespace Canter.Tensors.Cuda;

/// <summary>
/// Shape, strides and offset of a tensor view of rank at most 8, passed by value to kernels
/// (kernels cannot take arrays of metadata). Unused leading axes have size 1.
/// </summary>
public struct StridedLayout
{
    public const int MaxRank = 8;
    public int D0, D1, D2, D3, D4, D5, D6, D7;
    public int S0, S1, S2, S3, S4, S5, S6, S7;
    public int Offset;

    public static StridedLayout Of(Tensor t) => Of(t.Shape, t.Strides, t.Offset);

    public static StridedLayout Of(int[] shape, int[] strides, int offset)
    {
        if (shape.Length > MaxRank) throw new NotSupportedException($"GPU kernels handle views of rank <= {MaxRank}; got {ShapeUtil.Format(shape)}");
        Span<int> d = stackalloc int[MaxRank];
        Span<int> s = stackalloc int[MaxRank];
        d.Fill(1);
        s.Clear();
        int lead = MaxRank - shape.Length;
        for (int i = 0; i < shape.Length; i++)
        {
            d[lead + i] = shape[i];
            s[lead + i] = strides[i];
        }
        return new StridedLayout
        {
            D0 = d[0], D1 = d[1], D2 = d[2], D3 = d[3], D4 = d[4], D5 = d[5], D6 = d[6], D7 = d[7],
            S0 = s[0], S1 = s[1], S2 = s[2], S3 = s[3], S4 = s[4], S5 = s[5], S6 = s[6], S7 = s[7],
            Offset = offset,
        };
    }

    /// <summary>Storage index of the element at row-major position <paramref name="linear"/>.</summary>
    public readonly int IndexOf(int linear)
    {
        int i7 = linear % D7; linear /= D7;
        int i6 = linear % D6; linear /= D6;
        int i5 = linear % D5; linear /= D5;
        int i4 = linear % D4; linear /= D4;
        int i3 = linear % D3; linear /= D3;
        int i2 = linear % D2; linear /= D2;
        int i1 = linear % D1; linear /= D1;
        return Offset + linear * S0 + i1 * S1 + i2 * S2 + i3 * S3 + i4 * S4 + i5 * S5 + i6 * S6 + i7 * S7;
    }
}
