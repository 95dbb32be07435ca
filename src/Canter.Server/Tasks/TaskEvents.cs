using Microsoft.Extensions.Logging;

namespace Canter.Server.Tasks;

/// <summary>What happened to a task. Started and Progress carry what the worker knows; Finished means "read the store": it is
/// raised after any transition that may have ended the task (the worker's last write, a cancel of a queued task).</summary>
public enum TaskChangeKind
{
    Started,
    Progress,
    Finished,
}

public sealed record TaskChange(string TaskId, TaskChangeKind Kind, TaskRecord? Task = null, int Step = 0, int Steps = 0);

/// <summary>
/// Something that follows the task lifecycle (webhooks, provenance). <see cref="Changed"/> must not block: it is called
/// from the sampling loop. <see cref="ResultsWritten"/> runs on the worker before the task is marked succeeded, so what
/// it writes beside the results is there whenever the task reads succeeded; throwing from it fails the task.
/// </summary>
public interface ITaskObserver
{
    void Changed(TaskChange change) { }

    void ResultsWritten(TaskRecord task, string resultsDir) { }
}

/// <summary>The one place the worker and the task service announce transitions: one call per transition, fanned out to every observer.</summary>
public sealed class TaskEvents(IEnumerable<ITaskObserver> observers, ILogger<TaskEvents> log)
{
    private readonly ITaskObserver[] _observers = observers.ToArray();

    public void Started(TaskRecord task) => Raise(new TaskChange(task.Id, TaskChangeKind.Started, task));

    public void Progress(string id, int step, int steps) => Raise(new TaskChange(id, TaskChangeKind.Progress, Step: step, Steps: steps));

    public void Finished(string id) => Raise(new TaskChange(id, TaskChangeKind.Finished));

    public void ResultsWritten(TaskRecord task, string resultsDir)
    {
        foreach (var o in _observers) o.ResultsWritten(task, resultsDir);
    }

    private void Raise(TaskChange change)
    {
        foreach (var o in _observers)
        {
            // an observer's failure must never fail the task it observes
            try { o.Changed(change); }
            catch (Exception e) { log.LogError(e, "task observer {Observer} failed on {Kind} of {Id}", o.GetType().Name, change.Kind, change.TaskId); }
        }
    }
}
