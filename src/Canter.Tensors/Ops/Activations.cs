using Canter.Tensors.Autograd;

namespace Canter.Tensors;

/// <summary>Activation functions with fused kernels.</summary>
public enum Activation { GeluTanh, GeluExact, Silu }

public partial interface IBackend
{
    /// <summary>y = f(x); contiguous, same shape.</summary>
    void ActivationForward(Activation kind, Tensor y, Tensor x);

    /// <summary>dx = dy * f'(x); contiguous, same shape.</summary>
    void ActivationBackward(Activation kind, Tensor dx, Tensor dy, Tensor x);
}

public static partial class Ops
{
    /// <summary>GELU: the tanh approximation when <paramref name="approximate"/>, else the exact erf form.</summary>
    public static Tensor Gelu(Tensor x, bool approximate = true) => Activate(x, approximate ? Activation.GeluTanh : Activation.GeluExact);

    /// <summary>SiLU (swish): x * sigmoid(x).</summary>
    public static Tensor Silu(Tensor x) => Activate(x, Activation.Silu);

    public static Tensor Activate(Tensor x, Activation kind)
    {
        x.ThrowIfDisposed();
        var xc = x.IsContiguous ? x : ContiguousCopy(x);
        var y = Tensor.EmptyLike(x);
        x.Backend.ActivationForward(kind, y, xc);
        if (Tape.NeedsGrad(x))
        {
            Tape.Record(kind.ToString().ToLowerInvariant(), y, g =>
            {
                using var gc = g.IsContiguous ? g.Detach() : ContiguousCopy(g);
                var dx = Tensor.EmptyLike(x);
                x.Backend.ActivationBackward(kind, dx, gc, xc);
                Tape.Accumulate(x, dx);
            });
        }
        else if (!ReferenceEquals(xc, x)) xc.Dispose();
        return y;
    }
}
