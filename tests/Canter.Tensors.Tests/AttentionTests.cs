using Canter.Tensors.Tests.Support;

namespace Canter.Tensors.Tests;

public class AttentionTests
{
    private static Tensor Attn(Tensor[] t) => Ops.Attention(t[0], t[1], t[2]);

    [Theory]
    [InlineData(2, 3, 17, 17, 16)]
    [InlineData(1, 2, 77, 77, 32)]   // not a multiple of the tiles
    [InlineData(1, 2, 70, 300, 8)]   // more keys than one key tile, Nq != Nk
    [InlineData(1, 1, 130, 260, 64)] // the model's head size; rows past the last 6, keys past the last 16
    [InlineData(1, 2, 45, 45, 24)]   // a head size of 16 columns and 8 more taken one at a time
    public void MatchesTorch(int b, int h, int nq, int nk, int d)
    {
        var q = Tensor.Randn([b, h, nq, d], seed: 1);
        var k = Tensor.Randn([b, h, nk, d], seed: 2);
        var v = Tensor.Randn([b, h, nk, d], seed: 3);
        Check.Parity("attention", Attn, [("q", q), ("k", k), ("v", v)], atol: 1e-5f, rtol: 1e-4f, gradAtol: 1e-4f, gradRtol: 1e-3f);
    }

    [Fact]
    public void GradientsMatchFiniteDifferences()
    {
        var q = Tensor.Randn([1, 2, 5, 4], seed: 4);
        var k = Tensor.Randn([1, 2, 6, 4], seed: 5);
        var v = Tensor.Randn([1, 2, 6, 4], seed: 6);
        Check.Gradients(Attn, [q, k, v], what: "attention");
    }

    [Fact]
    public void SegmentsIsolateGroups()
    {
        int b = 2, h = 2, n = 40, d = 16;
        var q = Tensor.Randn([b, h, n, d], seed: 7);
        var k = Tensor.Randn([b, h, n, d], seed: 8);
        var v = Tensor.Randn([b, h, n, d], seed: 9);
        var seg = Enumerable.Range(0, b * n).Select(i => (i % n) < 13 ? 0 : (i % n) < 30 ? 1 : 2).ToArray();
        var segT = Tensor.FromArray(seg.Select(x => (float)x).ToArray(), [b, n]);
        Check.Parity("attention", t => Ops.Attention(t[0], t[1], t[2], seg), [("q", q), ("k", k), ("v", v)], atol: 1e-5f, gradAtol: 1e-4f,
            constants: new Dictionary<string, Tensor> { ["seg"] = segT });
        // a token of segment 0 must not change when a token of segment 2 changes
        var before = Ops.Attention(q, k, v, seg).ToArray();
        var vHost = v.ToArray();
        vHost[35 * d] += 10f;
        var after = Ops.Attention(q, k, Tensor.FromArray(vHost, v.Shape), seg).ToArray();
        Assert.Equal(before[0], after[0]);
        Assert.NotEqual(before[35 * d], after[35 * d]);
    }

    [Fact]
    public void GroupsAlignedWithKeyTilesMatchTorch()
    {
        // key tiles of 256: the first holds group 0 only, the second group 1 only, the third both and a padding group
        // nobody else attends to; each uniform tile is either skipped or taken whole for a query
        int b = 1, h = 2, n = 600, d = 8;
        var seg = Enumerable.Range(0, n).Select(i => i < 256 ? 0 : i < 512 ? 1 : i < 560 ? 0 : 2).ToArray();
        var segT = Tensor.FromArray(seg.Select(x => (float)x).ToArray(), [b, n]);
        Check.Parity("attention", t => Ops.Attention(t[0], t[1], t[2], seg),
            [("q", Tensor.Randn([b, h, n, d], seed: 11)), ("k", Tensor.Randn([b, h, n, d], seed: 12)), ("v", Tensor.Randn([b, h, n, d], seed: 13))],
            atol: 1e-5f, gradAtol: 1e-4f, constants: new Dictionary<string, Tensor> { ["seg"] = segT });
    }

    [Fact]
    public void SoftmaxExponentIsWithinTwoUlpAndZeroForMaskedScores()
    {
        var xs = new List<float> { 0f, -1e-7f, -0.5f, -0.6931472f, -1f, -10f, -50f, -87f, -87.2f };
        for (int i = 0; i < 20000; i++) xs.Add(-87f * i / 20000f);
        while (xs.Count % 8 != 0) xs.Add(-3f);
        for (int i = 0; i < xs.Count; i += 8)
        {
            var e = Canter.Tensors.Backends.Cpu.CpuMath.Exp(System.Runtime.Intrinsics.Vector256.Create(xs.GetRange(i, 8).ToArray()));
            for (int l = 0; l < 8; l++)
            {
                float want = MathF.Exp(xs[i + l]);
                float ulp = MathF.BitIncrement(want) - want;
                Assert.True(MathF.Abs(e[l] - want) <= 2 * ulp, $"exp({xs[i + l]:R}) = {e[l]:R}, MathF.Exp gives {want:R}");
            }
        }
        var masked = Canter.Tensors.Backends.Cpu.CpuMath.Exp(System.Runtime.Intrinsics.Vector256.Create(float.NegativeInfinity, -88f, -100f, -1e30f, -87.4f, -200f, -1000f, float.MinValue));
        for (int l = 0; l < 8; l++) Assert.Equal(0f, masked[l]);
    }

