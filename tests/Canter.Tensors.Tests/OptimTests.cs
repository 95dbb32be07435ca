using Canter.Tensors.Autograd;
using Canter.Tensors.Nn;
using Canter.Tensors.Optim;
using Canter.Tensors.Tests.Support;

namespace Canter.Tensors.Tests;

public class OptimTests
{
    [Fact]
    public void AdamWMatchesTorchOverTwentySteps()
    {
        const int steps = 20;
        var p = Tensor.Randn([5, 7], seed: 1).AsParameter("p");
        var q = Tensor.Randn([7], seed: 2).AsParameter("q");
        var feed = new Dictionary<string, Tensor> { ["p"] = Ops.Contiguous(p.Detach()), ["q"] = Ops.Contiguous(q.Detach()) };
        var ga = Enumerable.Range(0, steps).Select(i => Tensor.Randn([5, 7], seed: 100 + (ulong)i)).ToArray();
        var gb = Enumerable.Range(0, steps).Select(i => Tensor.Randn([7], seed: 200 + (ulong)i, std: 0.1f)).ToArray();
        for (int i = 0; i < steps; i++) { feed[$"ga{i}"] = ga[i]; feed[$"gb{i}"] = gb[i]; }
        var expected = TorchReference.Instance.Run("adamw_run", feed, new { lr = 0.01, wd = 0.1, b1 = 0.9, b2 = 0.95, eps = 1e-8, steps });

        var opt = new AdamW([("p", p)], new AdamWOptions(0.01f, 0.9f, 0.95f, 1e-8f, WeightDecay: 0.1f));
        opt.AddGroup([("q", q)], new AdamWOptions(0.01f, 0.9f, 0.95f, 1e-8f, WeightDecay: 0f));
        for (int i = 0; i < steps; i++)
        {
            p.Grad = Ops.Contiguous(ga[i].Detach());
            q.Grad = Ops.Contiguous(gb[i].Detach());
            opt.Step();
        }
        Check.Close(expected["y"], p.ToArray(), 1e-6f, 1e-5f, "adamw p");
        Check.Close(expected["q"], q.ToArray(), 1e-6f, 1e-5f, "adamw q (no decay)");
    }

