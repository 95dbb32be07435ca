using Canter.Server.Tasks;
using Canter.Server.Generation;
using Canter.Server.Retention;
using Canter.Server.Keys;
using Canter.Server.Storage;

namespace Canter.Server.Api;

/// <summary>
/// What both APIs do with tasks: submit (idempotent by key), read, cancel, delete; a task is visible only to the
/// API key that made it. Submissions are checked whole, and against the key's limits, before they are queued, so a queued task only fails on what
/// cannot be known in advance.
/// </summary>
public sealed class TaskService(ITaskStore store, TaskFiles files, TaskNotifier notifier, Submissions submissions, GenerationWorker worker, IVideoGenerator generator,
    ResultRetention retention, TaskEvents events, KeyAdmission admission, IResultStore results)
{
    public static string NewId() => "video_" + Guid.NewGuid().ToString("N")[..24];

    /// <summary>
    /// Checks and queues a task built by <paramref name="build"/> (given the new task's id). With an idempotency key
    /// already used by this owner the earlier task comes back (Created false); the same key with another request is a 409.
    /// </summary>
    public async Task<(TaskRecord Task, bool Created)> SubmitAsync(Func<string, Task<TaskSpec>> build, string? owner, string? idempotencyKey,
        string? remixedFrom, CancellationToken cancel)
    {
        if (idempotencyKey is { Length: > 255 }) throw ApiException.BadRequest("Idempotency-Key: at most 255 characters", "Idempotency-Key");
        var id = NewId();
        TaskSpec spec;
        try { spec = await build(id); }
        catch { files.DeleteInputs(id); throw; }
        var hash = submissions.Hash(spec);
        TaskRecord task;
        bool created;
        try { (task, created) = await admission.AddAsync(new NewTask(id, spec, generator.Info.Model, hash, owner, idempotencyKey, remixedFrom), cancel); }
        catch { files.DeleteInputs(id); throw; }   // over a key's limits
        if (!created)
        {
            files.DeleteInputs(id);
            if (task.RequestHash != hash)
                throw new ApiException(409, "idempotency_key_reused", $"Idempotency-Key '{idempotencyKey}' was used for another request (task {task.Id}); use a new key for a new request", "Idempotency-Key");
            return (retention.Stamp(task), false);
        }
        notifier.Notify();
        return (task, true);
    }

    public async Task<TaskRecord> GetAsync(string id, string? owner, CancellationToken cancel)
    {
        var task = await store.GetAsync(id, cancel);
        return task is not null && task.Owner == owner ? retention.Stamp(task) : throw ApiException.NotFound($"task '{id}'");
    }

    public async Task<TaskPage> ListAsync(string? owner, string? after, int? limit, string? order, string? state, CancellationToken cancel)
    {
        if (limit is < 1 or > 100) throw ApiException.BadRequest($"limit: {limit} must be in [1, 100]", "limit");
        if (order is not (null or "asc" or "desc")) throw ApiException.BadRequest($"order: '{order}' is not asc or desc", "order");
        TaskState? only = null;
        if (state is not null)
        {
            if (!Enum.TryParse<TaskState>(state, ignoreCase: true, out var parsed) || int.TryParse(state, out _))
                throw ApiException.BadRequest($"state: '{state}' is not one of queued, running, succeeded, failed, cancelled", "state");
            only = parsed;
        }
        return retention.Stamp(await store.ListAsync(new TaskQuery(owner, after, limit ?? 20, order == "asc", only), cancel));
    }

    /// <summary>Cancels a queued task at once, a running one within a sampling step; a finished task is a 409.</summary>
    public async Task<TaskRecord> CancelAsync(string id, string? owner, CancellationToken cancel)
    {
        var task = await GetAsync(id, owner, cancel);
        if (task.State.IsFinished()) throw new ApiException(409, "task_finished", $"task '{id}' has already {task.State.Name()}; there is nothing to cancel");
        task = await store.RequestCancelAsync(id, cancel) ?? throw ApiException.NotFound($"task '{id}'");
        worker.Cancel(id);
        notifier.Notify();
        events.Finished(id);   // a queued task is cancelled now; a running one when its worker stops
        return task;
    }

    /// <summary>Deletes a task and its files; a running one is stopped first.</summary>
    public async Task DeleteAsync(string id, string? owner, CancellationToken cancel)
    {
        var task = await GetAsync(id, owner, cancel);
        if (task.State == TaskState.Running)
        {
            await store.RequestCancelAsync(id, cancel);
            worker.Cancel(id);
        }
        await store.DeleteAsync(id, cancel);
        files.DeleteInputs(id);
        try { await results.DeleteAsync(id, CancellationToken.None); }
        catch (ResultStoreException e) { throw new ApiException(503, "result_store_unavailable", $"task '{id}' is deleted, but its results could not be removed yet: {e.Message}"); }
        notifier.Notify();
    }

    /// <summary>A result file of a succeeded task; a task that has not succeeded is a 409 that says why.</summary>
    public async Task<ResultFile> ResultAsync(string id, string? owner, string file, CancellationToken cancel)
    {
        var task = await GetAsync(id, owner, cancel);
        if (task.State != TaskState.Succeeded)
        {
            var why = task.State switch
            {
                TaskState.Failed => $"task '{id}' failed ({task.Error}); it has no files",
                TaskState.Cancelled => $"task '{id}' was cancelled; it has no files",
                _ => $"task '{id}' is {task.State.Name()}; its files are ready when it has succeeded",
            };
            throw new ApiException(409, "task_not_succeeded", why);
        }
        await retention.ThrowIfExpiredAsync(task, cancel);
        return await results.OpenForRequestAsync(id, file, cancel) ?? throw ApiException.NotFound($"{file} of task '{id}'");
    }
}
