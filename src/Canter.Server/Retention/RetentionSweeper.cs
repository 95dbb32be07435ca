using Canter.Server.Storage;
using Canter.Server.Tasks;
using Canter.Server.Uploads;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Canter.Server.Retention;

/// <summary>
/// Every <see cref="ServerOptions.RetentionSweepInterval"/>: removes the files of expired results (all but the signed
/// manifest) and their inputs, and expired uploads. What it removes was already refused (410) since it expired.
/// One process of a deployment sweeps at a time: the holder of <see cref="ProcessRole.RetentionSweeper"/>.
/// </summary>
public sealed class RetentionSweeper(ITaskStore tasks, TaskFiles files, ResultRetention retention, IExpiredResults expired, UploadStore uploads,
    IOptions<ServerOptions> options, TimeProvider clock, ILogger<RetentionSweeper> log, IProcessRoles roles, IResultStore results) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                if (await roles.HoldAsync(ProcessRole.RetentionSweeper, stopping)) await SweepAsync(stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested) { break; }
            catch (Exception e) { log.LogError(e, "the retention sweep failed; it runs again later"); }
            try { await Task.Delay(options.Value.RetentionSweepInterval, clock, stopping); }
            catch (OperationCanceledException) { break; }
        }
    }

    public async Task SweepAsync(CancellationToken cancel)
    {
        int swept = 0;
        const string Keep = Provenance.ProvenanceSigner.ManifestFile;
        await foreach (var id in results.IdsWithFilesBesidesAsync(Keep, cancel))
        {
            var task = await tasks.GetAsync(id, cancel);
            if (task is null || !retention.IsDue(task)) continue;
            await expired.MarkAsync(id, cancel);   // first: from here on it is a 410, not a missing file
            await results.DeleteAllButAsync(id, Keep, cancel);
            files.DeleteInputs(id);
            swept++;
        }
        int gone = 0;
        foreach (var path in await uploads.ExpireDueAsync(cancel))
        {
            TryDelete(path);
            gone++;
        }
        if (swept + gone > 0) log.LogInformation("retention: removed the files of {Results} expired result(s) and {Uploads} upload(s)", swept, gone);
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (IOException) { }   // still open: the next sweep
    }
}
