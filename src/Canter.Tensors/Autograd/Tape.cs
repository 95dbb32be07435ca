namespace Canter.Tensors.Autograd;

/// <summary>
/// Reverse-mode autograd. Every op whose inputs require gradients appends an entry (its
/// output, its inputs and its gradient rule) to the thread's tape in execution order;
/// <see cref="Backward"/> walks the tape in reverse, handing each entry the gradient of
/// its output. Gradients of intermediate results live only during the walk; leaves
/// accumulate into <see cref="Tensor.Grad"/>.
/// </summary>
public sealed class Tape
{
    /// <summary>Gradient rule of one recorded op: receives dL/d(output), accumulates into its inputs.</summary>
    public delegate void BackwardRule(Tensor gradOutput);

    private sealed record Entry(string Op, Tensor Output, BackwardRule Rule);

    [ThreadStatic] private static Tape? _current;
    [ThreadStatic] private static int _noGradDepth;

    private readonly List<Entry> _entries = [];
    private Dictionary<Tensor, Tensor>? _pending;

    /// <summary>The tape of the calling thread.</summary>
    public static Tape Current => _current ??= new Tape();

    /// <summary>False inside a <see cref="NoGrad"/> scope.</summary>
    public static bool IsRecording => _noGradDepth == 0;

    /// <summary>When set, backward passes add the milliseconds spent in each op's gradient rule here (for profiling).</summary>
    public static Dictionary<string, double>? Profile { get; set; }

    /// <summary>Number of recorded entries not yet consumed by a backward pass.</summary>
    public int Count => _entries.Count;

    /// <summary>Turns recording off until the returned scope is disposed (inference).</summary>
    public static NoGradScope NoGrad()
    {
        _noGradDepth++;
        return new NoGradScope();
    }

    public readonly struct NoGradScope : IDisposable
    {
        public void Dispose() => _noGradDepth--;
    }

    /// <summary>True when an op over these inputs must be recorded.</summary>
    public static bool NeedsGrad(Tensor a) => IsRecording && a.RequiresGrad;

    public static bool NeedsGrad(Tensor a, Tensor? b) => IsRecording && (a.RequiresGrad || (b?.RequiresGrad ?? false));

    public static bool NeedsGrad(Tensor a, Tensor? b, Tensor? c) =>
        IsRecording && (a.RequiresGrad || (b?.RequiresGrad ?? false) || (c?.RequiresGrad ?? false));

    public static bool NeedsGrad(ReadOnlySpan<Tensor?> inputs)
    {
        if (!IsRecording) return false;
        foreach (var t in inputs)
            if (t is not null && t.RequiresGrad) return true;
        return false;
    }

    /// <summary>Records <paramref name="output"/> as produced by <paramref name="op"/> with the given gradient rule.</summary>
    public static void Record(string op, Tensor output, BackwardRule rule)
    {
        output.RequiresGrad = true;
        output.HasCreator = true;
        Current._entries.Add(new Entry(op, output, rule));
    }

    /// <summary>
    /// Adds <paramref name="grad"/> to the gradient of <paramref name="target"/>, taking ownership
    /// of <paramref name="grad"/> (the caller must not use or dispose it afterwards).
    /// </summary>
    public static void Accumulate(Tensor target, Tensor grad)
    {
        if (!target.RequiresGrad)
        {
            grad.Dispose();
            return;
        }
        if (!ShapeUtil.SameShape(target.Shape, grad.Shape))
            throw new InvalidOperationException($"gradient of shape {grad.ShapeString} does not match tensor of shape {target.ShapeString}");
        if (!grad.IsContiguous)
        {
            var c = Tensor.EmptyLike(grad);
            c.Backend.Copy(c, grad);
            grad.Dispose();
            grad = c;
        }

        var tape = _current ?? throw new InvalidOperationException("gradient accumulated outside a backward pass");
        if (target.HasCreator)
        {
            var pending = tape._pending ?? throw new InvalidOperationException("gradient accumulated outside a backward pass");
            if (pending.TryGetValue(target, out var existing))
            {
                existing.Backend.Axpy(existing, 1f, grad);
                grad.Dispose();
            }
            else
            {
                TensorScope.Unregister(grad);
                pending[target] = grad;
            }
            return;
        }

        if (target.Grad is null)
        {
            TensorScope.Unregister(grad);
            target.Grad = grad;
        }
        else
        {
            target.Grad.Backend.Axpy(target.Grad, 1f, grad);
            grad.Dispose();
        }
    }

