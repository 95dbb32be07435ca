using Canter.Server.Api;
using Canter.Server.Tasks;
using Microsoft.Extensions.Options;

namespace Canter.Server.Retention;

/// <summary>
/// Results whose files the sweeper has removed: they stay gone when the retention is later raised.
/// <see cref="SqliteExpiredResults"/> in tasks.db, or <see cref="PostgresExpiredResults"/> in the shared database.
/// </summary>
public interface IExpiredResults
{
    Task MarkAsync(string taskId, CancellationToken cancel = default);

    Task<DateTimeOffset?> ExpiredAtAsync(string taskId, CancellationToken cancel = default);
}

/// <summary><see cref="IExpiredResults"/> as <c>expired_results</c> in the server's SQLite file.</summary>
public sealed class SqliteExpiredResults(string path, TimeProvider clock) : SqliteTables(path, """
    CREATE TABLE IF NOT EXISTS expired_results (task_id TEXT PRIMARY KEY, expired_at INTEGER NOT NULL);
    """), IExpiredResults
{
    public Task MarkAsync(string taskId, CancellationToken cancel = default) => Locked(() =>
        Change("INSERT OR IGNORE INTO expired_results (task_id, expired_at) VALUES (@id, @now)", ("@id", taskId), ("@now", clock.GetUtcNow().ToUnixTimeMilliseconds())), cancel);

    public Task<DateTimeOffset?> ExpiredAtAsync(string taskId, CancellationToken cancel = default) => Locked(() =>
        Query("SELECT expired_at FROM expired_results WHERE task_id = @id", r => Time(r, 0), ("@id", taskId)).FirstOrDefault(), cancel);
}

/// <summary><see cref="IExpiredResults"/> as <c>canter_expired_results</c> in the shared PostgreSQL database.</summary>
public sealed class PostgresExpiredResults(PostgresDatabase db, TimeProvider clock) : PostgresTables(db, "expired_results", 1, """
    CREATE TABLE IF NOT EXISTS canter_expired_results (task_id text PRIMARY KEY, expired_at timestamptz NOT NULL);
    """), IExpiredResults
{
    public Task MarkAsync(string taskId, CancellationToken cancel = default) =>
        Change("INSERT INTO canter_expired_results (task_id, expired_at) VALUES (@id, @now) ON CONFLICT DO NOTHING", cancel, ("id", taskId), ("now", clock.GetUtcNow()));

    public async Task<DateTimeOffset?> ExpiredAtAsync(string taskId, CancellationToken cancel = default) =>
        (await Query("SELECT expired_at FROM canter_expired_results WHERE task_id = @id", r => PostgresDatabase.Time(r, 0), cancel, ("id", taskId))).FirstOrDefault();
}

/// <summary>
/// How long results are kept: a succeeded task's files expire <see cref="ServerOptions.ResultRetention"/> after it
/// completed (zero: never), and the views say when (<c>expires_at</c>). From then on a download is a 410 Gone with
/// code <c>result_expired</c>, whether or not the sweeper has removed the files yet, so a client never gets a dead link
/// or half a file. The signed manifest outlives the video, so a copy can still be verified.
/// </summary>
public sealed class ResultRetention(IExpiredResults expired, IOptions<ServerOptions> options, TimeProvider clock)
{
    public TimeSpan Retention => options.Value.ResultRetention;

    /// <summary>The task with its <see cref="TaskRecord.ExpiresAt"/> set (succeeded tasks only).</summary>
    public TaskRecord Stamp(TaskRecord task) =>
        task.State == TaskState.Succeeded && task.CompletedAt is { } completed && Retention > TimeSpan.Zero ? task with { ExpiresAt = completed + Retention } : task;

    public TaskPage Stamp(TaskPage page) => page with { Tasks = page.Tasks.Select(Stamp).ToList() };

    public bool IsDue(TaskRecord task) => Stamp(task).ExpiresAt is { } at && at <= clock.GetUtcNow();

    /// <summary>A 410 when the results of <paramref name="task"/> have expired.</summary>
    public async Task ThrowIfExpiredAsync(TaskRecord task, CancellationToken cancel)
    {
        var at = Stamp(task).ExpiresAt is { } due && due <= clock.GetUtcNow() ? due : await expired.ExpiredAtAsync(task.Id, cancel);
        if (at is { } when)
            throw new ApiException(410, "result_expired",
                $"the results of task '{task.Id}' expired at {when.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC (this server keeps results for {Describe(Retention)}); submit the request again to make them anew");
    }

    public static string Describe(TimeSpan span) =>
        span.TotalDays >= 1 && span.TotalDays % 1 == 0 ? $"{span.TotalDays:0} day(s)" : span.TotalHours >= 1 ? $"{span.TotalHours:0.#} hour(s)" : $"{span.TotalSeconds:0.#} s";
}
