using System.Runtime.CompilerServices;
using ILGPU;
using ILGPU.Runtime;

namespace Canter.Tensors.Cuda;

public sealed partial class GpuBackend
{
    private readonly ConditionalWeakTable<RopeTable, MemoryBuffer1D<float, Stride1D.Dense>[]> _ropeTables = [];

    // ---- norms ----------------------------------------------------------------------

    private static NormArgs Args(Tensor x, Tensor? weight, Tensor? bias, Tensor? shift, Tensor? scale, float eps)
    {
        var a = new NormArgs
        {
            Rows = x.Shape[0], C = x.Shape[1], Tokens = 1, XOffset = x.Offset, XRow = x.Strides[0], Eps = eps,
            HasWeight = weight is null ? 0 : 1, HasBias = bias is null ? 0 : 1, HasShift = shift is null ? 0 : 1, HasScale = scale is null ? 0 : 1,
            WOffset = weight?.Offset ?? 0, BOffset = bias?.Offset ?? 0,
        };
        if (shift is not null) { a.Tokens = shift.Shape[1]; a.ShiftOffset = shift.Offset; a.ShiftBatch = shift.Strides[0]; a.ShiftToken = shift.Strides[1]; }
        if (scale is not null) { a.Tokens = scale.Shape[1]; a.ScaleOffset = scale.Offset; a.ScaleBatch = scale.Strides[0]; a.ScaleToken = scale.Strides[1]; }
        return a;
    }

    private Action<KernelConfig, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, NormArgs, int> NormForwardKernel() =>
        Kernel("norm_forward", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, NormArgs, int>(RowKernels.NormForward));

    /// <summary>Launch shape of the warp-per-row kernels: four rows (warps) per group.</summary>
    private KernelConfig RowConfig(int rows)
    {
        int ws = _accelerator.WarpSize;
        int group = Math.Min(ws * 4, _accelerator.MaxNumThreadsPerGroup / ws * ws);
        int perGroup = group / ws;
        return new KernelConfig((rows + perGroup - 1) / perGroup, group);
    }

    public void LayerNormForward(Tensor y, Tensor mean, Tensor rstd, Tensor x, Tensor? weight, Tensor? bias, Tensor? shift, Tensor? scale, float eps)
    {
        if (x.Shape[0] == 0) return;
        var args = Args(x, weight, bias, shift, scale, eps);
        args.YOffset = y.Offset;
        args.MeanOffset = mean.Offset;
        args.RstdOffset = rstd.Offset;
        NormForwardKernel()(RowConfig(x.Shape[0]), V(y), V(x), V(mean), V(rstd), V(weight, x), V(bias, x), V(shift, x), V(scale, x), args, 0);
    }

    public void LayerNormBackward(Tensor dx, Tensor? dWeight, Tensor? dBias, Tensor? dShift, Tensor? dScale, Tensor dy, Tensor x, Tensor mean, Tensor rstd,
        Tensor? weight, Tensor? scale) => NormBackward(dx, dWeight, dBias, dShift, dScale, dy, x, mean, rstd, weight, scale, rms: 0);

    public void RmsNormForward(Tensor y, Tensor rstd, Tensor x, Tensor? weight, float eps)
    {
        if (x.Shape[0] == 0) return;
        var args = Args(x, weight, null, null, null, eps);
        args.YOffset = y.Offset;
        args.RstdOffset = rstd.Offset;
        NormForwardKernel()(RowConfig(x.Shape[0]), V(y), V(x), V(rstd), V(rstd), V(weight, x), V(x), V(x), V(x), args, 1);
    }

    public void RmsNormBackward(Tensor dx, Tensor? dWeight, Tensor dy, Tensor x, Tensor rstd, Tensor? weight) =>
        NormBackward(dx, dWeight, null, null, null, dy, x, rstd, rstd, weight, null, rms: 1);

    /// <summary>
    /// The channel norm as the row norm over a channels-last copy: x (B, C, S) is copied to (B S, C), normed as rows by
    /// the row kernels (rstd (B, S) is their (B S) row statistic), and copied back; a kernel over strided channels
    /// could save the copies.
    /// </summary>
    public void ChannelRmsNormForward(Tensor y, Tensor rstd, Tensor x, Tensor? weight, float eps)
    {
        int b = x.Shape[0], c = x.Shape[1], s = x.Shape[2];
        if (b * s == 0) return;
        using var rows = ChannelsLast(x);                                            // (B S, C)
        using var normed = Tensor.Empty([b * s, c], this);                           // (B S, C)
        RmsNormForward(normed, rstd, rows, weight, eps);
        ChannelsFirst(y, normed);
    }

