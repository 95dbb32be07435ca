using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace Canter.Server.Tests;

/// <summary>
/// The native task API as the process-level tests drive it (<see cref="Cluster"/>, <see cref="DurabilityTests"/>): a
/// server in another process may be starting, killed or restarting, so a submit can be retried under its idempotency
/// key and a wait asks again while the server does not answer.
/// </summary>
internal static class TaskHttp
{
    /// <summary>
    /// Submits <paramref name="body"/> to <c>/api/tasks</c> and returns the task's id. With <paramref name="retryFor"/>,
    /// no answer or a 5xx is sent again (give an <paramref name="idempotencyKey"/>, so a retry is the same task) until that
    /// much time has passed; any other refusal fails the test at once.
    /// </summary>
    public static async Task<string> SubmitTaskAsync(this HttpClient http, object body, string? idempotencyKey = null, TimeSpan? retryFor = null)
    {
        var clock = Stopwatch.StartNew();
        var retry = retryFor ?? TimeSpan.Zero;
        while (true)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/tasks") { Content = JsonContent.Create(body) };
            if (idempotencyKey is not null) request.Headers.Add("Idempotency-Key", idempotencyKey);
            try
            {
                using var response = await http.SendAsync(request);
                var json = await response.Content.ReadFromJsonAsync<JsonElement>();
                if ((int)response.StatusCode >= 500 && clock.Elapsed < retry) { await Task.Delay(200); continue; }
                Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {json}");
                return json.GetProperty("id").GetString()!;
            }
            catch (HttpRequestException) when (clock.Elapsed < retry) { await Task.Delay(200); }
        }
    }

    /// <summary>Polls <c>/api/tasks/{id}</c> until <paramref name="done"/> holds for it; a server that does not answer (restarting) is asked again.</summary>
    public static async Task<JsonElement> WaitForTaskAsync(this HttpClient http, string id, Func<JsonElement, bool> done, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            JsonElement task;
            try { task = await http.GetFromJsonAsync<JsonElement>($"/api/tasks/{id}"); }
            catch (HttpRequestException) when (clock.Elapsed < timeout) { await Task.Delay(200); continue; }
            if (done(task)) return task;
            if (clock.Elapsed > timeout) throw new TimeoutException($"task {id} is still {task}");
            await Task.Delay(20);
        }
    }
}
