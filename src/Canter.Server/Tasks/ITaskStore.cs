namespace Canter.Server.Tasks;

/// <summary>
/// The durable list of generation tasks. Every change is one atomic transition, so a task is never run twice, lost, or
/// left half-changed; <see cref="SqliteTaskStore"/> keeps it in one file under the data folder for one process, and
/// <see cref="PostgresTaskStore"/> in a PostgreSQL database shared by several servers and workers on several machines.
/// A store with leases (<see cref="Lease"/> set) claims a task for the worker identity it was made with: only that
/// worker may report on, finish or release it. Progress reports and <see cref="HeartbeatAsync"/> extend the lease; once
/// it runs out, the next sweep (<see cref="RequeueInterruptedAsync"/>) puts the task back in the queue and the old
/// worker's calls on it fail from then on.
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

    /// <summary>
    /// Records sampling progress of a running task; returns whether its worker should stop: a cancel has been asked for
    /// it, or (with leases) the task is no longer this worker's.
    /// </summary>
    Task<bool> ReportProgressAsync(string id, int step, int steps, CancellationToken cancel = default);

    /// <summary>
    /// Ends a running task (succeeded, failed or cancelled); false when it is no longer running (deleted meanwhile) or,
    /// with leases, no longer this worker's (its lease ran out and another worker may run it now).
    /// </summary>
    Task<bool> FinishAsync(string id, TaskState state, string? errorCode = null, string? error = null, CancellationToken cancel = default);

    /// <summary>Puts a running task back at its place in the queue (the worker is stopping).</summary>
    Task<bool> ReleaseAsync(string id, CancellationToken cancel = default);

    /// <summary>A queued task becomes cancelled at once; a running one is marked, and its worker stops within a step.</summary>
    Task<TaskRecord?> RequestCancelAsync(string id, CancellationToken cancel = default);

    Task<bool> DeleteAsync(string id, CancellationToken cancel = default);

    /// <summary>
    /// Tasks whose worker died go back to the queue (cancelled instead when a cancel was asked); returns how many. Without
    /// leases (one process) that is every running task, and it runs at start-up only; with leases it is the running
    /// tasks whose lease ran out, and every worker also runs it every <see cref="Lease"/>/3.
    /// </summary>
    Task<int> RequeueInterruptedAsync(CancellationToken cancel = default);

    /// <summary>
    /// How long a claim holds without a progress report or heartbeat; null for a store of one process, where a task
    /// runs exactly as long as that process lives.
    /// </summary>
    TimeSpan? Lease { get; }

    /// <summary>
    /// Extends the leases of tasks this worker runs (a long step, loading inputs, encoding); returns those of
    /// <paramref name="ids"/> it no longer runs (lease lost, finished or deleted meanwhile), which it should stop.
    /// </summary>
    Task<IReadOnlyList<string>> HeartbeatAsync(IReadOnlyCollection<string> ids, CancellationToken cancel = default);
}
