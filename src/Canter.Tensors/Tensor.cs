using System.Runtime.CompilerServices;
using System.Text;
using Canter.Tensors.Autograd;

namespace Canter.Tensors;

/// <summary>
/// An n-dimensional float32 array: a storage plus shape, strides (in elements) and offset.
/// Views (reshape of a contiguous tensor, permute, slice, broadcast) share the storage.
/// A tensor that <see cref="RequiresGrad"/> records the ops applied to it on the current
/// <see cref="Tape"/>, and <see cref="Backward"/> fills the <see cref="Grad"/> of the leaves.
/// <example><code>
/// using var scope = TensorScope.Begin();
/// var w = Tensor.Randn([4, 3], seed: 1).AsParameter();
/// var loss = Ops.Mean(Ops.Square(Ops.MatMul(x, w)));
/// loss.Backward();   // w.Grad now holds dloss/dw
/// </code></example>
/// </summary>
public sealed class Tensor : IDisposable
{
    private readonly int[] _shape;
    private readonly int[] _strides;
    private bool _disposed;

    internal Tensor(Storage storage, int[] shape, int[] strides, int offset, bool retain)
    {
        if (shape.Length != strides.Length) throw new ArgumentException("shape and strides differ in rank");
        if (retain) storage.Retain();
        Storage = storage;
        _shape = shape;
        _strides = strides;
        Offset = offset;
        Count = ShapeUtil.Count(shape);
        TensorScope.Register(this);
    }

    public Storage Storage { get; private set; }
    public IBackend Backend => Storage.Backend;

    /// <summary>The dimensions. Do not modify the array.</summary>
    public int[] Shape => _shape;

    /// <summary>Element strides per dimension. Do not modify the array.</summary>
    public int[] Strides => _strides;

    /// <summary>Element offset of the first element in <see cref="Storage"/>.</summary>
    public int Offset { get; private set; }

    public int Rank => _shape.Length;

    /// <summary>Number of elements.</summary>
    public int Count { get; }

    /// <summary>Optional name (parameters carry their checkpoint name).</summary>
    public string? Name { get; set; }

    public bool RequiresGrad { get; internal set; }

    /// <summary>Accumulated gradient of a leaf after <see cref="Backward"/>; null before.</summary>
    public Tensor? Grad { get; set; }

    /// <summary>True when this tensor was produced by a recorded op (not a leaf).</summary>
    internal bool HasCreator { get; set; }

    /// <summary>Scope that will dispose this tensor; null when the caller owns it.</summary>
    internal TensorScope? Scope { get; set; }

    public bool IsDisposed => _disposed;

    public int Dim(int axis) => _shape[NormalizeAxis(axis)];

    public int NormalizeAxis(int axis)
    {
        int a = axis < 0 ? axis + Rank : axis;
        if (a < 0 || a >= Rank) throw new ArgumentOutOfRangeException(nameof(axis), $"axis {axis} out of range for a tensor of rank {Rank}");
        return a;
    }

    public bool IsContiguous
    {
        get
        {
            int expected = 1;
            for (int i = Rank - 1; i >= 0; i--)
            {
                if (_shape[i] != 1 && _strides[i] != expected) return false;
                expected *= _shape[i];
            }
            return true;
        }
    }

    public string ShapeString => ShapeUtil.Format(_shape);

    // ---- creation -------------------------------------------------------------------

    /// <summary>A new contiguous tensor with uninitialised contents.</summary>
    public static Tensor Empty(int[] shape, Device? device = null)
    {
        return Empty(shape, (device ?? Device.Cpu).Backend);
    }

    /// <summary>A new contiguous tensor with uninitialised contents on the given backend.</summary>
    public static Tensor Empty(int[] shape, IBackend backend)
    {
        int count = ShapeUtil.CheckedCount(shape);
        var storage = backend.Allocate(Math.Max(count, 1));
        return new Tensor(storage, (int[])shape.Clone(), ShapeUtil.ContiguousStrides(shape), 0, retain: false);
    }

    /// <summary>Uninitialised contiguous tensor with the shape and backend of <paramref name="like"/>.</summary>
    public static Tensor EmptyLike(Tensor like) => Empty(like.Shape, like.Backend);

