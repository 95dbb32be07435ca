using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Logging;

namespace Canter.Server.Api;

/// <summary>
/// A request the server refuses, with everything its ProblemDetails says: status, a short title, the reason in one
/// sentence, a stable machine-readable code and, where one field is at fault, its name.
/// </summary>
public sealed class ApiException(int status, string code, string detail, string? param = null) : Exception(detail)
{
    public int Status { get; } = status;
    public string Code { get; } = code;
    public string? Param { get; } = param;

    /// <summary>When a refused request may succeed if sent again (a 429's Retry-After header), if that is known.</summary>
    public TimeSpan? RetryAfter { get; init; }

    public static ApiException BadRequest(string detail, string? param = null, string code = "invalid_request") => new(400, code, detail, param);

    public static ApiException NotFound(string what) => new(404, "not_found", $"{what} was not found");

    public ProblemHttpResult ToProblem(HttpContext http)
    {
        if (RetryAfter is { } wait) Problems.SetRetryAfter(http, wait);
        return Problems.Of(http, Status, Code, Message, Param);
    }
}

public static class Problems
{
    /// <summary>
    /// A ProblemDetails result. On the OpenAI-style routes it carries the <c>error</c> object itself, because a client
    /// that asks for a download (Accept: application/binary) gets the problem written without <see cref="Customize"/>.
    /// </summary>
    public static ProblemHttpResult Of(HttpContext http, int status, string code, string detail, string? param = null)
    {
        var extensions = new Dictionary<string, object?> { ["code"] = code };
        if (param is not null) extensions["param"] = param;
        if (IsOpenAi(http))
        {
            extensions["error"] = OpenAiError(status, detail, param, code);
            // OpenAI's SDKs retry a 409 by default; a conflict with a task's state does not pass by retrying
            if (status == 409) http.Response.Headers["x-should-retry"] = "false";
        }
        return TypedResults.Problem(detail, statusCode: status, title: Title(status), extensions: extensions);
    }

    public static string Title(int status) => status switch
    {
        400 => "The request is not valid",
        401 => "An API key is required",
        404 => "Not found",
        405 => "Method not allowed",
        409 => "Conflict with the task's state",
        410 => "Gone",
        413 => "Too large",
        415 => "Unsupported content type",
        429 => "Too many requests",
        507 => "Insufficient storage",
        _ when status >= 500 => "Server error",
        _ => "Request failed",
    };

    /// <summary>
    /// Applied to every ProblemDetails the server writes: a code always, and, on the OpenAI-style routes, the
    /// <c>error</c> object ({message, type, param, code}) that OpenAI clients read their error message from.
    /// </summary>
    public static void Customize(ProblemDetailsContext context)
    {
        var p = context.ProblemDetails;
        int status = p.Status ?? context.HttpContext.Response.StatusCode;
        p.Title ??= Title(status);
        if (!p.Extensions.ContainsKey("code"))
            p.Extensions["code"] = status switch { 404 => "not_found", 405 => "method_not_allowed", 413 => "too_large", 415 => "unsupported_media_type", >= 500 => "server_error", _ => "invalid_request" };
        if (IsOpenAi(context.HttpContext) && !p.Extensions.ContainsKey("error"))
            p.Extensions["error"] = OpenAiError(status, p.Detail ?? p.Title, p.Extensions.TryGetValue("param", out var param) ? param : null, p.Extensions["code"]);
    }

    /// <summary>The Retry-After header in whole seconds, rounded up (at least 1, so a client never retries at once).</summary>
    public static void SetRetryAfter(HttpContext http, TimeSpan wait) =>
        http.Response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private static bool IsOpenAi(HttpContext http) => http.Request.Path.StartsWithSegments("/v1");

    private static Dictionary<string, object?> OpenAiError(int status, string? message, object? param, object? code) => new()
    {
        ["message"] = message,
        ["type"] = status >= 500 ? "server_error" : status == 401 ? "authentication_error" : "invalid_request_error",
        ["param"] = param,
        ["code"] = code,
    };
}

/// <summary>Turns what escapes an endpoint into ProblemDetails: refused requests keep their status, anything else is a 500 without internals.</summary>
public sealed class ApiExceptionHandler(IProblemDetailsService problems, ILogger<ApiExceptionHandler> log) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        var (status, code, detail) = exception switch
        {
            ApiException e => (e.Status, e.Code, e.Message),
            BadHttpRequestException e when e.StatusCode == 413 => (413, "too_large", "the request body is over the server's limit"),
            BadHttpRequestException e => (e.StatusCode, "invalid_request", e.Message),
            _ when Generation.GenerationWorker.StorageFull(exception) => (507, "storage_full", "the server's storage is full (no space left on device); try again later"),
            _ => (500, "server_error", "the server failed while handling the request"),
        };
        if (status >= 500) log.LogError(exception, "request failed");
        if (exception is ApiException { RetryAfter: { } wait }) Problems.SetRetryAfter(context, wait);
        context.Response.StatusCode = status;
        var details = new ProblemDetails { Status = status, Title = Problems.Title(status), Detail = detail, Extensions = { ["code"] = code } };
        if (exception is ApiException { Param: { } param }) details.Extensions["param"] = param;
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = details, Exception = exception });
    }
}

/// <summary>
/// Answers an <see cref="ApiException"/> out of an endpoint with <see cref="ApiException.ToProblem"/> (on the
/// OpenAI-style routes that carries the <c>error</c> object), so endpoints throw refusals rather than catch them. Added
/// to a route group after its key filter, so it wraps the endpoints alone, as their own try/catch did.
/// </summary>
public sealed class ApiExceptionFilter : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try { return await next(context); }
        catch (ApiException e) { return e.ToProblem(context.HttpContext); }
    }
}
