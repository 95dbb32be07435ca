namespace Canter.Server.Tasks;

/// <summary>
/// The durable list of generation tasks. Every change is one atomic transition, so a task is never run twice, lost, or
/// left half-changed; <see cref="SqliteTaskStore"/> keeps it in one file under the data folder, and a shared database
/// for several worker machines implements the same interface.
/// </summary>
public interface ITaskStore
{
    /// <summary>
    /// Adds a queued task, or, when the owner already sent this idempotency key, returns that task unchanged with
    /// Created false (the caller compares <see cref="TaskRecord.RequestHash"/> to spot a key reused for another request).
    /// </summary>
    Task<(TaskRecord Task, bool Created)> AddAsync(NewTask task, CancellationToken cancel = default);

    Task<TaskRecord?> GetAsync(string id, CancellationToken cancel = default);

    Task<TaskPage> ListAsync(TaskQuery query, CancellationToken cancel = default);

    /// <summary>
    /// Moves the next queued task to running and returns it; null when nothing waits. Next is fair between owners: the
    /// oldest queued task of the owner with the fewest running tasks, the least recently served owner first among
    /// equals, so one key's many tasks cannot starve another key's few.
    /// </summary>
    Task<TaskRecord?> ClaimNextAsync(CancellationToken cancel = default);

    /// <summary>Records sampling progress of a running task; returns whether a cancel has been asked for it.</summary>
    Task<bool> ReportProgressAsync(string id, int step, int steps, CancellationToken cancel = default);

    /// <summary>Ends a running task (succeeded, failed or cancelled); false when it is no longer running (deleted meanwhile).</summary>
    Task<bool> FinishAsync(string id, TaskState state, string? errorCode = null, string? error = null, CancellationToken cancel = default);

    /// <summary>Puts a running task back at its place in the queue (the worker is stopping).</summary>
    Task<bool> ReleaseAsync(string id, CancellationToken cancel = default);

    /// <summary>A queued task becomes cancelled at once; a running one is marked, and its worker stops within a step.</summary>
    Task<TaskRecord?> RequestCancelAsync(string id, CancellationToken cancel = default);

    Task<bool> DeleteAsync(string id, CancellationToken cancel = default);

    /// <summary>At start-up: tasks that were running when the server died go back to the queue; returns how many.</summary>
    Task<int> RequeueInterruptedAsync(CancellationToken cancel = default);
}