    [Fact]
    public void StridedHeadViewsNeedNoCopy()
    {
        // q, k, v cut out of a (B, N, 3, H, D) projection and permuted to (B, H, N, D)
        int b = 2, n = 21, h = 3, d = 8;
        var qkv = Tensor.Randn([b, n, 3, h, d], seed: 10);
        Tensor Head(int i) => Ops.Permute(Ops.Squeeze(Ops.Slice(qkv, 2, i, 1), 2), 0, 2, 1, 3);
        var q = Head(0);
        Assert.False(q.IsContiguous);
        var expected = TorchReference.Instance.Run("attention",
            new Dictionary<string, Tensor> { ["q"] = Ops.Contiguous(q), ["k"] = Ops.Contiguous(Head(1)), ["v"] = Ops.Contiguous(Head(2)) });
        var y = Ops.Attention(q, Head(1), Head(2));
        Check.Close(expected["y"], y.ToArray(), 1e-5f, 1e-4f, "strided attention");
        // the output is a view over tokens-major memory: back to (B, N, H, D) it is contiguous
        Assert.True(Ops.Permute(y, 0, 2, 1, 3).IsContiguous);
        Check.Gradients(t => Ops.Attention(Head(0), Head(1), Head(2)), [qkv], what: "attention via qkv views");
    }

    [Fact]
    public void SameResultWithOneAndTwoThreads()
    {
        var q = Tensor.Randn([2, 2, 130, 32], seed: 11);
        var k = Tensor.Randn([2, 2, 130, 32], seed: 12);
        var v = Tensor.Randn([2, 2, 130, 32], seed: 13);
        int saved = Engine.Threads;
        try
        {
            Engine.Threads = 1;
            var one = Ops.Attention(q, k, v).ToArray();
            Engine.Threads = 2;
            var two = Ops.Attention(q, k, v).ToArray();
            Check.Close(one, two, 1e-6f, 0f, "threads 1 vs 2");
        }
        finally
        {
            Engine.Threads = saved;
        }
    }
}

public class RopeTests
{
    [Fact]
    public void MultiAxisFractionalPositionsMatchTorch()
    {
        // 12 tokens: time in seconds (fractional, as audio at 12.5 Hz), row and column
        int n = 12, d = 16;
        var positions = new float[n * 3];
        for (int i = 0; i < n; i++)
        {
            positions[3 * i] = i / 12.5f;
            positions[3 * i + 1] = i % 3;
            positions[3 * i + 2] = (i / 3) * 0.5f;
        }
        var table = new RopeTable(positions, axes: 3, pairsPerAxis: [2, 3, 3]);
        var x = Tensor.Randn([2, n, 3, d], seed: 14);
        var cos = Tensor.FromArray(table.Cos, [n, d / 2]);
        var sin = Tensor.FromArray(table.Sin, [n, d / 2]);
        var expected = TorchReference.Instance.Run("rope", new Dictionary<string, Tensor> { ["x"] = x, ["cos"] = cos, ["sin"] = sin, ["grad.y"] = Tensor.Ones(x.Shape) }, grad: ["x"]);
        Check.Close(expected["y"], Ops.Rope(x, table).ToArray(), 1e-6f, 1e-5f, "rope forward");
        Check.Gradients(t => Ops.Rope(t[0], table), [x], what: "rope");
    }

    [Fact]
    public void TableFollowsTheStatedFrequencies()
    {
        // one axis with 2 pairs, theta 100: pair 1 turns at 100^(-1/2) = 0.1 rad per unit
        var table = new RopeTable([3f], axes: 1, pairsPerAxis: [2], theta: 100f);
        Assert.Equal(MathF.Cos(3f), table.Cos[0], 6);
        Assert.Equal(MathF.Sin(0.3f), table.Sin[1], 6);
    }

    [Fact]
    public void RotationPreservesNormsAndInvertsOnBackward()
    {
        var table = new RopeTable(Enumerable.Range(0, 5).Select(i => i * 0.7f).ToArray(), axes: 1, pairsPerAxis: [4]);
        var x = Tensor.Randn([1, 5, 2, 8], seed: 15);
        var y = Ops.Rope(x, table);
        double nx = x.ToArray().Sum(v => (double)v * v), ny = y.ToArray().Sum(v => (double)v * v);
        Assert.Equal(nx, ny, 3);
        Assert.Throws<ArgumentException>(() => Ops.Rope(Tensor.Zeros([1, 4, 2, 8]), table));
    }
}
