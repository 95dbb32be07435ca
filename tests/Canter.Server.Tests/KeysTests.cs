using System.Net;
using Canter.Server.Api;
using Canter.Server.Keys;

namespace Canter.Server.Tests;

/// <summary>
/// API keys made by <c>canter keys</c> (through <see cref="KeyAdmin"/>, which the CLI calls): only their hashes are
/// stored, a running server accepts a new key and refuses a revoked one at once, keys given in the configuration keep
/// working beside them, each key sees only its own tasks, and bad input is a clear error.
/// </summary>
public sealed class KeysTests
{
    [Fact]
    public async Task CreateStoresOnlyTheHashAndListNeverShowsTheKey()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            var (key, secret) = await KeyAdmin.CreateAsync(dir, "alice", KeyAdmin.Limits("60/min", "600/day", 2));
            Assert.StartsWith("ck_", secret);
            Assert.True(secret.Length >= 40, secret);
            Assert.Equal(ApiKeyFilter.KeyId(secret), key.Id);   // the owner id tasks are stored under, as for --api-key keys
            Assert.Equal((60, 600.0, 2), (key.RateLimit!.Value, key.QuotaSeconds!.Value, key.Concurrency!.Value));
            var (_, other) = await KeyAdmin.CreateAsync(dir, "bob", new KeyLimits());
            Assert.NotEqual(secret, other);

