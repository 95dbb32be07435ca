using Canter.Tensors.Autograd;

namespace Canter.Tensors;

public partial interface IBackend
{
    /// <summary>
    /// Fused attention o = softmax(q k^T * scale [masked]) v without materialising the score matrix.
    /// q (B, H, Nq, D), k and v (B, H, Nk, D) and o (B, H, Nq, D) are views whose last axis is contiguous
    /// (any strides elsewhere); lse (B, H, Nq) receives the log-sum-exp of each query row.
    /// segments (B * N) or null: query i sees key j only when their segment ids are equal.
    /// </summary>
    void AttentionForward(Tensor o, Tensor lse, Tensor q, Tensor k, Tensor v, int[]? segments, float scale);

    /// <summary>
    /// Gradients of <see cref="AttentionForward"/>, recomputing scores tile by tile from q, k and lse.
    /// dq, dk, dv are contiguous (B, H, N, D) and written (not accumulated); dO is (B, H, Nq, D) contiguous.
    /// </summary>
    void AttentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dO, Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse,
        int[]? segments, float scale);
}

public static partial class Ops
{
    /// <summary>
    /// Scaled dot-product attention, flash-style (tiles of queries and keys, online softmax).
    /// q (B, H, Nq, D), k and v (B, H, Nk, D) -> (B, H, Nq, D). Inputs may be strided views (for
    /// example heads permuted out of a (B, N, 3, H, D) projection) as long as the last axis is
    /// contiguous. The result is a (B, H, Nq, D) view of memory laid out as (B, Nq, H, D), so that
    /// permuting it back to tokens-major and merging heads costs no copy.
    /// <paramref name="segments"/> (length B * N, needs Nq == Nk) restricts attention to tokens of
    /// the same segment id (packed sequences, isolated groups).
    /// </summary>
    public static Tensor Attention(Tensor q, Tensor k, Tensor v, int[]? segments = null, float? scale = null)
    {
        q.ThrowIfDisposed();
        k.ThrowIfDisposed();
        v.ThrowIfDisposed();
        if (q.Rank != 4 || k.Rank != 4 || v.Rank != 4)
            throw new ArgumentException($"attention needs (B, H, N, D) tensors; got q {q.ShapeString}, k {k.ShapeString}, v {v.ShapeString}");
        int b = q.Shape[0], h = q.Shape[1], nq = q.Shape[2], d = q.Shape[3], nk = k.Shape[2];
        if (k.Shape[0] != b || k.Shape[1] != h || k.Shape[3] != d || !ShapeUtil.SameShape(k.Shape, v.Shape))
            throw new ArgumentException($"attention shapes disagree: q {q.ShapeString}, k {k.ShapeString}, v {v.ShapeString}");
        if (segments is not null)
        {
            if (nq != nk) throw new ArgumentException("attention segments need as many queries as keys");
            if (segments.Length != b * nq) throw new ArgumentException($"attention segments: {segments.Length} ids for {b} x {nq} tokens");
        }
        float s = scale ?? 1f / MathF.Sqrt(d);
        var qv = LastAxisContiguous(q);
        var kv = LastAxisContiguous(k);
        var vv = LastAxisContiguous(v);

        var storage = Tensor.Empty([b, nq, h, d], q.Backend);                 // (B, Nq, H, D) memory
        var o = Permute(storage, 0, 2, 1, 3);                                  // (B, H, Nq, D) view
        storage.Dispose();
        var lse = Tensor.Empty([b, h, nq], q.Backend);                         // (B, H, Nq)
        q.Backend.AttentionForward(o, lse, qv, kv, vv, segments, s);

        if (Tape.NeedsGrad(qv, kv, vv))
        {
            Tape.Record("attention", o, g =>
            {
                using var gc = g.IsContiguous ? g.Detach() : ContiguousCopy(g);   // (B, H, Nq, D)
                var dq = Tensor.Empty(qv.Shape, q.Backend);
                var dk = Tensor.Empty(kv.Shape, q.Backend);
                var dv = Tensor.Empty(vv.Shape, q.Backend);
                q.Backend.AttentionBackward(dq, dk, dv, gc, qv, kv, vv, o, lse, segments, s);
                Tape.Accumulate(qv, dq);
                Tape.Accumulate(kv, dk);
                Tape.Accumulate(vv, dv);
            });
        }
        return o;
    }

    private static Tensor LastAxisContiguous(Tensor x) => x.Strides[^1] == 1 || x.Shape[^1] == 1 ? x : Contiguous(x);
}
