using Canter.Tensors.IO;

namespace Canter.Tensors.Nn;

/// <summary>
/// A model part with named parameters and child modules. Names are dotted paths in
/// registration order ("blocks.0.attn.qkv.weight"), the names checkpoints use.
/// Loading checks every name and shape before it changes anything.
/// </summary>
public abstract class Module
{
    private readonly List<(string Name, Tensor Value)> _parameters = [];
    private readonly List<(string Name, Module Value)> _children = [];

    /// <summary>Registers a trainable tensor under <paramref name="name"/>.</summary>
    protected Tensor RegisterParameter(string name, Tensor value)
    {
        CheckName(name);
        value.AsParameter(name);
        _parameters.Add((name, value));
        return value;
    }

    /// <summary>Registers a child module; its parameters appear as "name.child_parameter".</summary>
    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        CheckName(name);
        _children.Add((name, module));
        return module;
    }

    private void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name)) throw new ArgumentException("parameter and module names must not be empty");
        if (_parameters.Any(p => p.Name == name) || _children.Any(c => c.Name == name))
            throw new ArgumentException($"name '{name}' registered twice in {GetType().Name}");
    }

    /// <summary>Every parameter with its dotted name, in registration order.</summary>
    public IEnumerable<(string Name, Tensor Value)> Parameters()
    {
        foreach (var p in _parameters) yield return p;
        foreach (var (childName, child) in _children)
            foreach (var (name, value) in child.Parameters())
                yield return ($"{childName}.{name}", value);
    }

    public long ParameterCount => Parameters().Sum(p => (long)p.Value.Count);

    public Dictionary<string, Tensor> StateDict() => Parameters().ToDictionary(p => p.Name, p => p.Value, StringComparer.Ordinal);

    /// <summary>Sets every parameter's gradient to null.</summary>
    public void ZeroGrad()
    {
        foreach (var (_, p) in Parameters()) p.ZeroGrad();
    }

    /// <summary>
    /// Copies values into the parameters. Strict: every parameter must be present with its shape and
    /// nothing else may be; otherwise an error lists every problem and no parameter is changed.
    /// </summary>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, bool strict = true)
    {
        var own = StateDict();
        var problems = new List<string>();
        foreach (var (name, p) in own)
        {
            if (!state.TryGetValue(name, out var v))
            {
                if (strict) problems.Add($"missing '{name}' {p.ShapeString}");
            }
            else if (!ShapeUtil.SameShape(v.Shape, p.Shape))
                problems.Add($"'{name}' has shape {v.ShapeString}, the model expects {p.ShapeString}");
        }
        if (strict)
            foreach (var name in state.Keys.Where(k => !own.ContainsKey(k)).Order(StringComparer.Ordinal))
                problems.Add($"unexpected '{name}'");
        if (problems.Count > 0)
            throw new ArgumentException($"cannot load weights into {GetType().Name}: {string.Join("; ", problems)}");
        foreach (var (name, p) in own)
            if (state.TryGetValue(name, out var v)) p.Backend.Copy(p, v);
    }

    /// <summary>Moves every parameter to <paramref name="device"/> in place (create optimizers after this).</summary>
    public Module To(Device device)
    {
        foreach (var (_, p) in Parameters()) p.MoveTo(device);
        return this;
    }

    /// <summary>Writes the parameters as safetensors (F32) with optional string metadata.</summary>
    public void Save(string path, IReadOnlyDictionary<string, string>? metadata = null) => SafeTensors.Save(path, StateDict(), metadata);

    /// <summary>Reads parameters from a safetensors file, checking names and shapes.</summary>
    public void Load(string path, bool strict = true)
    {
        var loaded = SafeTensors.LoadAll(path);
        try
        {
            LoadStateDict(loaded, strict);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{path}: {e.Message}", e);
        }
        finally
        {
            foreach (var t in loaded.Values) t.Dispose();
        }
    }
}

/// <summary>y = x W^T + b, initialised like PyTorch (uniform within ±1/sqrt(in)) from a seed.</summary>
public sealed class Linear : Module
{
    public Linear(int inFeatures, int outFeatures, bool bias = true, ulong seed = 0)
    {
        if (inFeatures <= 0 || outFeatures <= 0) throw new ArgumentException($"linear sizes must be positive: {inFeatures} -> {outFeatures}");
        float bound = 1f / MathF.Sqrt(inFeatures);
        Weight = RegisterParameter("weight", Tensor.Rand([outFeatures, inFeatures], seed * 2 + 1, -bound, bound));
        if (bias) Bias = RegisterParameter("bias", Tensor.Rand([outFeatures], seed * 2 + 2, -bound, bound));
    }

    /// <summary>(Out, In).</summary>
    public Tensor Weight { get; }

    /// <summary>(Out) or null.</summary>
    public Tensor? Bias { get; }

    /// <summary>x (..., In) -> (..., Out).</summary>
    public Tensor Forward(Tensor x) => Ops.Linear(x, Weight, Bias);
}
