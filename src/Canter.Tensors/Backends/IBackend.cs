namespace Canter.Tensors;

/// <summary>
/// The device side of the engine. Ops (in <c>Ops/</c>) check shapes, record gradients and
/// call these kernels; a backend owns memory and computes. Kernels take tensors whose
/// shapes the op has already validated; outputs come first in every argument list.
/// Each op family declares its kernels in its own file as a part of this interface.
/// </summary>
public partial interface IBackend
{
    string Name { get; }

    /// <summary>Whether this backend implements the named kernel (names are the method names).</summary>
    bool Supports(string kernel);

    /// <summary>Uninitialised memory for <paramref name="length"/> floats.</summary>
    Storage Allocate(int length);

    /// <summary>dst[...] = value. dst is contiguous.</summary>
    void Fill(Tensor dst, float value);

    /// <summary>dst = src element by element over the same shape; either may have any strides (src may broadcast with stride 0).</summary>
    void Copy(Tensor dst, Tensor src);

    /// <summary>Writes host floats into a contiguous tensor.</summary>
    void Upload(Tensor dst, ReadOnlySpan<float> source);

    /// <summary>Waits until every kernel queued so far has finished (for timing; a no-op on the CPU).</summary>
    void Synchronize();

    /// <summary>Reads a contiguous tensor into host floats.</summary>
    void Download(Span<float> destination, Tensor src);
}

public partial interface IBackend
{
    /// <summary>dst += src over the same shape; either may have any strides (dst must not overlap itself).</summary>
    void AddInto(Tensor dst, Tensor src);

    /// <summary>y += alpha * x; both contiguous with the same element count.</summary>
    void Axpy(Tensor y, float alpha, Tensor x);
}
