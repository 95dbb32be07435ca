using Canter.Server.Api;
using Canter.Server.Net;
using Microsoft.Extensions.Options;

namespace Canter.Server.Webhooks;

/// <summary>
/// The submit side of webhooks: reads <c>webhook_url</c> and <c>webhook_events</c> from a submission and refuses, before
/// the task exists, a URL that is not http(s) or whose host resolves to a non-public address (unless
/// <see cref="ServerOptions.AllowPrivateWebhooks"/>). Delivery checks the address again when it connects.
/// </summary>
public sealed class WebhookSubscriptions(IWebhookStore store, IOptions<ServerOptions> options)
{
    public static readonly string[] Events = ["started", "progress", "succeeded", "failed", "cancelled"];

    /// <summary>What a task without <c>webhook_events</c> is told about: its start and its end.</summary>
    public static readonly string[] DefaultEvents = ["started", "succeeded", "failed", "cancelled"];

    /// <summary>The webhook a submission asks for (its task id still empty), or null; throws a 400 that names the field.</summary>
    public async Task<WebhookSubscription?> ParseAsync(RequestFields f, CancellationToken cancel)
    {
        var url = f.Text("webhook_url");
        var events = f.Texts("webhook_events").SelectMany(e => e.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).ToList();
        if (url is null)
        {
            if (f.Has("webhook_events")) throw ApiException.BadRequest("webhook_events: give webhook_url too", "webhook_events");
            return null;
        }
        if (url.Length > 2048 || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.Host.Length == 0)
            throw ApiException.BadRequest("webhook_url: give an absolute http(s) URL of at most 2048 characters", "webhook_url");
        if (uri.UserInfo.Length > 0) throw ApiException.BadRequest("webhook_url: a URL with a user name or password is not accepted; the deliveries are signed", "webhook_url");
        try { await OutboundGuard.ResolveAsync(uri.IdnHost, options.Value.AllowPrivateWebhooks, cancel); }
        catch (OutboundRefusedException e) { throw ApiException.BadRequest($"webhook_url: {e.Message}", "webhook_url", "webhook_url_refused"); }
        if (events.FirstOrDefault(e => !Events.Contains(e)) is { } unknown)
            throw ApiException.BadRequest($"webhook_events: '{unknown}' is not one of {string.Join(", ", Events)}", "webhook_events");
        return new WebhookSubscription("", uri.AbsoluteUri, events.Count > 0 ? events.Distinct().ToList() : DefaultEvents);
    }

    public Task SubscribeAsync(string taskId, WebhookSubscription subscription, CancellationToken cancel) =>
        store.SubscribeAsync(subscription with { TaskId = taskId }, cancel);

    public Task<List<WebhookDelivery>> DeliveriesAsync(string taskId, CancellationToken cancel) => store.ForTaskAsync(taskId, cancel);
}
