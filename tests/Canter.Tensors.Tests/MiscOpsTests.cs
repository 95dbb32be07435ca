using Canter.Tensors.Tests.Support;

namespace Canter.Tensors.Tests;

public class MiscOpsTests
{
    [Fact]
    public void GroupNormMatchesTorchIn1dAnd3d()
    {
        var x3 = Tensor.Randn([2, 8, 5, 4, 3], seed: 1, std: 2f);
        var w = Tensor.Randn([8], seed: 2);
        var b = Tensor.Randn([8], seed: 3);
        Check.Parity("group_norm", t => Ops.GroupNorm(t[0], 4, t[1], t[2]), [("x", x3), ("w", w), ("b", b)], new { groups = 4 }, atol: 1e-5f);
        var x1 = Tensor.Randn([3, 6, 17], seed: 4);
        Check.Parity("group_norm", t => Ops.GroupNorm(t[0], 2, t[1], t[2]), [("x", x1), ("w", Tensor.Randn([6], 5)), ("b", Tensor.Randn([6], 6))], new { groups = 2 }, atol: 1e-5f);
        Check.Gradients(t => Ops.GroupNorm(t[0], 2, t[1], t[2]), [Tensor.Randn([1, 4, 3], 7), Tensor.Randn([4], 8), Tensor.Randn([4], 9)], what: "group_norm");
        Assert.Throws<ArgumentException>(() => Ops.GroupNorm(x1, 4, null, null));
    }

    [Fact]
    public void EmbeddingMatchesTorchAndAccumulatesRepeats()
    {
        var w = Tensor.Randn([10, 6], seed: 10);
        int[] ids = [3, 1, 3, 9, 0, 3];
        Check.Parity("embedding", t => Ops.Embedding(t[0], ids, [2, 3]), [("w", w)], new { ids, shape = new[] { 2, 3 } });
        Check.Gradients(t => Ops.Embedding(t[0], ids, [6]), [w], what: "embedding");
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Ops.Embedding(w, [10], [1]));
        Assert.Contains("vocabulary of 10", e.Message);
    }

    [Fact]
    public void LossesMatchTorch()
    {
        var a = Tensor.Randn([4, 5], seed: 11);
        var b = Tensor.Randn([4, 5], seed: 12);
        Check.Parity("mse", t => Ops.MseLoss(t[0], t[1]), [("a", a), ("b", b)], atol: 1e-6f);
        int[] targets = [1, 0, 4, 2];
        Check.Parity("cross_entropy", t => Ops.CrossEntropy(t[0], targets), [("x", a)], new { targets }, atol: 1e-6f);
        Check.Gradients(t => Ops.CrossEntropy(t[0], targets), [a], what: "cross_entropy");
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(1)]
    [InlineData(0)]
    public void MaxMatchesTorch(int axis)
    {
        var x = Tensor.Randn([3, 4, 5], seed: 13);
        Check.Parity("max", t => Ops.Max(t[0], axis), [("x", x)], new { axis });
        Check.Gradients(t => Ops.Max(t[0], axis), [x], eps: 1e-3f, what: "max");
    }
}