    /// <summary>
    /// Adds <paramref name="grad"/> (borrowed) into the part of target's gradient that <paramref name="region"/>
    /// selects, creating a zero gradient first if there is none. Slices and splits use it so that each piece
    /// writes only its own part instead of a full-size tensor.
    /// </summary>
    public static void AccumulateRegion(Tensor target, Tensor grad, Func<Tensor, Tensor> region)
    {
        if (!target.RequiresGrad) return;
        var tape = _current ?? throw new InvalidOperationException("gradient accumulated outside a backward pass");
        Tensor full;
        if (target.HasCreator)
        {
            var pending = tape._pending ?? throw new InvalidOperationException("gradient accumulated outside a backward pass");
            if (!pending.TryGetValue(target, out full!))
            {
                full = FullLike(target, 0f);
                TensorScope.Unregister(full);
                pending[target] = full;
            }
        }
        else
        {
            if (target.Grad is null)
            {
                target.Grad = FullLike(target, 0f);
                TensorScope.Unregister(target.Grad);
            }
            full = target.Grad;
        }
        using var part = region(full);
        full.Backend.AddInto(part, grad);
    }

    /// <summary>Like <see cref="Accumulate"/> but for a gradient the caller keeps (it is copied or added, never owned).</summary>
    public static void AccumulateCopy(Tensor target, Tensor grad)
    {
        if (!target.RequiresGrad) return;
        var copy = Tensor.EmptyLike(grad);
        copy.Backend.Copy(copy, grad);
        Accumulate(target, copy);
    }

    /// <summary>Backpropagates from <paramref name="root"/>. Consumes the tape.</summary>
    public void Backward(Tensor root, Tensor? gradient)
    {
        if (!root.RequiresGrad)
            throw new InvalidOperationException("Backward() on a tensor that does not require gradients (no parameter or input with RequiresGrad reached it).");
        if (gradient is null && root.Count != 1)
            throw new InvalidOperationException($"Backward() without a gradient needs a scalar; shape is {root.ShapeString}");
        if (gradient is not null && !ShapeUtil.SameShape(gradient.Shape, root.Shape))
            throw new ArgumentException($"gradient shape {gradient.ShapeString} differs from tensor shape {root.ShapeString}");

        var seed = gradient is null
            ? FullLike(root, 1f)
            : CopyOf(gradient);

        if (!root.HasCreator)
        {
            _pending = null;
            Accumulate(root, seed);
            return;
        }

        int start = _entries.Count - 1;
        while (start >= 0 && !ReferenceEquals(_entries[start].Output, root)) start--;
        if (start < 0) throw new InvalidOperationException("Backward(): the tensor's history is no longer on the tape (was Backward already called, or its scope disposed?)");

        _pending = new Dictionary<Tensor, Tensor>(ReferenceEqualityComparer.Instance);
        TensorScope.Unregister(seed);
        _pending[root] = seed;
        try
        {
            using var _ = NoGrad();
            for (int i = start; i >= 0; i--)
            {
                var entry = _entries[i];
                if (!_pending.Remove(entry.Output, out var g)) continue;
                long started = Profile is null ? 0 : System.Diagnostics.Stopwatch.GetTimestamp();
                try
                {
                    entry.Rule(g);
                    if (Profile is not null)
                    {
                        double ms = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                        Profile[entry.Op] = Profile.GetValueOrDefault(entry.Op) + ms;
                    }
                }
                finally
                {
                    g.Dispose();
                }
            }
        }
        finally
        {
            foreach (var g in _pending.Values) g.Dispose();
            _pending = null;
            _entries.Clear();
        }
    }

    /// <summary>Forgets entries recorded after <paramref name="mark"/> (used when a scope ends).</summary>
    internal void Truncate(int mark)
    {
        if (mark < _entries.Count) _entries.RemoveRange(mark, _entries.Count - mark);
    }

    /// <summary>Forgets every recorded entry (for example after a forward pass whose gradient is not wanted).</summary>
    public void Clear() => _entries.Clear();

    private static Tensor FullLike(Tensor like, float value)
    {
        var t = Tensor.EmptyLike(like);
        t.Backend.Fill(t, value);
        return t;
    }

    private static Tensor CopyOf(Tensor t)
    {
        var copy = Tensor.EmptyLike(t);
        copy.Backend.Copy(copy, t);
        return copy;
    }
}
