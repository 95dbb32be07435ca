using Canter.Server.Tasks;
using Npgsql;

namespace Canter.Server.Webhooks;

/// <summary>
/// <see cref="IWebhookStore"/> in the shared PostgreSQL database of a scale-out: <c>canter_webhooks</c> and
/// <c>canter_webhook_deliveries</c>. The worker that runs a task records its events here, whichever API server took
/// the submission; one process at a time delivers them (<see cref="WebhookDispatcher"/> under its role lock).
/// </summary>
public sealed class PostgresWebhookStore(PostgresDatabase db, TimeProvider clock) : PostgresTables(db, "webhooks", 1, """
    CREATE TABLE IF NOT EXISTS canter_webhooks (
        task_id text PRIMARY KEY,
        url text NOT NULL,
        events text NOT NULL,
        created_at timestamptz NOT NULL,
        finished boolean NOT NULL DEFAULT false);
    CREATE INDEX IF NOT EXISTS canter_webhooks_unfinished ON canter_webhooks (task_id) WHERE NOT finished;
    CREATE TABLE IF NOT EXISTS canter_webhook_deliveries (
        seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        event_id text NOT NULL UNIQUE,
        task_id text NOT NULL,
        type text NOT NULL,
        url text NOT NULL,
        body text NOT NULL,
        state text NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        next_at timestamptz NOT NULL,
        last_status integer,
        last_error text,
        created_at timestamptz NOT NULL,
        delivered_at timestamptz);
    CREATE INDEX IF NOT EXISTS canter_webhook_deliveries_due ON canter_webhook_deliveries (next_at) WHERE state = 'pending';
    CREATE INDEX IF NOT EXISTS canter_webhook_deliveries_task ON canter_webhook_deliveries (task_id, seq);
    """), IWebhookStore
{
    private const string DeliveryColumns = "event_id, task_id, type, url, body, state, attempts, next_at, last_status, last_error, created_at, delivered_at";

    public Task SubscribeAsync(WebhookSubscription s, CancellationToken cancel = default) => Change("""
        INSERT INTO canter_webhooks (task_id, url, events, created_at) VALUES (@id, @url, @events, @now)
        ON CONFLICT (task_id) DO UPDATE SET url = excluded.url, events = excluded.events, created_at = excluded.created_at, finished = false
        """, cancel, ("id", s.TaskId), ("url", s.Url), ("events", string.Join(',', s.Events)), ("now", clock.GetUtcNow()));

    public async Task<WebhookSubscription?> GetAsync(string taskId, CancellationToken cancel = default) =>
        (await Query("SELECT task_id, url, events FROM canter_webhooks WHERE task_id = @id",
            r => new WebhookSubscription(r.GetString(0), r.GetString(1), r.GetString(2).Split(',', StringSplitOptions.RemoveEmptyEntries)), cancel, ("id", taskId)))
        .FirstOrDefault();

    public Task<List<string>> UnfinishedAsync(CancellationToken cancel = default) =>
        Query("SELECT task_id FROM canter_webhooks WHERE NOT finished", r => r.GetString(0), cancel);

    public Task<bool> EnqueueAsync(string taskId, WebhookDelivery? delivery, bool finishing, CancellationToken cancel = default) => Db.RunAsync(async c =>
    {
        // the finishing mark and its event together: two processes finishing one task record one event
        await using var tx = await c.BeginTransactionAsync(cancel);
        if (finishing && await PostgresDatabase.ChangeAsync(c, "UPDATE canter_webhooks SET finished = true WHERE task_id = @id AND NOT finished", cancel, ("id", taskId)) == 0)
            return false;
        if (delivery is not null)
            await PostgresDatabase.ChangeAsync(c, $"""
                INSERT INTO canter_webhook_deliveries ({DeliveryColumns}) VALUES (@event, @task, @type, @url, @body, 'pending', 0, @next, NULL, NULL, @now, NULL)
                """, cancel, ("event", delivery.EventId), ("task", taskId), ("type", delivery.Type), ("url", delivery.Url), ("body", delivery.Body),
                ("next", delivery.NextAt), ("now", clock.GetUtcNow()));
        await tx.CommitAsync(cancel);
        return true;
    }, cancel);

    public Task<List<WebhookDelivery>> DueAsync(int limit, CancellationToken cancel = default) =>
        Query($"SELECT {DeliveryColumns} FROM canter_webhook_deliveries WHERE state = 'pending' AND next_at <= @now ORDER BY seq LIMIT @limit", Row, cancel,
            ("now", clock.GetUtcNow()), ("limit", limit));

    public async Task<DateTimeOffset?> NextDueAsync(CancellationToken cancel = default) =>
        (await Query("SELECT min(next_at) FROM canter_webhook_deliveries WHERE state = 'pending'", r => PostgresDatabase.Time(r, 0), cancel)).FirstOrDefault();

    public Task<List<WebhookDelivery>> ForTaskAsync(string taskId, CancellationToken cancel = default) =>
        Query($"SELECT {DeliveryColumns} FROM canter_webhook_deliveries WHERE task_id = @id ORDER BY seq", Row, cancel, ("id", taskId));

    public Task AttemptedAsync(string eventId, string state, int attempts, DateTimeOffset nextAt, int? status, string? error, CancellationToken cancel = default) =>
        Change("""
            UPDATE canter_webhook_deliveries SET state = @state, attempts = @attempts, next_at = @next, last_status = @status::integer, last_error = @error,
                delivered_at = CASE WHEN @state = 'delivered' THEN @now END
            WHERE event_id = @event
            """, cancel, ("state", state), ("attempts", attempts), ("next", nextAt), ("status", status), ("error", error), ("now", clock.GetUtcNow()),
            ("event", eventId));

    private static WebhookDelivery Row(NpgsqlDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5), r.GetInt32(6), PostgresDatabase.Time(r, 7)!.Value,
            r.IsDBNull(8) ? null : r.GetInt32(8), PostgresDatabase.Text(r, 9), PostgresDatabase.Time(r, 10)!.Value, PostgresDatabase.Time(r, 11));
}
