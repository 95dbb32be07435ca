using Canter.Tensors.Tests.Support;

namespace Canter.Tensors.Tests;

public class ElementwiseTests
{
    [Theory]
    [InlineData("add")]
    [InlineData("sub")]
    [InlineData("mul")]
    [InlineData("div")]
    [InlineData("maximum")]
    public void BinaryWithBroadcastMatchesTorch(string op)
    {
        // a (2, 3, 5) against b (3, 1): broadcast on the leading and last axes
        var a = Tensor.Randn([2, 3, 5], seed: 1);
        var b = Tensor.Rand([3, 1], seed: 2, low: 0.5f, high: 2f);
        Func<Tensor[], Tensor> f = op switch
        {
            "add" => x => x[0] + x[1],
            "sub" => x => x[0] - x[1],
            "mul" => x => x[0] * x[1],
            "div" => x => x[0] / x[1],
            _ => x => Ops.Maximum(x[0], x[1]),
        };
        Check.Parity(op, f, [("a", a), ("b", b)]);
        Check.Gradients(f, [a, b], what: op);
    }

    [Theory]
    [InlineData("exp")]
    [InlineData("log")]
    [InlineData("sqrt")]
    [InlineData("rsqrt")]
    [InlineData("tanh")]
    [InlineData("sigmoid")]
    [InlineData("square")]
    public void UnaryMatchesTorch(string op)
    {
        var x = Tensor.Rand([4, 37], seed: 3, low: 0.2f, high: 2f);
        var kind = Enum.Parse<UnaryOp>(op, ignoreCase: true);
        Check.Parity(op, t => Ops.Unary(kind, t[0]), [("x", x)]);
        Check.Gradients(t => Ops.Unary(kind, t[0]), [x], what: op);
    }

    [Fact]
    public void AffineMatchesTorch()
    {
        var x = Tensor.Randn([3, 7], seed: 4);
        Check.Parity("affine", t => Ops.AffineOp(t[0], 2.5f, -0.75f), [("x", x)], new { scale = 2.5, shift = -0.75 });
    }

    [Fact]
    public void OpsOnNonContiguousViews()
    {
        // a transposed view must give the same result as its contiguous copy
        var a = Tensor.Randn([4, 6], seed: 5);
        var at = Ops.Transpose(a, 0, 1);
        Assert.False(at.IsContiguous);
        var b = Tensor.Randn([6, 4], seed: 6);
        var viaView = (at + b).ToArray();
        var viaCopy = (Ops.Contiguous(at) + b).ToArray();
        Assert.Equal(viaCopy, viaView);
        Check.Gradients(x => Ops.Tanh(Ops.Transpose(x[0], 0, 1)) * x[1], [a, b], what: "tanh(transpose)");
    }

    [Fact]
    public void IncompatibleShapesGiveAClearError()
    {
        var a = Tensor.Zeros([2, 3]);
        var b = Tensor.Zeros([4]);
        var e = Assert.Throws<ArgumentException>(() => a + b);
        Assert.Contains("(2, 3)", e.Message);
        Assert.Contains("(4,)", e.Message);
    }
}
