using System.Collections.Frozen;
using System.Security.Cryptography;
using Canter.Server.Api;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Net.Http.Headers;

namespace Canter.Server.Studio;

/// <summary>
/// The web studio (generate, history, arena): plain HTML, CSS and JavaScript embedded in this assembly and served at
/// <c>/</c> and <c>/studio/...</c>, and the machine-readable route list at <c>/api</c>.
/// <para>
/// Only the embedded files exist: a request names one of them exactly or is a 404, so no path reaches the disk and
/// no <c>..</c>, encoded or not, can leave the folder.
/// </para>
/// </summary>
public static class StudioEndpoints
{
    /// <summary>The studio's pages: each is index.html, which shows the view its path names.</summary>
    public static readonly string[] Pages = ["generate", "history", "arena"];

    public static IServiceCollection AddCanterStudio(this IServiceCollection services)
    {
        services.AddSingleton<ArenaService>();
        return services;
    }

    public static IEndpointRouteBuilder MapCanterStudio(this IEndpointRouteBuilder app)
    {
        app.MapArenaEndpoints();
        app.MapGet("/api", (EndpointDataSource endpoints) => TypedResults.Ok(RouteList(endpoints)))
            .WithTags("index").WithSummary("Every route the server maps, by method and pattern");
        // the pages are not API operations: they stay out of the OpenAPI document
        var files = StudioFiles.Embedded;
        app.MapGet("/", (HttpContext http) => files.Serve(http, "index.html")).ExcludeFromDescription();
        app.MapGet("/studio", (HttpContext http) => files.Serve(http, "index.html")).ExcludeFromDescription();
        app.MapGet("/studio/{**path}", (string? path, HttpContext http) =>
            files.Serve(http, string.IsNullOrEmpty(path) || Pages.Contains(path) ? "index.html" : path)).ExcludeFromDescription();
        return app;
    }

    /// <summary>Every route the server maps (method and pattern), so clients and people can see what is there.</summary>
    public static RouteListView RouteList(EndpointDataSource endpoints)
    {
        var routes = endpoints.Endpoints.OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["GET"]).Select(m => new RouteView(m, "/" + e.RoutePattern.RawText?.Trim('/'))))
            .Distinct().OrderBy(r => r.Path, StringComparer.Ordinal).ThenBy(r => r.Method, StringComparer.Ordinal).ToList();
        return new RouteListView("canter", "/", "/docs", "/api/tasks", "/api/arena", "/v1/videos", routes);
    }
}

public sealed record RouteView(string Method, string Path);

public sealed record RouteListView(string Server, string Studio, string Docs, string Tasks, string Arena, string Videos, IReadOnlyList<RouteView> Routes);

/// <summary>The studio's files, read once from the assembly's resources (logical names <c>studio/NAME</c>), with content types and ETags.</summary>
public sealed class StudioFiles
{
    private const string Prefix = "studio/";

    private static readonly FrozenDictionary<string, string> Types = new Dictionary<string, string>
    {
        [".html"] = "text/html; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".svg"] = "image/svg+xml",
        [".png"] = "image/png",
        [".json"] = "application/json",
    }.ToFrozenDictionary();

    // the pages load only their own scripts and styles, and media from this server (or blob: URLs made from its answers)
    private const string Policy = "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; style-src 'self'; script-src 'self'; " +
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

    private readonly FrozenDictionary<string, (byte[] Bytes, string Type, string ETag)> _files;

    private StudioFiles(FrozenDictionary<string, (byte[], string, string)> files) => _files = files;

    public static StudioFiles Embedded { get; } = Load();

    public IEnumerable<string> Names => _files.Keys;

    public IResult Serve(HttpContext http, string name)
    {
        if (!_files.TryGetValue(name, out var file))
            return Problems.Of(http, 404, "not_found", $"the studio has no file '{(name.Length <= 60 ? name : name[..60] + "...")}'");
        var headers = http.Response.Headers;
        headers.ETag = file.ETag;
        headers.CacheControl = "no-cache";   // revalidated each time: an upgraded server serves its own studio at once
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        if (file.Type.StartsWith("text/html", StringComparison.Ordinal)) headers.ContentSecurityPolicy = Policy;
        if (http.Request.Headers.IfNoneMatch.Any(v => v == file.ETag)) return TypedResults.StatusCode(StatusCodes.Status304NotModified);
        return TypedResults.Bytes(file.Bytes, file.Type);
    }

    private static StudioFiles Load()
    {
        var assembly = typeof(StudioFiles).Assembly;
        var files = new Dictionary<string, (byte[], string, string)>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            var name = resource[Prefix.Length..].Replace('\\', '/');
            if (!Types.TryGetValue(Path.GetExtension(name), out var type)) continue;
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var bytes = copy.ToArray();
            var etag = new EntityTagHeaderValue($"\"{Convert.ToHexStringLower(SHA256.HashData(bytes))[..16]}\"").ToString();
            files[name] = (bytes, type, etag);
        }
        if (!files.ContainsKey("index.html")) throw new InvalidOperationException("the studio's index.html is not embedded in " + assembly.GetName().Name);
        return new StudioFiles(files.ToFrozenDictionary(StringComparer.Ordinal));
    }
}
