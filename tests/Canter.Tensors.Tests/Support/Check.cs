using Canter.Tensors.Autograd;

namespace Canter.Tensors.Tests.Support;

/// <summary>Assertions shared by the engine tests: closeness, finite-difference gradients, PyTorch parity.</summary>
public static class Check
{
    /// <summary>Asserts |actual - expected| &lt;= atol + rtol * |expected| element-wise, naming the worst element.</summary>
    public static void Close(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, float atol, float rtol, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: {actual.Length} values, expected {expected.Length}");
        double worst = 0;
        int worstIndex = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = actual[i];
            if (double.IsNaN(a) != double.IsNaN(e)) Assert.Fail($"{what}[{i}]: got {a}, expected {e}");
            double excess = Math.Abs(a - e) - (atol + rtol * Math.Abs(e));
            if (excess > worst)
            {
                worst = excess;
                worstIndex = i;
            }
        }
        if (worstIndex >= 0)
            Assert.Fail($"{what}[{worstIndex}]: got {actual[worstIndex]}, expected {expected[worstIndex]} (atol {atol}, rtol {rtol})");
    }

    /// <summary>
    /// Finite-difference gradient check of f at the given inputs. The scalar is
    /// L = sum(f(x) * r) for a fixed random r; analytic dL/dx from Backward is compared with
    /// central differences (computed in double on the host) at up to <paramref name="probes"/>
    /// coordinates per input.
    /// </summary>
    public static void Gradients(Func<Tensor[], Tensor> f, Tensor[] inputs, float eps = 1e-2f, float atol = 2e-3f, float rtol = 2e-2f,
        int probes = 24, ulong seed = 7, string what = "op")
    {
        using var scope = TensorScope.Begin();
        foreach (var x in inputs) x.RequireGrad();
        var y0 = f(inputs);
        var r = Tensor.Randn(y0.Shape, seed);
        var rHost = r.ToArray();
        var loss = Ops.SumAll(Ops.Mul(y0, r));
        foreach (var x in inputs) x.ZeroGrad();
        loss.Backward();

        double Eval()
        {
            using var inner = TensorScope.Begin();
            using var _ = Tape.NoGrad();
            var y = f(inputs).ToArray();
            double s = 0;
            for (int i = 0; i < y.Length; i++) s += (double)y[i] * rHost[i];
            return s;
        }

        var rng = new System.Random((int)seed);
        for (int which = 0; which < inputs.Length; which++)
        {
            var x = inputs[which];
            Assert.True(x.Grad is not null, $"{what}: input {which} received no gradient");
            var analytic = x.Grad!.ToArray();
            var host = x.ToArray();
            int count = Math.Min(probes, host.Length);
            var indices = host.Length <= probes ? Enumerable.Range(0, host.Length) : Enumerable.Range(0, count).Select(_ => rng.Next(host.Length));
            foreach (int i in indices)
            {
                float original = host[i];
                host[i] = original + eps;
                x.Backend.Upload(x, host);
                double plus = Eval();
                host[i] = original - eps;
                x.Backend.Upload(x, host);
                double minus = Eval();
                host[i] = original;
                x.Backend.Upload(x, host);
                double numeric = (plus - minus) / (2 * eps);
                double diff = Math.Abs(numeric - analytic[i]);
                Assert.True(diff <= atol + rtol * Math.Abs(numeric),
                    $"{what}: d/dinput{which}[{i}] analytic {analytic[i]} vs numeric {numeric:G6} (eps {eps})");
            }
        }
        foreach (var x in inputs) { x.ZeroGrad(); x.RequireGrad(false); }
    }

    /// <summary>
    /// Runs f on our engine and the named op in PyTorch on the same inputs, and compares the
    /// output and the gradients of every input (upstream gradient: a fixed random tensor).
    /// <paramref name="constants"/> are extra inputs of the PyTorch op that get no gradient (masks, tables).
    /// </summary>
    public static void Parity(string torchOp, Func<Tensor[], Tensor> f, (string Name, Tensor Value)[] inputs, object? parameters = null,
        float atol = 1e-4f, float rtol = 1e-4f, float gradAtol = 1e-4f, float gradRtol = 1e-3f, ulong seed = 11,
        IReadOnlyDictionary<string, Tensor>? constants = null)
    {
        using var scope = TensorScope.Begin();
        var xs = inputs.Select(i => i.Value).ToArray();
        foreach (var x in xs) { x.ZeroGrad(); x.RequireGrad(); }
        var y = f(xs);
        var gy = Tensor.Randn(y.Shape, seed);
        var feed = inputs.ToDictionary(i => i.Name, i => i.Value);
        feed["grad.y"] = gy;
        foreach (var (name, value) in constants ?? new Dictionary<string, Tensor>()) feed[name] = value;
        var expected = TorchReference.Instance.Run(torchOp, feed, parameters, inputs.Select(i => i.Name));
        Close(expected["y"], y.ToArray(), atol, rtol, $"{torchOp} forward");
        y.Backward(gy);
        foreach (var (name, value) in inputs)
        {
            Assert.True(value.Grad is not null, $"{torchOp}: no gradient reached '{name}'");
            Close(expected["grad." + name], value.Grad!.ToArray(), gradAtol, gradRtol, $"{torchOp} d/d{name}");
        }
        foreach (var x in xs) { x.ZeroGrad(); x.RequireGrad(false); }
    }
}