    public void ChannelRmsNormBackward(Tensor dx, Tensor? dWeight, Tensor dy, Tensor x, Tensor rstd, Tensor? weight)
    {
        int b = x.Shape[0], c = x.Shape[1], s = x.Shape[2];
        if (b * s == 0)
        {
            if (dWeight is not null) Fill(dWeight, 0f);
            return;
        }
        using var rows = ChannelsLast(x);                                            // (B S, C)
        using var dyRows = ChannelsLast(dy);                                         // (B S, C)
        using var dxRows = Tensor.Empty([b * s, c], this);                           // (B S, C)
        RmsNormBackward(dxRows, dWeight, dyRows, rows, rstd, weight);
        ChannelsFirst(dx, dxRows);
    }

    /// <summary>t (B, C, S) contiguous -> a fresh (B S, C) copy.</summary>
    private Tensor ChannelsLast(Tensor t)
    {
        int b = t.Shape[0], c = t.Shape[1], s = t.Shape[2];
        var rows = Tensor.Empty([b * s, c], this);
        int[] shape = [b, s, c];
        CopyKernel()(b * s * c, V(rows), StridedLayout.Of(shape, [s * c, c, 1], rows.Offset), V(t), StridedLayout.Of(shape, [c * s, 1, s], t.Offset), 0);
        return rows;
    }

    /// <summary>dst (B, C, S) contiguous = rows (B S, C) with the channels moved back to axis 1.</summary>
    private void ChannelsFirst(Tensor dst, Tensor rows)
    {
        int b = dst.Shape[0], c = dst.Shape[1], s = dst.Shape[2];
        int[] shape = [b, s, c];
        CopyKernel()(b * s * c, V(dst), StridedLayout.Of(shape, [c * s, 1, s], dst.Offset), V(rows), StridedLayout.Of(shape, [s * c, c, 1], rows.Offset), 0);
    }

    private void NormBackward(Tensor dx, Tensor? dWeight, Tensor? dBias, Tensor? dShift, Tensor? dScale, Tensor dy, Tensor x, Tensor mean, Tensor rstd,
        Tensor? weight, Tensor? scale, int rms)
    {
        int rows = x.Shape[0], c = x.Shape[1];
        if (rows == 0) return;
        var args = Args(x, weight, null, null, scale, 0f);
        args.MeanOffset = mean.Offset;
        args.RstdOffset = rstd.Offset;
        // dy, dx, dShift, dScale are fresh contiguous tensors: kernels index them from 0
        using var dyc = Offsetless(dy);
        bool modulation = dShift is not null || dScale is not null;
        using var shiftTmp = modulation && dShift is null ? Tensor.Empty([rows, c], this) : null;
        using var scaleTmp = modulation && dScale is null ? Tensor.Empty([rows, c], this) : null;
        Kernel("norm_backward_rows", a => a.LoadStreamKernel<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, NormArgs, int, int>(RowKernels.NormBackwardRows))
            (RowConfig(rows), V(dx), V(dShift ?? shiftTmp, dx), V(dScale ?? scaleTmp, dx), V(dyc), V(x), V(mean), V(rstd), V(weight, x), V(scale, x), args, rms, modulation ? 1 : 0);
        if (dWeight is null && dBias is null) return;
        // column sums in two stages (chunks of rows, then chunks in order): parallel and deterministic
        const int rowsPerChunk = 64;
        int chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
        using var partial = Tensor.Empty([chunks, 2, c], this);
        using var wTmp = dWeight is null ? Tensor.Empty([c], this) : null;
        using var bTmp = dBias is null ? Tensor.Empty([c], this) : null;
        Kernel("norm_column_partials", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, NormArgs, int, int>(RowKernels.NormColumnPartials))
            (chunks * c, V(partial), V(dyc), V(x), V(mean), V(rstd), args, rms, rowsPerChunk);
        Kernel("norm_column_totals", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int>(RowKernels.NormColumnTotals))
            (c, V(dWeight ?? wTmp!), V(dBias ?? bTmp!), V(partial), c, chunks);
    }

    /// <summary>A contiguous tensor starting at offset 0 of its storage (copied when it does not).</summary>
    private Tensor Offsetless(Tensor t)
    {
        if (t.IsContiguous && t.Offset == 0) return t.Detach();
        var copy = Tensor.Empty(t.Shape, this);
        Copy(copy, t);
        return copy;
    }

    // ---- activations, softmax, rope -------------------------------------------------

    public void ActivationForward(Activation kind, Tensor y, Tensor x)
    {
        if (x.Count == 0) return;
        Kernel("act_forward", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, ArrayView<float>, int, int>(Kernels.ActivationForward))
            (x.Count, V(y), y.Offset, V(x), x.Offset, (int)kind);
    }

