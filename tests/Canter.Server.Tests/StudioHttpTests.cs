using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Canter.Server.Tests;

/// <summary>
/// The studio's files over plain HTTP: the pages and assets with their content types and headers, 404 ProblemDetails
/// for anything else, no way out of the embedded files by <c>..</c> in any spelling, and the route list at /api.
/// </summary>
public sealed class StudioHttpTests
{
    [Theory]
    [InlineData("/", "text/html")]
    [InlineData("/studio", "text/html")]
    [InlineData("/studio/", "text/html")]
    [InlineData("/studio/generate", "text/html")]
    [InlineData("/studio/history", "text/html")]
    [InlineData("/studio/arena", "text/html")]
    [InlineData("/studio/index.html", "text/html")]
    [InlineData("/studio/studio.css", "text/css")]
    [InlineData("/studio/studio.js", "text/javascript")]
    [InlineData("/studio/api.js", "text/javascript")]
    [InlineData("/studio/arena.js", "text/javascript")]
    [InlineData("/studio/icon.svg", "image/svg+xml")]
    public async Task PagesAndAssetsAreServedWithTheirContentTypes(string path, string type)
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero));
        using var response = await server.Http.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(type, response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.NotNull(response.Headers.ETag);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(body.Length > 100, $"{path} is nearly empty: {body}");
        if (type == "text/html")
        {
            Assert.Contains("<title>Canter studio</title>", body);
            Assert.Contains("script-src 'self'", response.Headers.GetValues("Content-Security-Policy").Single());
        }
    }

    [Fact]
    public async Task AnUnchangedFileIsNotSentAgain()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero));
        using var first = await server.Http.GetAsync("/studio/studio.js");
        using var again = new HttpRequestMessage(HttpMethod.Get, "/studio/studio.js");
        again.Headers.IfNoneMatch.Add(first.Headers.ETag!);
        using var second = await server.Http.SendAsync(again);
        Assert.Equal(HttpStatusCode.NotModified, second.StatusCode);
        Assert.Empty(await second.Content.ReadAsByteArrayAsync());
    }

    [Theory]
    [InlineData("/studio/nope.js")]
    [InlineData("/studio/STUDIO.JS")]
    [InlineData("/studio/studio.js/")]
    [InlineData("/studio/sub/studio.js")]
    [InlineData("/studio/Canter.Server.dll")]
    [InlineData("/favicon.ico")]
    public async Task AnUnknownFileIsA404Problem(string path)
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero));
        using var response = await server.Http.GetAsync(path);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("not_found", problem.GetProperty("code").GetString());
    }

    [Theory]
    [InlineData("/studio/../../etc/passwd")]
    [InlineData("/studio/../../../../../../etc/passwd")]
    [InlineData("/studio/%2e%2e/%2e%2e/etc/passwd")]
    [InlineData("/studio/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd")]
    [InlineData("/studio/..%2f..%2f..%2fetc%2fpasswd")]
    [InlineData("/studio/..%5c..%5c..%5cetc%5cpasswd")]
    [InlineData("/studio/%252e%252e%252f%252e%252e%252fetc%252fpasswd")]
    [InlineData("/studio/....//....//etc/passwd")]
    [InlineData("/studio/studio.css/../../../etc/passwd")]
    [InlineData("/studio//etc/passwd")]
    [InlineData("/studio/%2fetc%2fpasswd")]
    [InlineData("/studio/..%c0%af..%c0%afetc%c0%afpasswd")]
    [InlineData("/studio/../../tmp/canter-studio-secret.txt")]
    [InlineData("/studio/%2e%2e/%2e%2e/tmp/canter-studio-secret.txt")]
    public async Task NoPathLeavesTheStudiosFiles(string path)
    {
        var secret = Path.Combine(Path.GetTempPath(), "canter-studio-secret.txt");
        await File.WriteAllTextAsync(secret, "SECRET-" + Guid.NewGuid());
        try
        {
            await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero));
            // sent byte for byte: HttpClient would resolve the dot segments itself
            var (status, body) = await RawGetAsync(server.Http.BaseAddress!, path);
            Assert.True(status is 400 or 404, $"{path}: {status}");
            Assert.DoesNotContain("root:", body);
            Assert.DoesNotContain("SECRET-", body);
        }
        finally { File.Delete(secret); }
    }

    [Fact]
    public async Task TheRouteListNamesTheApisAndTheStudio()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero));
        var index = await server.GetAsync("/api");
        Assert.Equal("/", index.GetProperty("studio").GetString());
        var routes = index.GetProperty("routes").EnumerateArray().Select(r => $"{r.GetProperty("method").GetString()} {r.GetProperty("path").GetString()}").ToList();
        foreach (var route in new[] { "POST /api/tasks", "GET /api/tasks/{id}/events", "GET /api/arena/next", "POST /api/arena/votes", "GET /api/arena/leaderboard", "GET /" })
            Assert.Contains(route, routes);
    }

    [Fact]
    public async Task TheStudioIsOpenWhileTheApiNeedsAKey()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero), settings: new() { ["Canter:ApiKeys:0"] = "key-one" });
        using var page = await server.Http.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        using var tasks = await server.Http.GetAsync("/api/tasks");
        Assert.Equal(HttpStatusCode.Unauthorized, tasks.StatusCode);
        using var arena = await server.Http.GetAsync("/api/arena/next");
        Assert.Equal(HttpStatusCode.Unauthorized, arena.StatusCode);
    }

    /// <summary>A GET with the path exactly as given, over a raw socket; returns the status and body.</summary>
    internal static async Task<(int Status, string Body)> RawGetAsync(Uri server, string path)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(server.Host, server.Port);
        await using var stream = client.GetStream();
        var request = Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: {server.Authority}\r\nConnection: close\r\n\r\n");
        await stream.WriteAsync(request);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var text = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var statusLine = text[..text.IndexOf('\r')];
        int status = int.Parse(statusLine.Split(' ')[1]);
        return (status, text);
    }
}
