using Canter.Tensors.Tests.Support;

namespace Canter.Tensors.Tests;

public class MatMulTests
{
    [Fact]
    public void LinearMatchesTorch()
    {
        var x = Tensor.Randn([2, 5, 8], seed: 1);
        var w = Tensor.Randn([6, 8], seed: 2, std: 0.3f);
        var b = Tensor.Randn([6], seed: 3);
        Check.Parity("linear", t => Ops.Linear(t[0], t[1], t[2]), [("x", x), ("w", w), ("b", b)]);
        Check.Gradients(t => Ops.Linear(t[0], t[1], t[2]), [x, w, b], what: "linear");
    }

    [Fact]
    public void MatMulBatchedAndBroadcastMatchTorch()
    {
        var a = Tensor.Randn([3, 4, 5], seed: 4);
        var b = Tensor.Randn([3, 5, 2], seed: 5);
        Check.Parity("matmul", t => Ops.MatMul(t[0], t[1]), [("a", a), ("b", b)]);
        var w = Tensor.Randn([5, 7], seed: 6);
        Check.Parity("matmul", t => Ops.MatMul(t[0], t[1]), [("a", a), ("b", w)]);
        Check.Gradients(t => Ops.MatMul(t[0], t[1]), [a, b], what: "bmm");
    }

    [Fact]
    public void TransposedViewsGoToBlasWithoutCopy()
    {
        // a @ b^T with b a transposed view: same as torch's a @ b.T
        var a = Tensor.Randn([2, 3, 4, 8], seed: 7);
        var b = Tensor.Randn([2, 3, 6, 8], seed: 8);
        Check.Parity("matmul_bt", t => Ops.MatMul(t[0], Ops.Transpose(t[1], -1, -2)), [("a", a), ("b", b)]);
    }

    [Fact]
    public void LargeGemmMatchesNaiveSum()
    {
        // a size where OpenBLAS uses its threaded kernels
        int m = 300, k = 257, n = 190;
        var a = Tensor.Randn([m, k], seed: 9);
        var b = Tensor.Randn([k, n], seed: 10);
        var y = Ops.MatMul(a, b).ToArray();
        var ah = a.ToArray();
        var bh = b.ToArray();
        var rng = new System.Random(1);
        for (int probe = 0; probe < 50; probe++)
        {
            int i = rng.Next(m), j = rng.Next(n);
            double s = 0;
            for (int p = 0; p < k; p++) s += (double)ah[i * k + p] * bh[p * n + j];
            Assert.True(Math.Abs(s - y[i * n + j]) < 1e-3 * (1 + Math.Abs(s)), $"y[{i},{j}] = {y[i * n + j]}, expected {s}");
        }
    }
}
