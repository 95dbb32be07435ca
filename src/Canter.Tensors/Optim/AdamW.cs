using Canter.Tensors.IO;

namespace Canter.Tensors
{
    public partial interface IBackend
    {
        /// <summary>
        /// One fused AdamW update of p with its moments m and v from gradient g (all contiguous, same shape).
        /// bias1 = 1 - beta1^t and bias2 = 1 - beta2^t.
        /// </summary>
        void AdamWStep(Tensor p, Tensor m, Tensor v, Tensor g, float lr, float beta1, float beta2, float eps, float weightDecay,
            float bias1, float bias2);
    }
}

namespace Canter.Tensors.Optim
{


/// <summary>Hyper-parameters of one group of parameters.</summary>
public sealed record AdamWOptions(float LearningRate = 1e-3f, float Beta1 = 0.9f, float Beta2 = 0.999f, float Eps = 1e-8f, float WeightDecay = 0.01f);

/// <summary>
/// AdamW with decoupled weight decay, step for step as torch.optim.AdamW:
/// p -= lr * wd * p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
/// p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
/// Parameters without a gradient are skipped. State (m, v, step) saves to safetensors for resuming.
/// </summary>
public sealed class AdamW
{
    private readonly List<Group> _groups = [];
    private readonly Dictionary<Tensor, (Tensor M, Tensor V)> _state = new(ReferenceEqualityComparer.Instance);

    private sealed class Group(IReadOnlyList<(string Name, Tensor Value)> parameters, AdamWOptions options)
    {
        public IReadOnlyList<(string Name, Tensor Value)> Parameters { get; } = parameters;
        public AdamWOptions Options { get; set; } = options;
    }

    public AdamW(IEnumerable<(string Name, Tensor Value)> parameters, AdamWOptions? options = null)
    {
        AddGroup(parameters, options ?? new AdamWOptions());
    }

    /// <summary>Steps taken.</summary>
    public long StepCount { get; private set; }

    /// <summary>Adds parameters with their own options (for example no weight decay for biases and norms).</summary>
    public void AddGroup(IEnumerable<(string Name, Tensor Value)> parameters, AdamWOptions options)
    {
        var list = parameters.ToList();
        foreach (var (name, p) in list)
        {
            if (!p.RequiresGrad) throw new ArgumentException($"parameter '{name}' does not require gradients");
            if (_groups.Any(g => g.Parameters.Any(q => ReferenceEquals(q.Value, p))))
                throw new ArgumentException($"parameter '{name}' is in two optimizer groups");
        }
        _groups.Add(new Group(list, options));
    }

    /// <summary>Sets the learning rate of every group (for schedules).</summary>
    public float LearningRate
    {
        get => _groups[0].Options.LearningRate;
        set
        {
            foreach (var g in _groups) g.Options = g.Options with { LearningRate = value };
        }
    }

    /// <summary>Applies one update to every parameter that has a gradient.</summary>
    public void Step()
    {
        StepCount++;
        foreach (var group in _groups)
        {
            var o = group.Options;
            float bias1 = 1f - MathF.Pow(o.Beta1, StepCount);
            float bias2 = 1f - MathF.Pow(o.Beta2, StepCount);
            foreach (var (_, p) in group.Parameters)
            {
                if (p.Grad is null) continue;
                if (!_state.TryGetValue(p, out var s))
                {
                    s = (Tensor.ZerosLike(p), Tensor.ZerosLike(p));
                    Autograd.TensorScope.Unregister(s.M);
                    Autograd.TensorScope.Unregister(s.V);
                    _state[p] = s;
                }
                p.Backend.AdamWStep(p, s.M, s.V, p.Grad, o.LearningRate, o.Beta1, o.Beta2, o.Eps, o.WeightDecay, bias1, bias2);
            }
        }
    }

    /// <summary>Writes m, v and the step count as safetensors, keyed by parameter name.</summary>
    public void Save(string path)
    {
        var tensors = new Dictionary<string, Tensor>();
        foreach (var group in _groups)
            foreach (var (name, p) in group.Parameters)
                if (_state.TryGetValue(p, out var s))
                {
                    tensors["m." + name] = s.M;
                    tensors["v." + name] = s.V;
                }
        SafeTensors.Save(path, tensors, new Dictionary<string, string> { ["step"] = StepCount.ToString(System.Globalization.CultureInfo.InvariantCulture) });
    }

    /// <summary>Restores state written by <see cref="Save"/>; names and shapes must match the parameters.</summary>
    public void Load(string path)
    {
        using var file = SafeTensors.Load(path);
        if (!file.Metadata.TryGetValue("step", out var stepText) || !long.TryParse(stepText, out long step) || step < 0)
            throw new SafeTensorsException($"{path}: optimizer state has no valid 'step'");
        var known = _groups.SelectMany(g => g.Parameters).ToDictionary(p => p.Name, p => p.Value);
        foreach (var name in file.Names)
        {
            var key = name.Length > 2 ? name[2..] : name;
            if (!(name.StartsWith("m.", StringComparison.Ordinal) || name.StartsWith("v.", StringComparison.Ordinal)) || !known.ContainsKey(key))
                throw new SafeTensorsException($"{path}: optimizer state '{name}' matches no parameter");
        }
        var loaded = new Dictionary<Tensor, (Tensor, Tensor)>(ReferenceEqualityComparer.Instance);
        foreach (var (name, p) in known)
        {
            if (!file.Contains("m." + name)) continue;
            // state lives where its parameter lives
            Tensor OnDevice(string key)
            {
                using var host = file.Read(key, p.Shape);
                return Tensor.FromArray(host.ToArray(), p.Shape, p.Backend);
            }
            var m = OnDevice("m." + name);
            var v = OnDevice("v." + name);
            Autograd.TensorScope.Unregister(m);
            Autograd.TensorScope.Unregister(v);
            loaded[p] = (m, v);
        }
        foreach (var s in _state.Values) { s.M.Dispose(); s.V.Dispose(); }
        _state.Clear();
        foreach (var (p, s) in loaded) _state[p] = s;
        StepCount = step;
    }
}
}
