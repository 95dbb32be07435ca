using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Canter.Server.Storage;
using static Canter.Server.Tests.TaskApiTests;

namespace Canter.Server.Tests;

/// <summary>
/// Results in an S3-compatible bucket (s3rver on loopback, <see cref="S3Fixture"/>): a task's files land in the bucket
/// and not in the data folder; every route that serves a result serves them from there with the headers, codes and
/// Range answers of the folder; delete and expiry remove the objects; a bucket that disappears mid-run fails the task
/// with the reason and leaves nothing to serve; a bucket that cannot be reached or written refuses the start.
/// </summary>
[Trait("Category", "S3")]
public sealed class S3Tests(S3Fixture s3) : IClassFixture<S3Fixture>
{
    private static readonly string[] AllFiles = ["manifest.json", "poster.png", "record.json", "spritesheet.png", "video.mp4"];

    private Dictionary<string, string?> Bucket(string bucket, string prefix = "") => new()
    {
        ["Canter:Results"] = prefix.Length == 0 ? $"s3://{bucket}" : $"s3://{bucket}/{prefix}", ["Canter:S3Endpoint"] = s3.Endpoint,
    };

    private static object Clip(int seed = 1) => new { prompt = "A red ball bounces", seconds = 0.5, size = "32x32", steps = 2, seed };

