using Canter.Tensors.Autograd;

namespace Canter.Tensors;

public partial interface IBackend
{
    /// <summary>y (N, C) = rows of weight (V, C) picked by ids (N).</summary>
    void EmbeddingForward(Tensor y, Tensor weight, int[] ids);

    /// <summary>dWeight (V, C) written: zero, then every dy row added to the row of its id (repeats accumulate).</summary>
    void EmbeddingBackward(Tensor dWeight, Tensor dy, int[] ids);
}

public static partial class Ops
{
    /// <summary>Looks up rows of <paramref name="weight"/> (V, C) for token ids shaped <paramref name="shape"/>: -> (*shape, C).</summary>
    public static Tensor Embedding(Tensor weight, int[] ids, int[] shape)
    {
        weight.ThrowIfDisposed();
        if (weight.Rank != 2) throw new ArgumentException($"embedding table must be (V, C); got {weight.ShapeString}");
        if (ShapeUtil.CheckedCount(shape) != ids.Length) throw new ArgumentException($"{ids.Length} ids cannot have shape {ShapeUtil.Format(shape)}");
        int v = weight.Shape[0], c = weight.Shape[1];
        for (int i = 0; i < ids.Length; i++)
            if ((uint)ids[i] >= (uint)v) throw new ArgumentOutOfRangeException(nameof(ids), $"token id {ids[i]} at position {i} is outside the vocabulary of {v}");
        var wc = weight.IsContiguous ? weight : ContiguousCopy(weight);
        var y = Tensor.Empty([.. shape, c], weight.Backend);
        var ids2 = (int[])ids.Clone();
        using (var y2 = View(y, [ids.Length, c]))
            weight.Backend.EmbeddingForward(y2, wc, ids2);
        if (Tape.NeedsGrad(weight))
        {
            Tape.Record("embedding", y, g =>
            {
                var dw = Tensor.Empty(weight.Shape, weight.Backend);
                using var g2 = View(g, [ids2.Length, c]);
                weight.Backend.EmbeddingBackward(dw, g2, ids2);
                Tape.Accumulate(weight, dw);
            });
        }
        return y;
    }
}