    public void ActivationBackward(Activation kind, Tensor dx, Tensor dy, Tensor x)
    {
        if (x.Count == 0) return;
        Kernel("act_backward", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, int, ArrayView<float>, int, ArrayView<float>, int, int>(Kernels.ActivationBackward))
            (x.Count, V(dx), dx.Offset, V(dy), dy.Offset, V(x), x.Offset, (int)kind);
    }

    public void SoftmaxForward(Tensor y, Tensor x, bool log)
    {
        if (x.Shape[0] == 0) return;
        Kernel("softmax_forward", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, int, int, int, int>(Kernels.SoftmaxForward))
            (x.Shape[0], V(y), V(x), x.Shape[1], y.Offset, x.Offset, log ? 1 : 0);
    }

    public void SoftmaxBackward(Tensor dx, Tensor dy, Tensor y, bool log)
    {
        if (y.Shape[0] == 0) return;
        var offsets = new StridedLayout { D0 = dx.Offset, D1 = dy.Offset, D2 = y.Offset };
        Kernel("softmax_backward", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, StridedLayout, int>(Kernels.SoftmaxBackward))
            (y.Shape[0], V(dx), V(dy), V(y), y.Shape[1], offsets, log ? 1 : 0);
    }

    public void RopeForward(Tensor y, Tensor x, RopeTable table, bool inverse)
    {
        if (x.Count == 0) return;
        var tables = _ropeTables.GetValue(table, t => [_accelerator.Allocate1D(t.Cos), _accelerator.Allocate1D(t.Sin)]);
        int pairs = table.Pairs;
        var layout = StridedLayout.Of([x.Shape[0], x.Shape[1], x.Shape[2], pairs], [x.Strides[0], x.Strides[1], x.Strides[2], 2], x.Offset);
        Kernel("rope", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, StridedLayout, int, float>(Kernels.Rope))
            (x.Count / 2, V(y), V(x), tables[0].View.AsContiguous(), tables[1].View.AsContiguous(), layout, pairs, inverse ? -1f : 1f);
    }

    // ---- attention ------------------------------------------------------------------

    private static AttentionArgs AttentionArgsOf(Tensor o, Tensor q, Tensor k, Tensor v, bool segments, float scale) => new()
    {
        B = q.Shape[0], H = q.Shape[1], Nq = q.Shape[2], Nk = k.Shape[2], D = q.Shape[3], Scale = scale, HasSegments = segments ? 1 : 0,
        QOffset = q.Offset, QB = q.Strides[0], QH = q.Strides[1], QN = q.Strides[2],
        KOffset = k.Offset, KB = k.Strides[0], KH = k.Strides[1], KN = k.Strides[2],
        VOffset = v.Offset, VB = v.Strides[0], VH = v.Strides[1], VN = v.Strides[2],
        OOffset = o.Offset, OB = o.Strides[0], OH = o.Strides[1], ON = o.Strides[2],
    };

    /// <summary>A one-element id buffer standing in for "no segments" (kernels never read it then).</summary>
    private MemoryBuffer1D<int, Stride1D.Dense> NoSegments => _noSegments ??= _accelerator.Allocate1D<int>(1);

    private MemoryBuffer1D<int, Stride1D.Dense>? _noSegments;

    /// <summary>Segment ids on the device: a shared empty stand-in, or a fresh buffer the caller must release after a synchronize.</summary>
    private (ArrayView<int> View, MemoryBuffer1D<int, Stride1D.Dense>? Owned) Segments(int[]? segments)
    {
        if (segments is null) return (NoSegments.View.AsContiguous(), null);
        var buffer = _accelerator.Allocate1D(segments);
        return (buffer.View.AsContiguous(), buffer);
    }

    private void Release(MemoryBuffer1D<int, Stride1D.Dense>? owned)
    {
        if (owned is null) return;
        _accelerator.Synchronize();
        owned.Dispose();
    }

    public void AttentionForward(Tensor o, Tensor lse, Tensor q, Tensor k, Tensor v, int[]? segments, float scale)
    {
        var (segView, owned) = Segments(segments);
        try
        {
            AttentionForwardOn(o, lse, q, k, v, segView, segments is not null, scale);
        }
        finally
        {
            Release(owned);
        }
    }