    [Fact]
    public async Task ResultsLandInTheBucketAndEveryRouteServesThemFromThere()
    {
        var bucket = await s3.NewBucketAsync();
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero), settings: Bucket(bucket, "runs/a"));
        var id = (await server.SubmitAsync(Clip())).GetProperty("id").GetString()!;
        await server.WaitForStateAsync(id, "succeeded");

        // in the bucket, every file whole; not in the data folder (nor left staged there)
        Assert.Equal(AllFiles.Select(f => $"runs/a/{id}/{f}"), await s3.KeysAsync(bucket));
        Assert.False(Directory.Exists(Path.Combine(server.DataDir, "results", id)));
        Assert.False(Directory.Exists(Path.Combine(server.DataDir, "staging", id)));
        var video = await s3.ObjectAsync(bucket, $"runs/a/{id}/video.mp4");
        Assert.Equal("ftyp", System.Text.Encoding.ASCII.GetString(video, 4, 4));

        // the native routes: bytes of the bucket, the folder's headers
        foreach (var (route, file, type) in new[] { ("video", "video.mp4", "video/mp4"), ("poster", "poster.png", "image/png"), ("record", "record.json", "application/json"),
                     ("spritesheet", "spritesheet.png", "image/png"), ("manifest", "manifest.json", "application/json") })
        {
            using var response = await server.Http.GetAsync($"/api/tasks/{id}/{route}");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(type, response.Content.Headers.ContentType?.MediaType);
            Assert.Equal(await s3.ObjectAsync(bucket, $"runs/a/{id}/{file}"), await response.Content.ReadAsByteArrayAsync());
            Assert.NotNull(response.Headers.ETag);
            Assert.NotNull(response.Content.Headers.LastModified);
            Assert.Equal("attachment", response.Content.Headers.ContentDisposition?.DispositionType);
        }

        // Range on the video: a middle slice, a suffix, one past the end, and a conditional GET
        using (var request = new HttpRequestMessage(HttpMethod.Get, $"/api/tasks/{id}/video") { Headers = { Range = new RangeHeaderValue(100, 1099) } })
        using (var partial = await server.Http.SendAsync(request))
        {
            Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
            Assert.Equal((100L, 1099L, (long)video.Length), (partial.Content.Headers.ContentRange!.From!.Value, partial.Content.Headers.ContentRange.To!.Value, partial.Content.Headers.ContentRange.Length!.Value));
            Assert.Equal(video[100..1100], await partial.Content.ReadAsByteArrayAsync());
            Assert.Equal("bytes", string.Join(',', partial.Headers.AcceptRanges));
        }
        using (var request = new HttpRequestMessage(HttpMethod.Get, $"/api/tasks/{id}/video") { Headers = { Range = new RangeHeaderValue(null, 500) } })
        using (var suffix = await server.Http.SendAsync(request))
            Assert.Equal(video[^500..], await suffix.Content.ReadAsByteArrayAsync());
        using (var request = new HttpRequestMessage(HttpMethod.Get, $"/api/tasks/{id}/video") { Headers = { Range = new RangeHeaderValue(video.Length, null) } })
        using (var beyond = await server.Http.SendAsync(request))
            Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, beyond.StatusCode);
        using (var first = await server.Http.GetAsync($"/api/tasks/{id}/video"))
        using (var request = new HttpRequestMessage(HttpMethod.Get, $"/api/tasks/{id}/video") { Headers = { IfNoneMatch = { first.Headers.ETag! } } })
        using (var again = await server.Http.SendAsync(request))
            Assert.Equal(HttpStatusCode.NotModified, again.StatusCode);

        // OpenAI-style content, each variant
        foreach (var (variant, file) in new[] { ("video", "video.mp4"), ("thumbnail", "poster.png"), ("spritesheet", "spritesheet.png") })
            Assert.Equal(await s3.ObjectAsync(bucket, $"runs/a/{id}/{file}"), await server.Http.GetByteArrayAsync($"/v1/videos/{id}/content?variant={variant}"));

        // Model Studio's signed video_url, with a Range as a player sends
        var task = await server.GetAsync($"/api/v1/tasks/{id}");
        var url = task.GetProperty("output").GetProperty("video_url").GetString()!;
        using (var request = new HttpRequestMessage(HttpMethod.Get, url) { Headers = { Range = new RangeHeaderValue(0, 99) } })
        using (var signed = await server.Http.SendAsync(request))
        {
            Assert.Equal(HttpStatusCode.PartialContent, signed.StatusCode);
            Assert.Equal(video[..100], await signed.Content.ReadAsByteArrayAsync());
        }

        // task:ID inputs read the earlier result from the bucket
        var next = await server.SubmitAsync(new { prompt = "A red ball bounces", seconds = 0.5, size = "32x32", steps = 2, image = $"task:{id}/poster" });
        var image = next.GetProperty("request").GetProperty("image");
        Assert.Equal($"task:{id}/poster", image.GetProperty("source").GetString());
        Assert.Equal(Convert.ToHexString(SHA256.HashData(await s3.ObjectAsync(bucket, $"runs/a/{id}/poster.png"))).ToLowerInvariant(), image.GetProperty("sha256").GetString());
        var nextId = next.GetProperty("id").GetString()!;
        await server.WaitForStateAsync(nextId, "succeeded");

        // delete takes the objects with the task; the other task's stay
        Assert.Equal(HttpStatusCode.NoContent, (await server.Http.DeleteAsync($"/api/tasks/{id}")).StatusCode);
        Assert.Equal(AllFiles.Select(f => $"runs/a/{nextId}/{f}"), await s3.KeysAsync(bucket));
        await AssertProblem(await server.Http.GetAsync($"/api/tasks/{id}/video"), HttpStatusCode.NotFound, "not found");
        Assert.Equal(HttpStatusCode.OK, (await server.Http.DeleteAsync($"/v1/videos/{nextId}")).StatusCode);
        Assert.Empty(await s3.KeysAsync(bucket));
    }

    [Fact]
    public async Task ExpiredResultsLeaveTheBucketAndOnlyTheManifestStays()
    {
        var bucket = await s3.NewBucketAsync();
        var settings = Bucket(bucket);
        settings["Canter:ResultRetention"] = "00:00:01";
        settings["Canter:RetentionSweepInterval"] = "00:00:00.100";
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero), settings: settings);
        var id = (await server.SubmitAsync(Clip())).GetProperty("id").GetString()!;
        await server.WaitForStateAsync(id, "succeeded");
        Assert.Equal(AllFiles.Select(f => $"{id}/{f}"), await s3.KeysAsync(bucket));

        var clock = System.Diagnostics.Stopwatch.StartNew();
        while ((await s3.KeysAsync(bucket)).Count > 1 && clock.Elapsed < TimeSpan.FromSeconds(20)) await Task.Delay(100);
        Assert.Equal([$"{id}/manifest.json"], await s3.KeysAsync(bucket));
        foreach (var route in new[] { $"/api/tasks/{id}/video", $"/api/tasks/{id}/poster", $"/v1/videos/{id}/content" })
        {
            var problem = await AssertProblem(await server.Http.GetAsync(route), HttpStatusCode.Gone, "expired");
            Assert.Equal("result_expired", problem.GetProperty("code").GetString());
        }
        using var manifest = await server.Http.GetAsync($"/api/tasks/{id}/manifest");   // provenance outlives the video
        Assert.Equal(HttpStatusCode.OK, manifest.StatusCode);
        Assert.Equal(await s3.ObjectAsync(bucket, $"{id}/manifest.json"), await manifest.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task ABucketThatDisappearsMidRunFailsTheTaskWithTheReasonAndServesNothing()
    {
        var bucket = await s3.NewBucketAsync();
        var fake = new FakeGenerator(TimeSpan.Zero);
        await using var server = await TestServer.StartAsync(fake, settings: Bucket(bucket));
        fake.Hold.Reset();
        var id = (await server.SubmitAsync(Clip())).GetProperty("id").GetString()!;
        await server.WaitForStateAsync(id, "running");
        await s3.Client.DeleteBucketAsync(bucket);   // empty: the start's check object is gone already
        fake.Hold.Set();

        var failed = await server.WaitForStateAsync(id, "failed");
        var error = failed.GetProperty("error");
        Assert.Equal("result_store_unavailable", error.GetProperty("code").GetString());
        Assert.Contains("NoSuchBucket", error.GetProperty("message").GetString());
        Assert.Contains($"s3://{bucket}", error.GetProperty("message").GetString());
        await AssertProblem(await server.Http.GetAsync($"/api/tasks/{id}/video"), HttpStatusCode.Conflict, "failed");
        Assert.False(Directory.Exists(Path.Combine(server.DataDir, "staging", id)), "the staged files of the failed task stay behind");

        // the bucket back: nothing of the failed task in it; the next task succeeds again
        await s3.Client.PutBucketAsync(bucket);
        Assert.Empty(await s3.KeysAsync(bucket));
        var next = (await server.SubmitAsync(Clip(2))).GetProperty("id").GetString()!;
        await server.WaitForStateAsync(next, "succeeded");
        Assert.Equal(AllFiles.Select(f => $"{next}/{f}"), await s3.KeysAsync(bucket));
    }

    [Fact]
    public async Task TheStartRefusesABucketItCannotReachOrWrite()
    {
        var missing = await Assert.ThrowsAsync<ResultStoreException>(() => TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero), settings: Bucket("no-such-bucket-here")));
        Assert.Contains("results cannot go to the bucket s3://no-such-bucket-here", missing.Message);
        Assert.Contains("NoSuchBucket", missing.Message);

        var closed = Bucket("canter");
        closed["Canter:S3Endpoint"] = $"http://127.0.0.1:{S3Fixture.ClosedPort()}";
        var unreachable = await Assert.ThrowsAsync<ResultStoreException>(() => TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero), settings: closed));
        Assert.Contains("Connection refused", unreachable.Message);

        var bad = Bucket("Not_A_Bucket");
        await Assert.ThrowsAsync<ArgumentException>(() => TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero), settings: bad));
        var traversal = Bucket("canter", "a/../b");
        await Assert.ThrowsAsync<ArgumentException>(() => TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero), settings: traversal));

        // a key the bucket does not know: refused, and the secret is in no message
        var bucket = await s3.NewBucketAsync();
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", "NOT-A-KEY");
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", "secret-never-shown-123");
        try
        {
            var denied = await Assert.ThrowsAsync<ResultStoreException>(() => TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero), settings: Bucket(bucket)));
            Assert.Contains("InvalidAccessKeyId", denied.Message);
            Assert.DoesNotContain("secret-never-shown-123", denied.ToString());
        }
        finally
        {
            foreach (var (k, v) in S3Fixture.Credentials) Environment.SetEnvironmentVariable(k, v);
        }
    }
}

