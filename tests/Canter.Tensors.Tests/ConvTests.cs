using Canter.Tensors.Tests.Support;

namespace Canter.Tensors.Tests;

public class ConvTests
{
    [Theory]
    [InlineData(1, 0, 0, 1)]
    [InlineData(2, 1, 1, 1)]
    [InlineData(1, 4, 0, 1)]   // causal: K - 1 on the left
    [InlineData(2, 3, 2, 2)]   // dilation
    public void Conv1dMatchesTorch(int stride, int left, int right, int dilation)
    {
        var x = Tensor.Randn([2, 3, 23], seed: 1);
        var w = Tensor.Randn([5, 3, 5], seed: 2, std: 0.3f);
        var b = Tensor.Randn([5], seed: 3);
        Check.Parity("conv1d", t => Ops.Conv1d(t[0], t[1], t[2], stride, left, right, dilation), [("x", x), ("w", w), ("b", b)],
            new { stride, left, right, dilation }, atol: 1e-5f, gradAtol: 1e-4f);
        Check.Gradients(t => Ops.Conv1d(t[0], t[1], t[2], stride, left, right, dilation),
            [Tensor.Randn([1, 2, 9], 4), Tensor.Randn([3, 2, 3], 5), Tensor.Randn([3], 6)], what: "conv1d");
    }

