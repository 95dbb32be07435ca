using System.Collections.Concurrent;
using Canter.Media;
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
/// and when the server stops, the task being generated goes back too, so nothing is lost.
/// </summary>
public sealed class GenerationWorker(ITaskStore store, TaskFiles files, TaskNotifier notifier, IVideoGenerator generator,
    IOptions<ServerOptions> options, ILogger<GenerationWorker> log, TaskEvents events) : BackgroundService
{
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _running = new();

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
        files.RemovePartialFiles();
        if (requeued > 0) log.LogInformation("{Count} task(s) left running by the last server went back to the queue", requeued);
        await base.StartAsync(cancellationToken);
    }

    protected override Task ExecuteAsync(CancellationToken stopping) =>
        Task.WhenAll(Enumerable.Range(0, Math.Max(1, options.Value.Workers)).Select(_ => Task.Run(() => LoopAsync(stopping), CancellationToken.None)));

    /// <summary>One worker: claims a task (the store hands each task to one claimer only), runs it, and waits for work when the queue is empty.</summary>
    private async Task LoopAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            long seen = notifier.Version;
            TaskRecord? task;
            try
            {
                task = await store.ClaimNextAsync(stopping);
                if (task is null)
                {
                    await notifier.WaitAsync(seen, TimeSpan.FromSeconds(5), stopping);
                    continue;
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested) { break; }
            notifier.Notify();
            events.Started(task);
            await RunAsync(task, stopping);
            notifier.Notify();
            events.Finished(task.Id);
        }
    }

    private async Task RunAsync(TaskRecord task, CancellationToken stopping)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        _running[task.Id] = cts;
        try
        {
            // a cancel that arrived between the claim and now
            if ((await store.GetAsync(task.Id, CancellationToken.None))?.CancelRequested != false) cts.Cancel();
            var inputs = files.Inputs(task.Id);
            var limits = options.Value.MediaLimits;
            var (request, result) = await Task.Factory.StartNew(() =>
            {
                var request = TaskRequests.Load(task.Spec, inputs, generator.Info, limits);
                var result = generator.Generate(request, (step, steps) =>
                {
                    bool cancelAsked = store.ReportProgressAsync(task.Id, step, steps + TaskRecord.FinishingUnits, CancellationToken.None).GetAwaiter().GetResult();
                    notifier.Notify();
                    events.Progress(task.Id, step, steps);
                    if (cancelAsked) cts.Cancel();   // asked through the store: by another process, or before this worker listened
                }, cts.Token);
                return (request, result);
            }, cts.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            cts.Token.ThrowIfCancellationRequested();
            // decoded: one unit past the sampling steps; the encode and the files are the last
            if (await store.ReportProgressAsync(task.Id, task.Spec.Steps + 1, task.Spec.Steps + TaskRecord.FinishingUnits, CancellationToken.None)) cts.Cancel();
            notifier.Notify();
            cts.Token.ThrowIfCancellationRequested();
            WriteResults(task, request, result);
            if (!await store.FinishAsync(task.Id, TaskState.Succeeded, cancel: CancellationToken.None))
                files.Delete(task.Id);   // deleted while it ran
            log.LogInformation("task {Id} succeeded in {Seconds:F1} s", task.Id, result.Seconds);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            await store.ReleaseAsync(task.Id, CancellationToken.None);
            log.LogInformation("task {Id} goes back to the queue: the server is stopping", task.Id);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            await store.FinishAsync(task.Id, TaskState.Cancelled, "cancelled", "cancelled while running", CancellationToken.None);
            log.LogInformation("task {Id} cancelled", task.Id);
        }
        catch (Exception e) when (e is ArgumentException or MediaException or InvalidDataException or NotSupportedException)
        {
            await store.FinishAsync(task.Id, TaskState.Failed, "invalid_input", e.Message, CancellationToken.None);
            log.LogInformation("task {Id} failed: {Reason}", task.Id, e.Message);
        }
        catch (Exception e)
        {
            await store.FinishAsync(task.Id, TaskState.Failed, "internal_error", $"the generation failed: {e.Message}", CancellationToken.None);
            log.LogError(e, "task {Id} failed", task.Id);
        }
        finally
        {
            _running.TryRemove(task.Id, out _);
        }
    }

    private void WriteResults(TaskRecord task, GenerationRequest request, GenerationResult result)
    {
        var dir = files.Results(task.Id);
        Directory.CreateDirectory(dir);
        GenerationOutput.Write(result, TaskRequests.Record(task.Spec, request, generator.Info),
            Path.Combine(dir, TaskFiles.Video), Path.Combine(dir, TaskFiles.Poster), Path.Combine(dir, TaskFiles.Record));
        var sheet = Path.Combine(dir, "spritesheet.partial.png");
        Png.Write(sheet, ContactSheet.Build(result.Video, result.Audio, columns: 4, rows: 2));
        File.Move(sheet, Path.Combine(dir, TaskFiles.Spritesheet), overwrite: true);
        events.ResultsWritten(task, dir);   // the signed manifest, before the task reads succeeded
    }
}
