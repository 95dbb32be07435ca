using Microsoft.AspNetCore.Http;

namespace Canter.Server.Storage;

/// <summary>
/// Where the results of tasks live (video.mp4, poster.png, record.json, spritesheet.png, manifest.json): the data
/// folder's results/ID/ by default (<see cref="DirectoryResultStore"/>), or an S3-compatible bucket shared by every
/// server and worker (<see cref="S3ResultStore"/>). A worker writes a task's files into <see cref="WorkDir"/> on its
/// own disk, then <see cref="PublishAsync"/> makes them the task's results, each file whole; only then is the task
/// marked succeeded. Readers never see half a file.
/// </summary>
public interface IResultStore
{
    /// <summary>Where results go, in words for a log line (never a credential).</summary>
    string Description { get; }

    /// <summary>The local folder the worker writes the results of <paramref name="id"/> into before <see cref="PublishAsync"/>.</summary>
    string WorkDir(string id);

    /// <summary>Makes the files of <see cref="WorkDir"/> the results of <paramref name="id"/>; throws <see cref="ResultStoreException"/> when they cannot be stored (then none of them is).</summary>
    Task PublishAsync(string id, CancellationToken cancel);

    /// <summary>Removes what <see cref="WorkDir"/> holds that is not a published result (a failed, cancelled or interrupted run); missing is fine.</summary>
    void Discard(string id);

    /// <summary>A result file of <paramref name="id"/>, or null when there is none.</summary>
    Task<ResultFile?> OpenAsync(string id, string file, CancellationToken cancel);

    /// <summary>Removes every result file of <paramref name="id"/>; missing ones are fine.</summary>
    Task DeleteAsync(string id, CancellationToken cancel);

    /// <summary>Removes the result files of <paramref name="id"/> except <paramref name="keep"/> (an expired result keeps its signed manifest).</summary>
    Task DeleteAllButAsync(string id, string keep, CancellationToken cancel);

    /// <summary>The ids that hold some result file other than <paramref name="keep"/> (the results the retention sweeper looks at).</summary>
    IAsyncEnumerable<string> IdsWithFilesBesidesAsync(string keep, CancellationToken cancel);

    /// <summary>Proves at start that results can be written, read and removed; throws <see cref="ResultStoreException"/> saying why not.</summary>
    Task CheckAsync(CancellationToken cancel);
}

/// <summary>One stored result file: its size, a stream of it, and an HTTP answer that serves it (with Range support when asked).</summary>
public abstract class ResultFile
{
    public abstract long Length { get; }

    /// <summary>The file on this machine's disk, when it is one (the directory store); null for a remote object.</summary>
    public virtual string? LocalPath => null;

    public abstract Task<Stream> OpenReadAsync(CancellationToken cancel);

    /// <summary>The HTTP answer: 200 (or 206/416 for a Range when <paramref name="ranges"/>), with ETag, Last-Modified and, when named, Content-Disposition.</summary>
    public abstract ResultDownload Download(string contentType, string? downloadName = null, bool ranges = false);
}

/// <summary>A result file as an endpoint's typed answer (a physical file or a stream through the server).</summary>
public sealed class ResultDownload(IResult inner) : IResult
{
    public Task ExecuteAsync(HttpContext httpContext) => inner.ExecuteAsync(httpContext);
}

/// <summary>The result store failed (unreachable, bucket gone, access denied); the message says which store and why, never a credential.</summary>
public sealed class ResultStoreException(string message, Exception? inner = null) : IOException(message, inner);

/// <summary>A result as a file on this machine, for code that reads paths (the arena): the file itself, or a temporary copy removed on dispose.</summary>
public sealed class LocalCopy : IAsyncDisposable
{
    private readonly bool _temporary;

    private LocalCopy(string path, bool temporary) => (Path, _temporary) = (path, temporary);

    public string Path { get; }

    public static async Task<LocalCopy> OfAsync(ResultFile file, CancellationToken cancel)
    {
        if (file.LocalPath is { } local) return new LocalCopy(local, temporary: false);
        var path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"canter-result-{Guid.NewGuid():N}.mp4");
        try
        {
            await using var source = await file.OpenReadAsync(cancel);
            await using var target = File.Create(path);
            await source.CopyToAsync(target, cancel);
        }
        catch
        {
            File.Delete(path);
            throw;
        }
        return new LocalCopy(path, temporary: true);
    }

    public ValueTask DisposeAsync()
    {
        if (_temporary)
        {
            try { File.Delete(Path); }
            catch (IOException) { }
        }
        return ValueTask.CompletedTask;
    }
}
