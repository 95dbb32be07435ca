using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Canter.Server.Net;
using Canter.Server.Webhooks;
using static Canter.Server.Tests.TaskApiTests;

namespace Canter.Server.Tests;

/// <summary>
/// Webhooks against a real receiver on loopback: deliveries are signed with the server's secret, carry a unique event
/// id (the same on every retry), are retried with back-off on 5xx and given up on a refusal, thin out progress,
/// survive a restart, and never go to a private address unless the operator allows it.
/// </summary>
public sealed class WebhookTests
{
    private static Dictionary<string, string?> Settings(params (string Key, string Value)[] more)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Canter:AllowPrivateWebhooks"] = "true", ["Canter:WebhookRetryBaseDelay"] = "00:00:00.050", ["Canter:WebhookProgressInterval"] = "00:00:00",
        };
        foreach (var (k, v) in more) settings[$"Canter:{k}"] = v;
        return settings;
    }

    private static string Secret(TestServer server) => File.ReadAllText(Path.Combine(server.DataDir, "webhook-secret")).Trim();

    private static List<JsonElement> Events(Receiver receiver) => receiver.Hooks.Select(h => JsonDocument.Parse(h.Body).RootElement).ToList();

    [Fact]
    public async Task DeliveriesAreSignedRetriedAndThinned()
    {
        await using var receiver = await Receiver.StartAsync();
        // the first event's first two tries fail (the Answer is asked after the request is kept)
        receiver.Answer = _ =>
        {
            var first = receiver.Hooks.First().Headers[WebhookSignature.EventIdHeader].ToString();
            return receiver.Hooks.Last().Headers[WebhookSignature.EventIdHeader] == first
                && receiver.Hooks.Count(h => h.Headers[WebhookSignature.EventIdHeader] == first) <= 2 ? 500 : 200;
        };
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.FromMilliseconds(15)), settings: Settings());
        var task = await server.SubmitAsync(new
        {
            prompt = "A red ball bounces", seconds = 0.5, size = "32x32", steps = 20,
            webhook_url = receiver.Url("/hook"), webhook_events = new[] { "started", "progress", "succeeded" },
        });
        var id = task.GetProperty("id").GetString()!;
        await server.WaitForStateAsync(id, "succeeded");
        await Receiver.EventuallyAsync(() => Events(receiver).Any(e => e.GetProperty("type").GetString() == "succeeded")
            && Events(receiver).Any(e => e.GetProperty("type").GetString() == "started"), "the started and succeeded events");
        // the first event's retries wait out their backoff, so its third try can come after the later events
        await Receiver.EventuallyAsync(() => receiver.Hooks.Count(h => h.Headers[WebhookSignature.EventIdHeader] == receiver.Hooks.First().Headers[WebhookSignature.EventIdHeader]) >= 3,
            "the first event's third try");

        var secret = Secret(server);
        Assert.StartsWith("whsec_", secret);
        foreach (var (headers, body) in receiver.Hooks)
        {
            Assert.True(WebhookSignature.Verify(secret, headers[WebhookSignature.Header], body, TimeSpan.FromMinutes(5)), $"signature of {body}");
            Assert.False(WebhookSignature.Verify(secret, headers[WebhookSignature.Header], body.Replace("A red ball", "A blue ball"), TimeSpan.FromMinutes(5)));
            Assert.False(WebhookSignature.Verify("whsec_other", headers[WebhookSignature.Header], body, TimeSpan.FromMinutes(5)));
            Assert.False(WebhookSignature.Verify(secret, headers[WebhookSignature.Header], body, TimeSpan.FromMinutes(5), DateTimeOffset.UtcNow.AddMinutes(10)));   // a replay
            Assert.Equal(JsonDocument.Parse(body).RootElement.GetProperty("id").GetString(), headers[WebhookSignature.EventIdHeader].ToString());
        }
        var events = Events(receiver);
        Assert.All(events, e => Assert.Equal(id, e.GetProperty("task").GetProperty("id").GetString()));
        // three tries of the first event, all with one event id; every other event id once
        var first = receiver.Hooks.First().Headers[WebhookSignature.EventIdHeader].ToString();
        Assert.Equal(3, receiver.Hooks.Count(h => h.Headers[WebhookSignature.EventIdHeader] == first));
        Assert.Equal(new[] { "1", "2", "3" }, receiver.Hooks.Where(h => h.Headers[WebhookSignature.EventIdHeader] == first).Select(h => h.Headers["Canter-Delivery-Attempt"].ToString()).ToArray());
        var distinct = events.Select(e => e.GetProperty("id").GetString()).Distinct().Count();
        Assert.Equal(receiver.Hooks.Count - 2, distinct);
        // 20 steps give at most one progress event per tenth
        int progress = events.Count(e => e.GetProperty("type").GetString() == "progress");
        Assert.InRange(progress, 1, 10);
        var done = events.Single(e => e.GetProperty("type").GetString() == "succeeded");
        Assert.Equal("succeeded", done.GetProperty("task").GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.String, done.GetProperty("task").GetProperty("expires_at").ValueKind);
        Assert.Equal("running", events.First(e => e.GetProperty("type").GetString() == "started").GetProperty("task").GetProperty("state").GetString());

        // the task's delivery log says what happened
        var log = await server.GetAsync($"/api/tasks/{id}/webhooks");
        var rows = log.GetProperty("data").EnumerateArray().ToList();
        Assert.All(rows, r => Assert.Equal("delivered", r.GetProperty("state").GetString()));
        Assert.Equal(3, rows.Single(r => r.GetProperty("event_id").GetString() == first).GetProperty("attempts").GetInt32());
    }

    [Fact]
    public async Task DefaultEventsRefusalsAndGivingUp()
    {
        await using var receiver = await Receiver.StartAsync();
        var generator = new FakeGenerator(TimeSpan.Zero);
        await using var server = await TestServer.StartAsync(generator, settings: Settings(("WebhookMaxAttempts", "3")));

        // multipart, no webhook_events: started and the end, no progress
        using var form = new MultipartFormDataContent
        {
            { new StringContent("A red ball bounces"), "prompt" }, { new StringContent("32x32"), "size" }, { new StringContent("0.5"), "seconds" },
            { new StringContent("4"), "steps" }, { new StringContent(receiver.Url("/hook")), "webhook_url" },
        };
        using var accepted = await server.Http.PostAsync("/api/tasks", form);
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        var id = (await accepted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        await Receiver.EventuallyAsync(() => Events(receiver).Any(e => e.GetProperty("type").GetString() == "succeeded"), "the succeeded event");
        await Task.Delay(200);
        Assert.Equal(new[] { "started", "succeeded" }, Events(receiver).Select(e => e.GetProperty("type").GetString()!).Order().ToArray());

        // a 5xx is tried WebhookMaxAttempts times, a 4xx once: then the delivery has failed
        receiver.Answer = _ => 503;
        var second = await server.SubmitAsync(new { prompt = "A red ball bounces", seconds = 0.5, size = "32x32", steps = 1, webhook_url = receiver.Url("/hook"), webhook_events = "succeeded" });
        await WaitDeliveryAsync(server, second.GetProperty("id").GetString()!, "failed");
        var failed = (await server.GetAsync($"/api/tasks/{second.GetProperty("id").GetString()}/webhooks")).GetProperty("data")[0];
        Assert.Equal(3, failed.GetProperty("attempts").GetInt32());
        Assert.Equal(503, failed.GetProperty("last_status").GetInt32());
        receiver.Answer = _ => 410;
        var third = await server.SubmitAsync(new { prompt = "A red ball bounces", seconds = 0.5, size = "32x32", steps = 1, webhook_url = receiver.Url("/hook"), webhook_events = "succeeded" });
        await WaitDeliveryAsync(server, third.GetProperty("id").GetString()!, "failed");
        Assert.Equal(1, (await server.GetAsync($"/api/tasks/{third.GetProperty("id").GetString()}/webhooks")).GetProperty("data")[0].GetProperty("attempts").GetInt32());

        // a queued task cancelled: one cancelled event
        receiver.Answer = _ => 200;
        generator.Hold.Reset();
        var blocker = await server.SubmitAsync(new { prompt = "A red ball bounces", seconds = 0.5, size = "32x32", steps = 1 });
        var queued = await server.SubmitAsync(new { prompt = "A red ball bounces", seconds = 0.5, size = "32x32", steps = 1, webhook_url = receiver.Url("/hook"), webhook_events = new[] { "cancelled", "started" } });
        var queuedId = queued.GetProperty("id").GetString()!;
        using (var cancel = await server.Http.PostAsync($"/api/tasks/{queuedId}/cancel", null)) Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);   // out of the queue at once
        generator.Hold.Set();
        await server.WaitForStateAsync(blocker.GetProperty("id").GetString()!, "succeeded");
        var cancelled = await WaitDeliveryAsync(server, queuedId, "delivered");
        Assert.Equal("cancelled", cancelled.GetProperty("type").GetString());
        Assert.Single((await server.GetAsync($"/api/tasks/{queuedId}/webhooks")).GetProperty("data").EnumerateArray());

        // the fields are checked before a task exists
        var cases = new (object Body, string Says, string Param)[]
        {
            (new { prompt = "A ball", webhook_url = "ftp://example.com/x" }, "absolute http(s) URL", "webhook_url"),
            (new { prompt = "A ball", webhook_url = "not a url" }, "absolute http(s) URL", "webhook_url"),
            (new { prompt = "A ball", webhook_url = receiver.Url("/hook"), webhook_events = "finished" }, "'finished' is not one of", "webhook_events"),
            (new { prompt = "A ball", webhook_events = "started" }, "give webhook_url too", "webhook_events"),
        };
        foreach (var (body, says, param) in cases)
        {
            var problem = await AssertProblem(await server.Http.PostAsJsonAsync("/api/tasks", body), HttpStatusCode.BadRequest, says);
            Assert.Equal(param, problem.GetProperty("param").GetString());
        }
    }

    [Fact]
    public async Task PrivateAddressesAreRefusedByDefault()
    {
        await using var receiver = await Receiver.StartAsync();
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero));
        foreach (var url in new[]
        {
            receiver.Url("/hook"), "http://localhost/hook", "http://10.1.2.3/hook", "http://192.168.0.10/", "http://172.20.0.1/", "http://169.254.169.254/latest/meta-data",
            "http://100.100.100.200/", "http://[::1]:8080/", "http://[fd00::1]/", "http://[fe80::1]/", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/",
        })
        {
            var problem = await AssertProblem(await server.Http.PostAsJsonAsync("/api/tasks", new { prompt = "A red ball bounces", webhook_url = url }),
                HttpStatusCode.BadRequest, "non-public address");
            Assert.Equal("webhook_url_refused", problem.GetProperty("code").GetString());
        }
        Assert.Empty((await server.GetAsync("/api/tasks")).GetProperty("data").EnumerateArray());
        Assert.Empty(receiver.Hooks);

        // public addresses pass; a delivery connects only to an address it checked itself (no DNS rebinding)
        Assert.True(OutboundGuard.IsPublic(IPAddress.Parse("8.8.8.8")));
        Assert.True(OutboundGuard.IsPublic(IPAddress.Parse("2606:4700:4700::1111")));
        Assert.False(OutboundGuard.IsPublic(IPAddress.Parse("64:ff9b::a00:1")));   // NAT64 of 10.0.0.1
        using var guarded = new HttpClient(OutboundGuard.Handler(_ => false));
        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => guarded.GetAsync($"http://localhost:{receiver.Address.Port}/hook"));
        Assert.IsType<OutboundRefusedException>(refused.InnerException);
    }

    [Fact]
    public async Task PendingDeliveriesSurviveARestart()
    {
        await using var receiver = await Receiver.StartAsync();
        receiver.Answer = _ => 503;
        var dataDir = TestServer.NewDataDir();
        var settings = Settings(("WebhookRetryBaseDelay", "00:00:00.500"), ("WebhookMaxAttempts", "20"));
        string id;
        await using (var first = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero), dataDir, keepData: true, settings))
        {
            var task = await first.SubmitAsync(new { prompt = "A red ball bounces", seconds = 0.5, size = "32x32", steps = 1, webhook_url = receiver.Url("/hook"), webhook_events = "succeeded" });
            id = task.GetProperty("id").GetString()!;
            await Receiver.EventuallyAsync(() => receiver.Hooks.Count >= 1, "a first attempt");
        }
        int before = receiver.Hooks.Count;
        var eventId = receiver.Hooks.First().Headers[WebhookSignature.EventIdHeader].ToString();
        receiver.Answer = _ => 200;
        await using var second = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero), dataDir, settings: settings);
        var delivered = await WaitDeliveryAsync(second, id, "delivered");
        Assert.Equal(eventId, delivered.GetProperty("event_id").GetString());
        Assert.True(receiver.Hooks.Count > before);
        Assert.Equal(eventId, receiver.Hooks.Last().Headers[WebhookSignature.EventIdHeader].ToString());
    }

    private static async Task<JsonElement> WaitDeliveryAsync(TestServer server, string id, string state)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var rows = (await server.GetAsync($"/api/tasks/{id}/webhooks")).GetProperty("data");
            if (rows.GetArrayLength() > 0 && rows[0].GetProperty("state").GetString() == state) return rows[0];
            if (clock.Elapsed > TimeSpan.FromSeconds(30)) throw new TimeoutException($"the delivery of {id} is {rows}");
            await Task.Delay(20);
        }
    }
}
