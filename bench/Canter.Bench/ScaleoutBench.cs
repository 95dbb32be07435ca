using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Canter.Server.Tasks;
using Npgsql;

namespace Canter.Bench;

/// <summary>What <see cref="ScaleoutBench"/> runs.</summary>
/// <param name="Store">A PostgreSQL URL; null starts a throwaway server (<see cref="ThrowawayPostgres"/>).</param>
/// <param name="Tasks">Tasks submitted in all, shared out over the <paramref name="Clients"/>.</param>
/// <param name="Size">Width x height of each clip; the smallest the model makes keeps the run to minutes.</param>
public sealed record ScaleoutBenchOptions(string ModelDir, string? Store = null, int Tasks = 500, int Clients = 50, int Servers = 2, int Workers = 3,
    string Size = "32x32", float Seconds = 0.5f, int Steps = 1, TimeSpan? Timeout = null, TimeSpan? PollInterval = null);

/// <summary>
/// The scale-out under load, as separate processes of this CLI: <c>Servers</c> API servers (<c>canter serve --store ...
/// --no-workers</c>) and <c>Workers</c> generation workers (<c>canter worker</c>) on one PostgreSQL store and one data
/// folder. <c>Clients</c> concurrent clients submit the tasks round-robin over the servers, each with an idempotency
/// key (a failed submit is retried with the same key on the next server), then poll their status, alternating servers,
/// until every task has ended. Then it checks what the issue asks: every task succeeded, none was lost (every accepted
/// id ended), none ran twice (one claim in the store and one "succeeded" line from the workers per task, one task per
/// idempotency key), and every result video is on disk. The figures end the output; the exit code is 1 when a task was
/// lost, ran twice or did not succeed.
/// </summary>
public static class ScaleoutBench
{
    private static readonly string[] Ended = ["succeeded", "failed", "cancelled"];

