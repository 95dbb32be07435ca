using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Canter.Bench;
using Canter.Server.Tasks;
using Canter.Server.Webhooks;
using Npgsql;

namespace Canter.Server.Tests;

/// <summary>
/// The side tables of a scale-out live in the shared PostgreSQL database, so that separate processes agree: a key made
/// by <c>canter keys create --store</c> works on every API server, an upload sent to one server is an input of a task
/// submitted to another, the webhooks of a task a worker process runs are delivered, and one process sweeps.
/// </summary>
[Trait("Category", "Postgres")]
public sealed class SharedTablesTests(PostgresFixture pg) : IClassFixture<PostgresFixture>
{
    [Fact]
    public async Task TwoServersAndAWorkerShareKeysUploadsWebhooksAndOneSweeper()
    {
        var db = await pg.NewDatabaseAsync();
        var store = PostgresFixture.Url(db);
        var data = TestServer.NewDataDir();
        await using var receiver = await Receiver.StartAsync();
        await using var cluster = await Cluster.StartAsync(store, data, workers: 1, servers: 2,
            env: new() { ["Canter__AllowPrivateWebhooks"] = "true", ["Canter__RetentionSweepInterval"] = "00:00:01" });
        try
        {
            // a key made with the CLI against the database, while the servers run: both accept it, and neither is open any more
            var created = await CliAsync("keys", "create", "--store", store, "--name", "alice", "--data", data);
            var secret = created[^1];
            Assert.Contains(created, l => l.Contains("in PostgreSQL postgres://", StringComparison.Ordinal));
            Assert.DoesNotContain(created, l => l.Contains("tasks.db", StringComparison.Ordinal));
            Assert.False(File.Exists(Path.Combine(data, "tasks.db")), "a tasks.db appeared in the shared folder");
            foreach (var client in cluster.Clients)
            {
                Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/api/model")).StatusCode);
                client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
                Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/model")).StatusCode);
            }
            Assert.Contains(await CliAsync("keys", "list", "--store", store), l => l.Contains("alice", StringComparison.Ordinal) && l.Contains("active", StringComparison.Ordinal));

            // an upload sent to server A, the input of a task submitted to server B, run by the worker; its webhooks reach the receiver
            using var png = new ByteArrayContent(Media.Png(32, 32, 90)) { Headers = { ContentType = new MediaTypeHeaderValue("application/octet-stream") } };
            using var uploaded = await cluster.Clients[0].PostAsync("/api/uploads", png);
            var upload = await uploaded.Content.ReadFromJsonAsync<JsonElement>();
            Assert.True(uploaded.StatusCode == HttpStatusCode.Created, upload.ToString());
            var uploadId = upload.GetProperty("id").GetString()!;
            using var submitted = await cluster.Clients[1].PostAsJsonAsync("/api/tasks", new
            {
                prompt = "A red ball bounces", seconds = 0.5, size = "32x32", steps = 2, sampler = "euler", seed = 7,
                image = $"upload:{uploadId}", webhook_url = receiver.Url("/hook"),
            });
            var task = await submitted.Content.ReadFromJsonAsync<JsonElement>();
            Assert.True(submitted.IsSuccessStatusCode, task.ToString());
            var id = task.GetProperty("id").GetString()!;
            await cluster.WaitSucceededAsync(id, TimeSpan.FromSeconds(90), via: cluster.Clients[1]);
            // the worker logs the success just after it stores it: the API can answer succeeded a moment before the line comes
            await cluster.Workers[0].WaitForLineAsync($"task {id} succeeded", TimeSpan.FromSeconds(20));

            List<JsonElement> Events() => receiver.Hooks.Select(h => JsonDocument.Parse(h.Body).RootElement).ToList();
            await Receiver.EventuallyAsync(() => Events().Any(e => e.GetProperty("type").GetString() == "succeeded"), "the succeeded webhook never came");
            Assert.Equal(["started", "succeeded"], Events().Select(e => e.GetProperty("type").GetString()));
            Assert.All(Events(), e => Assert.Equal(id, e.GetProperty("task").GetProperty("id").GetString()));
            var webhookSecret = new WebhookSecret(data).Value;
            Assert.All(receiver.Hooks, h => Assert.True(WebhookSignature.Verify(webhookSecret, h.Headers[WebhookSignature.Header], h.Body, TimeSpan.FromMinutes(5))));
            // server A, which neither took the task nor ran it, reads the delivery log
            var log = await cluster.Clients[0].GetFromJsonAsync<JsonElement>($"/api/tasks/{id}/webhooks");
            Assert.Equal(["delivered", "delivered"], log.GetProperty("data").EnumerateArray().Select(d => d.GetProperty("state").GetString()));

            // one sweeper: one server holds the role (a session advisory lock), the other waits, the worker has none
            const string Sweeps = "holds the RetentionSweeper role";
            var clock = Stopwatch.StartNew();
            while (!cluster.Servers.Any(s => s.Lines.Any(l => l.Contains(Sweeps, StringComparison.Ordinal))) && clock.Elapsed < TimeSpan.FromSeconds(20)) await Task.Delay(50);
            await Task.Delay(3000);   // three more sweep intervals: the other server tried and was refused
            var holders = cluster.Servers.Where(s => s.Lines.Any(l => l.Contains(Sweeps, StringComparison.Ordinal))).ToList();
            Assert.Single(holders);
            Assert.DoesNotContain(cluster.Workers[0].Lines, l => l.Contains(Sweeps, StringComparison.Ordinal));
            Assert.Equal(1, await SweepLocksAsync(db));

            // its holder dies: the other server takes the role over at its next sweep
            var holder = holders[0];
            var other = cluster.Servers.Single(s => s != holder);
            holder.Process.Kill();
            await holder.Process.WaitForExitAsync();
            await other.WaitForLineAsync(Sweeps, TimeSpan.FromSeconds(20));
            Assert.Equal(1, await SweepLocksAsync(db));

            // a key revoked with the CLI is refused by the server still up, from its next request
            await CliAsync("keys", "revoke", "--store", store, "alice");
            var client2 = cluster.Clients[cluster.Servers.IndexOf(other)];
            Assert.Equal(HttpStatusCode.Unauthorized, (await client2.GetAsync("/api/model")).StatusCode);
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

    /// <summary>Sessions holding the sweeper's advisory lock (a bigint key shows as classid, high half, and objid, low half).</summary>
    private static async Task<long> SweepLocksAsync(string db)
    {
        long key = PostgresRoles.Key(ProcessRole.RetentionSweeper);
        await using var c = new NpgsqlConnection(db);
        await c.OpenAsync();
        await using var held = new NpgsqlCommand("""
            SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND classid::bigint = @hi AND objid::bigint = @lo
            """, c);
        held.Parameters.AddWithValue("hi", key >> 32);
        held.Parameters.AddWithValue("lo", key & 0xffffffffL);
        return (long)(await held.ExecuteScalarAsync())!;
    }

    /// <summary>Runs the built CLI to its end; its output lines (it must succeed).</summary>
    private static async Task<List<string>> CliAsync(params string[] args)
    {
        using var cli = CliProcess.Start(TestCli.Built(), args);
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60))) await cli.Process.WaitForExitAsync(timeout.Token);
        var lines = cli.Lines.ToList();
        Assert.True(cli.Process.ExitCode == 0, $"canter {string.Join(' ', args)}: exit {cli.Process.ExitCode}\n{string.Join('\n', lines)}");
        return lines;
    }
}
