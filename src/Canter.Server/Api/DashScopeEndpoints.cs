using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Canter.Server.Storage;
using Canter.Server.Retention;
using Canter.Server.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Canter.Server.Api;

/// <summary>
/// Alibaba Cloud Model Studio's (DashScope's) asynchronous video synthesis, over the same tasks as the native API, so
/// a Model Studio client pointed at this server (base URL http://HOST:PORT/api/v1) works unchanged: submit, poll the
/// task, download its <c>video_url</c> (a signed link, see <see cref="SignedUrls"/>), cancel a task. Every answer,
/// errors included, has that API's shape: <c>{"request_id", "code", "message"}</c> with its codes.
/// <code>
/// curl -s localhost:8000/api/v1/services/aigc/video-generation/video-synthesis -H 'X-DashScope-Async: enable' \
///   -H 'Authorization: Bearer KEY' -H 'Content-Type: application/json' \
///   -d '{"model":"wan2.6-t2v","input":{"prompt":"A red ball bounces"},"parameters":{"size":"64*64","duration":2}}'
/// curl -s localhost:8000/api/v1/tasks/TASK_ID -H 'Authorization: Bearer KEY'
/// </code>
/// </summary>
public static class DashScopeEndpoints
{
    /// <summary>Model Studio writes null-free snake_case objects.</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>The services of the compatible routes (signed links, characters).</summary>
    public static IServiceCollection AddCompatibleApis(this IServiceCollection services) =>
        services.AddSingleton<SignedUrls>().AddSingleton<CharacterStore>().AddSingleton<DashScopeErrors>();

    public static IEndpointRouteBuilder MapDashScopeEndpoints(this IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1").AddEndpointFilter<DashScopeErrors>().WithTags("dashscope");
        var keyed = api.MapGroup("").AddEndpointFilter<ApiKeyFilter>();
        keyed.MapPost("/services/aigc/video-generation/video-synthesis", Submit).DisableAntiforgery();
        keyed.MapGet("/tasks/{taskId}", Get);
        keyed.MapPost("/tasks/{taskId}/cancel", Cancel);
        // a signed link needs no key: it is the key to one file, until it expires
        api.MapMethods("/files/{taskId}/video.mp4", ["GET", "HEAD"], Download);
        return app;
    }

    public static async Task<IResult> Submit(HttpContext http, TaskService service, Submissions submissions, CancellationToken cancel)
    {
        if (!string.Equals(http.Request.Headers["X-DashScope-Async"].ToString(), "enable", StringComparison.OrdinalIgnoreCase))
            throw new ApiException(403, "access_denied", "current user api does not support synchronous calls: send the header 'X-DashScope-Async: enable'");
        var fields = await ReadAsync(http.Request, cancel);
        var owner = ApiKeyFilter.Owner(http);
        var (task, _) = await service.SubmitAsync(id => submissions.DashScopeAsync(fields, id, owner, cancel), owner, null, null, cancel);
        return Answer(new DashScopeSubmitted(RequestId(http), new DashScopeTaskOutput(task.Id, Status(task.State))));
    }

    /// <summary>A task the caller cannot see (unknown, deleted, another key's) reads as UNKNOWN, as Model Studio answers for an expired id.</summary>
    public static async Task<IResult> Get(string taskId, HttpContext http, ITaskStore store, SignedUrls urls, CancellationToken cancel)
    {
        var task = await store.GetAsync(taskId, cancel);
        if (task is null || task.Owner != ApiKeyFilter.Owner(http))
            return Answer(new DashScopeTask(RequestId(http), new DashScopeTaskOutput(taskId, "UNKNOWN"), null));
        bool done = task.State == TaskState.Succeeded;
        var (code, message) = task.State switch
        {
            TaskState.Failed => (task.ErrorCode == "invalid_input" ? "InvalidParameter" : "InternalError", task.Error ?? "the generation failed"),
            TaskState.Cancelled => ((string?)null, task.Error ?? "cancelled"),
            _ => (null, null),
        };
        var output = new DashScopeTaskOutput(task.Id, Status(task.State), Time(task.CreatedAt), Time(task.StartedAt), Time(task.CompletedAt),
            done ? urls.Video(http.Request, task.Id) : null, task.Spec.Prompt, code, message);
        var usage = done ? new DashScopeUsage(task.Spec.Seconds, 1, Math.Min(task.Spec.Width, task.Spec.Height), $"{task.Spec.Width}*{task.Spec.Height}") : null;
        return Answer(new DashScopeTask(RequestId(http), output, usage));
    }

