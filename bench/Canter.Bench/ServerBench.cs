using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Canter.Server;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Canter.Bench;

/// <summary>What <see cref="ServerBench"/> runs: how many clients hit the API at once, and how many generations measure throughput.</summary>
/// <param name="Clients">Concurrent clients; each submits one task, reads its status <paramref name="StatusReads"/> times, then cancels it.</param>
/// <param name="Generations">Generations per worker count for the throughput phase (0: no throughput phase).</param>
/// <param name="Seconds">Length of each generated clip.</param>
/// <param name="WorkerCounts">The worker counts whose throughput is measured, each on a fresh server.</param>
public sealed record ServerBenchOptions(string ModelDir, int Clients = 200, int StatusReads = 10, int Generations = 4, float Seconds = 1f,
    int Steps = 8, IReadOnlyList<int>? WorkerCounts = null);

/// <summary>
/// The service under load, measured over HTTP on loopback against the real server (SQLite store, shipped model):
/// <list type="bullet">
/// <item>latency: <c>Clients</c> concurrent clients submit a text-to-video task each (with an idempotency key, and
/// each submit sent twice, so a retried submit is exercised), read its status, and cancel it, while the server's worker
/// generates; the reference is <c>GET /api/model</c> (key check and a constant answer) under the same load, so the ratios
/// say what the store and the checks add;</item>
/// <item>throughput: <c>Generations</c> real generations with 1 and 2 in-process workers, each on a fresh server.</item>
/// </list>
/// It counts every request that failed and every task that did not end (none may): the figures end the output.
/// </summary>
public static class ServerBench
{
    public static async Task<int> RunAsync(ServerBenchOptions o, TextWriter output)
    {
        if (o.Clients < 1) throw new ArgumentException("--clients must be at least 1");
        if (o.StatusReads < 1) throw new ArgumentException("--status-reads must be at least 1");
        if (o.Generations < 0) throw new ArgumentException("--generations must be 0 or more");
        var figures = new List<(string, double)>();
        int failed = 0, lost = 0;

        var (latency, latencyFailed, latencyLost) = await LatencyAsync(o, output);
        figures.AddRange(latency);
        failed += latencyFailed;
        lost += latencyLost;

        var workers = o.WorkerCounts ?? [1, 2];
        var rates = new Dictionary<int, double>();
        if (o.Generations > 0)
        {
            foreach (int w in workers)
            {
                var (perMinute, f, l) = await ThroughputAsync(o, w, output);
                rates[w] = perMinute;
                figures.Add(($"generations_per_minute_workers_{w}", perMinute));
                failed += f;
                lost += l;
            }
            if (rates.TryGetValue(1, out double one) && rates.TryGetValue(2, out double two) && one > 0)
                figures.Add(("throughput_ratio_2_workers_vs_1", two / one));
        }
        figures.Add(("failed_requests", failed));
        figures.Add(("lost_tasks", lost));
        Measure.Figures(output, figures);
        return failed == 0 && lost == 0 ? 0 : 1;
    }

