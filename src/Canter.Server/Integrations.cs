using Canter.Server.Api;
using Canter.Server.Provenance;
using Canter.Server.Storage;
using Canter.Server.Retention;
using Canter.Server.Tasks;
using Canter.Server.Uploads;
using Canter.Server.Webhooks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Canter.Server;

/// <summary>
/// What the server does around a task: signed webhooks, uploads and allowed input hosts, result expiry, and signed
/// provenance manifests. Their tables sit beside the task store's (tasks.db, or the shared PostgreSQL database); their
/// keys in the data folder.
/// </summary>
public static class Integrations
{
    /// <summary>Everything <see cref="AddCanterTaskObservers"/> registers, and what only API servers do: uploads, input hosts and the retention sweeper.</summary>
    public static IServiceCollection AddCanterIntegrations(this IServiceCollection services)
    {
        services.AddCanterTaskObservers();
        services.AddSingleton(sp => TaskStores.Pick<IUploadTable>(sp, path => new SqliteUploadTable(path, sp.GetRequiredService<TimeProvider>()),
            db => new PostgresUploadTable(db, sp.GetRequiredService<TimeProvider>())));
        services.AddSingleton(sp => new UploadStore(sp.GetRequiredService<TaskFiles>().Root, sp.GetRequiredService<IUploadTable>()));
        services.AddSingleton<InputSources>();
        services.AddSingleton<RetentionSweeper>();
        services.AddHostedService(sp => sp.GetRequiredService<RetentionSweeper>());
        return services;
    }

    /// <summary>What must run where a task runs (a worker too): its webhook events, its signed manifest, and the expiry its views show.</summary>
    public static IServiceCollection AddCanterTaskObservers(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<TaskEvents>();

        services.AddSingleton(sp => TaskStores.Pick<IWebhookStore>(sp, path => new SqliteWebhookStore(path, sp.GetRequiredService<TimeProvider>()),
            db => new PostgresWebhookStore(db, sp.GetRequiredService<TimeProvider>())));
        services.AddSingleton(sp => new WebhookSecret(sp.GetRequiredService<TaskFiles>().Root));
        services.AddSingleton<WebhookSubscriptions>();
        services.AddSingleton<WebhookDispatcher>();
        services.AddSingleton<ITaskObserver>(sp => sp.GetRequiredService<WebhookDispatcher>());
        services.AddHostedService(sp => sp.GetRequiredService<WebhookDispatcher>());

        services.AddSingleton(sp => TaskStores.Pick<IExpiredResults>(sp, path => new SqliteExpiredResults(path, sp.GetRequiredService<TimeProvider>()),
            db => new PostgresExpiredResults(db, sp.GetRequiredService<TimeProvider>())));
        services.AddSingleton<ResultRetention>();

        services.AddSingleton(sp => new ProvenanceKey(sp.GetRequiredService<TaskFiles>().Root));
        services.AddSingleton<ProvenanceSigner>();
        services.AddSingleton<ITaskObserver>(sp => sp.GetRequiredService<ProvenanceSigner>());
        return services;
    }

    public static WebApplication MapIntegrationEndpoints(this WebApplication app)
    {
        app.MapUploadEndpoints();
        var tasks = app.MapGroup("/api/tasks").AddEndpointFilter<ApiKeyFilter>().WithTags("tasks");
        tasks.MapGet("/{id}/manifest", Manifest);
        tasks.MapGet("/{id}/webhooks", Deliveries);
        // the public key is public: anyone holding a video may check it
        app.MapGet("/api/provenance/key", Key).WithTags("provenance");   // the public key is public: anyone holding a video may check it
        return app;
    }

    /// <summary>The server's provenance public key, as PEM (default) or a JWK set (<c>?format=jwk</c>).</summary>
    private static IResult Key(string? format, HttpContext http, ProvenanceKey key) => format switch
    {
        null or "pem" => TypedResults.Text(key.PublicPem, "application/x-pem-file"),
        "jwk" => TypedResults.Json(new { keys = new[] { key.PublicJwk() } }),
        _ => Problems.Of(http, 400, "invalid_request", $"format: '{format}' is not pem or jwk", "format"),
    };

    /// <summary>The signed manifest of a succeeded task; it outlives the task's expired video.</summary>
    private static async Task<Results<ResultDownload, ProblemHttpResult>> Manifest(string id, HttpContext http, TaskService service, IResultStore results,
        CancellationToken cancel)
    {
        try
        {
            var task = await service.GetAsync(id, ApiKeyFilter.Owner(http), cancel);
            if (await results.OpenForRequestAsync(task.Id, ProvenanceSigner.ManifestFile, cancel) is { } manifest)
                return manifest.Download("application/json", $"{id}.manifest.json");
            if (task.State != TaskState.Succeeded) throw new ApiException(409, "task_not_succeeded", $"task '{id}' is {task.State.Name()}; a manifest is signed when it has succeeded");
            throw ApiException.NotFound($"the manifest of task '{id}'");
        }
        catch (ApiException e) { return e.ToProblem(http); }
    }

    /// <summary>The webhook deliveries of a task, with each one's attempts and last answer: what a receiver missed, and why.</summary>
    private static async Task<Results<Ok<ListView<DeliveryView>>, ProblemHttpResult>> Deliveries(string id, HttpContext http, TaskService service,
        WebhookSubscriptions webhooks, CancellationToken cancel)
    {
        try
        {
            var task = await service.GetAsync(id, ApiKeyFilter.Owner(http), cancel);
            var list = await webhooks.DeliveriesAsync(task.Id, cancel);
            return TypedResults.Ok(new ListView<DeliveryView>("list", list.Select(d =>
                new DeliveryView(d.EventId, d.Type, d.Url, d.State, d.Attempts, d.LastStatus, d.LastError, d.CreatedAt, d.DeliveredAt,
                    d.State == "pending" ? d.NextAt : null)).ToList()));
        }
        catch (ApiException e) { return e.ToProblem(http); }
    }
}

public sealed record ListView<T>(string Object, IReadOnlyList<T> Data);

public sealed record DeliveryView(string EventId, string Type, string Url, string State, int Attempts, int? LastStatus, string? LastError,
    DateTimeOffset CreatedAt, DateTimeOffset? DeliveredAt, DateTimeOffset? NextAttemptAt);