    /// <summary>Model Studio cancels PENDING tasks; this server stops a RUNNING one too (within a sampling step).</summary>
    public static async Task<IResult> Cancel(string taskId, HttpContext http, TaskService service, CancellationToken cancel)
    {
        try { await service.CancelAsync(taskId, ApiKeyFilter.Owner(http), cancel); }
        catch (ApiException e) when (e.Status == 409)
        {
            throw new ApiException(400, "unsupported_operation", $"Failed to cancel the task: {e.Message}");
        }
        return Answer(new DashScopeCancelled(RequestId(http)));
    }

    public static async Task<IResult> Download(string taskId, string? expires, string? signature, HttpContext http, ITaskStore store, IResultStore results,
        SignedUrls urls, ResultRetention retention, CancellationToken cancel)
    {
        // OSS writes them Expires and Signature; query names are matched without regard to case
        if (urls.Check(taskId, expires, signature) is { } why) throw new ApiException(403, "access_denied", why);
        var task = await store.GetAsync(taskId, cancel);
        if (task is null || task.State != TaskState.Succeeded) throw ApiException.NotFound($"the video of task '{taskId}'");
        await retention.ThrowIfExpiredAsync(task, cancel);
        var video = await results.OpenForRequestAsync(taskId, TaskFiles.Video, cancel) ?? throw ApiException.NotFound($"the video of task '{taskId}'");
        return video.Download("video/mp4", $"{taskId}.mp4", ranges: true);
    }

    /// <summary>
    /// The body as fields: a JSON object whose nested objects become dotted names (input.prompt, parameters.size) and
    /// whose <c>input.media</c> list of {type, url} becomes one field per type (input.media.first_frame, ...).
    /// </summary>
    public static async Task<RequestFields> ReadAsync(HttpRequest request, CancellationToken cancel)
    {
        if (!request.HasJsonContentType())
            throw new ApiException(415, "unsupported_media_type", $"send the request as application/json (got '{(string.IsNullOrEmpty(request.ContentType) ? "no content type" : request.ContentType)}')");
        JsonDocument doc;
        try { doc = await JsonDocument.ParseAsync(request.Body, cancellationToken: cancel); }
        catch (JsonException e) { throw ApiException.BadRequest($"the body is not valid JSON: {e.Message}", code: "invalid_json"); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw ApiException.BadRequest("the body must be a JSON object", code: "invalid_json");
            var fields = new List<(string, string)>();
            // a lone surrogate escape ("\ud800") is valid JSON but not a string; reading it throws InvalidOperationException
            try { Flatten("", doc.RootElement, fields); }
            catch (InvalidOperationException e) { throw ApiException.BadRequest($"the body holds a string that is not valid text: {e.Message}", code: "invalid_json"); }
            return RequestFields.Of([.. fields]);
        }
    }

    private static void Flatten(string name, JsonElement value, List<(string, string)> fields)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var p in value.EnumerateObject()) Flatten(name.Length == 0 ? p.Name : $"{name}.{p.Name}", p.Value, fields);
                break;
            case JsonValueKind.Array when name == "input.media":
                foreach (var item in value.EnumerateArray())
                {
                    if (item.ValueKind != JsonValueKind.Object || !item.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String
                        || !item.TryGetProperty("url", out var url) || url.ValueKind != JsonValueKind.String)
                        throw ApiException.BadRequest("input.media: every item is {\"type\": ..., \"url\": ...}", "input.media");
                    if (!Submissions.DashScopeMediaTypes.Contains(type.GetString()))
                        throw ApiException.BadRequest($"input.media: type '{type.GetString()}' is not one of {string.Join(", ", Submissions.DashScopeMediaTypes)}", "input.media");
                    fields.Add(($"input.media.{type.GetString()}", url.GetString()!));
                }
                break;
            case JsonValueKind.Array:
                foreach (var item in value.EnumerateArray())
                {
                    if (item.ValueKind is JsonValueKind.Array or JsonValueKind.Object) throw ApiException.BadRequest($"{name}: give a list of strings", name);
                    Flatten(name, item, fields);
                }
                break;
            case JsonValueKind.String: fields.Add((name, value.GetString()!)); break;
            case JsonValueKind.Number: fields.Add((name, value.GetRawText())); break;
            case JsonValueKind.True: fields.Add((name, "true")); break;
            case JsonValueKind.False: fields.Add((name, "false")); break;
        }
    }

    public static string Status(TaskState state) => state switch
    {
        TaskState.Queued => "PENDING",
        TaskState.Running => "RUNNING",
        TaskState.Succeeded => "SUCCEEDED",
        TaskState.Failed => "FAILED",
        TaskState.Cancelled => "CANCELED",
        _ => "UNKNOWN",
    };

    /// <summary>Model Studio's times: "2025-01-08 16:43:18.525" (here in UTC).</summary>
    public static string? Time(DateTimeOffset? at) => at?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture);

    /// <summary>One id per request, shared by its answer and its error.</summary>
    public static string RequestId(HttpContext http)
    {
        if (http.Items["dashscope.request_id"] is string id) return id;
        id = Guid.NewGuid().ToString("D");
        http.Items["dashscope.request_id"] = id;
        return id;
    }

    public static IResult Answer<T>(T body, int status = 200) => TypedResults.Json(body, Json, statusCode: status);
}

