using System.Text.Json;
using System.Text.Json.Serialization;
using Canter.Server.Api;
using Canter.Server.Generation;
using Canter.Server.Keys;
using Canter.Server.Storage;
using Canter.Server.Studio;
using Canter.Server.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Canter.Server;

/// <summary>
/// The Canter server: the native task API (/api/tasks), the OpenAI-style video API (/v1/videos), the arena (/api/arena) and
/// the web studio (/), on one port, with the model, an SQLite database and result files under one data folder; or, scaled
/// out, API servers and <see cref="CreateWorker">workers</see> on several machines sharing a PostgreSQL database and a data folder.
/// <code>
/// var app = CanterServer.Create("http://127.0.0.1:8000", new() { ["Canter:DataDir"] = "data" });
/// await app.RunAsync();
/// </code>
/// </summary>
public static class CanterServer
{
    /// <summary>The app listening on <paramref name="urls"/>, configured by <paramref name="settings"/> (keys under "Canter:").</summary>
    public static WebApplication Create(string urls, IDictionary<string, string?> settings, Action<IServiceCollection>? services = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.WebHost.UseUrls(urls);
        builder.AddCanterServer();
        services?.Invoke(builder.Services);
        var app = builder.Build();
        app.Services.GetRequiredService<ITaskStore>();   // now: a store that cannot be reached fails the start, not the first request
        try { ResultStores.CheckAtStart(app.Services); }   // and a result bucket that cannot be written
        catch { app.DisposeAsync().AsTask().GetAwaiter().GetResult(); throw; }
        app.UseCanterServer();
        app.MapCanterServer();
        return app;
    }

    /// <summary>
    /// A worker process with no HTTP (<c>canter worker</c>): the generation worker against the store and data folder
    /// that <paramref name="settings"/> name, shared with the servers and other workers.
    /// </summary>
    public static IHost CreateWorker(IDictionary<string, string?> settings, Action<IServiceCollection>? services = null)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Configuration[$"{ServerOptions.Section}:{nameof(ServerOptions.RunWorkers)}"] = "true";
        builder.Services.AddCanterCore(builder.Configuration);
        // what happens around a task happens where it runs: its webhooks (started, progress, the end) and its signed manifest;
        // the sweeps and uploads belong to the API servers
        builder.Services.AddHttpClient();
        builder.Services.AddCanterTaskObservers();
        services?.Invoke(builder.Services);
        var host = builder.Build();
        host.Services.GetRequiredService<ITaskStore>();
        try { ResultStores.CheckAtStart(host.Services); }
        catch { host.Dispose(); throw; }
        return host;
    }

    /// <summary>
    /// What servers and workers share: options, the data folder, the task store that <see cref="ServerOptions.Store"/>
    /// names, the generator, and the generation worker (run as a hosted service unless <see cref="ServerOptions.RunWorkers"/> is off).
    /// </summary>
    public static IServiceCollection AddCanterCore(this IServiceCollection services, IConfiguration configuration)
    {
        var section = configuration.GetSection(ServerOptions.Section);
        services.AddOptions<ServerOptions>().Bind(section);
        services.AddSingleton(sp => new TaskFiles(sp.GetRequiredService<IOptions<ServerOptions>>().Value.DataDir));
        services.AddCanterStores();
        services.AddResultStore();
        services.TryAddSingleton<IVideoGenerator>(sp =>
        {
            var o = sp.GetRequiredService<IOptions<ServerOptions>>().Value;
            return new ModelGenerator(o.ResolvedModelDir, o.Device);
        });
        services.AddSingleton<TaskNotifier>();
        services.AddSingleton<GenerationWorker>();   // an API-only server still has one: TaskService stops a local run through it
        if ((section.Get<ServerOptions>() ?? new ServerOptions()).RunWorkers)
            services.AddHostedService(sp => sp.GetRequiredService<GenerationWorker>());
        return services;
    }

    /// <summary>Registers the server's services, options and limits.</summary>
    public static WebApplicationBuilder AddCanterServer(this WebApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection(ServerOptions.Section);
        var options = section.Get<ServerOptions>() ?? new ServerOptions();
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);   // one line per request is noise; the worker logs each task
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = options.MaxRequestBytes);
        builder.Services.Configure<FormOptions>(f =>
        {
            f.MultipartBodyLengthLimit = options.MaxRequestBytes;
            f.ValueLengthLimit = (int)Math.Min(int.MaxValue, options.MaxUploadBytes / 3 * 4 + 1024);   // a data: URL in a form field
        });
        builder.Services.ConfigureHttpJsonOptions(j =>
        {
            j.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
            j.SerializerOptions.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower));
        });
        builder.Services.AddProblemDetails(p => p.CustomizeProblemDetails = Problems.Customize);
        builder.Services.AddExceptionHandler<ApiExceptionHandler>();
        builder.Services.AddHttpClient();
        builder.Services.AddApiDocs();

        builder.Services.AddCanterCore(builder.Configuration);
        builder.Services.AddSingleton<Submissions>();
        builder.Services.AddSingleton<TaskService>();
        builder.Services.AddSingleton<ApiKeyFilter>();
        builder.Services.AddCanterIntegrations();
        builder.Services.AddCanterKeys();
        builder.Services.AddCanterStudio();
        builder.Services.AddCompatibleApis();
        return builder;
    }

    /// <summary>Errors of every kind become ProblemDetails: thrown ones, and bare status codes (an unknown route, a wrong method).</summary>
    public static WebApplication UseCanterServer(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        return app;
    }

    public static WebApplication MapCanterServer(this WebApplication app)
    {
        app.MapTaskEndpoints();
        app.MapVideoEndpoints();
        app.MapApiDocs();
        app.MapIntegrationEndpoints();
        app.MapDashScopeEndpoints();
        app.MapGet("/api/model", (IVideoGenerator generator) =>
        {
            var i = generator.Info;
            return TypedResults.Ok(new ModelView(i.Model, "model", i.WeightsSha256, i.FrameRate, i.SampleRate, $"{i.DefaultWidth}x{i.DefaultHeight}", i.DefaultSeconds, i.Edit));
        }).AddEndpointFilter<ApiKeyFilter>();
        app.MapCanterStudio();   // the studio at / and /studio/, the arena routes, the route list at /api
        return app;
    }
}
