using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using static Canter.Server.Tests.TaskApiTests;

namespace Canter.Server.Tests;

/// <summary>
/// Inputs from outside the request: files put on the server with POST /api/uploads (judged by content, size-limited,
/// expiring) are named by their URL or upload:ID and read from disk; http(s) URLs are fetched only from the hosts the
/// operator listed, never through a redirect to another host, and never from a private address that was not listed.
/// </summary>
public sealed class UploadTests
{
    [Fact]
    public async Task UploadsAreInputsByUrlOrId()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero), settings: new() { ["Canter:MaxUploadBytes"] = "65536" });
        var png = Media.Png(32, 32, 90);

        // the raw body, and a multipart file; both judged by what they hold
        var raw = await CreatedAsync(await server.Http.PostAsync("/api/uploads", Bytes(png, "application/octet-stream")));
        Assert.Equal("image", raw.GetProperty("kind").GetString());
        Assert.Equal(png.Length, raw.GetProperty("bytes").GetInt64());
        var url = raw.GetProperty("url").GetString()!;
        Assert.Equal(new Uri(server.Http.BaseAddress!, $"/api/uploads/{raw.GetProperty("id").GetString()}"), new Uri(url));
        Assert.True(raw.GetProperty("expires_at").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddHours(23));
        using var form = new MultipartFormDataContent { { Bytes(Media.Mp4(server.DataDir, 32, 32), "image/png"), "file", "clip.png" } };
        var clip = await CreatedAsync(await server.Http.PostAsync("/api/uploads", form));
        Assert.Equal("video", clip.GetProperty("kind").GetString());
        Assert.Equal(png, await server.Http.GetByteArrayAsync(url));

        await AssertProblem(await server.Http.PostAsync("/api/uploads", Bytes(Encoding.UTF8.GetBytes("<html>no</html>"), "image/png")), HttpStatusCode.BadRequest,
            "not a readable image, video or audio file");
        await AssertProblem(await server.Http.PostAsync("/api/uploads", Bytes(new byte[70_000], "image/png")), HttpStatusCode.RequestEntityTooLarge, "over the limit");
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(server.DataDir, "uploads"), "*.partial"));

        // the URL and upload:ID are inputs, read from disk (no fetch: this server fetches no URLs)
        var byUrl = await server.SubmitAsync(new { prompt = "A red ball bounces", size = "32x32", seconds = 0.5, steps = 1, image = url });
        Assert.Equal($"upload:{raw.GetProperty("id").GetString()}", byUrl.GetProperty("request").GetProperty("image").GetProperty("source").GetString());
        Assert.Equal(raw.GetProperty("sha256").GetString(), byUrl.GetProperty("request").GetProperty("image").GetProperty("sha256").GetString());
        var byId = await server.SubmitAsync(new { prompt = "A red ball bounces", size = "32x32", seconds = 2, steps = 1, extend = $"upload:{clip.GetProperty("id").GetString()}" });
        await server.WaitForStateAsync(byUrl.GetProperty("id").GetString()!, "succeeded");
        await server.WaitForStateAsync(byId.GetProperty("id").GetString()!, "succeeded");
        await AssertProblem(await server.Http.PostAsJsonAsync("/api/tasks", new { prompt = "A ball", image = "upload:upload_000000000000000000000000" }),
            HttpStatusCode.BadRequest, "upload 'upload_000000000000000000000000' was not found");
        await AssertProblem(await server.Http.PostAsJsonAsync("/api/tasks", new { prompt = "A ball", image = url.Replace("127.0.0.1", "localhost") }),
            HttpStatusCode.BadRequest, "does not fetch URLs");
    }

    [Fact]
    public async Task UploadsExpire()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero),
            settings: new() { ["Canter:UploadRetention"] = "00:00:01", ["Canter:RetentionSweepInterval"] = "00:00:00.100" });
        var upload = await CreatedAsync(await server.Http.PostAsync("/api/uploads", Bytes(Media.Png(32, 32, 9), "image/png")));
        var id = upload.GetProperty("id").GetString()!;
        var path = Path.Combine(server.DataDir, "uploads", id);
        Assert.True(File.Exists(path));
        await Receiver.EventuallyAsync(() => !File.Exists(path), "the sweeper removes the expired upload");
        var gone = await AssertProblem(await server.Http.GetAsync($"/api/uploads/{id}"), HttpStatusCode.Gone, "expired");
        Assert.Equal("upload_expired", gone.GetProperty("code").GetString());
        var refused = await AssertProblem(await server.Http.PostAsJsonAsync("/api/tasks", new { prompt = "A ball", size = "32x32", image = $"upload:{id}" }),
            HttpStatusCode.BadRequest, "upload the file again");
        Assert.Equal("upload_expired", refused.GetProperty("code").GetString());
    }

    [Fact]
    public async Task UrlsAreFetchedOnlyFromAllowedHosts()
    {
        var png = Media.Png(32, 32, 50);
        await using var host = await Receiver.StartAsync(app =>
        {
            app.MapGet("/a.png", () => Results.Bytes(png, "image/png"));
            app.MapGet("/big.png", () => Results.Bytes(new byte[100_000], "image/png"));
            app.MapGet("/away", (HttpContext http) => Results.Redirect($"http://localhost:{http.Connection.LocalPort}/a.png"));
            app.MapGet("/here", () => Results.Redirect("/a.png"));
        });
        var a = host.Url("/a.png");

        // listed by name: fetched, even on loopback; a redirect to an unlisted host is not followed; the size limit holds
        await using (var listed = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero),
            settings: new() { ["Canter:AllowedInputHosts:0"] = "127.0.0.1", ["Canter:AllowedInputHosts:1"] = "*.example.org", ["Canter:MaxUploadBytes"] = "65536" }))
        {
            var task = await listed.SubmitAsync(new { prompt = "A red ball bounces", size = "32x32", seconds = 0.5, steps = 1, image = a, last_frame = host.Url("/here") });
            Assert.Equal($"url:{a}", task.GetProperty("request").GetProperty("image").GetProperty("source").GetString());
            await listed.WaitForStateAsync(task.GetProperty("id").GetString()!, "succeeded");
            var away = await AssertProblem(await listed.Http.PostAsJsonAsync("/api/tasks", new { prompt = "A ball", size = "32x32", image = host.Url("/away") }),
                HttpStatusCode.BadRequest, "does not fetch URLs from 'localhost'");
            Assert.Equal("input_host_not_allowed", away.GetProperty("code").GetString());
            await AssertProblem(await listed.Http.PostAsJsonAsync("/api/tasks", new { prompt = "A ball", size = "32x32", image = "http://example.org/a.png" }),
                HttpStatusCode.BadRequest, "does not fetch URLs from 'example.org'");   // *.example.org is its subdomains
            await AssertProblem(await listed.Http.PostAsJsonAsync("/api/tasks", new { prompt = "A ball", size = "32x32", image = host.Url("/big.png") }),
                HttpStatusCode.RequestEntityTooLarge, "over the limit");
        }
        // nothing listed: no fetch at all
        await using (var closed = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero)))
        {
            var problem = await AssertProblem(await closed.Http.PostAsJsonAsync("/api/tasks", new { prompt = "A ball", image = a }), HttpStatusCode.BadRequest, "does not fetch URLs");
            Assert.Equal("url_inputs_disabled", problem.GetProperty("code").GetString());
        }
        // any public host (--allow-url-inputs) still is not a private one
        await using (var open = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero), settings: new() { ["Canter:AllowUrlInputs"] = "true" }))
        {
            var problem = await AssertProblem(await open.Http.PostAsJsonAsync("/api/tasks", new { prompt = "A ball", size = "32x32", image = a }),
                HttpStatusCode.BadRequest, "non-public address");
            Assert.Equal("input_fetch_failed", problem.GetProperty("code").GetString());
        }
    }

    private static ByteArrayContent Bytes(byte[] bytes, string type)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue(type);
        return content;
    }

    private static async Task<JsonElement> CreatedAsync(HttpResponseMessage response)
    {
        using (response)
        {
            var body = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.True(response.StatusCode == HttpStatusCode.Created, body.ToString());
            Assert.Equal(body.GetProperty("url").GetString(), response.Headers.Location?.ToString());
            return body;
        }
    }
}