/// <summary>
/// Writes every refusal on the Model Studio routes in that API's shape, whatever raised it: an <see cref="ApiException"/>,
/// a ProblemDetails result (the key filter's 401), a body over the limit, or a failure (500, without internals).
/// Canter's codes map to Model Studio's: InvalidParameter, InvalidURL, BadRequest.EmptyModel, BadRequest.EmptyInput,
/// UnsupportedOperation, InvalidApiKey, AccessDenied, NotFound, BadRequest.TooLarge, Throttling(.RateQuota, .AllocationQuota),
/// InternalError.
/// </summary>
public sealed class DashScopeErrors(ILogger<DashScopeErrors> log) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        try
        {
            var result = await next(context);
            var problem = result as ProblemHttpResult ?? (result as INestedHttpResult)?.Result as ProblemHttpResult;
            if (problem is null) return result;
            var details = problem.ProblemDetails;
            return Error(http, details.Status ?? problem.StatusCode, details.Extensions.TryGetValue("code", out var code) ? code as string : null,
                details.Detail ?? details.Title ?? "the request failed");
        }
        catch (ApiException e) { return Error(http, e.Status, e.Code, e.Message); }
        catch (BadHttpRequestException e) { return Error(http, e.StatusCode, null, e.StatusCode == 413 ? "the request body is over the server's limit" : e.Message); }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            log.LogError(e, "request failed");
            return Error(http, 500, null, "An internal error has occurred, please try again later.");
        }
    }

    public static IResult Error(HttpContext http, int status, string? code, string message)
    {
        var (dashStatus, dashCode) = Map(status, code);
        if (dashStatus == 401) http.Response.Headers.WWWAuthenticate = "Bearer";
        return DashScopeEndpoints.Answer(new DashScopeError(DashScopeEndpoints.RequestId(http), dashCode, message), dashStatus);
    }

    /// <summary>Canter's (status, code) as Model Studio's.</summary>
    public static (int Status, string Code) Map(int status, string? code) => (status, code) switch
    {
        (401, _) => (401, "InvalidApiKey"),
        (403, _) => (403, "AccessDenied"),
        (410, _) => (403, "AccessDenied"),   // expired results: what an expired OSS link answers
        (404, _) => (404, "NotFound"),
        (409, _) or (_, "unsupported_operation") => (400, "UnsupportedOperation"),
        (413, _) => (413, "BadRequest.TooLarge"),
        (429, "rate_limited") => (429, "Throttling.RateQuota"),
        (429, "quota_exceeded") => (429, "Throttling.AllocationQuota"),
        (429, _) => (429, "Throttling"),
        (>= 500, _) => (500, "InternalError"),
        (_, "empty_model") => (400, "BadRequest.EmptyModel"),
        (_, "empty_input") => (400, "BadRequest.EmptyInput"),
        (_, "input_fetch_failed") => (400, "InvalidURL"),
        _ => (400, "InvalidParameter"),
    };
}

public sealed record DashScopeError(string RequestId, string Code, string Message);

public sealed record DashScopeSubmitted(string RequestId, DashScopeTaskOutput Output);

public sealed record DashScopeCancelled(string RequestId);

public sealed record DashScopeTask(string RequestId, DashScopeTaskOutput Output, DashScopeUsage? Usage);

/// <summary>A task as Model Studio shows it; fields without a value are left out, as it leaves them out.</summary>
public sealed record DashScopeTaskOutput(
    string TaskId,
    string TaskStatus,
    string? SubmitTime = null,
    string? ScheduledTime = null,
    string? EndTime = null,
    string? VideoUrl = null,
    string? OrigPrompt = null,
    string? Code = null,
    string? Message = null);

/// <summary>What a finished task made: seconds of video, one video, its short side (SR, as 480 for 480P) and size.</summary>
public sealed record DashScopeUsage(
    float VideoDuration,
    int VideoCount,
    [property: JsonPropertyName("SR")] int Sr,
    string Size);
