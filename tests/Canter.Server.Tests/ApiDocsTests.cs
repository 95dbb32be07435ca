using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Canter.Server.Tests;

/// <summary>The OpenAPI document covers every route the server maps, and the docs page works without reaching any other host.</summary>
public sealed partial class ApiDocsTests
{
    [Fact]
    public async Task TheDocumentListsEveryApiRouteWithItsMethods()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.FromMilliseconds(1)),
            settings: new() { ["Canter:ApiKeys:0"] = "secret-key" });
        using var response = await server.Http.GetAsync("/openapi/v1.json");   // open: it describes the API, it does not use it
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var paths = doc.RootElement.GetProperty("paths");
        Assert.StartsWith("3.", doc.RootElement.GetProperty("openapi").GetString());
        Assert.Equal("bearer", doc.RootElement.GetProperty("components").GetProperty("securitySchemes").GetProperty("bearer").GetProperty("scheme").GetString());

        var endpoints = server.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText is { } r && (r.StartsWith("/api/", StringComparison.Ordinal) || r.StartsWith("/v1/", StringComparison.Ordinal)))
            .ToList();
        Assert.NotEmpty(endpoints);
        var missing = new List<string>();
        foreach (var endpoint in endpoints)
        {
            var route = "/" + endpoint.RoutePattern.RawText!.Trim('/');
            route = Constraint().Replace(route, "{$1}");
            var methods = endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? [];
            if (!paths.TryGetProperty(route, out var item)) { missing.Add(route); continue; }
            foreach (var method in methods)
                if (!item.TryGetProperty(method.ToLowerInvariant(), out _)) missing.Add($"{method} {route}");
        }
        Assert.True(missing.Count == 0, "not in the document: " + string.Join(", ", missing));
        Assert.Equal("Submit a generation (JSON, or multipart with uploads); answers 202 with the task at once",
            paths.GetProperty("/api/tasks").GetProperty("post").GetProperty("summary").GetString());
    }

    [Fact]
    public async Task TheDocsPageLoadsItsScriptFromThisServer()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.FromMilliseconds(1)));
        var html = await server.Http.GetStringAsync("/docs");
        Assert.Contains("\"openapi/v1.json\"", html);   // the document, relative to the site root
        var scripts = ScriptSource().Matches(html).Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(scripts);
        long total = 0;
        foreach (var src in scripts)
        {
            Assert.False(src.StartsWith("http", StringComparison.OrdinalIgnoreCase) || src.StartsWith("//", StringComparison.Ordinal), $"script from another host: {src}");
            using var script = await server.Http.GetAsync(new Uri(new Uri(server.Http.BaseAddress!, "/docs/"), src));
            Assert.Equal(HttpStatusCode.OK, script.StatusCode);
            total += (await script.Content.ReadAsByteArrayAsync()).Length;
        }
        Assert.True(total > 100_000, $"{total} bytes of script is not the whole reference");
        Assert.DoesNotContain("fonts.scalar.com", html);
    }

    [GeneratedRegex(@"\{(\w+)(:[^}]*)?\}")]
    private static partial Regex Constraint();

    [GeneratedRegex("<script[^>]*src=\"([^\"]+)\"")]
    private static partial Regex ScriptSource();
}