    /// <summary>Zero-filled contiguous tensor with the shape and backend of <paramref name="like"/>.</summary>
    public static Tensor ZerosLike(Tensor like)
    {
        var t = Empty(like.Shape, like.Backend);
        t.Backend.Fill(t, 0f);
        return t;
    }

    public static Tensor Zeros(int[] shape, Device? device = null) => Full(shape, 0f, device);

    public static Tensor Ones(int[] shape, Device? device = null) => Full(shape, 1f, device);

    public static Tensor Full(int[] shape, float value, Device? device = null)
    {
        var t = Empty(shape, device);
        t.Backend.Fill(t, value);
        return t;
    }

    public static Tensor Scalar(float value, Device? device = null) => Full([], value, device);

    /// <summary>A tensor holding a copy of <paramref name="data"/>.</summary>
    public static Tensor FromArray(ReadOnlySpan<float> data, int[] shape, Device? device = null) =>
        FromArray(data, shape, (device ?? Device.Cpu).Backend);

    /// <summary>A tensor holding a copy of <paramref name="data"/> on the given backend.</summary>
    public static Tensor FromArray(ReadOnlySpan<float> data, int[] shape, IBackend backend)
    {
        int count = ShapeUtil.CheckedCount(shape);
        if (count != data.Length)
            throw new ArgumentException($"{data.Length} values cannot fill a tensor of shape {ShapeUtil.Format(shape)} ({count} elements)");
        var t = Empty(shape, backend);
        t.Backend.Upload(t, data);
        return t;
    }

    /// <summary>Normal(0, std) values from a counter-based generator: same seed, same values, whatever the thread count.</summary>
    public static Tensor Randn(int[] shape, ulong seed, float std = 1f, Device? device = null)
    {
        var host = new float[ShapeUtil.CheckedCount(shape)];
        Rng.Philox.FillNormal(host, seed, 0, std);
        return FromArray(host, shape, device);
    }

    /// <summary>Uniform [low, high) values from a counter-based generator.</summary>
    public static Tensor Rand(int[] shape, ulong seed, float low = 0f, float high = 1f, Device? device = null)
    {
        var host = new float[ShapeUtil.CheckedCount(shape)];
        Rng.Philox.FillUniform(host, seed, 0, low, high);
        return FromArray(host, shape, device);
    }

    // ---- data access ----------------------------------------------------------------

    /// <summary>Copies the elements (in logical row-major order) to a new host array.</summary>
    public float[] ToArray()
    {
        var result = new float[Count];
        if (Count == 0) return result;
        using var c = ContiguousNoGrad();
        Backend.Download(result, c);
        return result;
    }

    /// <summary>The single value of a one-element tensor.</summary>
    public float Item()
    {
        if (Count != 1) throw new InvalidOperationException($"Item() needs exactly one element; shape is {ShapeString}");
        return ToArray()[0];
    }

    /// <summary>A contiguous tensor with the same values: itself (retained) when already contiguous, else a copy. Gradient flows.</summary>
    public Tensor Contiguous() => Ops.Contiguous(this);

    private Tensor ContiguousNoGrad()
    {
        if (IsContiguous) return new Tensor(Storage, _shape, _strides, Offset, retain: true);
        var dst = Empty(_shape, Backend);
        Backend.Copy(dst, this);
        return dst;
    }

    /// <summary>A copy of this tensor's values on <paramref name="device"/> (no gradient history).</summary>
    public Tensor To(Device device)
    {
        ThrowIfDisposed();
        return FromArray(ToArray(), _shape, device);
    }

    /// <summary>
    /// Moves a contiguous leaf tensor's values to another device in place, so that every holder of
    /// this object (a module's parameter property, an optimizer) sees the new storage.
    /// </summary>
    internal void MoveTo(Device device)
    {
        ThrowIfDisposed();
        if (HasCreator || !IsContiguous) throw new InvalidOperationException("only contiguous leaf tensors move in place");
        if (ReferenceEquals(device.Backend, Backend)) return;
        var values = ToArray();
        var storage = device.Backend.Allocate(Math.Max(Count, 1));
        var old = Storage;
        Storage = storage;
        Offset = 0;
        if (Count > 0) Backend.Upload(this, values);
        old.Release();
        if (Grad is not null)
        {
            var grad = Grad;
            Grad = grad.To(device);
            TensorScope.Unregister(Grad);
            grad.Dispose();
        }
    }

