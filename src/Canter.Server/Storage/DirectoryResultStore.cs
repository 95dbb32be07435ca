using System.Runtime.CompilerServices;
using Canter.Server.Tasks;
using Microsoft.AspNetCore.Http;

namespace Canter.Server.Storage;

/// <summary>
/// Results as files under the data folder, results/ID/FILE (the default; with several machines the folder is one shared
/// mount). The worker writes straight into results/ID/ (each file renamed into place whole), so publishing is nothing.
/// </summary>
public sealed class DirectoryResultStore(TaskFiles files) : IResultStore
{
    public string Description => $"the folder {Path.Combine(files.Root, "results")}";

    public string WorkDir(string id) => files.Results(id);

    public Task PublishAsync(string id, CancellationToken cancel) => Task.CompletedTask;

    public void Discard(string id) { }   // what is here is the result, or half-written files that RemovePartialFiles takes

    public Task<ResultFile?> OpenAsync(string id, string file, CancellationToken cancel)
    {
        var path = files.Result(id, file);
        return Task.FromResult<ResultFile?>(File.Exists(path) ? new LocalResultFile(path) : null);
    }

    public Task DeleteAsync(string id, CancellationToken cancel)
    {
        files.DeleteResults(id);
        return Task.CompletedTask;
    }

    public Task DeleteAllButAsync(string id, string keep, CancellationToken cancel)
    {
        var dir = files.Results(id);
        if (!Directory.Exists(dir)) return Task.CompletedTask;
        foreach (var file in Directory.EnumerateFiles(dir).Where(f => Path.GetFileName(f) != keep))
        {
            try { File.Delete(file); }
            catch (IOException) { }   // still open: the next sweep
        }
        return Task.CompletedTask;
    }

    public async IAsyncEnumerable<string> IdsWithFilesBesidesAsync(string keep, [EnumeratorCancellation] CancellationToken cancel)
    {
        await Task.CompletedTask;
        foreach (var dir in Directory.EnumerateDirectories(Path.Combine(files.Root, "results")))
        {
            cancel.ThrowIfCancellationRequested();
            if (Directory.EnumerateFiles(dir).Any(f => Path.GetFileName(f) != keep)) yield return Path.GetFileName(dir);
        }
    }

    public Task CheckAsync(CancellationToken cancel) => Task.CompletedTask;   // TaskFiles made the folder; a full disk fails its task with a reason
}

/// <summary>A result on this machine's disk, served as a physical file (the kernel's sendfile, ranges by ASP.NET).</summary>
public sealed class LocalResultFile(string path) : ResultFile
{
    public override long Length => new FileInfo(path).Length;

    public override string LocalPath => path;

    public override Task<Stream> OpenReadAsync(CancellationToken cancel) => Task.FromResult<Stream>(File.OpenRead(path));

    public override ResultDownload Download(string contentType, string? downloadName = null, bool ranges = false) =>
        new(TypedResults.PhysicalFile(path, contentType, downloadName, enableRangeProcessing: ranges));
}
