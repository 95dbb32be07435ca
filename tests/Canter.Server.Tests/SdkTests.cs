using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Canter.Media;

namespace Canter.Server.Tests;

/// <summary>
/// The official OpenAI Node SDK (openai on npm, pinned) against the real server: the proof that an OpenAI client works
/// unchanged with only its base URL and key changed. The package is installed once into .build/sdk/ with npm; a
/// machine without node or npm fails this test with the reason (filter it out with Category!=Sdk).
/// </summary>
[Trait("Category", "Sdk")]
public sealed class SdkTests
{
    private const string OpenAiVersion = "6.49.0";

    private const string Script = """
        const fs = require('fs');
        const path = require('path');
        const { OpenAI, toFile } = require(process.env.OPENAI_SDK);
        const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: process.env.KEY, maxRetries: 0 });
        const out = {};
        async function until(id) {
          for (;;) {
            const v = await client.videos.retrieve(id);
            if (v.status === 'completed' || v.status === 'failed') return v;
            await new Promise(r => setTimeout(r, 50));
          }
        }
        async function refusal(call) {
          try { await call(); return null; }
          catch (e) { return { status: e.status, type: e.constructor.name, message: e.message, code: e.code ?? null }; }
        }
        (async () => {
          out.created = await client.videos.create({ prompt: 'A red ball bounces', model: 'sora-2', seconds: '1', size: '32x32' });
          out.done = await until(out.created.id);
          const video = Buffer.from(await (await client.videos.downloadContent(out.created.id)).arrayBuffer());
          fs.writeFileSync(path.join(process.env.OUT, 'sdk.mp4'), video);
          const thumbnail = await client.videos.downloadContent(out.created.id, { variant: 'thumbnail' });
          out.thumbnailType = thumbnail.headers.get('content-type');
          const poster = Buffer.from(await thumbnail.arrayBuffer());

          out.fromImage = await client.videos.create({ prompt: 'The ball starts here', seconds: '1', size: '32x32',
            input_reference: await toFile(poster, 'first.png', { type: 'image/png' }) });
          out.remix = await client.videos.remix(out.created.id, { prompt: 'A blue star spins' });
          out.extension = await client.videos.extend({ prompt: 'The ball rolls away', seconds: '1', video: { id: out.created.id } });
          out.extended = await until(out.extension.id);
          out.character = await client.videos.createCharacter({ name: 'Red ball', video: await toFile(video, 'ball.mp4', { type: 'video/mp4' }) });
          out.gotCharacter = await client.videos.getCharacter(out.character.id);
          out.withCharacter = await client.videos.create({ prompt: 'The red ball again', seconds: '1', size: '32x32', character_ids: [out.character.id] });
          await until(out.withCharacter.id);

          out.listed = (await client.videos.list({ limit: 100 })).data.map(v => v.id);
          out.paged = [];
          for await (const v of client.videos.list({ limit: 2 })) out.paged.push(v.id);

          out.edit = await refusal(() => client.videos.edit({ prompt: 'Make it blue', video: { id: out.created.id } }));
          out.notFound = await refusal(() => client.videos.retrieve('video_nope'));
          out.badKey = await refusal(() => new OpenAI({ baseURL: process.env.BASE_URL, apiKey: 'wrong', maxRetries: 0 }).videos.list());
          out.deleted = await client.videos.delete(out.remix.id);
          console.log(JSON.stringify(out));
        })().catch(e => { console.error(e); process.exit(1); });
        """;

