using Canter.Tensors.Autograd;
using Canter.Tensors.Backends.Cpu;
using Canter.Tensors.Tests.Support;

namespace Canter.Tensors.Tests;

public class ViewsTests
{
    [Fact]
    public void PermuteThenReshapeMatchesTorch()
    {
        var x = Tensor.Randn([3, 4, 5], seed: 1);
        Check.Parity("permute_reshape", t => Ops.Reshape(Ops.Permute(t[0], 2, 0, 1), 10, -1), [("x", x)], new { shape = new[] { 10, -1 } });
        Check.Gradients(t => Ops.Reshape(Ops.Permute(t[0], 2, 0, 1), 10, -1), [x], what: "permute+reshape");
    }

    [Fact]
    public void SliceAndConcatMatchTorch()
    {
        var a = Tensor.Randn([2, 4, 3], seed: 2);
        var b = Tensor.Randn([2, 5, 3], seed: 3);
        Func<Tensor[], Tensor> f = t => Ops.Concat([Ops.Slice(t[0], 1, 1, 2), t[1], Ops.Slice(t[0], 1, 0, 1)], 1);
        Check.Parity("slice_concat", f, [("a", a), ("b", b)]);
        Check.Gradients(f, [a, b], what: "slice+concat");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void BroadcastAndSumMatchTorch(bool keep)
    {
        var x = Tensor.Randn([3, 1, 5], seed: 4);
        var w = Tensor.Randn([2, 3, 4, 5], seed: 5);
        Func<Tensor[], Tensor> f = t => Ops.Sum(Ops.Mul(Ops.BroadcastTo(t[0], 2, 3, 4, 5), t[1]), [0, 2], keep);
        Check.Parity("broadcast_sum", f, [("x", x), ("w", w)], new { shape = new[] { 2, 3, 4, 5 }, axes = new[] { 0, 2 }, keep });
        Check.Gradients(f, [x, w], what: "broadcast+sum");
    }

    [Fact]
    public void SplitAndMeanMatchTorch()
    {
        var x = Tensor.Randn([6, 4], seed: 6);
        Func<Tensor[], Tensor> f = t =>
        {
            var parts = Ops.Split(t[0], 0, 2, 4);
            return Ops.Concat(parts.Select(p => Ops.Unsqueeze(Ops.Mean(p, 0), 0)).ToList(), 0);
        };
        Check.Parity("split_mean", f, [("x", x)], new { sizes = new[] { 2, 4 } });
        Check.Gradients(f, [x], what: "split+mean");
    }

    [Fact]
    public void SqueezeAndUnsqueezeAreViewsWithGradients()
    {
        var x = Tensor.Randn([3, 4, 2], seed: 7);
        Func<Tensor[], Tensor> f = t => Ops.Scale(Ops.Squeeze(Ops.Transpose(Ops.Unsqueeze(t[0], 1), 0, 2), 1), 2f);
        Check.Parity("unsqueeze_squeeze", f, [("x", x)]);
        Check.Gradients(f, [x], what: "unsqueeze+squeeze");
        var view = Ops.Unsqueeze(x, 1);
        Assert.Same(x.Storage, view.Storage);
    }

    [Fact]
    public void ReshapeErrorsNameBothShapes()
    {
        var e = Assert.Throws<ArgumentException>(() => Ops.Reshape(Tensor.Zeros([2, 3]), 4, 2));
        Assert.Contains("(2, 3)", e.Message);
        Assert.Contains("(4, 2)", e.Message);
        Assert.Throws<ArgumentException>(() => Ops.Split(Tensor.Zeros([5]), 0, 2, 2));
    }

    [Fact]
    public void DisposedTensorsFailLoudly()
    {
        var x = Tensor.Randn([4], seed: 8);
        x.Dispose();
        Assert.Throws<ObjectDisposedException>(() => Ops.Exp(x));
    }

    [Fact]
    public void ScopesReturnMemoryAndRepeatedStepsAllocateNothingNew()
    {
        var w = Tensor.Randn([64, 64], seed: 9).AsParameter("w");
        var x = Tensor.Randn([32, 64], seed: 10);
        void Step()
        {
            using var scope = TensorScope.Begin();
            var loss = Ops.MeanAll(Ops.Square(Ops.Gelu(Ops.Linear(x, w))));
            loss.Backward();
        }
        Step();
        w.ZeroGrad();
        // tensors dropped by earlier tests without Dispose return their memory when finalized: let that happen
        // before counting, or a finalizer running mid-loop moves the count
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        long live = CpuAllocator.LiveBytes;
        long systemAllocations = CpuAllocator.SystemAllocations;
        for (int i = 0; i < 3; i++)
        {
            Step();
            w.ZeroGrad();
        }
        // the scope released every intermediate, and the cache served every request of the later steps
        Assert.Equal(live, CpuAllocator.LiveBytes);
        Assert.Equal(systemAllocations, CpuAllocator.SystemAllocations);
    }
}
