using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Canter.Server.Storage;
using Canter.Server.Tasks;
using Canter.Server.Webhooks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;

namespace Canter.Server.Api;

/// <summary>
/// The native task API under /api/tasks: submit (JSON, or multipart with uploads), read, follow (Server-Sent Events),
/// cancel, list, delete, and download the video, poster, record and sprite sheet.
/// <code>
/// curl -s localhost:8000/api/tasks -H 'Content-Type: application/json' -d '{"prompt":"A red ball bounces","seconds":2}'
/// curl -N localhost:8000/api/tasks/ID/events
/// curl -o ball.mp4 localhost:8000/api/tasks/ID/video
/// </code>
/// </summary>
public static class TaskEndpoints
{
    public static RouteGroupBuilder MapTaskEndpoints(this IEndpointRouteBuilder app)
    {
        var tasks = app.MapGroup("/api/tasks").AddEndpointFilter<ApiKeyFilter>().AddEndpointFilter<ApiExceptionFilter>().WithTags("tasks");
        tasks.MapPost("/", Submit).DisableAntiforgery();
        tasks.MapGet("/", List);
        tasks.MapGet("/{id}", Get);
        tasks.MapGet("/{id}/events", Events);
        tasks.MapPost("/{id}/cancel", Cancel);
        tasks.MapDelete("/{id}", Delete);
        tasks.MapGet("/{id}/video", (string id, HttpContext http, TaskService service, CancellationToken cancel) => Download(id, TaskFiles.Video, "video/mp4", http, service, cancel));
        tasks.MapGet("/{id}/poster", (string id, HttpContext http, TaskService service, CancellationToken cancel) => Download(id, TaskFiles.Poster, "image/png", http, service, cancel));
        tasks.MapGet("/{id}/record", (string id, HttpContext http, TaskService service, CancellationToken cancel) => Download(id, TaskFiles.Record, "application/json", http, service, cancel));
        tasks.MapGet("/{id}/spritesheet", (string id, HttpContext http, TaskService service, CancellationToken cancel) => Download(id, TaskFiles.Spritesheet, "image/png", http, service, cancel));
        return tasks;
    }

    public static async Task<Results<Accepted<TaskView>, Ok<TaskView>, ProblemHttpResult>> Submit(HttpContext http, TaskService service, Submissions submissions,
        WebhookSubscriptions webhooks, [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey, CancellationToken cancel)
    {
        var fields = await RequestFields.ReadAsync(http.Request, cancel);
        var owner = ApiKeyFilter.Owner(http);
        var webhook = await webhooks.ParseAsync(fields, cancel);
        var (task, created) = await service.SubmitAsync(async id =>
        {
            var spec = await submissions.NativeAsync(fields, id, owner, cancel);
            if (webhook is not null) await webhooks.SubscribeAsync(id, webhook, cancel);   // before the task is queued: no event is missed
            return spec;
        }, owner, idempotencyKey, null, cancel);
        var view = TaskView.Of(task);
        return created ? TypedResults.Accepted(view.Links.Self, view) : TypedResults.Ok(view);
    }

    public static async Task<Results<Ok<TaskView>, ProblemHttpResult>> Get(string id, HttpContext http, TaskService service, CancellationToken cancel)
    {
        return TypedResults.Ok(TaskView.Of(await service.GetAsync(id, ApiKeyFilter.Owner(http), cancel)));
    }

    public static async Task<Results<Ok<ListPage<TaskView>>, ProblemHttpResult>> List(HttpContext http, TaskService service, string? after, int? limit,
        string? order, string? state, CancellationToken cancel)
    {
        return TypedResults.Ok(ListPage<TaskView>.Of(await service.ListAsync(ApiKeyFilter.Owner(http), after, limit, order, state, cancel), TaskView.Of));
    }

    /// <summary>
    /// Cancel, saying which of the two happened: 200 with state cancelled when the task was queued (it is out of the
    /// queue and will never run), 202 with state running and cancel_requested when it was running (it stops within one
    /// sampling step; follow it to cancelled).
    /// </summary>
    public static async Task<Results<Ok<TaskView>, Accepted<TaskView>, ProblemHttpResult>> Cancel(string id, HttpContext http, TaskService service, CancellationToken cancel)
    {
        var view = TaskView.Of(await service.CancelAsync(id, ApiKeyFilter.Owner(http), cancel));
        return view.State == TaskState.Cancelled ? TypedResults.Ok(view) : TypedResults.Accepted(view.Links.Self, view);
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> Delete(string id, HttpContext http, TaskService service, CancellationToken cancel)
    {
        await service.DeleteAsync(id, ApiKeyFilter.Owner(http), cancel);
        return TypedResults.NoContent();
    }

    /// <summary>
    /// Server-Sent Events: one event each time the task changes (its state, queue position or sampling step), named by
    /// its state, with the task as JSON; the stream ends when the task has finished (or is deleted).
    /// </summary>
    public static async Task<Results<ServerSentEventsResult<TaskView>, ProblemHttpResult>> Events(string id, HttpContext http, TaskService service,
        TaskNotifier notifier, IHostApplicationLifetime lifetime, CancellationToken cancel)
    {
        var owner = ApiKeyFilter.Owner(http);
        await service.GetAsync(id, owner, cancel);
        // a stopping server ends its streams rather than wait for their tasks (clients reconnect to the next server)
        var until = CancellationTokenSource.CreateLinkedTokenSource(cancel, lifetime.ApplicationStopping);
        http.Response.RegisterForDispose(until);
        return TypedResults.ServerSentEvents(Follow(id, owner, service, notifier, until.Token));
    }

    private static async IAsyncEnumerable<SseItem<TaskView>> Follow(string id, string? owner, TaskService service, TaskNotifier notifier,
        [EnumeratorCancellation] CancellationToken cancel)
    {
        string? last = null;
        while (!cancel.IsCancellationRequested)
        {
            long seen = notifier.Version;
            TaskRecord task;
            try { task = await service.GetAsync(id, owner, cancel); }
            catch (ApiException) { yield break; }   // deleted
            var view = TaskView.Of(task);
            var json = JsonSerializer.Serialize(view, TaskSpec.Json);
            if (json != last)
            {
                last = json;
                yield return new SseItem<TaskView>(view, task.State.Name());
            }
            if (task.State.IsFinished()) yield break;
            try { await notifier.WaitAsync(seen, TimeSpan.FromSeconds(10), cancel); }
            catch (OperationCanceledException) { yield break; }
        }
    }

    private static async Task<Results<ResultDownload, ProblemHttpResult>> Download(string id, string file, string type, HttpContext http,
        TaskService service, CancellationToken cancel)
    {
        var result = await service.ResultAsync(id, ApiKeyFilter.Owner(http), file, cancel);
        return result.Download(type, $"{id}{Path.GetExtension(file)}", ranges: true);
    }
}
