using System.Collections.Concurrent;
using System.Globalization;
using Canter.Server.Api;
using Canter.Server.Tasks;
using Microsoft.Extensions.Options;

namespace Canter.Server.Keys;

/// <summary>
/// Queues a task only within its key's limits, checked at submit: at most <c>concurrency</c> unfinished tasks, and at
/// most <c>quota</c> seconds of video asked for in the last 24 hours (a rolling window, so there is no midnight rush;
/// tasks that failed or were cancelled do not count, deleted ones still do). A refusal is a 429 whose code says which
/// limit (<c>too_many_tasks</c>, <c>quota_exceeded</c>). Each key's check and insert run under that key's gate, so two
/// submits at once cannot both take the last place. An open server (no keys) has no limits.
/// </summary>
/// <remarks>
/// A retried submit with an idempotency key is checked like a new one: while the key is at its limit it gets the 429
/// rather than the task it made before, and gets that task once the limit allows.
/// </remarks>
public sealed class KeyAdmission(IKeyStore keys, ITaskStore store, IOptions<ServerOptions> options, TimeProvider? clock = null)
{
    public static readonly TimeSpan Window = TimeSpan.FromHours(24);

    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _gates = new(StringComparer.Ordinal);

    /// <summary><see cref="ITaskStore.AddAsync"/> after the owner's limits are checked; the task's seconds are then counted against its quota.</summary>
    public async Task<(TaskRecord Task, bool Created)> AddAsync(NewTask task, CancellationToken cancel)
    {
        if (task.Owner is not { } owner) return await store.AddAsync(task, cancel);
        var gate = _gates.GetOrAdd(owner, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancel);
        try
        {
            var (quota, concurrency) = await LimitsAsync(owner, cancel);
            if (quota > 0 || concurrency > 0)
            {
                var now = _clock.GetUtcNow();
                var usage = await keys.UsageAsync(owner, now - Window, cancel);
                if (concurrency > 0 && usage.Unfinished >= concurrency)
                    throw new ApiException(429, "too_many_tasks",
                        $"this API key has {usage.Unfinished} unfinished task{(usage.Unfinished == 1 ? "" : "s")}, its limit of {concurrency}; submit again when one has finished");
                double asked = task.Spec.Seconds;
                if (quota > 0 && usage.Seconds + asked > quota + 1e-6)
                    throw new ApiException(429, "quota_exceeded",
                        $"quota: this API key has used {S(usage.Seconds)} of its {S(quota)} seconds of video in the last 24 hours; this request asks for {S(asked)} more")
                    {
                        RetryAfter = usage.OldestCounted is { } oldest && oldest + Window > now ? oldest + Window - now : null,
                    };
            }
            var (added, created) = await store.AddAsync(task, cancel);
            if (created) await keys.RecordUsageAsync(owner, added.Id, added.Spec.Seconds, CancellationToken.None);
            return (added, created);
        }
        finally { gate.Release(); }
    }

    /// <summary>The key's own limits from the store, else the server's defaults (keys given with --api-key have only those).</summary>
    private async Task<(double Quota, int Concurrency)> LimitsAsync(string owner, CancellationToken cancel)
    {
        var key = await keys.FindAsync(owner, cancel);
        var o = options.Value;
        return (key?.QuotaSeconds ?? o.QuotaSecondsPerDay, key?.Concurrency ?? o.MaxTasksPerKey);
    }

    private static string S(double seconds) => Math.Round(seconds, 2).ToString(CultureInfo.InvariantCulture);
}
