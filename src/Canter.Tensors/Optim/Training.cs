using System.Numerics.Tensors;

namespace Canter.Tensors.Optim;

/// <summary>Gradient clipping by the global L2 norm, as torch.nn.utils.clip_grad_norm_.</summary>
public static class GradClip
{
    /// <summary>Scales every gradient so that their joint norm is at most <paramref name="maxNorm"/>; returns the norm before clipping.</summary>
    public static float ClipByGlobalNorm(IEnumerable<Tensor> parameters, float maxNorm)
    {
        if (!(maxNorm > 0)) throw new ArgumentOutOfRangeException(nameof(maxNorm), "max norm must be positive");
        var grads = parameters.Select(p => p.Grad).OfType<Tensor>().ToList();
        double sum = 0;
        foreach (var g in grads)
        {
            var host = g.ToArray();
            sum += TensorPrimitives.SumOfSquares<float>(host);
        }
        float norm = (float)Math.Sqrt(sum);
        float coefficient = maxNorm / (norm + 1e-6f);
        if (coefficient < 1f)
            foreach (var g in grads) g.Backend.Affine(g, g, coefficient, 0f);
        return norm;
    }
}

/// <summary>
/// Exponential moving average of parameters: ema = d * ema + (1 - d) * p after each step, with the decay warmed up,
/// d = min(decay, (1 + n) / (10 + n)) at the n-th update since the average started (n from 0). Without the warm-up the
/// starting weights keep decay^n of the average: 17 % after 1795 steps at 0.999, a random model's share in a short run.
/// Sampling uses the averaged weights (<see cref="CopyTo"/>), training continues on the raw ones.
/// </summary>
public sealed class Ema
{
    private readonly List<(string Name, Tensor Param, Tensor Shadow)> _entries = [];

    public Ema(Nn.Module module, float decay = 0.999f)
    {
        if (decay is < 0f or > 1f) throw new ArgumentOutOfRangeException(nameof(decay), "decay must be in [0, 1]");
        Decay = decay;
        foreach (var (name, p) in module.Parameters())
        {
            var shadow = Tensor.EmptyLike(p);
            Autograd.TensorScope.Unregister(shadow);
            p.Backend.Copy(shadow, p);
            _entries.Add((name, p, shadow));
        }
    }

    public float Decay { get; }

    /// <summary>The decay of the <paramref name="n"/>-th update since the average started (n from 0): the warm-up, capped at <see cref="Decay"/>.</summary>
    public float DecayAt(long n)
    {
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), "updates are counted from 0");
        return (float)Math.Min(Decay, (1.0 + n) / (10.0 + n));
    }

    /// <summary>Moves the average toward the weights: the <paramref name="n"/>-th update since the average started (n from 0; a resumed run passes its step count before this step).</summary>
    public void Update(long n)
    {
        float d = DecayAt(n);
        foreach (var (_, p, shadow) in _entries)
        {
            // shadow = d * shadow + (1 - d) * p
            p.Backend.Affine(shadow, shadow, d, 0f);
            p.Backend.Axpy(shadow, 1f - d, p);
        }
    }

    /// <summary>Copies the averaged weights into <paramref name="module"/> (same structure).</summary>
    public void CopyTo(Nn.Module module) => module.LoadStateDict(State());

    public Dictionary<string, Tensor> State() => _entries.ToDictionary(e => e.Name, e => e.Shadow, StringComparer.Ordinal);

    public void Save(string path) => IO.SafeTensors.Save(path, State());

    public void Load(string path)
    {
        using var file = IO.SafeTensors.Load(path);
        foreach (var (name, p, shadow) in _entries)
        {
            using var host = file.Read(name, p.Shape);
            using var t = Tensor.FromArray(host.ToArray(), p.Shape, p.Backend);   // on the parameter's device
            p.Backend.Copy(shadow, t);
        }
    }
}

/// <summary>Linear warm-up, then cosine decay to a floor.</summary>
public sealed record CosineSchedule(float PeakLearningRate, int WarmupSteps, int TotalSteps, float FinalFraction = 0.1f)
{
    public float At(long step)
    {
        if (step < WarmupSteps) return PeakLearningRate * (step + 1) / WarmupSteps;
        double progress = Math.Clamp((double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps), 0, 1);
        double cosine = 0.5 * (1 + Math.Cos(Math.PI * progress));
        return (float)(PeakLearningRate * (FinalFraction + (1 - FinalFraction) * cosine));
    }
}
