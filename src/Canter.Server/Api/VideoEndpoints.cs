using System.Globalization;
using Canter.Server.Storage;
using Canter.Server.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;

namespace Canter.Server.Api;

/// <summary>
/// OpenAI's video API (the routes the official SDKs' <c>videos</c> resource calls), over the same tasks as the native
/// API, so an OpenAI client pointed at this server (base URL http://HOST:PORT/v1) works unchanged. Errors carry the
/// <c>error</c> object those clients read as well as the ProblemDetails fields.
/// </summary>
public static class VideoEndpoints
{
    public static RouteGroupBuilder MapVideoEndpoints(this IEndpointRouteBuilder app)
    {
        var videos = app.MapGroup("/v1/videos").AddEndpointFilter<ApiKeyFilter>().AddEndpointFilter<ApiExceptionFilter>().WithTags("videos");
        videos.MapPost("/", Create).DisableAntiforgery();
        videos.MapGet("/", List);
        videos.MapGet("/{id}", Retrieve);
        videos.MapDelete("/{id}", Delete);
        videos.MapGet("/{id}/content", Content);
        videos.MapPost("/{id}/remix", Remix).DisableAntiforgery();
        videos.MapVideoCompatEndpoints();
        return videos;
    }

    public static Task<Results<Ok<VideoView>, ProblemHttpResult>> Create(HttpContext http, TaskService service, Submissions submissions,
        [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey, CancellationToken cancel) =>
        SubmitFields(http, service, idempotencyKey, submissions.OpenAiAsync, cancel);

    /// <summary>
    /// Reads the request's fields (JSON or multipart) and submits the task <paramref name="build"/> makes of them for
    /// the caller's key: the OpenAI-style create, edit and extension differ only in that builder.
    /// </summary>
    internal static async Task<Results<Ok<VideoView>, ProblemHttpResult>> SubmitFields(HttpContext http, TaskService service, string? idempotencyKey,
        Func<RequestFields, string, string?, CancellationToken, Task<TaskSpec>> build, CancellationToken cancel)
    {
        var fields = await RequestFields.ReadAsync(http.Request, cancel);
        var owner = ApiKeyFilter.Owner(http);
        var (task, _) = await service.SubmitAsync(id => build(fields, id, owner, cancel), owner, idempotencyKey, null, cancel);
        return TypedResults.Ok(VideoView.Of(task));
    }

    public static async Task<Results<Ok<VideoView>, ProblemHttpResult>> Retrieve(string id, HttpContext http, TaskService service, CancellationToken cancel)
    {
        return TypedResults.Ok(VideoView.Of(await service.GetAsync(id, ApiKeyFilter.Owner(http), cancel)));
    }

    public static async Task<Results<Ok<ListPage<VideoView>>, ProblemHttpResult>> List(HttpContext http, TaskService service, string? after, int? limit,
        string? order, CancellationToken cancel)
    {
        return TypedResults.Ok(ListPage<VideoView>.Of(await service.ListAsync(ApiKeyFilter.Owner(http), after, limit, order, null, cancel), VideoView.Of));
    }

    public static async Task<Results<Ok<VideoDeleted>, ProblemHttpResult>> Delete(string id, HttpContext http, TaskService service, CancellationToken cancel)
    {
        await service.DeleteAsync(id, ApiKeyFilter.Owner(http), cancel);
        return TypedResults.Ok(new VideoDeleted(id, "video.deleted", true));
    }

    public static async Task<Results<ResultDownload, ProblemHttpResult>> Content(string id, string? variant, HttpContext http, TaskService service,
        CancellationToken cancel)
    {
        var (file, type) = (variant ?? "video") switch
        {
            "video" => (TaskFiles.Video, "video/mp4"),
            "thumbnail" => (TaskFiles.Poster, "image/png"),
            "spritesheet" => (TaskFiles.Spritesheet, "image/png"),
            _ => throw ApiException.BadRequest($"variant: '{variant}' is not video, thumbnail or spritesheet", "variant"),
        };
        var result = await service.ResultAsync(id, ApiKeyFilter.Owner(http), file, cancel);
        return result.Download(type, ranges: true);
    }

    public static async Task<Results<Ok<VideoView>, ProblemHttpResult>> Remix(string id, HttpContext http, TaskService service, Submissions submissions,
        [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey, CancellationToken cancel)
    {
        var owner = ApiKeyFilter.Owner(http);
        var source = await service.GetAsync(id, owner, cancel);
        var fields = await RequestFields.ReadAsync(http.Request, cancel);
        var unknown = fields.Names.FirstOrDefault(n => n != "prompt");
        if (unknown is not null) throw ApiException.BadRequest($"unknown field '{unknown}'; a remix takes prompt", unknown, "unknown_field");
        var prompt = fields.Text("prompt") ?? throw ApiException.BadRequest("prompt: a prompt is required", "prompt");
        var (task, _) = await service.SubmitAsync(newId => Task.FromResult(submissions.Remix(source, prompt, newId)), owner, idempotencyKey, source.Id, cancel);
        return TypedResults.Ok(VideoView.Of(task));
    }
}

/// <summary>
/// OpenAI's Video object. Status: queued, in_progress, completed or failed (a cancelled task is failed with code
/// "cancelled"); progress 0-100; times in Unix seconds; seconds as a string, as OpenAI writes it.
/// </summary>
public sealed record VideoView(
    string Id,
    string Object,
    long CreatedAt,
    long? CompletedAt,
    long? ExpiresAt,
    ErrorView? Error,
    string Model,
    int Progress,
    string? RemixedFromVideoId,
    string Seconds,
    string Size,
    string Status,
    string Prompt)
{
    public static VideoView Of(TaskRecord t)
    {
        var status = t.State switch
        {
            TaskState.Queued => "queued",
            TaskState.Running => "in_progress",
            TaskState.Succeeded => "completed",
            _ => "failed",
        };
        // in progress never reads 100: the clip is still being decoded and written after the last step
        int progress = t.State == TaskState.Succeeded ? 100 : t.State == TaskState.Running ? Math.Min(99, (int)Math.Floor(100 * t.Progress)) : 0;
        var error = t.State switch
        {
            TaskState.Failed => new ErrorView(t.ErrorCode ?? "failed", t.Error ?? "the generation failed"),
            TaskState.Cancelled => new ErrorView("cancelled", t.Error ?? "cancelled"),
            _ => null,
        };
        return new VideoView(t.Id, "video", t.CreatedAt.ToUnixTimeSeconds(), t.CompletedAt?.ToUnixTimeSeconds(), t.ExpiresAt?.ToUnixTimeSeconds(), error, t.Model, progress, t.RemixedFrom,
            t.Spec.Seconds.ToString(CultureInfo.InvariantCulture), $"{t.Spec.Width}x{t.Spec.Height}", status, t.Spec.Prompt);
    }
}

public sealed record VideoDeleted(string Id, string Object, bool Deleted);