    private void AttentionForwardOn(Tensor o, Tensor lse, Tensor q, Tensor k, Tensor v, ArrayView<int> seg, bool hasSegments, float scale)
    {
        var args = AttentionArgsOf(o, q, k, v, hasSegments, scale);
        if (UsesFlashAttention(args.D))
        {
            AttentionForwardFlash(o, lse, q, k, v, seg, args);
            return;
        }
        if (_cublas != 0)
        {
            AttentionForwardCublas(o, lse, q, k, v, seg, args);
            return;
        }
        Kernel("attention_forward", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, AttentionArgs>(Kernels.AttentionForward))
            (args.B * args.H * args.Nq, V(o), V(lse), V(q), V(k), V(v), seg, args);
    }

    public void AttentionBackward(Tensor dq, Tensor dk, Tensor dv, Tensor dO, Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse, int[]? segments, float scale)
    {
        var (segView, owned) = Segments(segments);
        try
        {
            AttentionBackwardOn(dq, dk, dv, dO, q, k, v, o, lse, segView, segments is not null, scale);
        }
        finally
        {
            Release(owned);
        }
    }

    private void AttentionBackwardOn(Tensor dq, Tensor dk, Tensor dv, Tensor dO, Tensor q, Tensor k, Tensor v, Tensor o, Tensor lse,
        ArrayView<int> seg, bool hasSegments, float scale)
    {
        var args = AttentionArgsOf(o, q, k, v, hasSegments, scale);
        if (UsesFlashAttention(args.D))
        {
            AttentionBackwardFlash(dq, dk, dv, dO, q, k, v, o, lse, seg, args);
            return;
        }
        if (_cublas != 0)
        {
            AttentionBackwardCublas(dq, dk, dv, dO, q, k, v, o, lse, seg, args);
            return;
        }
        using var delta = Tensor.Empty([args.B * args.H * args.Nq], this);
        using var dOc = Offsetless(dO);
        Kernel("attention_backward_query", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, AttentionArgs>(Kernels.AttentionBackwardQuery))
            (args.B * args.H * args.Nq, V(dq), V(delta), V(dOc), V(lse), V(q), V(k), V(v), V(o), seg, args);
        Kernel("attention_backward_key", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<int>, AttentionArgs>(Kernels.AttentionBackwardKey))
            (args.B * args.H * args.Nk, V(dk), V(dv), V(delta), V(dOc), V(lse), V(q), V(k), V(v), seg, args);
    }

    // ---- embedding, max, optimizer ---------------------------------------------------

    public void EmbeddingForward(Tensor y, Tensor weight, int[] ids)
    {
        if (ids.Length == 0) return;
        using var d = _accelerator.Allocate1D(ids);
        int c = weight.Shape[1];
        Kernel("embedding_forward", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int>(Kernels.EmbeddingForward))
            (ids.Length * c, V(y), V(weight), d.View.AsContiguous(), c, weight.Offset);
        _accelerator.Synchronize();
    }

    public void EmbeddingBackward(Tensor dWeight, Tensor dy, int[] ids)
    {
        Fill(dWeight, 0f);
        if (ids.Length == 0) return;
        using var d = _accelerator.Allocate1D(ids);
        using var dyc = Offsetless(dy);
        int c = dWeight.Shape[1];
        Kernel("embedding_backward", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<int>, int, int>(Kernels.EmbeddingBackward))
            (c, V(dWeight), V(dyc), d.View.AsContiguous(), c, ids.Length);
        _accelerator.Synchronize();
    }

    public void MaxRows(Tensor values, int[] argmax, Tensor x)
    {
        int rows = x.Shape[0];
        if (rows == 0) return;
        using var d = _accelerator.Allocate1D<int>(rows);
        Kernel("max_rows", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<int>, ArrayView<float>, int, int, int>(Kernels.MaxRows))
            (rows, V(values), d.View.AsContiguous(), V(x), x.Shape[1], x.Offset, x.Strides[0]);
        _accelerator.Synchronize();
        d.View.AsContiguous().CopyToCPU(argmax.AsSpan(0, rows)); // the argmax indices are host data of the op
    }

    public void AdamWStep(Tensor p, Tensor m, Tensor v, Tensor g, float lr, float beta1, float beta2, float eps, float weightDecay, float bias1, float bias2)
    {
        if (p.Count == 0) return;
        var offsets = new StridedLayout { D0 = p.Offset, D1 = m.Offset, D2 = v.Offset, D3 = g.Offset };
        Kernel("adamw", a => a.LoadAutoGroupedStreamKernel<Index1D, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, StridedLayout, float, float, float, float, float, float, float>(Kernels.AdamW))
            (p.Count, V(p), V(m), V(v), V(g), offsets, lr, beta1, beta2, eps, 1f - lr * weightDecay, bias1, 1f / MathF.Sqrt(bias2));
    }
}
