using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Canter.Media;
using Canter.Server.Provenance;
using static Canter.Server.Tests.TaskApiTests;

namespace Canter.Server.Tests;

/// <summary>
/// Every result is marked as machine-generated twice: ai_generated in the MP4's metadata (read back by ffprobe), and a
/// manifest of its parameters and file hashes signed by the server's key, which checks out against the published key
/// and fails for a changed video, a changed manifest, or another key.
/// </summary>
public sealed class ProvenanceTests
{
    [Fact]
    public async Task ResultsAreSignedAndMarked()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero));
        var id = (await server.SubmitAsync(new { prompt = "A red ball bounces", seconds = 0.5, size = "32x32", steps = 2, seed = 7 })).GetProperty("id").GetString()!;
        await server.WaitForStateAsync(id, "succeeded");
        var video = await server.Http.GetByteArrayAsync($"/api/tasks/{id}/video");
        var poster = await server.Http.GetByteArrayAsync($"/api/tasks/{id}/poster");
        var text = await server.Http.GetStringAsync($"/api/tasks/{id}/manifest");
        var pem = await server.Http.GetStringAsync("/api/provenance/key");
        Assert.StartsWith("-----BEGIN PUBLIC KEY-----", pem);
        using var key = ECDsa.Create();
        key.ImportFromPem(pem);

        // the container says it is machine-made (ffprobe reads it)
        var path = Path.Combine(server.DataDir, "downloaded.mp4");
        await File.WriteAllBytesAsync(path, video);
        Assert.Equal("true", MediaProbe.Probe(path).Tags["ai_generated"]);

        // the manifest names what was made, how, and by which model
        var manifest = JsonDocument.Parse(JsonDocument.Parse(text).RootElement.GetProperty("manifest").GetString()!).RootElement;
        Assert.Equal(ProvenanceManifest.Format, manifest.GetProperty("format").GetString());
        Assert.True(manifest.GetProperty("ai_generated").GetBoolean());
        Assert.Equal(id, manifest.GetProperty("task_id").GetString());
        Assert.Equal("A red ball bounces", manifest.GetProperty("parameters").GetProperty("prompt").GetString());
        Assert.Equal(7UL, manifest.GetProperty("parameters").GetProperty("seed").GetUInt64());
        Assert.Equal(Shipped.Generator.Info.WeightsSha256, manifest.GetProperty("weights_sha256").GetString());
        Assert.Equal(Hex(video), manifest.GetProperty("files").GetProperty("video.mp4").GetProperty("sha256").GetString());
        Assert.Equal(Hex(poster), manifest.GetProperty("files").GetProperty("poster.png").GetProperty("sha256").GetString());

        // it verifies against the published key, and fails for any change
        Assert.True(ProvenanceManifest.Verify(new MemoryStream(video), text, key).Verified);
        Assert.True(ProvenanceManifest.Verify(new MemoryStream(video), text).Verified);   // by the key it carries
        var changedVideo = (byte[])video.Clone();
        changedVideo[^100] ^= 1;
        var check = ProvenanceManifest.Verify(new MemoryStream(changedVideo), text, key);
        Assert.False(check.Verified);
        Assert.Contains("not the signed video", check.Reason);
        var outer = JsonNode.Parse(text)!;
        outer["manifest"] = outer["manifest"]!.GetValue<string>().Replace("A red ball bounces", "A real ball bounces");
        check = ProvenanceManifest.Verify(new MemoryStream(video), outer.ToJsonString(), key);
        Assert.False(check.Verified);
        Assert.Contains("signature does not match", check.Reason);
        Assert.False(ProvenanceManifest.Verify(new MemoryStream(video), outer.ToJsonString()).Verified);
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        Assert.False(ProvenanceManifest.Verify(new MemoryStream(video), text, other).Verified);
        // a forger who re-signs with their own key passes only the carried-key check, never the server's key
        var forged = ProvenanceManifest.Sign(JsonNode.Parse(outer["manifest"]!.GetValue<string>())!.AsObject(), other);
        Assert.False(ProvenanceManifest.Verify(new MemoryStream(video), forged, key).Verified);

        // the key as a JWK, and the same key after a restart of the same data folder
        var jwk = (await server.GetAsync("/api/provenance/key?format=jwk")).GetProperty("keys")[0];
        Assert.Equal("EC", jwk.GetProperty("kty").GetString());
        Assert.Equal("P-256", jwk.GetProperty("crv").GetString());
        Assert.Equal(ProvenanceManifest.KeyId(key), jwk.GetProperty("kid").GetString());
        using var reloaded = new ProvenanceKey(server.DataDir);
        Assert.Equal(ProvenanceManifest.KeyId(key), reloaded.Id);
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(server.DataDir, "provenance-key.pem")));
    }

    [Fact]
    public async Task AManifestIsOnlyForSucceededTasks()
    {
        var generator = new FakeGenerator(TimeSpan.Zero);
        generator.Hold.Reset();
        await using var server = await TestServer.StartAsync(generator);
        var id = (await server.SubmitAsync(new { prompt = "A red ball bounces", seconds = 0.5, size = "32x32", steps = 1 })).GetProperty("id").GetString()!;
        await AssertProblem(await server.Http.GetAsync($"/api/tasks/{id}/manifest"), HttpStatusCode.Conflict, "a manifest is signed when it has succeeded");
        generator.Hold.Set();
        await server.WaitForStateAsync(id, "succeeded");
        Assert.True(File.Exists(Path.Combine(server.DataDir, "results", id, "manifest.json")));
        await AssertProblem(await server.Http.GetAsync("/api/tasks/video_nope/manifest"), HttpStatusCode.NotFound, "was not found");
    }

    private static string Hex(byte[] bytes) => Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();
}