    public static async Task<int> RunAsync(ScaleoutBenchOptions o, TextWriter output, CancellationToken cancel = default)
    {
        if (o.Tasks < 1) throw new ArgumentException("--tasks must be at least 1");
        if (o.Clients < 1) throw new ArgumentException("--clients must be at least 1");
        if (o.Servers < 1) throw new ArgumentException("--servers must be at least 1");
        if (o.Workers < 1) throw new ArgumentException("--workers must be at least 1");
        if (o.Store is { } given && !PostgresTaskStore.IsUrl(given)) throw new ArgumentException("--store must be a postgres:// URL");
        // the benchmark runs inside the CLI: the servers and workers are this same program
        var cli = Path.Combine(AppContext.BaseDirectory, "canter.dll");
        if (!File.Exists(cli)) throw new FileNotFoundException($"the scale-out benchmark starts the CLI's own canter.dll and found none in {AppContext.BaseDirectory}");
        var model = Path.GetFullPath(o.ModelDir);

        ThrowawayPostgres? pg = null;
        var data = Path.Combine(Path.GetTempPath(), $"canter-scaleout-{Guid.NewGuid():N}");
        var processes = new List<CliProcess>();
        try
        {
            string store;
            if (o.Store is null)
            {
                pg = await ThrowawayPostgres.StartAsync();
                store = ThrowawayPostgres.Url(await pg.NewDatabaseAsync());
                output.WriteLine($"a throwaway PostgreSQL on port {pg.Port}");
            }
            else store = o.Store;

            var ports = new List<int>();
            for (int i = 0; i < o.Servers; i++)
            {
                int port = ThrowawayPostgres.FreePort();
                ports.Add(port);
                processes.Add(CliProcess.Start(cli, ["serve", "--store", store, "--no-workers", "--port", port.ToString(), "--data", data, "--model", model],
                    new() { ["Logging__LogLevel__Microsoft.AspNetCore"] = "Warning" }));
            }
            var workers = Enumerable.Range(0, o.Workers).Select(_ => CliProcess.Start(cli, ["worker", "--store", store, "--data", data, "--model", model])).ToList();
            processes.AddRange(workers);
            try
            {
                foreach (var s in processes.Take(o.Servers)) await s.WaitForLineAsync("serving ", TimeSpan.FromSeconds(120));
                foreach (var w in workers) await w.WaitForLineAsync("worker running", TimeSpan.FromSeconds(120));
            }
            catch (Exception e) when (e is TimeoutException or InvalidOperationException)
            {
                throw new InvalidOperationException($"{e.Message}\n{Output(processes)}", e);
            }
            output.WriteLine($"{o.Servers} server(s) and {o.Workers} worker(s) on {store}; data in {data}");

            var http = ports.Select(p => new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{p}"), Timeout = TimeSpan.FromSeconds(60) }).ToList();
            try
            {
                return await LoadAsync(o, http, store, data, workers, output, cancel);
            }
            finally { http.ForEach(h => h.Dispose()); }
        }
        finally
        {
            foreach (var p in processes) p.Dispose();
            if (pg is not null) await pg.DisposeAsync();
            try { if (Directory.Exists(data)) Directory.Delete(data, recursive: true); }
            catch (IOException) { }
        }
    }

    private static async Task<int> LoadAsync(ScaleoutBenchOptions o, List<HttpClient> servers, string store, string data, List<CliProcess> workers, TextWriter output, CancellationToken cancel)
    {
        string run = Guid.NewGuid().ToString("N")[..8];
        // the routes' first calls (JIT, the pool's first connections) are start-up, not latency under load
        foreach (var server in servers)
            foreach (var route in new[] { "/api/model", "/api/tasks?limit=1" })
                if (!(await SendAsync(server, HttpMethod.Get, route, null, null)).Item1) throw new InvalidOperationException($"{server.BaseAddress}{route} does not answer");
        var submit = new Latencies();
        var status = new Latencies();
        int failedRequests = 0, unaccepted = 0;
        var accepted = new ConcurrentDictionary<string, string>();   // idempotency key -> task id
        var states = new ConcurrentDictionary<string, string>();     // task id -> its last state
        var timeout = o.Timeout ?? TimeSpan.FromMinutes(60);
        var clock = Stopwatch.StartNew();
        using var progress = new Timer(_ => output.WriteLine(
            $"{clock.Elapsed.TotalSeconds:F0} s: {accepted.Count} accepted, {states.Values.Count(s => Ended.Contains(s))} ended"), null, TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(30));

        await Task.WhenAll(Enumerable.Range(0, o.Clients).Select(c => Task.Run(async () =>
        {
            var mine = new List<string>();
            for (int i = c; i < o.Tasks; i += o.Clients)
            {
                var key = $"scaleout-{run}-{i}";
                var body = new { prompt = $"A red ball bounces, take {i}", size = o.Size, seconds = o.Seconds, steps = o.Steps, sampler = "euler", seed = i };
                string? id = null;
                for (int attempt = 0; id is null && attempt < 20 && !cancel.IsCancellationRequested; attempt++)
                {
                    var (ok, json) = await TimeAsync(submit, () => SendAsync(servers[(i + attempt) % servers.Count], HttpMethod.Post, "/api/tasks", body, key));
                    if (ok) id = json.GetProperty("id").GetString();
                    else
                    {
                        Interlocked.Increment(ref failedRequests);
                        await Task.Delay(250);
                    }
                }
                if (id is null) { Interlocked.Increment(ref unaccepted); continue; }
                if (accepted.TryGetValue(key, out var before) && before != id) Interlocked.Increment(ref failedRequests);
                accepted[key] = id;
                states[id] = "queued";
                mine.Add(id);
            }
            // poll like a patient client: one request in flight, the oldest unfinished task every PollInterval (alternating
            // servers), the next at once when it has ended. Reading all ten every second starved the workers on 2 cores:
            // each status read of a queued task computes its place in the fair order over the whole queue.
            for (int poll = 0; mine.Count > 0 && clock.Elapsed < timeout && !cancel.IsCancellationRequested; poll++)
            {
                var id = mine[0];
                var (ok, json) = await TimeAsync(status, () => SendAsync(servers[(poll + c) % servers.Count], HttpMethod.Get, $"/api/tasks/{id}", null, null));
                if (!ok) Interlocked.Increment(ref failedRequests);
                else
                {
                    var state = json.GetProperty("state").GetString()!;
                    states[id] = state;
                    if (Ended.Contains(state)) { mine.RemoveAt(0); continue; }
                }
                try { await Task.Delay(o.PollInterval ?? TimeSpan.FromSeconds(3), cancel); }
                catch (OperationCanceledException) { }
            }
        })));
        double wall = clock.Elapsed.TotalSeconds;

        // what the workers and the store say
        var ids = accepted.Values.ToHashSet();
        var successLines = workers.SelectMany(w => w.Lines).Select(SucceededId).Where(id => id is not null && ids.Contains(id)).GroupBy(id => id!).ToDictionary(g => g.Key, g => g.Count());
        var claims = new Dictionary<string, int>();
        int duplicates = 0;
        await using (var c = new NpgsqlConnection(PostgresTaskStore.ConnectionString(store)))
        {
            await c.OpenAsync();
            await using (var q = new NpgsqlCommand("SELECT id, claims FROM canter_tasks WHERE idempotency_key LIKE @run", c))
            {
                q.Parameters.AddWithValue("run", $"scaleout-{run}-%");
                await using var r = await q.ExecuteReaderAsync();
                while (await r.ReadAsync()) claims[r.GetString(0)] = r.GetInt32(1);
            }
            duplicates = claims.Keys.Count(id => !ids.Contains(id));   // a task no client was answered with: a submit made twice
        }
        int succeeded = ids.Count(id => states.GetValueOrDefault(id) == "succeeded");
        int lost = ids.Count(id => !Ended.Contains(states.GetValueOrDefault(id) ?? "") || !claims.ContainsKey(id)) + unaccepted;
        int twice = ids.Count(id => claims.GetValueOrDefault(id) > 1 || successLines.GetValueOrDefault(id) > 1) + duplicates;
        int noVideo = ids.Count(id => states.GetValueOrDefault(id) == "succeeded" && !HasVideo(data, id));
        int oneLine = ids.Count(id => successLines.GetValueOrDefault(id) == 1);
        output.WriteLine($"{ids.Count} tasks accepted of {o.Tasks}; {succeeded} succeeded, {oneLine} with exactly one worker's 'succeeded' line, " +
            $"{claims.Values.Count(n => n == 1)} claimed exactly once, {noVideo} succeeded without a video on disk; " +
            $"{submit.Count} submits and {status.Count} status reads in {wall:F1} s");
        foreach (var (name, count) in new[] { ("lost", lost), ("run twice", twice), ("without a video", noVideo), ("not succeeded", ids.Count - succeeded) })
            if (count > 0) output.WriteLine($"{count} task(s) {name}: {string.Join(' ', ids.Where(id => name switch
            {
                "lost" => !Ended.Contains(states.GetValueOrDefault(id) ?? ""),
                "run twice" => claims.GetValueOrDefault(id) > 1 || successLines.GetValueOrDefault(id) > 1,
                "without a video" => states.GetValueOrDefault(id) == "succeeded" && !HasVideo(data, id),
                _ => states.GetValueOrDefault(id) != "succeeded",
            }).Take(10))}");