            var listed = await KeyAdmin.ListAsync(dir);
            Assert.Equal(["alice", "bob"], listed.Select(k => k.Name));
            var line = KeyAdmin.Describe(listed[0]);
            Assert.Contains(key.Id, line);
            Assert.Contains("60/min", line);
            Assert.DoesNotContain(secret, line);
            Assert.Contains("default", KeyAdmin.Describe(listed[1]));
            // nothing in the data folder holds the key itself
            foreach (var file in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
            {
                using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                using var reader = new StreamReader(stream);
                Assert.DoesNotContain(secret[3..], await reader.ReadToEndAsync());
            }

            var revoked = await KeyAdmin.RevokeAsync(dir, "alice");
            Assert.True(revoked.Revoked);
            Assert.True((await KeyAdmin.RevokeAsync(dir, key.Id)).Revoked);   // by id too, and again changes nothing
            var (again, _) = await KeyAdmin.CreateAsync(dir, "alice", new KeyLimits());   // the name is free once revoked
            Assert.NotEqual(key.Id, again.Id);
            Assert.Equal(3, (await KeyAdmin.ListAsync(dir)).Count);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public async Task BadInputIsAClearError()
    {
        var dir = TestServer.NewDataDir();
        try
        {
            var missing = await Assert.ThrowsAsync<FileNotFoundException>(() => KeyAdmin.ListAsync(dir));
            Assert.Contains("no database", missing.Message);
            await Assert.ThrowsAsync<FileNotFoundException>(() => KeyAdmin.RevokeAsync(dir, "alice"));
            Assert.Contains("name", (await Assert.ThrowsAsync<ArgumentException>(() => KeyAdmin.CreateAsync(dir, "  ", new KeyLimits()))).Message);
            await KeyAdmin.CreateAsync(dir, "alice", new KeyLimits());
            Assert.Contains("already exists", (await Assert.ThrowsAsync<ArgumentException>(() => KeyAdmin.CreateAsync(dir, "alice", new KeyLimits()))).Message);
            Assert.Contains("'carol'", (await Assert.ThrowsAsync<ArgumentException>(() => KeyAdmin.RevokeAsync(dir, "carol"))).Message);

            Assert.Equal(new KeyLimits(30, 90.5, null), KeyAdmin.Limits("30", "90.5s/day", null));
            Assert.Contains("--rate-limit", Assert.Throws<ArgumentException>(() => KeyAdmin.Limits("1.5/min", null, null)).Message);
            Assert.Contains("--quota", Assert.Throws<ArgumentException>(() => KeyAdmin.Limits(null, "lots", null)).Message);
            Assert.Contains("--concurrency", Assert.Throws<ArgumentException>(() => KeyAdmin.Limits(null, null, 0)).Message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public async Task ARunningServerTakesNewKeysAndRefusesRevokedOnesAtOnce()
    {
        var dir = TestServer.NewDataDir();
        var (_, alice) = await KeyAdmin.CreateAsync(dir, "alice", new KeyLimits());
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.FromMilliseconds(5)), dataDir: dir);
        using (var anonymous = await new KeyedClient(server, null).SendAsync(HttpMethod.Get, "/api/tasks"))
            await TaskApiTests.AssertProblem(anonymous, HttpStatusCode.Unauthorized, "requires an API key");
        using (var wrong = await new KeyedClient(server, "ck_not-a-key").SendAsync(HttpMethod.Get, "/api/tasks"))
            await TaskApiTests.AssertProblem(wrong, HttpStatusCode.Unauthorized, "not valid");
        await new KeyedClient(server, alice).GetAsync("/api/tasks");
        await new KeyedClient(server, alice).GetAsync("/api/model");

        var (_, bob) = await KeyAdmin.CreateAsync(dir, "bob", new KeyLimits());   // while the server runs
        await new KeyedClient(server, bob).GetAsync("/v1/videos");

        await KeyAdmin.RevokeAsync(dir, "alice");
        using var refused = await new KeyedClient(server, alice).SendAsync(HttpMethod.Get, "/api/tasks");
        var problem = await TaskApiTests.AssertProblem(refused, HttpStatusCode.Unauthorized, "revoked");
        Assert.Equal("invalid_api_key", problem.GetProperty("code").GetString());
        await new KeyedClient(server, bob).GetAsync("/api/tasks");

        // revoking the last key does not open the server
        await KeyAdmin.RevokeAsync(dir, "bob");
        using var closed = await new KeyedClient(server, null).SendAsync(HttpMethod.Get, "/api/tasks");
        Assert.Equal(HttpStatusCode.Unauthorized, closed.StatusCode);
    }

    [Fact]
    public async Task EachKeySeesOnlyItsOwnTasksAndConfiguredKeysKeepWorking()
    {
        var dir = TestServer.NewDataDir();
        var (_, alice) = await KeyAdmin.CreateAsync(dir, "alice", new KeyLimits());
        var (_, bob) = await KeyAdmin.CreateAsync(dir, "bob", new KeyLimits());
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.FromMilliseconds(5)), dataDir: dir,
            settings: new() { ["Canter:ApiKeys:0"] = "configured-key" });
        var a = new KeyedClient(server, alice);
        var b = new KeyedClient(server, bob);
        var configured = new KeyedClient(server, "configured-key");

        var id = await a.SubmitAsync();
        var theirs = await configured.SubmitAsync();
        await a.GetAsync($"/api/tasks/{id}");
        using (var notFound = await b.SendAsync(HttpMethod.Get, $"/api/tasks/{id}"))
            Assert.Equal(HttpStatusCode.NotFound, notFound.StatusCode);
        using (var notFound = await configured.SendAsync(HttpMethod.Get, $"/api/tasks/{id}"))
            Assert.Equal(HttpStatusCode.NotFound, notFound.StatusCode);
        using (var notTheirs = await b.SendAsync(HttpMethod.Post, $"/api/tasks/{theirs}/cancel"))
            Assert.Equal(HttpStatusCode.NotFound, notTheirs.StatusCode);
        Assert.Empty((await b.GetAsync("/api/tasks")).GetProperty("data").EnumerateArray());
        Assert.Equal([id], (await a.GetAsync("/api/tasks")).GetProperty("data").EnumerateArray().Select(t => t.GetProperty("id").GetString()));
        Assert.Equal([theirs], (await configured.GetAsync("/v1/videos")).GetProperty("data").EnumerateArray().Select(t => t.GetProperty("id").GetString()));
    }
}