    [Fact]
    public void Conv2dMatchesTorch()
    {
        var x = Tensor.Randn([2, 3, 9, 11], seed: 7);
        var w = Tensor.Randn([4, 3, 3, 3], seed: 8, std: 0.3f);
        var b = Tensor.Randn([4], seed: 9);
        Check.Parity("conv2d", t => Ops.Conv2d(t[0], t[1], t[2], stride: 2, padding: 1), [("x", x), ("w", w), ("b", b)], new { stride = 2, padding = 1 }, atol: 1e-5f);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    public void Conv3dMatchesTorch(bool causal, bool replicate)
    {
        var x = Tensor.Randn([2, 3, 5, 7, 6], seed: 10);
        var w = Tensor.Randn([4, 3, 3, 3, 3], seed: 11, std: 0.2f);
        var b = Tensor.Randn([4], seed: 12);
        var mode = replicate ? TimePadding.Replicate : TimePadding.Zero;
        Func<Tensor[], Tensor> f = t => Ops.Conv3d(t[0], t[1], t[2], stride: (1, 2, 2), padding: (1, 1), causal: causal, timePadding: mode, timePaddingSymmetric: causal ? 0 : 1);
        Check.Parity("conv3d", f, [("x", x), ("w", w), ("b", b)], new { causal, replicate, ph = 1, pw = 1, pf = 1, stride = new[] { 1, 2, 2 } }, atol: 1e-5f, gradAtol: 1e-4f);
        Check.Gradients(t => Ops.Conv3d(t[0], t[1], null, padding: (1, 1), causal: causal, timePadding: mode),
            [Tensor.Randn([1, 2, 3, 4, 4], 13), Tensor.Randn([2, 2, 2, 3, 3], 14)], what: "conv3d");
    }

    [Theory]
    [InlineData(5, 7, 3, 1, 40, true)]    // 16 lanes: two vectors, then 8 single pixels; Cout 7 is a block of 4 and one of 3
    [InlineData(5, 7, 3, 1, 40, false)]   // 8 lanes: two vectors twice, then one
    [InlineData(3, 2, 5, 2, 48, true)]    // 5x5 kernel, padding 2; two vectors, then one
    [InlineData(4, 4, 1, 0, 33, true)]    // 1x1 kernel, no padding; one single pixel left
    [InlineData(3, 5, 3, 1, 32, true, 3)]  // 3 taps in time, causal: two zero frames in front
    [InlineData(3, 5, 3, 1, 32, false, 2)]
    [InlineData(3, 5, 3, 1, 32, true, 3, true)]  // copies of the first frame in front instead
    [InlineData(6, 5, 3, 1, 16, true, 3, true)]  // rows of one vector: two rows at a time
    [InlineData(6, 5, 3, 1, 20, true, 1, false, 7)]  // two rows at a time with 4 single pixels each, and the 7th row alone
    [InlineData(6, 5, 3, 1, 12, false, 1, false, 5)] // 8 lanes, the same
    public void DirectConvMatchesTorchAndTheColumnPath(int cin, int cout, int k, int pad, int width, bool wide, int kf = 1, bool replicate = false,
        int height = 6)
    {
        // "same" convolutions in space with rows of at least one vector take the direct path (CpuDirectConv)
        var x = Tensor.Randn([2, cin, 4, height, width], seed: 40);
        var w = Tensor.Randn([cout, cin, kf, k, k], seed: 41, std: 0.2f);
        var b = Tensor.Randn([cout], seed: 42);
        bool savedWide = Backends.Cpu.CpuPanelGemm.Wide;
        try
        {
            Backends.Cpu.CpuPanelGemm.Wide = wide && System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated;
            var mode = replicate ? TimePadding.Replicate : TimePadding.Zero;
            Func<Tensor[], Tensor> f = t => Ops.Conv3d(t[0], t[1], t[2], padding: (pad, pad), causal: true, timePadding: mode);
            Check.Parity("conv3d", f, [("x", x), ("w", w), ("b", b)],
                new { causal = true, replicate, ph = pad, pw = pad, pf = 0, stride = new[] { 1, 1, 1 } }, atol: 1e-5f, gradAtol: 1e-4f);
            var recorded = f([x.RequireGrad(), w, b]).ToArray();                 // bias added as a recorded op
            Autograd.Tape.Current.Clear();                                       // no backward follows
            using var noGrad = Autograd.Tape.NoGrad();
            var direct = f([x, w, b]).ToArray();                                 // bias added in place
            Check.Close(recorded, direct, 0f, 0f, "bias in place against recorded");
            Backends.Cpu.CpuDirectConv.Enabled = false;
            var column = f([x, w, b]).ToArray();
            Check.Close(column, direct, 1e-5f, 1e-5f, "direct against column conv");
        }
        finally
        {
            Backends.Cpu.CpuPanelGemm.Wide = savedWide;
            Backends.Cpu.CpuDirectConv.Enabled = true;
        }
    }

    [Theory]
    [InlineData(3, 3, 1)]   // several items: each on its own thread, weight gradient as partial sums
    [InlineData(1, 3, 1)]
    [InlineData(3, 1, 1)]   // one item: GEMM and column copies split over the threads
    [InlineData(3, 9, 0)]   // more items than partial sums; W padding 0
    public void Conv3dStrideOneMatchesTorch(int kf, int batch, int pw)
    {
        // stride 1 with rows as wide as the input's: the column copies move whole frames at once
        var x = Tensor.Randn([batch, 4, 5, 6, 7], seed: 30);
        var w = Tensor.Randn([5, 4, kf, 3, 2 * pw + 1], seed: 31, std: 0.2f);
        var b = Tensor.Randn([5], seed: 32);
        Check.Parity("conv3d", t => Ops.Conv3d(t[0], t[1], t[2], padding: (1, pw), causal: true), [("x", x), ("w", w), ("b", b)],
            new { causal = true, replicate = false, ph = 1, pw, pf = 0, stride = new[] { 1, 1, 1 } }, atol: 1e-5f, gradAtol: 1e-4f);
    }

    [Fact]
    public void CausalConv3dDoesNotSeeTheFuture()
    {
        var w = Tensor.Randn([2, 2, 3, 3, 3], seed: 15);
        var x = Tensor.Randn([1, 2, 6, 5, 5], seed: 16);
        var y1 = Ops.Conv3d(x, w, padding: (1, 1), causal: true).ToArray();
        var host = x.ToArray();
        for (int c = 0; c < 2; c++)
            for (int i = 0; i < 25; i++) host[c * 150 + 5 * 25 + i] += 5f; // change the last frame only
        var y2 = Ops.Conv3d(Tensor.FromArray(host, x.Shape), w, padding: (1, 1), causal: true).ToArray();
        int frame = 25;
        for (int c = 0; c < 2; c++)
            for (int f = 0; f < 5; f++)
                for (int i = 0; i < frame; i++)
                    Assert.Equal(y1[c * 150 + f * frame + i], y2[c * 150 + f * frame + i]);
        Assert.NotEqual(y1[5 * frame], y2[5 * frame]);
    }

    [Fact]
    public void ConvTranspose1dMatchesTorch()
    {
        var x = Tensor.Randn([2, 4, 9], seed: 17);
        var w = Tensor.Randn([4, 3, 4], seed: 18, std: 0.3f);
        var b = Tensor.Randn([3], seed: 19);
        Check.Parity("conv_transpose1d", t => Ops.ConvTranspose1d(t[0], t[1], t[2], stride: 2, padding: 1), [("x", x), ("w", w), ("b", b)],
            new { stride = 2, padding = 1 }, atol: 1e-5f);
        Check.Gradients(t => Ops.ConvTranspose1d(t[0], t[1], t[2], stride: 2, padding: 1),
            [Tensor.Randn([1, 2, 5], 20), Tensor.Randn([2, 3, 4], 21), Tensor.Randn([3], 22)], what: "conv_transpose1d");
    }

    [Fact]
    public void UpsamplingMatchesTorch()
    {
        var x1 = Tensor.Randn([2, 3, 7], seed: 23);
        Check.Parity("upsample1d", t => Ops.Upsample1dNearest(t[0], 4), [("x", x1)], new { factor = 4 });
        var x3 = Tensor.Randn([1, 2, 3, 4, 5], seed: 24);
        Check.Parity("upsample3d", t => Ops.Upsample3dNearest(t[0], 2, 2, 3), [("x", x3)], new { factors = new[] { 2, 2, 3 } });
        Check.Gradients(t => Ops.Upsample3dNearest(t[0], 2, 1, 2), [Tensor.Randn([1, 1, 2, 2, 2], 25)], what: "upsample3d");
    }

    [Fact]
    public void LargeInputsAreChunkedAndStillExact()
    {
        // more column rows x positions than one buffer holds: the chunked path must agree with torch
        var x = Tensor.Randn([1, 64, 4, 40, 40], seed: 26); // 6400 positions x 1728 rows: two chunks
        var w = Tensor.Randn([8, 64, 3, 3, 3], seed: 27, std: 0.05f);
        var expected = TorchReference.Instance.Run("conv3d", new Dictionary<string, Tensor> { ["x"] = x, ["w"] = w },
            new { causal = false, replicate = false, ph = 1, pw = 1, pf = 1, stride = new[] { 1, 1, 1 } });
        Check.Close(expected["y"], Ops.Conv3d(x, w, padding: (1, 1), timePaddingSymmetric: 1).ToArray(), 1e-4f, 1e-4f, "chunked conv3d");
    }

    [Fact]
    public void BadShapesGiveClearErrors()
    {
        var e = Assert.Throws<ArgumentException>(() => Ops.Conv1d(Tensor.Zeros([1, 3, 10]), Tensor.Zeros([2, 4, 3])));
        Assert.Contains("3 channels", e.Message);
        Assert.Throws<ArgumentException>(() => Ops.Conv1d(Tensor.Zeros([1, 3, 2]), Tensor.Zeros([2, 3, 5])));
    }
}