        Measure.Figures(output,
        [
            ("tasks", o.Tasks), ("tasks_succeeded", succeeded), ("tasks_lost", lost), ("tasks_run_twice", twice),
            ("tasks_without_video", noVideo), ("failed_requests", failedRequests),
            ("submit_p50_ms", submit.Percentile(50)), ("submit_p95_ms", submit.Percentile(95)), ("submit_p99_ms", submit.Percentile(99)),
            ("status_p50_ms", status.Percentile(50)), ("status_p95_ms", status.Percentile(95)), ("status_p99_ms", status.Percentile(99)),
            ("generations_per_minute", succeeded / wall * 60), ("wall_seconds", wall),
        ]);
        return lost == 0 && twice == 0 && noVideo == 0 && succeeded == o.Tasks ? 0 : 1;
    }

    /// <summary>The id of a worker's "task ID succeeded in ..." line; null for any other line.</summary>
    private static string? SucceededId(string line)
    {
        int at = line.IndexOf("task ", StringComparison.Ordinal);
        int end = line.IndexOf(" succeeded in ", StringComparison.Ordinal);
        return at >= 0 && end > at + 5 ? line[(at + 5)..end] : null;
    }

    private static bool HasVideo(string data, string id)
    {
        var video = new FileInfo(Path.Combine(data, "results", id, TaskFiles.Video));
        return video.Exists && video.Length > 0;
    }

    private static string Output(IEnumerable<CliProcess> processes) =>
        string.Concat(processes.Select(p => $"--- {p.Name} (pid {p.Process.Id}):\n{string.Join('\n', p.Lines.TakeLast(40))}\n"));

    private static async Task<(bool, JsonElement)> TimeAsync(Latencies into, Func<Task<(bool, JsonElement)>> request)
    {
        var clock = Stopwatch.StartNew();
        var result = await request();
        into.Add(clock.Elapsed.TotalMilliseconds);
        return result;
    }

    private static async Task<(bool, JsonElement)> SendAsync(HttpClient http, HttpMethod method, string route, object? body, string? idempotencyKey)
    {
        using var message = new HttpRequestMessage(method, route) { Content = body is null ? null : JsonContent.Create(body) };
        if (idempotencyKey is not null) message.Headers.Add("Idempotency-Key", idempotencyKey);
        try
        {
            using var response = await http.SendAsync(message);
            var json = await response.Content.ReadFromJsonAsync<JsonElement>();
            return (response.IsSuccessStatusCode, json);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException)
        {
            return (false, default);
        }
    }
}
