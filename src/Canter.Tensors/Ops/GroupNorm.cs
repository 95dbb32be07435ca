namespace Canter.Tensors;

public static partial class Ops
{
    /// <summary>
    /// GroupNorm over x (B, C, *spatial): channels split into <paramref name="groups"/>, each group
    /// normalised over its channels and positions, then scaled and shifted per channel. Runs on the
    /// fused LayerNorm kernel (a group is one row), so its gradient is that kernel's.
    /// </summary>
    public static Tensor GroupNorm(Tensor x, int groups, Tensor? weight, Tensor? bias, float eps = 1e-5f)
    {
        x.ThrowIfDisposed();
        if (x.Rank < 2) throw new ArgumentException($"group norm needs x (B, C, ...); got {x.ShapeString}");
        int b = x.Shape[0], c = x.Shape[1];
        if (groups <= 0 || c % groups != 0) throw new ArgumentException($"group norm: {c} channels cannot form {groups} groups");
        CheckVector(weight, c, "group_norm weight");
        CheckVector(bias, c, "group_norm bias");
        var rows = Reshape(x, b, groups, -1);                                   // (B, G, C/G * S)
        var normed = Reshape(LayerNorm(rows, null, null, eps), x.Shape);         // (B, C, ...)
        if (weight is null && bias is null) return normed;
        var perChannel = new int[x.Rank];
        Array.Fill(perChannel, 1);
        perChannel[1] = c;
        if (weight is not null) normed = Mul(normed, Reshape(weight, perChannel));
        if (bias is not null) normed = Add(normed, Reshape(bias, perChannel));
        return normed;
    }
}
