using Canter.Tensors.Backends.Cpu;

namespace Canter.Tensors;

/// <summary>Where a tensor lives: a named backend. <c>Device.Cpu</c> is always available.</summary>
public sealed record Device(string Name, IBackend Backend)
{
    public static Device Cpu { get; } = new("cpu", CpuBackend.Instance);

    private static readonly Dictionary<string, Func<Device>> Registry = new(StringComparer.OrdinalIgnoreCase)
    {
        ["cpu"] = () => Cpu,
    };

    /// <summary>Registers a backend that is not compiled into this assembly (for example CUDA).</summary>
    public static void Register(string name, Func<Device> factory)
    {
        lock (Registry) Registry[name] = factory;
    }

    /// <summary>Resolves a device name such as "cpu" or "cuda"; throws with the list of known names otherwise.</summary>
    public static Device Parse(string name)
    {
        lock (Registry)
        {
            if (Registry.TryGetValue(name, out var factory)) return factory();
            throw new ArgumentException($"Unknown device '{name}'. Known devices: {string.Join(", ", Registry.Keys)}.");
        }
    }

    public override string ToString() => Name;
}
