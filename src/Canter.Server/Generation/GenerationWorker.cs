using System.Collections.Concurrent;
using System.Data.Common;
using Canter.Media;
using Canter.Server.Storage;
using Canter.Server.Tasks;
using Canter.Training.Unified;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Canter.Server.Generation;

/// <summary>
/// Runs queued tasks, <see cref="ServerOptions.Workers"/> at once (each by its own loop, all sharing the one generator,
/// which says whether its generations may overlap: see <see cref="ModelGenerator"/>), in the store's fair order
/// between keys. Each sampling step is recorded (and announced to event streams);
/// a cancel stops the sampler within one step. At start-up the tasks a dead server left running go back to the queue,
/// and when the server stops, the task being generated goes back too, so nothing is lost. With a store shared by
/// several workers (one with leases) it also keeps the leases of its tasks alive, stops a task whose lease it lost, and
/// sweeps the tasks of workers that died back into the queue, every lease/3; a store that is out of reach for a while
/// (the database restarts) is waited for, not fatal.
/// </summary>
public sealed class GenerationWorker(ITaskStore store, TaskFiles files, TaskNotifier notifier, IVideoGenerator generator,
    IOptions<ServerOptions> options, ILogger<GenerationWorker> log, TaskEvents events, IResultStore results) : BackgroundService
{
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _running = new();
    private readonly ConcurrentDictionary<string, bool> _lost = new();

    /// <summary>Asks the generation of <paramref name="id"/> to stop now, if this worker runs it (the store flag reaches it otherwise).</summary>
    public void Cancel(string id)
    {
        if (_running.TryGetValue(id, out var cts))
        {
            try { cts.Cancel(); }
            catch (ObjectDisposedException) { }   // it finished meanwhile
        }
    }

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        int requeued = await store.RequeueInterruptedAsync(cancellationToken);
        if (store.Lease is null) files.RemovePartialFiles();   // a shared data folder: other workers are writing theirs; each claim cleans its own
        if (requeued > 0) log.LogInformation("{Count} task(s) left running by the last server went back to the queue", requeued);
        await base.StartAsync(cancellationToken);
    }

    protected override Task ExecuteAsync(CancellationToken stopping) =>
        Task.WhenAll(Enumerable.Range(0, Math.Max(1, options.Value.Workers)).Select(_ => Task.Run(() => LoopAsync(stopping), CancellationToken.None)));

    /// <summary>One worker: claims a task (the store hands each task to one claimer only), runs it, and waits for work when the queue is empty.</summary>
    private async Task LoopAsync(CancellationToken stopping)
    {
        var upkeep = store.Lease is { } lease ? KeepLeasesAsync(lease / 3, stopping) : Task.CompletedTask;
        var backoff = TimeSpan.Zero;
        while (!stopping.IsCancellationRequested)
        {
            long seen = notifier.Version;
            TaskRecord? task;
            try
            {
                task = await store.ClaimNextAsync(stopping);
                if (backoff > TimeSpan.Zero) log.LogInformation("the task store answers again");
                backoff = TimeSpan.Zero;
                if (task is null)
                {
                    await notifier.WaitAsync(seen, TimeSpan.FromSeconds(5), stopping);
                    continue;
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested) { break; }
            catch (DbException e)
            {
                if (backoff == TimeSpan.Zero) log.LogWarning("the task store cannot be reached ({Reason}); trying again", e.Message);
                backoff = Longer(backoff);
                try { await Task.Delay(backoff, stopping); }
                catch (OperationCanceledException) { break; }
                continue;
            }
            notifier.Notify();
            events.Started(task);
            try { await RunAsync(task, stopping); }
            catch (DbException e)
            {
                // left running in the store: it runs again once its lease runs out (with leases) or at the next start
                log.LogError("task {Id} is left running: the task store failed ({Reason})", task.Id, e.Message);
            }
            notifier.Notify();
            events.Finished(task.Id);
        }
        await upkeep;
    }

    private async Task RunAsync(TaskRecord task, CancellationToken stopping)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        _running[task.Id] = cts;
        try
        {
            if (store.Lease is not null) files.RemovePartialFiles(task.Id);   // a worker that died writing this task left them
            results.Discard(task.Id);   // and what it staged for the bucket
            // a cancel that arrived between the claim and now
            if ((await store.GetAsync(task.Id, CancellationToken.None))?.CancelRequested != false) cts.Cancel();
            var inputs = files.Inputs(task.Id);
            var limits = options.Value.MediaLimits;
            var (request, result) = await Task.Factory.StartNew(() =>
            {
                var request = TaskRequests.Load(task.Spec, inputs, generator.Info, limits);
                var result = generator.Generate(request, (step, steps) =>
                {
                    // asked through the store: by another process, or before this worker listened; or the lease is lost
                    if (Report(task.Id, step, steps + TaskRecord.FinishingUnits)) cts.Cancel();
                    events.Progress(task.Id, step, steps);
                }, cts.Token);
                return (request, result);
            }, cts.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            cts.Token.ThrowIfCancellationRequested();
            // decoded: one unit past the sampling steps; the encode and the files are the last
            if (Report(task.Id, task.Spec.Steps + 1, task.Spec.Steps + TaskRecord.FinishingUnits)) cts.Cancel();
            cts.Token.ThrowIfCancellationRequested();
            WriteResults(task, request, result);
            await results.PublishAsync(task.Id, CancellationToken.None);   // every file stored whole before the task reads succeeded
            if (await Settle(task.Id, () => store.FinishAsync(task.Id, TaskState.Succeeded, cancel: CancellationToken.None)))
                log.LogInformation("task {Id} succeeded in {Seconds:F1} s", task.Id, result.Seconds);
            else if (await GoneAsync(task.Id))
            {
                files.DeleteInputs(task.Id);   // deleted while it ran
                await results.DeleteAsync(task.Id, CancellationToken.None);
            }
            else
                log.LogWarning("task {Id} is no longer this worker's (its lease ran out); the worker that holds it now finishes it", task.Id);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            await Settle(task.Id, () => store.ReleaseAsync(task.Id));
            log.LogInformation("task {Id} goes back to the queue: the server is stopping", task.Id);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            if (await Settle(task.Id, () => Stopped(task.Id, TaskState.Cancelled, "cancelled", "cancelled while running")))
                log.LogInformation("task {Id} cancelled", task.Id);
            else if (_lost.ContainsKey(task.Id) || !await GoneAsync(task.Id))
                log.LogWarning("task {Id} stopped: it is no longer this worker's (its lease ran out)", task.Id);
        }
        catch (ResultStoreException e)
        {
            // nothing of the task stays in the store (PublishAsync removes what it put): no part of a result is ever served
            await Settle(task.Id, () => Stopped(task.Id, TaskState.Failed, "result_store_unavailable",
                $"the results could not be stored: {e.Message}; try again later"));
            log.LogError("task {Id} failed: {Reason}", task.Id, e.Message);
        }
        catch (Exception e) when (e is not OperationCanceledException && (StorageFull(e) || (e is not DbException && NoSpaceLeft(files.Root))))
        {
            // whatever part of the results made it to disk goes: no half a result is left, and the space comes back
            files.DeleteResults(task.Id);
            await Settle(task.Id, () => Stopped(task.Id, TaskState.Failed, "storage_full",
                $"the server's result store is full (no space left on device): the results could not be written; try again later"));
            log.LogError("task {Id} failed: no space left on the device of the data folder {Root} ({Reason})", task.Id, files.Root, e.Message);
        }
        catch (Exception e) when (e is ArgumentException or MediaException or InvalidDataException or NotSupportedException)
        {
            await Settle(task.Id, () => Stopped(task.Id, TaskState.Failed, "invalid_input", e.Message));
            log.LogInformation("task {Id} failed: {Reason}", task.Id, e.Message);
        }
        catch (Exception e) when (e is not DbException)
        {
            await Settle(task.Id, () => Stopped(task.Id, TaskState.Failed, "internal_error", $"the generation failed: {e.Message}"));
            log.LogError(e, "task {Id} failed", task.Id);
        }
        finally
        {
            results.Discard(task.Id);   // staged files of a failed or cancelled run (published ones are gone from here already)
            _running.TryRemove(task.Id, out _);
            _lost.TryRemove(task.Id, out _);
        }
    }

    /// <summary>Ends a run that published nothing: its staged files go first, so a task that reads failed or cancelled has none left behind.</summary>
    private Task<bool> Stopped(string id, TaskState state, string code, string message)
    {
        results.Discard(id);
        return store.FinishAsync(id, state, code, message, CancellationToken.None);
    }

    /// <summary>Records a step; true when the worker should stop. A store out of reach does not stop it (the heartbeat tells whether the lease holds).</summary>
    private bool Report(string id, int step, int steps)
    {
        try { return store.ReportProgressAsync(id, step, steps, CancellationToken.None).GetAwaiter().GetResult(); }
        catch (DbException e)
        {
            log.LogWarning("task {Id}: step {Step} could not be recorded ({Reason})", id, step, e.Message);
            return false;
        }
        finally { notifier.Notify(); }
    }

    /// <summary>The end of a task, written again while the store is out of reach for a moment (a restart), up to 20 s.</summary>
    private async Task<bool> Settle(string id, Func<Task<bool>> write)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var backoff = TimeSpan.Zero;
        while (true)
        {
            try { return await write(); }
            catch (DbException e) when (clock.Elapsed < TimeSpan.FromSeconds(20))
            {
                backoff = Longer(backoff);
                log.LogWarning("task {Id}: the task store cannot be reached ({Reason}); trying again in {Seconds:F1} s", id, e.Message, backoff.TotalSeconds);
                await Task.Delay(backoff);
            }
        }
    }

    private async Task<bool> GoneAsync(string id)
    {
        try { return await store.GetAsync(id, CancellationToken.None) is null; }
        catch (DbException) { return false; }   // unknown: keep the files
    }

    /// <summary>With leases: every <paramref name="every"/>, keep this worker's leases alive and requeue the tasks of dead workers.</summary>
    private async Task KeepLeasesAsync(TimeSpan every, CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(every);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping))
            {
                try
                {
                    foreach (var id in await store.HeartbeatAsync(_running.Keys.ToList(), stopping))
                    {
                        if (!_running.ContainsKey(id)) continue;   // finished meanwhile
                        _lost[id] = true;
                        Cancel(id);
                    }
                    int requeued = await store.RequeueInterruptedAsync(stopping);
                    if (requeued > 0)
                    {
                        log.LogInformation("{Count} task(s) whose worker stopped answering went back to the queue", requeued);
                        notifier.Notify();
                    }
                }
                catch (DbException e) { log.LogWarning("leases not renewed this time: the task store cannot be reached ({Reason})", e.Message); }
            }
        }
        catch (OperationCanceledException) { }
    }

    /// <summary>
    /// The disk (or quota) of the data folder is full: ENOSPC or EDQUOT from a write here, ffmpeg saying so, or SQLite's
    /// SQLITE_FULL from a database in the data folder; anywhere in the chain of causes.
    /// </summary>
    internal static bool StorageFull(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is IOException && (OperatingSystem.IsWindows() ? (x.HResult & 0xFFFF) is 0x27 or 0x70 : x.HResult is 28 or 122)) return true;
            if (x is Microsoft.Data.Sqlite.SqliteException { SqliteErrorCode: 13 }) return true;
            if (x.Message.Contains("No space left on device", StringComparison.OrdinalIgnoreCase) || x.Message.Contains("Disk quota exceeded", StringComparison.OrdinalIgnoreCase))
                return true;
        }
        return false;
    }

    /// <summary>
    /// Less than a megabyte free on the data folder's disk: a failure then is most likely for want of space, whatever
    /// the failing tool said (ffmpeg does not always say).
    /// </summary>
    private static bool NoSpaceLeft(string root)
    {
        try { return new DriveInfo(root).AvailableFreeSpace < (1 << 20); }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException) { return false; }
    }

    private static TimeSpan Longer(TimeSpan backoff) =>
        backoff == TimeSpan.Zero ? TimeSpan.FromMilliseconds(250) : TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));

    private void WriteResults(TaskRecord task, GenerationRequest request, GenerationResult result)
    {
        var dir = results.WorkDir(task.Id);
        Directory.CreateDirectory(dir);
        GenerationOutput.Write(result, TaskRequests.Record(task.Spec, request, generator.Info),
            Path.Combine(dir, TaskFiles.Video), Path.Combine(dir, TaskFiles.Poster), Path.Combine(dir, TaskFiles.Record));
        var sheet = Path.Combine(dir, "spritesheet.partial.png");
        Png.Write(sheet, ContactSheet.Build(result.Video, result.Audio, columns: 4, rows: 2));
        File.Move(sheet, Path.Combine(dir, TaskFiles.Spritesheet), overwrite: true);
        events.ResultsWritten(task, dir);   // the signed manifest, before the task reads succeeded
    }
}