    /// <summary>Marks this leaf tensor as a trainable parameter, detached from any scope.</summary>
    public Tensor AsParameter(string? name = null)
    {
        if (HasCreator) throw new InvalidOperationException("Only leaf tensors can be parameters; call Detach() first.");
        RequiresGrad = true;
        if (name is not null) Name = name;
        TensorScope.Unregister(this);
        return this;
    }

    /// <summary>Sets <see cref="RequiresGrad"/> on a leaf (inputs whose gradient you want).</summary>
    public Tensor RequireGrad(bool value = true)
    {
        if (HasCreator && !value) throw new InvalidOperationException("Cannot turn off gradients of a recorded result; use Detach().");
        RequiresGrad = value;
        return this;
    }

    /// <summary>A view sharing storage with no gradient history.</summary>
    public Tensor Detach() => new(Storage, _shape, _strides, Offset, retain: true);

    /// <summary>Runs reverse-mode differentiation from this scalar (or with the given output gradient).</summary>
    public void Backward(Tensor? gradient = null) => Tape.Current.Backward(this, gradient);

    /// <summary>Sets <see cref="Grad"/> to null, disposing it.</summary>
    public void ZeroGrad()
    {
        Grad?.Dispose();
        Grad = null;
    }

    // ---- lifetime -------------------------------------------------------------------

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Storage.Release();
    }

    internal void ThrowIfDisposed()
    {
        if (_disposed) throw new ObjectDisposedException(nameof(Tensor), $"tensor {Name ?? ShapeString} was disposed");
    }

    // ---- operators ------------------------------------------------------------------

    public static Tensor operator +(Tensor a, Tensor b) => Ops.Add(a, b);
    public static Tensor operator -(Tensor a, Tensor b) => Ops.Sub(a, b);
    public static Tensor operator *(Tensor a, Tensor b) => Ops.Mul(a, b);
    public static Tensor operator /(Tensor a, Tensor b) => Ops.Div(a, b);
    public static Tensor operator -(Tensor a) => Ops.Scale(a, -1f);
    public static Tensor operator *(Tensor a, float s) => Ops.Scale(a, s);
    public static Tensor operator *(float s, Tensor a) => Ops.Scale(a, s);
    public static Tensor operator +(Tensor a, float s) => Ops.AddScalar(a, s);

    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append("Tensor").Append(ShapeString);
        if (Name is not null) sb.Append(' ').Append(Name);
        if (!_disposed && Count <= 8)
        {
            sb.Append(" [");
            sb.Append(string.Join(", ", ToArray().Select(v => v.ToString("G5", System.Globalization.CultureInfo.InvariantCulture))));
            sb.Append(']');
        }
        return sb.ToString();
    }
}

/// <summary>Shape arithmetic shared by ops and kernels.</summary>
public static class ShapeUtil
{
    public static int Count(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (var d in shape) n *= d;
        return (int)n;
    }

    public static int CheckedCount(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ArgumentException($"negative dimension in shape {Format(shape)}");
            n *= d;
            if (n > int.MaxValue) throw new ArgumentException($"shape {Format(shape)} has more than {int.MaxValue} elements");
        }
        return (int)n;
    }

    public static int[] ContiguousStrides(ReadOnlySpan<int> shape)
    {
        var strides = new int[shape.Length];
        int s = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            strides[i] = s;
            s *= Math.Max(shape[i], 1);
        }
        return strides;
    }

    public static string Format(ReadOnlySpan<int> shape)
    {
        var sb = new StringBuilder("(");
        for (int i = 0; i < shape.Length; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(shape[i]);
        }
        if (shape.Length == 1) sb.Append(',');
        return sb.Append(')').ToString();
    }

    public static bool SameShape(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.SequenceEqual(b);

    /// <summary>NumPy broadcasting of two shapes; throws with both shapes when they do not broadcast.</summary>
    public static int[] Broadcast(ReadOnlySpan<int> a, ReadOnlySpan<int> b)
    {
        int rank = Math.Max(a.Length, b.Length);
        var result = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i - (rank - a.Length) >= 0 ? a[i - (rank - a.Length)] : 1;
            int db = i - (rank - b.Length) >= 0 ? b[i - (rank - b.Length)] : 1;
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"shapes {Format(a)} and {Format(b)} do not broadcast");
            result[i] = da == 1 ? db : da;
        }
        return result;
    }
}
