using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Canter.Server.Tests;

/// <summary>
/// Request bodies that crashed the server (a 500 and a logged error) under <c>canter fuzz --seed 1</c> before their
/// fixes, replayed byte for byte: each must now be a 400 that says what is wrong, in the shape of the API it was sent
/// to. (The checkpoint and WAV findings are in Canter.Tensors.Tests and Canter.Media.Tests.)
/// </summary>
public sealed class FuzzFindingsTests
{
    private const string DashScopeSynthesis = "/api/v1/services/aigc/video-generation/video-synthesis";

    /// <summary>json #558 (sent to /api/tasks; #552, the same "steps" on /v1/videos): a lone surrogate escape is valid JSON but no string.</summary>
    private static readonly byte[] LoneSurrogate =
        """{"prompt":"a red ball bounces","seconds":0.5,"steps":"\ud800","seed":7,"size":"64x64"}"""u8.ToArray();

    [Theory]
    [InlineData("/api/tasks")]
    [InlineData("/v1/videos")]
    [InlineData(DashScopeSynthesis)]
    public async Task ALoneSurrogateInAJsonBodyIsA400(string route)
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero));
        using var request = new HttpRequestMessage(HttpMethod.Post, route) { Content = new ByteArrayContent(LoneSurrogate) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add("X-DashScope-Async", "enable");
        using var response = await server.Http.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {body}");
        var json = JsonDocument.Parse(body).RootElement;
        var (code, message) = route switch
        {
            "/v1/videos" => (json.GetProperty("error").GetProperty("code").GetString(), json.GetProperty("error").GetProperty("message").GetString()),
            DashScopeSynthesis => (json.GetProperty("code").GetString(), json.GetProperty("message").GetString()),
            _ => (json.GetProperty("code").GetString(), json.GetProperty("detail").GetString()),
        };
        Assert.Equal(route == DashScopeSynthesis ? "InvalidParameter" : "invalid_json", code);
        Assert.Contains("not valid text", message);
    }

    /// <summary>
    /// multipart #167 (sent to /api/uploads, the same on every form route): a part and no closing boundary, and #108:
    /// a body cut inside its first boundary. ASP.NET's form reader throws IOException ("Unexpected end of Stream").
    /// </summary>
    [Theory]
    [InlineData("/api/tasks", "--fuzzboundary7d3\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\na red ball\r\n")]
    [InlineData("/v1/videos", "--fuzzboundary7d3\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\na red ball\r\n")]
    [InlineData("/api/uploads", "--fuzzboundary7d3\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\na red ball\r\n")]
    [InlineData("/api/tasks", "--fuzzbounda")]
    public async Task ATruncatedMultipartBodyIsA400(string route, string body)
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero));
        using var content = new ByteArrayContent(Encoding.ASCII.GetBytes(body));
        content.Headers.TryAddWithoutValidation("Content-Type", "multipart/form-data; boundary=fuzzboundary7d3");
        using var response = await server.Http.PostAsync(route, content);
        var text = await response.Content.ReadAsStringAsync();

        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {text}");
        var json = JsonDocument.Parse(text).RootElement;
        var error = route == "/v1/videos" ? json.GetProperty("error") : json;
        Assert.Equal("invalid_form", error.GetProperty("code").GetString());
        Assert.Contains("the form cannot be read", error.GetProperty(route == "/v1/videos" ? "message" : "detail").GetString());
    }
}
