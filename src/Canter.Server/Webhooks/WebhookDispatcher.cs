using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Canter.Server.Api;
using Canter.Server.Net;
using Canter.Server.Retention;
using Canter.Server.Tasks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Canter.Server.Webhooks;

/// <summary>The body of a delivery: a unique event id, its type (started, progress, succeeded, failed, cancelled), when, and the task as the API shows it.</summary>
public sealed record WebhookEvent(string Id, string Object, string Type, DateTimeOffset CreatedAt, TaskView Task);

/// <summary>
/// Turns task transitions into webhook deliveries and delivers them. Transitions arrive without blocking the worker
/// and become rows of <c>webhook_deliveries</c> (progress thinned to one per <see cref="ServerOptions.WebhookProgressInterval"/>
/// and per 10% of the steps); a second loop POSTs due rows, signed, and retries network errors, timeouts, 408, 429 and
/// 5xx with exponential back-off and jitter until <see cref="ServerOptions.WebhookMaxAttempts"/>. Any other answer
/// ends the delivery (failed). Events of one task are sent in order; across tasks, and after a retry, order is not
/// promised: a receiver reads the task's state, not the order of arrival. Every process that runs tasks records their
/// events; one process of a deployment at a time delivers (the holder of <see cref="ProcessRole.WebhookDelivery"/>),
/// looking each second for events other processes recorded.
/// </summary>
public sealed class WebhookDispatcher : BackgroundService, ITaskObserver
{
    private readonly Channel<TaskChange> _changes = Channel.CreateUnbounded<TaskChange>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SemaphoreSlim _wake = new(0);
    private readonly ConcurrentDictionary<string, (DateTimeOffset At, double Fraction)> _lastProgress = new();
    private readonly HttpClient _http;
    private readonly IWebhookStore _store;
    private readonly IProcessRoles _roles;
    private readonly ITaskStore _tasks;
    private readonly ResultRetention _retention;
    private readonly WebhookSecret _secret;
    private readonly ServerOptions _options;
    private readonly TimeProvider _clock;
    private readonly ILogger<WebhookDispatcher> _log;

    public WebhookDispatcher(IWebhookStore store, ITaskStore tasks, ResultRetention retention, WebhookSecret secret, IOptions<ServerOptions> options,
        TimeProvider clock, ILogger<WebhookDispatcher> log, IProcessRoles roles)
    {
        (_store, _tasks, _retention, _secret, _options, _clock, _log, _roles) = (store, tasks, retention, secret, options.Value, clock, log, roles);
        bool allowPrivate = _options.AllowPrivateWebhooks;
        _http = new HttpClient(OutboundGuard.Handler(_ => allowPrivate)) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("Canter-Webhooks/1");
    }

