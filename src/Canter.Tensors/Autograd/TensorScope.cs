namespace Canter.Tensors.Autograd;

/// <summary>
/// Owns every tensor created on this thread while it is the innermost scope and disposes
/// them when it ends, so a training step or a sampling step returns its memory to the
/// allocator's cache at once. Results that must outlive the scope are passed to
/// <see cref="Keep"/>; parameters (<see cref="Tensor.AsParameter"/>) and leaf gradients
/// are never owned by a scope.
/// <example><code>
/// using (var scope = TensorScope.Begin())
/// {
///     var loss = model.Loss(batch);
///     loss.Backward();
///     lossValue = loss.Item();
/// } // every intermediate is released here
/// </code></example>
/// </summary>
public sealed class TensorScope : IDisposable
{
    [ThreadStatic] private static TensorScope? _current;

    private readonly TensorScope? _parent;
    private readonly List<Tensor> _owned = [];
    private readonly int _tapeMark;
    private bool _disposed;

    private TensorScope(TensorScope? parent)
    {
        _parent = parent;
        _tapeMark = Tape.Current.Count;
    }

    public static TensorScope Begin() => _current = new TensorScope(_current);

    internal static void Register(Tensor t)
    {
        var scope = _current;
        if (scope is null) return;
        t.Scope = scope;
        scope._owned.Add(t);
    }

    /// <summary>Takes <paramref name="t"/> out of whatever scope owns it: the caller disposes it (long-lived tables, optimizer state).</summary>
    public static void Unregister(Tensor t) => t.Scope = null;

    /// <summary>Moves <paramref name="t"/> to the enclosing scope (or to the caller when there is none).</summary>
    public Tensor Keep(Tensor t)
    {
        if (!ReferenceEquals(t.Scope, this)) return t;
        t.Scope = _parent;
        _parent?._owned.Add(t);
        return t;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (!ReferenceEquals(_current, this))
            throw new InvalidOperationException("TensorScope disposed out of order; scopes must nest.");
        _current = _parent;
        Tape.Current.Truncate(_tapeMark);
        foreach (var t in _owned)
            if (ReferenceEquals(t.Scope, this)) t.Dispose();
        _owned.Clear();
    }
}
