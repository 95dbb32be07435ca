namespace Canter.Tensors;

/// <summary>
/// A reference-counted block of float32 memory owned by one backend. Tensors share a
/// storage when one is a view of another; the memory goes back to the backend's allocator
/// when the last tensor that uses it is disposed (or, as a safety net, when it is collected).
/// </summary>
public abstract class Storage
{
    private int _references = 1;

    protected Storage(IBackend backend, int length)
    {
        Backend = backend;
        Length = length;
    }

    public IBackend Backend { get; }

    /// <summary>Number of float32 elements.</summary>
    public int Length { get; }

    public bool IsReleased => Volatile.Read(ref _references) <= 0;

    internal void Retain()
    {
        if (Interlocked.Increment(ref _references) <= 1)
            throw new ObjectDisposedException(nameof(Storage), "Cannot share a storage that was already released.");
    }

    internal void Release()
    {
        int left = Interlocked.Decrement(ref _references);
        if (left == 0)
        {
            Free();
            GC.SuppressFinalize(this);
        }
    }

    /// <summary>Returns the memory to its allocator. Called once.</summary>
    protected abstract void Free();
}
