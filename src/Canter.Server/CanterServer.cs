using System.Text.Json;
using System.Text.Json.Serialization;
using Canter.Server.Api;
using Canter.Server.Generation;
using Canter.Server.Keys;
using Canter.Server.Studio;
using Canter.Server.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Canter.Server;

/// <summary>
/// The Canter server: the native task API (/api/tasks), the OpenAI-style video API (/v1/videos), the arena (/api/arena) and
/// the web studio (/), on one port, with the model, an SQLite database and result files under one data folder.
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
        app.UseCanterServer();
        app.MapCanterServer();
        return app;
    }

    /// <summary>Registers the server's services, options and limits.</summary>
    public static WebApplicationBuilder AddCanterServer(this WebApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection(ServerOptions.Section);
        var options = section.Get<ServerOptions>() ?? new ServerOptions();
        builder.Services.AddOptions<ServerOptions>().Bind(section);
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

        builder.Services.AddSingleton(sp => new TaskFiles(sp.GetRequiredService<IOptions<ServerOptions>>().Value.DataDir));
        builder.Services.AddSingleton<ITaskStore>(sp => new SqliteTaskStore(Path.Combine(sp.GetRequiredService<TaskFiles>().Root, "tasks.db")));
        builder.Services.TryAddSingleton<IVideoGenerator>(sp =>
        {
            var o = sp.GetRequiredService<IOptions<ServerOptions>>().Value;
            return new ModelGenerator(o.ResolvedModelDir, o.Device);
        });
        builder.Services.AddSingleton<TaskNotifier>();
        builder.Services.AddSingleton<GenerationWorker>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<GenerationWorker>());
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
            return TypedResults.Ok(new ModelView(i.Model, "model", i.WeightsSha256, i.FrameRate, i.SampleRate, $"{i.DefaultWidth}x{i.DefaultHeight}", i.DefaultSeconds));
        }).AddEndpointFilter<ApiKeyFilter>();
        app.MapCanterStudio();   // the studio at / and /studio/, the arena routes, the route list at /api
        return app;
    }
}