    public void Changed(TaskChange change) => _changes.Writer.TryWrite(change);

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        // a task that finished while no server was recording (a crash between the two writes) still gets its event
        foreach (var id in await _store.UnfinishedAsync(cancellationToken)) Changed(new TaskChange(id, TaskChangeKind.Finished));
        await base.StartAsync(cancellationToken);
    }

    public override void Dispose()
    {
        _http.Dispose();
        base.Dispose();
    }

    protected override Task ExecuteAsync(CancellationToken stopping) => Task.WhenAll(RecordLoopAsync(stopping), DeliverLoopAsync(stopping));

    private async Task RecordLoopAsync(CancellationToken stopping)
    {
        try
        {
            await foreach (var change in _changes.Reader.ReadAllAsync(stopping))
            {
                try { await RecordAsync(change, stopping); }
                catch (Exception e) when (!stopping.IsCancellationRequested) { _log.LogError(e, "recording the webhook event of task {Id} failed", change.TaskId); }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested) { }
    }

    private async Task RecordAsync(TaskChange change, CancellationToken cancel)
    {
        var now = _clock.GetUtcNow();
        if (change.Kind == TaskChangeKind.Finished) _lastProgress.TryRemove(change.TaskId, out _);
        if (change.Kind == TaskChangeKind.Progress && !ProgressDue(change, now)) return;
        var subscription = await _store.GetAsync(change.TaskId, cancel);
        if (subscription is null) return;
        var task = change.Task ?? await _tasks.GetAsync(change.TaskId, cancel);
        if (task is null) return;
        string type;
        switch (change.Kind)
        {
            case TaskChangeKind.Started: type = "started"; break;
            case TaskChangeKind.Progress:
                if (task.State != TaskState.Running) return;   // it has finished meanwhile: its finishing event says more
                type = "progress";
                break;
            default:
                if (!task.State.IsFinished()) return;   // released to the queue, or a running task asked to cancel: the worker finishes it later
                type = task.State.Name();
                break;
        }
        bool finishing = change.Kind == TaskChangeKind.Finished;
        WebhookDelivery? delivery = null;
        if (subscription.Wants(type))
        {
            var id = "evt_" + Guid.NewGuid().ToString("N")[..24];
            var body = JsonSerializer.Serialize(new WebhookEvent(id, "event", type, now, TaskView.Of(_retention.Stamp(task))), TaskSpec.Json);
            delivery = new WebhookDelivery(id, task.Id, type, subscription.Url, body, "pending", 0, now, null, null, now, null);
        }
        if (await _store.EnqueueAsync(task.Id, delivery, finishing, cancel) && delivery is not null) _wake.Release();
    }

    /// <summary>At most one progress event per interval and per tenth of the steps.</summary>
    private bool ProgressDue(TaskChange change, DateTimeOffset now)
    {
        double fraction = change.Steps > 0 ? (double)change.Step / change.Steps : 0;
        if (_lastProgress.TryGetValue(change.TaskId, out var last)
            && (now - last.At < _options.WebhookProgressInterval || fraction - last.Fraction < 0.1 - 1e-9)) return false;
        _lastProgress[change.TaskId] = (now, fraction);
        return true;
    }

    private async Task DeliverLoopAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                // another process delivers, or records events this one is not told of: look again within a second
                var longest = _roles.Shared ? 1_000 : 30_000;
                if (!await _roles.HoldAsync(ProcessRole.WebhookDelivery, stopping))
                {
                    await _wake.WaitAsync(TimeSpan.FromMilliseconds(longest), stopping);
                    continue;
                }
                var due = await _store.DueAsync(64, stopping);
                if (due.Count == 0)
                {
                    var next = await _store.NextDueAsync(stopping);
                    var wait = next is { } at ? at - _clock.GetUtcNow() : TimeSpan.FromSeconds(30);
                    wait = TimeSpan.FromMilliseconds(Math.Clamp(wait.TotalMilliseconds, 1, longest));
                    await _wake.WaitAsync(wait, stopping);
                    continue;
                }
                // tasks in parallel, each task's events in order
                await Parallel.ForEachAsync(due.GroupBy(d => d.TaskId), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = stopping },
                    async (events, cancel) => { foreach (var d in events) await AttemptAsync(d, cancel); });
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested) { break; }
            catch (Exception e)
            {
                _log.LogError(e, "the webhook delivery loop failed; it goes on in a second");
                await Task.Delay(TimeSpan.FromSeconds(1), _clock, stopping).ContinueWith(_ => { }, TaskScheduler.Default);
            }
        }
    }

    private async Task AttemptAsync(WebhookDelivery d, CancellationToken stopping)
    {
        int attempt = d.Attempts + 1;
        int? status = null;
        string? error = null;
        bool retry;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, d.Url) { Content = new StringContent(d.Body, new UTF8Encoding(false), "application/json") };
            request.Headers.Add(WebhookSignature.Header, WebhookSignature.Sign(_secret.Value, _clock.GetUtcNow().ToUnixTimeSeconds(), d.Body));
            request.Headers.Add(WebhookSignature.EventIdHeader, d.EventId);
            request.Headers.Add("Canter-Event-Type", d.Type);
            request.Headers.Add("Canter-Delivery-Attempt", attempt.ToString(System.Globalization.CultureInfo.InvariantCulture));
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            timeout.CancelAfter(_options.WebhookTimeout);
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            status = (int)response.StatusCode;
            if (response.IsSuccessStatusCode)
            {
                await _store.AttemptedAsync(d.EventId, "delivered", attempt, d.NextAt, status, null, CancellationToken.None);
                return;
            }
            retry = status is 408 or 429 or >= 500;
            error = $"the receiver answered {status}{(status is >= 300 and < 400 ? " (redirects are not followed)" : "")}";
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested) { return; }   // not an attempt: the next server makes it
        catch (OperationCanceledException) { (retry, error) = (true, $"no answer within {_options.WebhookTimeout.TotalSeconds:0.#} s"); }
        catch (HttpRequestException e) { (retry, error) = (true, e.InnerException is OutboundRefusedException refused ? refused.Message : e.Message); }
        if (retry && attempt < _options.WebhookMaxAttempts)
        {
            var next = _clock.GetUtcNow() + Backoff(attempt);
            await _store.AttemptedAsync(d.EventId, "pending", attempt, next, status, error, CancellationToken.None);
            _log.LogInformation("webhook {Event} of task {Task}: attempt {Attempt} failed ({Error}); next at {Next:O}", d.EventId, d.TaskId, attempt, error, next);
        }
        else
        {
            await _store.AttemptedAsync(d.EventId, "failed", attempt, d.NextAt, status, error, CancellationToken.None);
            _log.LogWarning("webhook {Event} of task {Task} failed after {Attempts} attempt(s): {Error}", d.EventId, d.TaskId, attempt, error);
        }
    }

    /// <summary>The wait after failed attempt <paramref name="attempt"/>: base x 2^(attempt-1), drawn in [half, whole] so retries of many receivers spread out.</summary>
    private TimeSpan Backoff(int attempt) =>
        _options.WebhookRetryBaseDelay * Math.Pow(2, attempt - 1) * (0.5 + 0.5 * Random.Shared.NextDouble());
}
