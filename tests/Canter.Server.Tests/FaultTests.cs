using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Npgsql;

namespace Canter.Server.Tests;

/// <summary>
/// Faults a deployment meets, and what its users see through them: an API server killed outright while clients use it,
/// and the disk of the result store filling up. (A killed worker and a PostgreSQL restart are in <see cref="PostgresTests"/>.)
/// </summary>
[Trait("Category", "Postgres")]
public sealed class FaultTests(PostgresFixture pg) : IClassFixture<PostgresFixture>
{
    private static object Clip(int seed) => new { prompt = "A red ball bounces", seconds = 0.5, size = "32x32", steps = 1, sampler = "euler", seed };

    /// <summary>
    /// One of two API servers is killed outright (SIGKILL) while three clients submit and poll through it. What the users
    /// see: the other server keeps answering every status read; every task the killed server accepted (its answer reached
    /// the client) is still run by the workers and ends succeeded, once; a client whose submit failed retries it on the
    /// other server with the same Idempotency-Key and gets one task for that key, never two (the first try's task when
    /// that try reached the store); an accepted submit sent again to the other server answers 200 with the same task.
    /// </summary>
    [Fact]
    public async Task AKilledApiServerLosesNoAcceptedTaskAndARetryElsewhereGetsTheSameTask()
    {
        var db = await pg.NewDatabaseAsync();
        var data = TestServer.NewDataDir();
        await using var cluster = await Cluster.StartAsync(PostgresFixture.Url(db), data, workers: 1, servers: 2);
        var (doomed, survivor) = (cluster.Clients[0], cluster.Clients[1]);
        try
        {
            var accepted = new ConcurrentDictionary<string, (string Id, int By, int Seed)>();   // key -> task, the server that answered
            int acceptedByDoomed = 0, survivorFailures = 0;
            var clients = Enumerable.Range(0, 3).Select(c => Task.Run(async () =>
            {
                for (int i = 0; i < 4; i++)
                {
                    string key = $"client{c}-{i}";
                    int seed = c * 10 + i;
                    // the first try goes to the server about to die; a failed one goes again, same key, to the other
                    var first = await TrySubmitAsync(doomed, key, seed);
                    var (id, by) = first is not null ? (first, 0) : (await TrySubmitAsync(survivor, key, seed), 1);
                    Assert.True(id is not null, $"the surviving server refused {key}");
                    accepted[key] = (id!, by, seed);
                    if (by == 0) Interlocked.Increment(ref acceptedByDoomed);
                    try { await doomed.GetAsync($"/api/tasks/{id}"); }
                    catch (HttpRequestException) { }   // it died
                    using var status = await survivor.GetAsync($"/api/tasks/{id}");
                    if (status.StatusCode != HttpStatusCode.OK) Interlocked.Increment(ref survivorFailures);
                    await Task.Delay(150);
                }
            })).ToList();
            var clock = Stopwatch.StartNew();
            while (Volatile.Read(ref acceptedByDoomed) < 3 && clock.Elapsed < TimeSpan.FromSeconds(30)) await Task.Delay(10);
            await cluster.Servers[0].KillAsync();
            await Task.WhenAll(clients);

            Assert.Equal(12, accepted.Count);
            Assert.True(acceptedByDoomed >= 3, $"the killed server accepted {acceptedByDoomed} task(s)");
            Assert.Contains(accepted.Values, a => a.By == 1);   // submits after the kill went to the other server
            Assert.Equal(0, survivorFailures);
            foreach (var (key, (id, by, seed)) in accepted.Where(a => a.Value.By == 0))
            {
                using var again = new HttpRequestMessage(HttpMethod.Post, "/api/tasks") { Content = JsonContent.Create(Clip(seed)), Headers = { { "Idempotency-Key", key } } };
                using var response = await survivor.SendAsync(again);
                var json = await response.Content.ReadFromJsonAsync<JsonElement>();
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);   // 200: an existing task, not 202: a new one
                Assert.Equal(id, json.GetProperty("id").GetString());
            }
            var ids = accepted.Values.Select(a => a.Id).ToList();
            foreach (var id in ids) await cluster.WaitSucceededAsync(id, TimeSpan.FromSeconds(90), via: survivor);

            // one task per key, each claimed once: nothing the dead server half-did was run twice or left behind
            await using (var c = new NpgsqlConnection(db))
            {
                await c.OpenAsync();
                await using var rows = new NpgsqlCommand("SELECT idempotency_key, id, claims, state FROM canter_tasks", c);
                await using var r = await rows.ExecuteReaderAsync();
                var found = new List<(string Key, string Id, int Claims, string State)>();
                while (await r.ReadAsync()) found.Add((r.GetString(0), r.GetString(1), r.GetInt32(2), r.GetString(3)));
                Assert.Equal(accepted.Keys.Order(), found.Select(f => f.Key).Order());
                Assert.All(found, f => Assert.Equal((accepted[f.Key].Id, 1, "succeeded"), (f.Id, f.Claims, f.State)));
            }
            await cluster.AssertEachSucceededOnceAsync(ids, data);
            Assert.False(cluster.Servers[1].Process.HasExited, "the surviving server exited");
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"{e.Message}\n{cluster.Output()}");
        }
        finally
        {
            try { Directory.Delete(data, recursive: true); }
            catch (IOException) { }
        }
    }

    /// <summary>
    /// The disk of the result store fills up: the data folder sits on a 4 MiB tmpfs, filled to the last byte (the task
    /// store is PostgreSQL, on another disk). What the user sees: the generation that cannot write its results ends
    /// failed, error code storage_full, the message saying the server's result store is full (no space left on
    /// device); its video download answers 409 while it runs and after, never a truncated MP4, and nothing of it is
    /// left in the results folder; the server keeps answering (status, list, new submits). Once space is freed, a new
    /// task succeeds and its whole video downloads.
    /// </summary>
    [Fact]
    public async Task AFullResultDiskFailsTheGenerationClearlyAndServesNoHalfVideo()
    {
        var mount = Path.Combine("/tmp", $"canter-full-{Guid.NewGuid():N}"[..24]);
        Directory.CreateDirectory(mount);
        var (rc, said) = await RunAsync("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mount);
        if (rc != 0)
        {
            Directory.Delete(mount);
            Assert.Fail($"this test puts the data folder on a small tmpfs and could not mount one (mount said: {said.Trim()}); " +
                "run the tests as root or with CAP_SYS_ADMIN, as CI does");
        }
        try
        {
            var db = await pg.NewDatabaseAsync();
            await using var server = await TestServer.StartAsync(dataDir: Path.Combine(mount, "data"), keepData: true,
                settings: new() { ["Canter:Store"] = PostgresFixture.Url(db) });
            // a server that has been answering (its key store open in tasks.db) when the disk fills; a first request on a
            // full disk answers 507 storage_full, as any request that cannot write does
            await server.GetAsync("/api/tasks");
            var filler = Path.Combine(mount, "filler");
            Fill(filler);

            var id = (await server.SubmitAsync(Clip(1))).GetProperty("id").GetString()!;
            var clock = Stopwatch.StartNew();
            JsonElement task;
            while (true)
            {
                // never a half-written video: 409 until the task has succeeded, which it cannot
                using (var video = await server.Http.GetAsync($"/api/tasks/{id}/video"))
                    Assert.Equal(HttpStatusCode.Conflict, video.StatusCode);
                task = await server.GetAsync($"/api/tasks/{id}");
                if (task.GetProperty("state").GetString() is not ("queued" or "running")) break;
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"task {id} is still {task}");
                await Task.Delay(50);
            }
            Assert.Equal("failed", task.GetProperty("state").GetString());
            var error = task.GetProperty("error");
            Assert.Equal("storage_full", error.GetProperty("code").GetString());
            Assert.Contains("no space left on device", error.GetProperty("message").GetString());
            using (var video = await server.Http.GetAsync($"/api/tasks/{id}/video"))
            {
                Assert.Equal(HttpStatusCode.Conflict, video.StatusCode);
                Assert.Equal("task_not_succeeded", (await video.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
            }
            var results = Path.Combine(server.DataDir, "results", id);
            Assert.False(Directory.Exists(results) && Directory.EnumerateFileSystemEntries(results).Any(), $"the failed task left {results} behind");

            // still answering while the disk is full: reads, and a new submit (it queues; PostgreSQL holds it)
            await server.GetAsync("/api/tasks");
            await server.GetAsync("/api/model");

            // space back: the next task succeeds, its video whole
            File.Delete(filler);
            var next = (await server.SubmitAsync(Clip(2))).GetProperty("id").GetString()!;
            await server.WaitForStateAsync(next, "succeeded");
            var bytes = await server.Http.GetByteArrayAsync($"/api/tasks/{next}/video");
            Assert.Equal(new FileInfo(Path.Combine(server.DataDir, "results", next, "video.mp4")).Length, bytes.Length);
            Assert.Equal("ftyp", Encoding.ASCII.GetString(bytes, 4, 4));
        }
        finally
        {
            await RunAsync("umount", "-l", mount);
            Directory.Delete(mount, recursive: true);
        }
    }

    /// <summary>Submits with an idempotency key; the task id, or null when the server did not answer with one.</summary>
    private static async Task<string?> TrySubmitAsync(HttpClient http, string key, int seed)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/tasks") { Content = JsonContent.Create(Clip(seed)), Headers = { { "Idempotency-Key", key } } };
        try
        {
            using var response = await http.SendAsync(request);
            if (!response.IsSuccessStatusCode) return null;
            return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString();
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or JsonException or IOException) { return null; }
    }

    /// <summary>Writes <paramref name="path"/> until its disk is full, in big pieces and then small ones.</summary>
    private static void Fill(string path)
    {
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 1);
        foreach (int piece in new[] { 1 << 20, 4096, 1 })
        {
            var bytes = new byte[piece];
            try { while (true) file.Write(bytes); }
            catch (IOException) { }
        }
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(start)!;
            var output = p.StandardOutput.ReadToEndAsync();
            var errors = await p.StandardError.ReadToEndAsync();
            await p.WaitForExitAsync();
            return (p.ExitCode, await output + errors);
        }
        catch (System.ComponentModel.Win32Exception e) { return (-1, e.Message); }
    }
}
