using System.Numerics.Tensors;

namespace Canter.Tensors.Backends.Cpu;

/// <summary>
/// The CPU backend: OpenBLAS for GEMM, <see cref="TensorPrimitives"/> and hardware
/// intrinsics for the rest, <see cref="CpuParallel"/> for threads. Kernels of each op
/// family live in their own file (<c>CpuElementwise.cs</c>, <c>CpuNorms.cs</c>, ...).
/// </summary>
public sealed unsafe partial class CpuBackend : IBackend
{
    public static CpuBackend Instance { get; } = new();

    private CpuBackend()
    {
    }

    public string Name => "cpu";

    public bool Supports(string kernel) => typeof(IBackend).GetMethods().Any(m => m.Name == kernel);

    public Storage Allocate(int length) => new CpuStorage(this, length);

    /// <summary>Pointer to the first element of <paramref name="t"/> (valid while t lives).</summary>
    internal static float* Ptr(Tensor t) => ((CpuStorage)t.Storage).Pointer + t.Offset;

    /// <summary>The elements of a contiguous tensor.</summary>
    internal static Span<float> Span(Tensor t)
    {
        if (!t.IsContiguous) throw new InvalidOperationException($"kernel needs a contiguous tensor; got shape {t.ShapeString} strides {ShapeUtil.Format(t.Strides)}");
        return new Span<float>(Ptr(t), t.Count);
    }

    public void Fill(Tensor dst, float value) => Span(dst).Fill(value);

    public void Synchronize()
    {
    }

    public void Upload(Tensor dst, ReadOnlySpan<float> source) => source.CopyTo(Span(dst));

    public void Download(Span<float> destination, Tensor src) => Span(src).CopyTo(destination);

    public void Axpy(Tensor y, float alpha, Tensor x)
    {
        if (x.Count != y.Count) throw new ArgumentException("Axpy: sizes differ");
        float* py = Ptr(y), px = Ptr(x);
        int n = y.Count;
        CpuParallel.For(n, 1, (s, e) =>
        {
            var ys = new Span<float>(py + s, e - s);
            var xs = new ReadOnlySpan<float>(px + s, e - s);
            if (alpha == 1f) TensorPrimitives.Add(ys, xs, ys);
            else TensorPrimitives.MultiplyAdd(xs, alpha, ys, ys);
        });
    }

    public void Copy(Tensor dst, Tensor src)
    {
        if (!ShapeUtil.SameShape(dst.Shape, src.Shape) && !(dst.IsContiguous && src.IsContiguous && dst.Count == src.Count))
            throw new ArgumentException($"Copy: {src.ShapeString} into {dst.ShapeString}");
        if (src.Count == 0) return;
        float* pd = Ptr(dst), ps = Ptr(src);
        if (src.IsContiguous && dst.IsContiguous)
        {
            int n = src.Count;
            CpuParallel.For(n, 1, (s, e) => new ReadOnlySpan<float>(ps + s, e - s).CopyTo(new Span<float>(pd + s, e - s)));
            return;
        }
        StridedCopy(pd, dst.Strides, ps, src.Strides, src.Shape, add: false);
    }

    public void AddInto(Tensor dst, Tensor src)
    {
        if (!ShapeUtil.SameShape(dst.Shape, src.Shape)) throw new ArgumentException($"AddInto: {src.ShapeString} into {dst.ShapeString}");
        if (src.Count == 0) return;
        StridedCopy(Ptr(dst), dst.Strides, Ptr(src), src.Strides, src.Shape, add: true);
    }

    /// <summary>
    /// dst = src (or dst += src) over a shape, both strided (rank 0 allowed), row by row over the last axis; when that
    /// axis is short (a pixel shuffle's 2, say) a row is the last two axes, so the index walk is not paid per few floats.
    /// </summary>
    internal static void StridedCopy(float* dst, int[] dstStrides, float* src, int[] srcStrides, int[] shape, bool add)
    {
        int rank = shape.Length;
        if (rank == 0)
        {
            *dst = add ? *dst + *src : *src;
            return;
        }
        int inner = shape[rank - 1];
        int si = srcStrides[rank - 1], di = dstStrides[rank - 1];
        if (inner == 0) return;
        // rows of the last axis, or of the last two when the last is short
        bool pairs = rank >= 2 && inner < 16;
        int outer = pairs ? rank - 2 : rank - 1;
        int middle = pairs ? shape[rank - 2] : 1;
        long sm = pairs ? srcStrides[rank - 2] : 0, dm = pairs ? dstStrides[rank - 2] : 0;
        if (middle == 0) return;
        int rows = ShapeUtil.Count(shape) / (inner * middle);
        CpuParallel.For(rows, (long)inner * middle, (r0, r1) =>
        {
            Span<int> index = stackalloc int[Math.Max(outer, 1)];
            int rem = r0;
            for (int d = outer - 1; d >= 0; d--)
            {
                index[d] = rem % shape[d];
                rem /= shape[d];
            }
            for (int r = r0; r < r1; r++)
            {
                long so = 0, dof = 0;
                for (int d = 0; d < outer; d++)
                {
                    so += (long)index[d] * srcStrides[d];
                    dof += (long)index[d] * dstStrides[d];
                }
                for (int m = 0; m < middle; m++)
                {
                    float* s = src + so + m * sm;
                    float* o = dst + dof + m * dm;
                    if (add)
                    {
                        if (si == 1 && di == 1)
                        {
                            var os = new Span<float>(o, inner);
                            System.Numerics.Tensors.TensorPrimitives.Add(os, new ReadOnlySpan<float>(s, inner), os);
                        }
                        else if (si == 0 && di == 1)
                        {
                            var os = new Span<float>(o, inner);
                            System.Numerics.Tensors.TensorPrimitives.Add(os, *s, os);
                        }
                        else for (int i = 0; i < inner; i++) o[(long)i * di] += s[(long)i * si];
                    }
                    else if (si == 1 && di == 1) new ReadOnlySpan<float>(s, inner).CopyTo(new Span<float>(o, inner));
                    else if (si == 0 && di == 1) new Span<float>(o, inner).Fill(*s);
                    else for (int i = 0; i < inner; i++) o[(long)i * di] = s[(long)i * si];
                }
                for (int d = outer - 1; d >= 0; d--)
                {
                    if (++index[d] < shape[d]) break;
                    index[d] = 0;
                }
            }
        });
    }
}
