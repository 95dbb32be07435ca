using System.Numerics.Tensors;

namespace Canter.Tensors.Backends.Cpu;

public sealed unsafe partial class CpuBackend
{
    public void EmbeddingForward(Tensor y, Tensor weight, int[] ids)
    {
        int c = weight.Shape[1];
        float* pw = Ptr(weight), py = Ptr(y);
        CpuParallel.For(ids.Length, c, (s, e) =>
        {
            for (int i = s; i < e; i++)
                new ReadOnlySpan<float>(pw + (long)ids[i] * c, c).CopyTo(new Span<float>(py + (long)i * c, c));
        });
    }

    public void EmbeddingBackward(Tensor dWeight, Tensor dy, int[] ids)
    {
        int c = dWeight.Shape[1];
        float* pw = Ptr(dWeight), pg = Ptr(dy);
        Span(dWeight).Clear();
        // serial in id order: repeated ids add up deterministically
        for (int i = 0; i < ids.Length; i++)
        {
            var row = new Span<float>(pw + (long)ids[i] * c, c);
            TensorPrimitives.Add(row, new ReadOnlySpan<float>(pg + (long)i * c, c), row);
        }
    }
}
