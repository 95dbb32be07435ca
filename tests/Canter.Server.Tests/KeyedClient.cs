using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Canter.Server.Tests;

/// <summary>Requests to a <see cref="TestServer"/> that carry one API key (or none).</summary>
internal sealed class KeyedClient(TestServer server, string? key)
{
    public static readonly object Tiny = new { prompt = "A red ball bounces", seconds = 0.5, size = "32x32", steps = 2 };

    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string route, object? body = null)
    {
        using var request = new HttpRequestMessage(method, route) { Content = body is null ? null : JsonContent.Create(body) };
        if (key is not null) request.Headers.Authorization = new("Bearer", key);
        return await server.Http.SendAsync(request);
    }

    /// <summary>Submits a task that must be accepted; returns its id.</summary>
    public async Task<string> SubmitAsync(object? body = null)
    {
        using var response = await SendAsync(HttpMethod.Post, "/api/tasks", body ?? Tiny);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.GetProperty("id").GetString()!;
    }

    public async Task<JsonElement> GetAsync(string route)
    {
        using var response = await SendAsync(HttpMethod.Get, route);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>Polls a task until <paramref name="done"/> holds for it (every 20 ms, up to 30 s).</summary>
    public async Task<JsonElement> WaitAsync(string id, Func<JsonElement, bool> done)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var task = await GetAsync($"/api/tasks/{id}");
            if (done(task)) return task;
            if (clock.Elapsed > TimeSpan.FromSeconds(30)) throw new TimeoutException($"task {id} is still {task}");
            await Task.Delay(20);
        }
    }

    public Task<JsonElement> WaitForStateAsync(string id, string state) => WaitAsync(id, t => t.GetProperty("state").GetString() == state);
}
