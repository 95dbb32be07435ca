using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi;
using Scalar.AspNetCore;

namespace Canter.Server.Api;

/// <summary>
/// The OpenAPI document of every route (<c>/openapi/v1.json</c>, generated from the endpoints themselves, so it cannot
/// drift from them) and an interactive reference over it at <c>/docs</c> (served from this process: no CDN, no fonts
/// fetched from elsewhere). Summaries come from <see cref="Summaries"/>, one line per route, kept here rather than
/// spread over the endpoint files.
/// </summary>
public static class ApiDocs
{
    public const string DocumentRoute = "/openapi/{documentName}.json";

    /// <summary>One-line summaries, by "METHOD /route pattern" as the endpoint is mapped.</summary>
    private static readonly Dictionary<string, string> Summaries = new(StringComparer.OrdinalIgnoreCase)
    {
        ["POST /api/tasks/"] = "Submit a generation (JSON, or multipart with uploads); answers 202 with the task at once",
        ["GET /api/tasks/"] = "List the caller's tasks, newest first (cursor paging: after, limit, order, state)",
        ["GET /api/tasks/{id}"] = "A task: its state, queue position, sampling progress, error",
        ["GET /api/tasks/{id}/events"] = "Server-Sent Events: one event per change of the task until it ends",
        ["POST /api/tasks/{id}/cancel"] = "Cancel: a queued task at once, a running one within one sampling step",
        ["DELETE /api/tasks/{id}"] = "Delete a task and its files (a running one is stopped first)",
        ["GET /api/tasks/{id}/video"] = "The generated MP4 (H.264 + AAC)",
        ["GET /api/tasks/{id}/poster"] = "The poster frame (PNG)",
        ["GET /api/tasks/{id}/record"] = "The JSON record of the generation: model, weights hash, every parameter and input",
        ["GET /api/tasks/{id}/spritesheet"] = "A contact sheet of frames with the sound's waveform (PNG)",
        ["GET /api/model"] = "The served model: name, weights hash, frame and sample rates, default size and length, whether it edits video",
        ["POST /v1/videos/"] = "OpenAI-style: create a video (prompt, model, seconds, size, input_reference)",
        ["GET /v1/videos/"] = "OpenAI-style: list videos (after, limit, order)",
        ["GET /v1/videos/{id}"] = "OpenAI-style: retrieve a video job",
        ["DELETE /v1/videos/{id}"] = "OpenAI-style: delete a video",
        ["GET /v1/videos/{id}/content"] = "OpenAI-style: download the video, thumbnail or spritesheet",
        ["POST /v1/videos/{id}/remix"] = "OpenAI-style: a new prompt on an earlier video's settings and inputs",
        ["POST /v1/videos/edits"] = "OpenAI-style: edit a video by the prompt (prompt, video as upload or {id}); refused with 400 when the model has no edit mode",
        ["POST /v1/videos/extensions"] = "OpenAI-style: continue a completed or uploaded video by seconds more (the result is the whole)",
        ["POST /v1/videos/characters"] = "OpenAI-style: make a character (name, and a clip or image) to use in character_ids",
        ["GET /v1/videos/characters/{id}"] = "OpenAI-style: a character",
        ["POST /api/v1/services/aigc/video-generation/video-synthesis"] = "Model Studio (DashScope) style: submit a video synthesis (X-DashScope-Async: enable)",
        ["GET /api/v1/tasks/{taskId}"] = "Model Studio style: a task, with its signed video_url once SUCCEEDED",
        ["POST /api/v1/tasks/{taskId}/cancel"] = "Model Studio style: cancel a task",
        ["GET /api/v1/files/{taskId}/video.mp4"] = "Model Studio style: the video behind a signed video_url (no key: the link is the key)",
    };

    /// <summary>Registers the document generator with Canter's summaries and the API-key security scheme.</summary>
    public static IServiceCollection AddApiDocs(this IServiceCollection services) => services.AddOpenApi(o =>
    {
        o.AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new OpenApiInfo
            {
                Title = "Canter API",
                Version = "v1",
                Description = "Generate video with synchronized sound: the native task API (/api/tasks), the OpenAI-style video API (/v1/videos) "
                    + "and the other compatible routes. Send 'Authorization: Bearer KEY' when the server has API keys.",
            };
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes["bearer"] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                Description = "An API key from 'canter keys create' (or --api-key), as 'Authorization: Bearer KEY'; X-Api-Key: KEY works too.",
            };
            document.Security ??= [];
            document.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("bearer", document)] = [] });
            return Task.CompletedTask;
        });
        o.AddOperationTransformer((operation, context, _) =>
        {
            var d = context.Description;
            var route = "/" + (d.RelativePath ?? "").Split('?')[0].TrimEnd('/');
            if (Summaries.TryGetValue($"{d.HttpMethod} {route}", out var summary) || Summaries.TryGetValue($"{d.HttpMethod} {route}/", out summary))
                operation.Summary = summary;
            return Task.CompletedTask;
        });
    });

    /// <summary>Maps the document and the interactive reference (both open: they describe the API, they do not use it).</summary>
    public static IEndpointRouteBuilder MapApiDocs(this IEndpointRouteBuilder app)
    {
        app.MapOpenApi(DocumentRoute);
        app.MapScalarApiReference("/docs", o => o
            .WithTitle("Canter API")
            .WithOpenApiRoutePattern(DocumentRoute)
            .WithDefaultHttpClient(ScalarTarget.Shell, ScalarClient.Curl)
            .DisableDefaultFonts());
        return app;
    }
}
