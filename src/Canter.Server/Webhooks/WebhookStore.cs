using Canter.Server.Tasks;

namespace Canter.Server.Webhooks;

/// <summary>A task's webhook: where to POST and which events.</summary>
public sealed record WebhookSubscription(string TaskId, string Url, IReadOnlyList<string> Events)
{
    public bool Wants(string type) => Events.Contains(type);
}

/// <summary>One event for one receiver, and how its delivery went. State: pending, delivered or failed (written by name; append only).</summary>
public sealed record WebhookDelivery(string EventId, string TaskId, string Type, string Url, string Body, string State, int Attempts,
    DateTimeOffset NextAt, int? LastStatus, string? LastError, DateTimeOffset CreatedAt, DateTimeOffset? DeliveredAt);

/// <summary>
/// Where webhooks are kept: the subscriptions (one per task that asked for one) and the deliveries (one per event,
/// kept after delivery as a log). A delivery is written before it is attempted and changed after each attempt, so a
/// restart resumes every pending one where it stood. <see cref="SqliteWebhookStore"/> in tasks.db, or
/// <see cref="PostgresWebhookStore"/> in the shared database of a scale-out.
/// </summary>
public interface IWebhookStore
{
    Task SubscribeAsync(WebhookSubscription s, CancellationToken cancel = default);

    Task<WebhookSubscription?> GetAsync(string taskId, CancellationToken cancel = default);

    /// <summary>Tasks whose finishing event has not been recorded yet (a restart checks whether they finished meanwhile).</summary>
    Task<List<string>> UnfinishedAsync(CancellationToken cancel = default);

    /// <summary>
    /// Records an event to deliver (null: none, the receiver did not ask for it). A finishing event is recorded once
    /// per task, by whichever process gets there first: false when one was already, and nothing is written then.
    /// </summary>
    Task<bool> EnqueueAsync(string taskId, WebhookDelivery? delivery, bool finishing, CancellationToken cancel = default);

    /// <summary>Pending deliveries due now, oldest first.</summary>
    Task<List<WebhookDelivery>> DueAsync(int limit, CancellationToken cancel = default);

    /// <summary>When the next pending delivery is due; null when none waits.</summary>
    Task<DateTimeOffset?> NextDueAsync(CancellationToken cancel = default);

    Task<List<WebhookDelivery>> ForTaskAsync(string taskId, CancellationToken cancel = default);

    /// <summary>Records an attempt: delivered, failed for good, or pending again at <paramref name="nextAt"/>.</summary>
    Task AttemptedAsync(string eventId, string state, int attempts, DateTimeOffset nextAt, int? status, string? error, CancellationToken cancel = default);
}

/// <summary><see cref="IWebhookStore"/> in the server's SQLite file: <c>webhooks</c> and <c>webhook_deliveries</c>.</summary>
public sealed class SqliteWebhookStore(string path, TimeProvider clock) : SqliteTables(path, """
    CREATE TABLE IF NOT EXISTS webhooks (
        task_id TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        events TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        finished INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE IF NOT EXISTS webhook_deliveries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL UNIQUE,
        task_id TEXT NOT NULL,
        type TEXT NOT NULL,
        url TEXT NOT NULL,
        body TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at INTEGER NOT NULL,
        last_status INTEGER,
        last_error TEXT,
        created_at INTEGER NOT NULL,
        delivered_at INTEGER);
    CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (state, next_at);
    CREATE INDEX IF NOT EXISTS webhook_deliveries_task ON webhook_deliveries (task_id, seq);
    """), IWebhookStore
{
    private const string DeliveryColumns = "event_id, task_id, type, url, body, state, attempts, next_at, last_status, last_error, created_at, delivered_at";

    public Task SubscribeAsync(WebhookSubscription s, CancellationToken cancel = default) => Locked(() =>
        Change("INSERT OR REPLACE INTO webhooks (task_id, url, events, created_at) VALUES (@id, @url, @events, @now)",
            ("@id", s.TaskId), ("@url", s.Url), ("@events", string.Join(',', s.Events)), ("@now", Now())), cancel);

    public Task<WebhookSubscription?> GetAsync(string taskId, CancellationToken cancel = default) => Locked(() =>
        Query("SELECT task_id, url, events FROM webhooks WHERE task_id = @id",
            r => new WebhookSubscription(r.GetString(0), r.GetString(1), r.GetString(2).Split(',', StringSplitOptions.RemoveEmptyEntries)), ("@id", taskId))
        .FirstOrDefault(), cancel);

    public Task<List<string>> UnfinishedAsync(CancellationToken cancel = default) =>
        Locked(() => Query("SELECT task_id FROM webhooks WHERE finished = 0", r => r.GetString(0)), cancel);

    public Task<bool> EnqueueAsync(string taskId, WebhookDelivery? delivery, bool finishing, CancellationToken cancel = default) => Locked(() =>
    {
        if (finishing && Change("UPDATE webhooks SET finished = 1 WHERE task_id = @id AND finished = 0", ("@id", taskId)) == 0) return false;
        if (delivery is not null)
            Change($"INSERT INTO webhook_deliveries ({DeliveryColumns}) VALUES (@event, @task, @type, @url, @body, 'pending', 0, @next, NULL, NULL, @now, NULL)",
                ("@event", delivery.EventId), ("@task", taskId), ("@type", delivery.Type), ("@url", delivery.Url), ("@body", delivery.Body),
                ("@next", delivery.NextAt.ToUnixTimeMilliseconds()), ("@now", Now()));
        return true;
    }, cancel);

    public Task<List<WebhookDelivery>> DueAsync(int limit, CancellationToken cancel = default) => Locked(() =>
        Query($"SELECT {DeliveryColumns} FROM webhook_deliveries WHERE state = 'pending' AND next_at <= @now ORDER BY seq LIMIT @limit", Row,
            ("@now", Now()), ("@limit", limit)), cancel);

    public Task<DateTimeOffset?> NextDueAsync(CancellationToken cancel = default) => Locked(() =>
        Query("SELECT MIN(next_at) FROM webhook_deliveries WHERE state = 'pending'", r => Time(r, 0)).FirstOrDefault(), cancel);

    public Task<List<WebhookDelivery>> ForTaskAsync(string taskId, CancellationToken cancel = default) => Locked(() =>
        Query($"SELECT {DeliveryColumns} FROM webhook_deliveries WHERE task_id = @id ORDER BY seq", Row, ("@id", taskId)), cancel);

    public Task AttemptedAsync(string eventId, string state, int attempts, DateTimeOffset nextAt, int? status, string? error, CancellationToken cancel = default) =>
        Locked(() => Change("""
            UPDATE webhook_deliveries SET state = @state, attempts = @attempts, next_at = @next, last_status = @status, last_error = @error,
                delivered_at = CASE WHEN @state = 'delivered' THEN @now END
            WHERE event_id = @event
            """, ("@state", state), ("@attempts", attempts), ("@next", nextAt.ToUnixTimeMilliseconds()), ("@status", status), ("@error", error),
            ("@now", Now()), ("@event", eventId)), cancel);

    private static WebhookDelivery Row(Microsoft.Data.Sqlite.SqliteDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5), r.GetInt32(6), Time(r, 7)!.Value,
            r.IsDBNull(8) ? null : r.GetInt32(8), Text(r, 9), Time(r, 10)!.Value, Time(r, 11));

    private long Now() => clock.GetUtcNow().ToUnixTimeMilliseconds();
}
