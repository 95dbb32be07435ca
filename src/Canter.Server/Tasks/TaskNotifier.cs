namespace Canter.Server.Tasks;

/// <summary>
/// Tells whoever waits (the worker, event streams) that some task changed: a version number that only grows, and a
/// wait for it to pass the version the waiter last saw. Waiters then read the store; the store stays the truth.
/// </summary>
public sealed class TaskNotifier
{
    private readonly object _lock = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _version;

    public long Version => Interlocked.Read(ref _version);

    public void Notify()
    {
        TaskCompletionSource done;
        lock (_lock)
        {
            _version++;
            done = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        done.TrySetResult();
    }

    /// <summary>Returns when the version is past <paramref name="seen"/>, after <paramref name="timeout"/>, or throws when cancelled.</summary>
    public async Task WaitAsync(long seen, TimeSpan timeout, CancellationToken cancel)
    {
        Task changed;
        lock (_lock)
        {
            if (_version > seen) return;
            changed = _changed.Task;
        }
        await Task.WhenAny(changed, Task.Delay(timeout, cancel));
        cancel.ThrowIfCancellationRequested();
    }
}