/// <summary>
/// Scaled out with a bucket: <c>canter serve --no-workers</c> and two <c>canter worker</c>s as separate processes on one
/// PostgreSQL store and one bucket. The workers put the results into the bucket (none in the data folder), and the API
/// server, which never wrote them, serves them from there, Range included.
/// </summary>
[Trait("Category", "S3")]
public sealed class S3ClusterTests(PostgresFixture pg, S3Fixture s3) : IClassFixture<PostgresFixture>, IClassFixture<S3Fixture>
{
    [Fact]
    public async Task ServersAndWorkersShareResultsThroughTheBucket()
    {
        var db = await pg.NewDatabaseAsync();
        var bucket = await s3.NewBucketAsync();
        var data = TestServer.NewDataDir();
        await using var cluster = await Cluster.StartAsync(PostgresFixture.Url(db), data, workers: 2,
            extra: ["--results", $"s3://{bucket}/clips", "--s3-endpoint", s3.Endpoint], env: S3Fixture.Credentials);
        try
        {
            Assert.Contains(cluster.Server.Lines, l => l.Contains($"results: the bucket s3://{bucket}/clips at {s3.Endpoint}", StringComparison.Ordinal));
            Assert.All(cluster.Workers, w => Assert.Contains(w.Lines, l => l.Contains($"results: the bucket s3://{bucket}/clips", StringComparison.Ordinal)));
            var ids = new List<string>();
            for (int i = 0; i < 4; i++) ids.Add(await cluster.SubmitAsync(i));
            foreach (var id in ids) await cluster.WaitSucceededAsync(id, TimeSpan.FromSeconds(90));

            var keys = await s3.KeysAsync(bucket);
            foreach (var id in ids)
            {
                Assert.Equal(5, keys.Count(k => k.StartsWith($"clips/{id}/", StringComparison.Ordinal)));
                Assert.False(Directory.Exists(Path.Combine(data, "results", id)), $"{id}: results in the data folder");
                Assert.False(Directory.Exists(Path.Combine(data, "staging", id)), $"{id}: staged files left behind");
                var video = await s3.ObjectAsync(bucket, $"clips/{id}/video.mp4");
                Assert.Equal(video, await cluster.Http.GetByteArrayAsync($"/api/tasks/{id}/video"));
                using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/tasks/{id}/video") { Headers = { Range = new RangeHeaderValue(8, 27) } };
                using var partial = await cluster.Http.SendAsync(request);
                Assert.Equal(HttpStatusCode.PartialContent, partial.StatusCode);
                Assert.Equal(video[8..28], await partial.Content.ReadAsByteArrayAsync());
            }
            Assert.Equal(HttpStatusCode.NoContent, (await cluster.Http.DeleteAsync($"/api/tasks/{ids[0]}")).StatusCode);
            Assert.DoesNotContain(await s3.KeysAsync(bucket), k => k.StartsWith($"clips/{ids[0]}/", StringComparison.Ordinal));
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
}
