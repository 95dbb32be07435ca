using System.Net;
using Canter.Server.Keys;

namespace Canter.Server.Tests;

/// <summary>
/// Per-key limits over HTTP: requests per minute (429 rate_limited with Retry-After), seconds of video per 24 hours
/// (429 quota_exceeded at submit, failed and cancelled tasks given back, deleted ones not) and unfinished tasks at once
/// (429 too_many_tasks); the server's defaults cover keys without their own limits and keys from the configuration.
/// </summary>
public sealed class LimitsTests
{
    [Fact]
    public async Task OverItsRateLimitAKeyGets429WithRetryAfter()
    {
        var dir = TestServer.NewDataDir();
        var (_, limited) = await KeyAdmin.CreateAsync(dir, "limited", new KeyLimits(RateLimit: 3));
        var (_, other) = await KeyAdmin.CreateAsync(dir, "other", new KeyLimits());
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.FromMilliseconds(5)), dataDir: dir,
            settings: new() { ["Canter:RateLimitPerMinute"] = "5", ["Canter:ApiKeys:0"] = "configured-key" });
        var a = new KeyedClient(server, limited);
        for (int i = 0; i < 3; i++) await a.GetAsync("/api/tasks");
        using var refused = await a.SendAsync(HttpMethod.Get, "/api/tasks");
        var problem = await TaskApiTests.AssertProblem(refused, HttpStatusCode.TooManyRequests, "3 requests a minute");
        Assert.Equal("rate_limited", problem.GetProperty("code").GetString());
        var retry = refused.Headers.RetryAfter?.Delta;
        Assert.NotNull(retry);
        Assert.InRange(retry.Value.TotalSeconds, 1, 20);   // one request back every 20 s at 3 a minute

        // other keys have their own buckets, with the server's default of 5
        foreach (var key in new[] { other, "configured-key" })
        {
            var client = new KeyedClient(server, key);
            for (int i = 0; i < 5; i++) await client.GetAsync("/v1/videos");
            using var sixth = await client.SendAsync(HttpMethod.Get, "/v1/videos");
            Assert.Equal(HttpStatusCode.TooManyRequests, sixth.StatusCode);
        }
    }

    [Fact]
    public async Task ASubmitOverTheQuotaIsRefusedAtOnce()
    {
        var fake = new FakeGenerator(TimeSpan.FromMilliseconds(5));
        fake.Hold.Reset();
        var dir = TestServer.NewDataDir();
        var (_, key) = await KeyAdmin.CreateAsync(dir, "quota", new KeyLimits(QuotaSeconds: 1));
        var (_, other) = await KeyAdmin.CreateAsync(dir, "other", new KeyLimits());
        await using var server = await TestServer.StartAsync(fake, dataDir: dir);
        var client = new KeyedClient(server, key);
        var first = await client.SubmitAsync();
        var second = await client.SubmitAsync();
        using (var refused = await client.SendAsync(HttpMethod.Post, "/api/tasks", KeyedClient.Tiny))
        {
            var problem = await TaskApiTests.AssertProblem(refused, HttpStatusCode.TooManyRequests, "used 1 of its 1 seconds");
            Assert.Equal("quota_exceeded", problem.GetProperty("code").GetString());
            Assert.Contains("asks for 0.5 more", problem.GetProperty("detail").GetString());
            Assert.InRange(refused.Headers.RetryAfter!.Delta!.Value.TotalHours, 23.9, 24);   // when the first submit leaves the window
        }
        Assert.Equal(2, (await client.GetAsync("/api/tasks")).GetProperty("data").GetArrayLength());   // the refused one left nothing

        // a cancelled task gives its seconds back; a deleted one does not
        using (var cancel = await client.SendAsync(HttpMethod.Post, $"/api/tasks/{second}/cancel")) Assert.True(cancel.IsSuccessStatusCode, $"{cancel.StatusCode}");   // 200 queued, 202 running
        var third = await client.SubmitAsync();
        using (var delete = await client.SendAsync(HttpMethod.Delete, $"/api/tasks/{third}")) Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        using (var still = await client.SendAsync(HttpMethod.Post, "/api/tasks", KeyedClient.Tiny))
            await TaskApiTests.AssertProblem(still, HttpStatusCode.TooManyRequests, "quota");
        // other keys are not limited by it (the server has no default quota)
        await new KeyedClient(server, other).SubmitAsync(new { prompt = "A red ball bounces", seconds = 5, size = "32x32", steps = 2 });
        fake.Hold.Set();
    }

    [Fact]
    public async Task AKeyMayHaveOnlyItsCapOfUnfinishedTasks()
    {
        var fake = new FakeGenerator(TimeSpan.FromMilliseconds(5));
        fake.Hold.Reset();
        await using var server = await TestServer.StartAsync(fake,
            settings: new() { ["Canter:ApiKeys:0"] = "configured-key", ["Canter:MaxTasksPerKey"] = "2" });
        var client = new KeyedClient(server, "configured-key");
        var running = await client.SubmitAsync();
        await client.WaitForStateAsync(running, "running");
        await client.SubmitAsync();   // queued
        using (var refused = await client.SendAsync(HttpMethod.Post, "/api/tasks", KeyedClient.Tiny))
        {
            var problem = await TaskApiTests.AssertProblem(refused, HttpStatusCode.TooManyRequests, "2 unfinished tasks");
            Assert.Equal("too_many_tasks", problem.GetProperty("code").GetString());
        }
        using (var openAi = await client.SendAsync(HttpMethod.Post, "/v1/videos", new { prompt = "A red ball bounces", seconds = "1", size = "32x32" }))
            Assert.Equal(HttpStatusCode.TooManyRequests, openAi.StatusCode);
        fake.Hold.Set();
        await client.WaitForStateAsync(running, "succeeded");
        await client.SubmitAsync();   // a place is free again
    }
}