    private static async Task<(List<(string, double)> Figures, int Failed, int Lost)> LatencyAsync(ServerBenchOptions o, TextWriter output)
    {
        await using var server = await BenchServer.StartAsync(o.ModelDir, workers: 1);
        using var http = server.Client(o.Clients);
        // warm the routes (JIT, the database's first statements) before anything is timed
        using (var warm = await http.GetAsync("/api/model")) warm.EnsureSuccessStatusCode();

        var reference = new Latencies();
        var submit = new Latencies();
        var status = new Latencies();
        var cancel = new Latencies();
        int failed = 0;
        var ids = new string?[o.Clients];
        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, o.Clients), new ParallelOptions { MaxDegreeOfParallelism = o.Clients }, async (c, token) =>
        {
            string key = $"bench-{c}-{Guid.NewGuid():N}";
            var body = new { prompt = $"A red ball bounces, take {c}", seconds = o.Seconds, steps = o.Steps };
            string? first = null;
            for (int attempt = 0; attempt < 2; attempt++)
            {
                var (ok, json) = await TimeAsync(submit, () => Post(http, "/api/tasks", body, key, token));
                if (!ok) { Interlocked.Increment(ref failed); continue; }
                string id = json.GetProperty("id").GetString()!;
                if (first is not null && first != id) Interlocked.Increment(ref failed);   // a retried submit made a second task
                first = id;
            }
            ids[c] = first;
            if (first is null) return;
            for (int r = 0; r < o.StatusReads; r++)
            {
                var (okReference, _) = await TimeAsync(reference, () => Get(http, "/api/model", token));
                var (okStatus, _) = await TimeAsync(status, () => Get(http, $"/api/tasks/{first}", token));
                if (!okReference) Interlocked.Increment(ref failed);
                if (!okStatus) Interlocked.Increment(ref failed);
            }
            // a task the worker finished first answers 409 (nothing to cancel): a right answer, not a failure
            var (okCancel, answer) = await TimeAsync(cancel, () => Post(http, $"/api/tasks/{first}/cancel", null, null, token));
            if (!okCancel && !IsCode(answer, "task_finished")) Interlocked.Increment(ref failed);
        });
        double wall = clock.Elapsed.TotalSeconds;

        // every accepted task must end (cancelled, or succeeded if the worker finished it first) and be listed exactly once
        int lost = await LostAsync(http, ids.Where(i => i is not null).Select(i => i!).ToList(), TimeSpan.FromMinutes(2));
        output.WriteLine($"{o.Clients} clients: {submit.Count} submits, {status.Count} status reads, {cancel.Count} cancels in {wall:F1} s; failed {failed}, lost {lost}");
        var figures = new List<(string, double)>
        {
            ("clients", o.Clients),
            ("submit_p50_ms", submit.Percentile(50)), ("submit_p95_ms", submit.Percentile(95)), ("submit_p99_ms", submit.Percentile(99)),
            ("status_p50_ms", status.Percentile(50)), ("status_p95_ms", status.Percentile(95)), ("status_p99_ms", status.Percentile(99)),
            ("cancel_p50_ms", cancel.Percentile(50)), ("cancel_p95_ms", cancel.Percentile(95)),
            ("reference_p50_ms", reference.Percentile(50)), ("reference_p95_ms", reference.Percentile(95)),
            ("submit_p50_vs_reference", submit.Percentile(50) / reference.Percentile(50)),
            ("status_p50_vs_reference", status.Percentile(50) / reference.Percentile(50)),
            ("requests_per_second", (submit.Count + status.Count + cancel.Count + reference.Count) / wall),
        };
        return (figures, failed, lost);
    }

    private static async Task<(double PerMinute, int Failed, int Lost)> ThroughputAsync(ServerBenchOptions o, int workers, TextWriter output)
    {
        await using var server = await BenchServer.StartAsync(o.ModelDir, workers);
        using var http = server.Client(8);
        int failed = 0;
        var ids = new List<string>();
        var clock = Stopwatch.StartNew();
        for (int g = 0; g < o.Generations; g++)
        {
            var (ok, json) = await Post(http, "/api/tasks", new { prompt = "A red ball bounces", seconds = o.Seconds, steps = o.Steps, seed = g }, null, CancellationToken.None);
            if (ok) ids.Add(json.GetProperty("id").GetString()!);
            else failed++;
        }
        var states = await WaitAllAsync(http, ids, TimeSpan.FromMinutes(30));
        double wall = clock.Elapsed.TotalSeconds;
        int succeeded = states.Count(s => s == "succeeded");
        int lost = ids.Count - states.Count(s => s is "succeeded" or "failed" or "cancelled");
        failed += states.Count(s => s is "failed" or "cancelled");
        output.WriteLine($"{workers} worker(s): {succeeded} of {o.Generations} generations of {o.Seconds} s succeeded in {wall:F1} s");
        return (succeeded / wall * 60, failed, lost);
    }

    /// <summary>Waits until every task has ended; returns how many did not, or are not listed exactly once.</summary>
    private static async Task<int> LostAsync(HttpClient http, IReadOnlyList<string> ids, TimeSpan timeout)
    {
        var states = await WaitAllAsync(http, ids, timeout);
        int lost = states.Count(s => s is not ("succeeded" or "failed" or "cancelled"));
        var listed = new List<string>();
        string? after = null;
        while (true)
        {
            var (ok, page) = await Get(http, "/api/tasks?limit=100" + (after is null ? "" : $"&after={after}"), CancellationToken.None);
            if (!ok) return ids.Count;
            listed.AddRange(page.GetProperty("data").EnumerateArray().Select(t => t.GetProperty("id").GetString()!));
            if (!page.GetProperty("has_more").GetBoolean()) break;
            after = page.GetProperty("last_id").GetString();
        }
        var counts = listed.GroupBy(i => i).ToDictionary(g => g.Key, g => g.Count());
        lost += ids.Count(i => counts.GetValueOrDefault(i) != 1);
        lost += listed.Count - ids.Count(i => counts.ContainsKey(i));   // tasks nobody submitted (a retried submit that made a second)
        return lost;
    }

    private static async Task<List<string>> WaitAllAsync(HttpClient http, IReadOnlyList<string> ids, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        var states = new string[ids.Count];
        while (true)
        {
            for (int i = 0; i < ids.Count; i++)
            {
                if (states[i] is "succeeded" or "failed" or "cancelled") continue;
                var (ok, task) = await Get(http, $"/api/tasks/{ids[i]}", CancellationToken.None);
                states[i] = ok ? task.GetProperty("state").GetString()! : "missing";
            }
            if (states.All(s => s is "succeeded" or "failed" or "cancelled" or "missing") || clock.Elapsed > timeout) return states.ToList();
            await Task.Delay(200);
        }
    }

    private static bool IsCode(JsonElement problem, string code) =>
        problem.ValueKind == JsonValueKind.Object && problem.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String && c.GetString() == code;

    private static async Task<(bool, JsonElement)> TimeAsync(Latencies into, Func<Task<(bool, JsonElement)>> request)
    {
        var clock = Stopwatch.StartNew();
        var result = await request();
        into.Add(clock.Elapsed.TotalMilliseconds);
        return result;
    }

    private static async Task<(bool, JsonElement)> Post(HttpClient http, string route, object? body, string? idempotencyKey, CancellationToken token)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, route) { Content = body is null ? null : JsonContent.Create(body) };
        if (idempotencyKey is not null) message.Headers.Add("Idempotency-Key", idempotencyKey);
        return await SendAsync(http, message, token);
    }

    private static async Task<(bool, JsonElement)> Get(HttpClient http, string route, CancellationToken token)
    {
        using var message = new HttpRequestMessage(HttpMethod.Get, route);
        return await SendAsync(http, message, token);
    }

    private static async Task<(bool, JsonElement)> SendAsync(HttpClient http, HttpRequestMessage message, CancellationToken token)
    {
        try
        {
            using var response = await http.SendAsync(message, token);
            var json = await response.Content.ReadFromJsonAsync<JsonElement>(token);
            return (response.IsSuccessStatusCode, json);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException)
        {
            return (false, default);
        }
    }

    /// <summary>The real server on a free loopback port with a fresh data folder (removed afterwards).</summary>
    private sealed class BenchServer : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly string _data;

        private BenchServer(WebApplication app, string data) => (_app, _data) = (app, data);

        public Uri Address => new(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

        public static async Task<BenchServer> StartAsync(string modelDir, int workers)
        {
            var data = Path.Combine(Path.GetTempPath(), $"canter-bench-server-{Guid.NewGuid():N}");
            var app = CanterServer.Create("http://127.0.0.1:0", new Dictionary<string, string?>
            {
                ["Canter:DataDir"] = data,
                ["Canter:ModelDir"] = Path.GetFullPath(modelDir),
                ["Canter:Workers"] = workers.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["Logging:LogLevel:Default"] = "Warning",
            });
            await app.StartAsync();
            return new BenchServer(app, data);
        }

        public HttpClient Client(int connections) => new(new SocketsHttpHandler { MaxConnectionsPerServer = connections, PooledConnectionLifetime = TimeSpan.FromMinutes(10) })
        {
            BaseAddress = Address,
            Timeout = TimeSpan.FromMinutes(2),
            DefaultRequestVersion = HttpVersion.Version11,
        };

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            try { Directory.Delete(_data, recursive: true); }
            catch (IOException) { }
        }
    }
}