    [Fact]
    public async Task TheOfficialOpenAiNodeSdkWorksUnchanged()
    {
        var sdk = await InstallAsync("openai", OpenAiVersion);
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero), settings: new() { ["Canter:ApiKeys:0"] = "sdk-key" });
        server.Http.DefaultRequestHeaders.Authorization = new("Bearer", "sdk-key");
        var script = Path.Combine(server.DataDir, "sdk.cjs");
        await File.WriteAllTextAsync(script, Script);
        var (code, stdout, stderr) = await RunAsync("node", [script], new()
        {
            ["OPENAI_SDK"] = Path.Combine(sdk, "node_modules", "openai"),
            ["BASE_URL"] = server.Http.BaseAddress!.ToString().TrimEnd('/') + "/v1",
            ["KEY"] = "sdk-key",
            ["OUT"] = server.DataDir,
        }, TimeSpan.FromMinutes(2));
        Assert.True(code == 0, $"the SDK script failed ({code}):\n{stderr}\n{stdout}");
        var o = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]).RootElement;
        string S(JsonElement e, string name) => e.GetProperty(name).GetString()!;

        var id = S(o.GetProperty("created"), "id");
        Assert.Equal(("video", "32x32", "1"), (S(o.GetProperty("created"), "object"), S(o.GetProperty("created"), "size"), S(o.GetProperty("created"), "seconds")));
        Assert.Equal(("completed", 100), (S(o.GetProperty("done"), "status"), o.GetProperty("done").GetProperty("progress").GetInt32()));
        var info = MediaProbe.Probe(Path.Combine(server.DataDir, "sdk.mp4"));
        Assert.Equal(("h264", 32, 32), (info.VideoCodec, info.Width, info.Height));
        Assert.Equal("image/png", S(o, "thumbnailType"));

        var image = (await server.GetAsync($"/api/tasks/{S(o.GetProperty("fromImage"), "id")}")).GetProperty("request").GetProperty("image");
        Assert.Equal("upload:first.png", S(image, "source"));
        Assert.Equal((id, "A blue star spins"), (S(o.GetProperty("remix"), "remixed_from_video_id"), S(o.GetProperty("remix"), "prompt")));
        Assert.Equal("completed", S(o.GetProperty("extended"), "status"));
        Assert.InRange(double.Parse(S(o.GetProperty("extension"), "seconds"), System.Globalization.CultureInfo.InvariantCulture), 2.0, 2.1);

        var character = o.GetProperty("character");
        Assert.StartsWith("char_", S(character, "id"));
        Assert.Equal(("Red ball", S(character, "id")), (S(o.GetProperty("gotCharacter"), "name"), S(o.GetProperty("gotCharacter"), "id")));
        var refs = (await server.GetAsync($"/api/tasks/{S(o.GetProperty("withCharacter"), "id")}")).GetProperty("request").GetProperty("refs");
        Assert.Equal($"character:{S(character, "id")}", S(refs[0], "source"));

        // five tasks were made (create, from an image, remix, extension, with a character); the auto-paging iterator walks all of them two at a time, newest first, as list does
        var listed = o.GetProperty("listed").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Equal(5, listed.Count);
        Assert.Equal(listed, o.GetProperty("paged").EnumerateArray().Select(e => e.GetString()!).ToList());

        // refusals arrive as the SDK's typed errors with the server's message
        Assert.Equal((400, "BadRequestError", "unsupported"), (o.GetProperty("edit").GetProperty("status").GetInt32(), S(o.GetProperty("edit"), "type"), S(o.GetProperty("edit"), "code")));
        Assert.Contains("has no edit mode", S(o.GetProperty("edit"), "message"));
        Assert.Equal((404, "NotFoundError"), (o.GetProperty("notFound").GetProperty("status").GetInt32(), S(o.GetProperty("notFound"), "type")));
        Assert.Equal((401, "AuthenticationError"), (o.GetProperty("badKey").GetProperty("status").GetInt32(), S(o.GetProperty("badKey"), "type")));
        Assert.Equal((S(o.GetProperty("remix"), "id"), "video.deleted", true),
            (S(o.GetProperty("deleted"), "id"), S(o.GetProperty("deleted"), "object"), o.GetProperty("deleted").GetProperty("deleted").GetBoolean()));
    }

    /// <summary>The npm package at a pinned version under .build/sdk/NAME-VERSION (installed once, into a fresh folder, then moved into place).</summary>
    internal static async Task<string> InstallAsync(string package, string version)
    {
        var root = Path.GetFullPath(Path.Combine(Shipped.ModelDir, "..", "..", ".build", "sdk"));
        var dir = Path.Combine(root, $"{package}-{version}");
        var installed = Path.Combine(dir, "node_modules", package, "package.json");
        if (File.Exists(installed) && JsonDocument.Parse(await File.ReadAllTextAsync(installed)).RootElement.GetProperty("version").GetString() == version) return dir;
        var fresh = Path.Combine(root, $"{package}-{version}.{Guid.NewGuid():N}.partial");
        Directory.CreateDirectory(fresh);
        await File.WriteAllTextAsync(Path.Combine(fresh, "package.json"), """{"private": true}""");
        var (code, stdout, stderr) = await RunAsync("npm", ["install", "--no-audit", "--no-fund", "--prefix", fresh, $"{package}@{version}"], [], TimeSpan.FromMinutes(5));
        Assert.True(code == 0, $"npm install {package}@{version} failed ({code}):\n{stderr}\n{stdout}");
        try { Directory.Move(fresh, dir); }
        catch (IOException) { Directory.Delete(fresh, recursive: true); }   // another run installed it meanwhile
        Assert.True(File.Exists(installed), $"npm did not install {package} into {dir}");
        return dir;
    }

    private static async Task<(int Code, string Stdout, string Stderr)> RunAsync(string program, string[] args, Dictionary<string, string> env, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var (k, v) in env) start.Environment[k] = v;
        Process process;
        try { process = Process.Start(start)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            Assert.Fail($"'{program}' is needed to test the official SDKs and was not found ({e.Message}); install Node.js 18 or later with npm, or run the tests with --filter Category!=Sdk");
            throw;
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var cancel = new CancellationTokenSource(timeout);
            try { await process.WaitForExitAsync(cancel.Token); }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail($"{program} {string.Join(' ', args)} ran over {timeout}");
            }
            return (process.ExitCode, await stdout, await stderr);
        }
    }
}