    [Fact]
    public void OptimizerStateResumesExactly()
    {
        var dir = Directory.CreateTempSubdirectory("canter-opt-").FullName;
        try
        {
            Tensor Run(int stepsBefore, int stepsAfter, bool reload)
            {
                var p = Tensor.Randn([3, 4], seed: 3).AsParameter("w");
                var opt = new AdamW([("w", p)], new AdamWOptions(0.05f));
                for (int i = 0; i < stepsBefore + stepsAfter; i++)
                {
                    if (reload && i == stepsBefore)
                    {
                        var path = Path.Combine(dir, "opt.safetensors");
                        opt.Save(path);
                        opt = new AdamW([("w", p)], new AdamWOptions(0.05f));
                        opt.Load(path);
                    }
                    p.Grad = Tensor.Randn([3, 4], seed: 50 + (ulong)i);
                    opt.Step();
                }
                return p;
            }
            Assert.Equal(Run(5, 5, reload: false).ToArray(), Run(5, 5, reload: true).ToArray());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void ClipByGlobalNormMatchesTorch()
    {
        var a = Tensor.Randn([4, 4], seed: 4).AsParameter("a");
        var b = Tensor.Randn([6], seed: 5).AsParameter("b");
        var ga = Tensor.Randn([4, 4], seed: 6, std: 3f);
        var gb = Tensor.Randn([6], seed: 7, std: 3f);
        var expected = TorchReference.Instance.Run("clip", new Dictionary<string, Tensor> { ["a"] = Ops.Contiguous(a.Detach()), ["b"] = Ops.Contiguous(b.Detach()), ["ga"] = ga, ["gb"] = gb }, new { max_norm = 1.5 });
        a.Grad = Ops.Contiguous(ga.Detach());
        b.Grad = Ops.Contiguous(gb.Detach());
        float norm = GradClip.ClipByGlobalNorm([a, b], 1.5f);
        Assert.Equal(expected["norm"][0], norm, 4);
        Check.Close(expected["y"], a.Grad!.ToArray(), 1e-6f, 1e-5f, "clipped a");
        Check.Close(expected["gb"], b.Grad!.ToArray(), 1e-6f, 1e-5f, "clipped b");
    }

    [Fact]
    public void EmaFollowsTheWeightsSlowlyAfterItsWarmUp()
    {
        var model = new Linear(3, 2, seed: 1);
        var ema = new Ema(model, decay: 0.9f);
        Assert.Equal(0.1f, ema.DecayAt(0), 6);          // (1 + 0) / (10 + 0): the first update is mostly the weights
        Assert.Equal(0.5f, ema.DecayAt(8), 6);          // 9 / 18
        Assert.Equal(0.9f, ema.DecayAt(80), 6);         // 81 / 90, the cap
        Assert.Equal(0.9f, ema.DecayAt(1000), 6);
        Assert.Throws<ArgumentOutOfRangeException>(() => ema.DecayAt(-1));
        var before = model.Weight.ToArray();
        model.Weight.Backend.Fill(model.Weight, 1f);
        ema.Update(8);
        var shadow = ema.State()["weight"].ToArray();
        for (int i = 0; i < shadow.Length; i++) Assert.Equal(0.5f * before[i] + 0.5f, shadow[i], 5);
        ema.Update(500);
        var later = ema.State()["weight"].ToArray();
        for (int i = 0; i < shadow.Length; i++) Assert.Equal(0.9f * shadow[i] + 0.1f, later[i], 5);
        var copy = new Linear(3, 2, seed: 2);
        ema.CopyTo(copy);
        Assert.Equal(later, copy.Weight.ToArray());
    }

    [Fact]
    public void EmaOfAShortRunForgetsTheStartingWeights()
    {
        // 300 updates toward weights of 1 from a start of 0: without the warm-up 0.999^300 = 74 % of the start would stay
        var model = new Linear(2, 2, seed: 1);
        model.Weight.Backend.Fill(model.Weight, 0f);
        var ema = new Ema(model, decay: 0.999f);
        model.Weight.Backend.Fill(model.Weight, 1f);
        for (int n = 0; n < 300; n++) ema.Update(n);
        double kept = 1;
        for (int n = 0; n < 300; n++) kept *= ema.DecayAt(n);
        foreach (var w in ema.State()["weight"].ToArray()) Assert.Equal(1 - kept, w, 4);
        Assert.True(kept < 0.04, $"the start keeps {kept:P1}");
    }

    [Fact]
    public void CosineScheduleWarmsUpThenDecays()
    {
        var s = new CosineSchedule(1e-3f, WarmupSteps: 10, TotalSteps: 110, FinalFraction: 0.1f);
        Assert.Equal(1e-4f, s.At(0), 7);
        Assert.Equal(1e-3f, s.At(10), 7);
        Assert.Equal(1e-4f, s.At(110), 7);
        Assert.True(s.At(60) < s.At(20));
    }
}

public class TrainingTests
{
    [Fact]
    public void ToyRegressionLossFallsAsInTorch()
    {
        // y = sin(x W) on a fixed dataset; a 2-layer MLP trained 300 steps with AdamW in both engines
        const int n = 512, inF = 8, hidden = 32, outF = 2, batch = 64, steps = 300;
        var x = Tensor.Randn([n, inF], seed: 1);
        var wTrue = Tensor.Randn([inF, outF], seed: 2, std: 0.5f);
        Tensor y;
        using (Tape.NoGrad()) y = Ops.Sin(Ops.MatMul(x, wTrue));
        var w1 = new Linear(inF, hidden, seed: 3);
        var w2 = new Linear(hidden, outF, seed: 4);
        var init = new Dictionary<string, Tensor>
        {
            ["x"] = x, ["y"] = y,
            ["w1"] = Ops.Contiguous(w1.Weight.Detach()), ["b1"] = Ops.Contiguous(w1.Bias!.Detach()),
            ["w2"] = Ops.Contiguous(w2.Weight.Detach()), ["b2"] = Ops.Contiguous(w2.Bias!.Detach()),
        };
        var torchLosses = TorchReference.Instance.Run("train_toy", init, new { lr = 1e-2, wd = 0.01, batch, steps })["y"];

        var parameters = w1.Parameters().Select(p => ("1." + p.Name, p.Value)).Concat(w2.Parameters().Select(p => ("2." + p.Name, p.Value)));
        var opt = new AdamW(parameters, new AdamWOptions(1e-2f, WeightDecay: 0.01f));
        var losses = new float[steps];
        for (int step = 0; step < steps; step++)
        {
            using var scope = TensorScope.Begin();
            int start = step * batch % n;
            var xb = Ops.Slice(x, 0, start, batch);
            var yb = Ops.Slice(y, 0, start, batch);
            var pred = w2.Forward(Ops.Tanh(w1.Forward(xb)));
            var loss = Ops.MeanAll(Ops.Square(pred - yb));
            w1.ZeroGrad();
            w2.ZeroGrad();
            loss.Backward();
            opt.Step();
            losses[step] = loss.Item();
        }
        Assert.True(losses[^1] < 0.1f * losses[0], $"loss fell from {losses[0]} to only {losses[^1]}");
        for (int step = 0; step < steps; step += 20)
            Assert.True(Math.Abs(losses[step] - torchLosses[step]) <= 0.02f * torchLosses[step] + 1e-5f,
                $"step {step}: loss {losses[step]} vs torch {torchLosses[step]}");
    }
}
