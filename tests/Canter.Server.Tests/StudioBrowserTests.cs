using System.Text.Json;
using Canter.Media;
using Microsoft.Playwright;

namespace Canter.Server.Tests;

/// <summary>
/// The studio driven in headless Chromium (Debian's /usr/bin/chromium through Playwright, no browser download) against
/// the real server with a fast fake generator: a generation from the page shows its queue position and sampling steps
/// up to 100 %, then plays with sound; cancel stops it; the history shows tasks with posters and opens their record;
/// the arena plays two blind videos, takes a vote, reveals the models and fills the leaderboard; a server with API
/// keys asks for one and then works through it. Set CANTER_STUDIO_SCREENSHOTS to a folder to keep screenshots.
/// </summary>
[Trait("Category", "Browser")]
public sealed class StudioBrowserTests(ChromiumFixture chromium) : IClassFixture<ChromiumFixture>
{
    private const string Prompt = "A red ball bounces on a wooden floor";

    [Fact]
    public async Task AGenerationShowsItsProgressAndPlaysWithSound()
    {
        var fake = new FakeGenerator(TimeSpan.FromMilliseconds(120));
        await using var server = await TestServer.StartAsync(fake);
        await using var session = await chromium.OpenAsync(server, "/");

        var page = session.Page;
        Assert.True(await page.Locator("[data-mode=edit]").IsDisabledAsync());
        Assert.Contains("this model has no edit mode", await page.Locator("[data-mode=edit]").InnerTextAsync());
        await page.EvaluateAsync("""
            () => {
              window.seen = { progress: [], states: [] };
              const p = document.getElementById('progress'), s = document.getElementById('task-state');
              new MutationObserver(() => window.seen.progress.push(Number(p.value))).observe(p, { attributes: true });
              new MutationObserver(() => window.seen.states.push(s.textContent)).observe(s, { childList: true, characterData: true, subtree: true });
            }
            """);

        // a task of someone else's holds the generator, so that the page's task waits in the queue first
        fake.Hold.Reset();
        await server.SubmitAsync(new { prompt = "Something else", seconds = 0.5, size = "32x32", steps = 1 });
        await page.FillAsync("#prompt", Prompt);
        await page.FillAsync("#seconds", "1");
        await page.FillAsync("#size", "64x64");
        await page.FillAsync("#steps", "8");
        await page.ClickAsync("#generate");
        await page.Locator("#task-state").Filter(new() { HasTextString = "Queued: position 1" }).WaitForAsync();
        fake.Hold.Set();

        await page.Locator("#result video").WaitForAsync();
        Assert.Equal("100 %", await page.InnerTextAsync("#progress-text"));
        Assert.Equal(100, await page.EvaluateAsync<double>("() => document.getElementById('progress').value"));
        var seen = await page.EvaluateAsync<JsonElement>("() => window.seen");
        var progress = seen.GetProperty("progress").EnumerateArray().Select(v => v.GetDouble()).ToList();
        var states = seen.GetProperty("states").EnumerateArray().Select(v => v.GetString()).ToList();
        Assert.Contains(progress, p => p is > 0 and < 100);   // live steps, not only the end
        Assert.Equal(progress.Order(), progress);
        Assert.Contains(states, s => s is not null && s.StartsWith("Sampling step ") && !s.StartsWith("Sampling step 0 "));
        Assert.Contains("Done: 8 steps", states);

        var playing = await Play(page, "#result-video");
        Assert.True(playing.GetProperty("duration").GetDouble() is > 0.9 and < 1.2, playing.ToString());
        Assert.True(playing.GetProperty("advanced").GetBoolean(), $"the video did not play: {playing}");
        Assert.True(playing.GetProperty("audioBytes").GetDouble() > 0, $"no sound was decoded: {playing}");

        // the links download the task's files; the MP4 has its sound track
        var id = (await server.GetAsync("/api/tasks?limit=1")).GetProperty("data")[0].GetProperty("id").GetString()!;
        Assert.Equal($"/api/tasks/{id}/video", await page.GetAttributeAsync("#dl-video", "href"));
        Assert.Equal($"/api/tasks/{id}/poster", await page.GetAttributeAsync("#dl-poster", "href"));
        Assert.Equal($"/api/tasks/{id}/record", await page.GetAttributeAsync("#dl-record", "href"));
        var file = Path.Combine(server.DataDir, "page.mp4");
        await File.WriteAllBytesAsync(file, await server.Http.GetByteArrayAsync($"/api/tasks/{id}/video"));
        var info = MediaProbe.Probe(file);
        Assert.Equal(("h264", "aac"), (info.VideoCodec, info.AudioCodec));
        await session.ScreenshotAsync("generate");
        session.AssertNoErrors();
    }

    [Fact]
    public async Task CancelStopsARunningGeneration()
    {
        var fake = new FakeGenerator(TimeSpan.FromMilliseconds(50));
        await using var server = await TestServer.StartAsync(fake);
        await using var session = await chromium.OpenAsync(server, "/studio/generate");
        var page = session.Page;
        await page.FillAsync("#prompt", Prompt);
        await page.FillAsync("#size", "32x32");
        await page.FillAsync("#steps", "200");
        await page.ClickAsync("#generate");
        await page.Locator("#task-state").Filter(new() { HasTextString = "Sampling step" }).WaitForAsync();
        await page.ClickAsync("#cancel");
        await page.Locator("#task-state").Filter(new() { HasTextString = "Cancelled" }).WaitForAsync();
        Assert.True(await page.Locator("#cancel").IsHiddenAsync());
        Assert.True(await page.Locator("#result").IsHiddenAsync());
        Assert.False(await page.Locator("#generate").IsDisabledAsync());
        Assert.InRange(fake.StepsRun, 1, 199);
        session.AssertNoErrors();
    }

    [Fact]
    public async Task TheEditModeIsOfferedWhereTheModelEdits()
    {
        using var model = new EditModel();
        await using var server = await TestServer.StartAsync(model.Generator);
        var source = Path.Combine(server.DataDir, "source.mp4");
        await File.WriteAllBytesAsync(source, EditModel.Clip(server.DataDir, 1f));
        await using var session = await chromium.OpenAsync(server, "/");
        var page = session.Page;

        await page.Locator("[data-mode=edit]:not([disabled])").WaitForAsync();   // enabled once /api/model says edit
        await page.ClickAsync("[data-mode=edit]");
        await page.FillAsync("#prompt", "Make the red ball blue.");
        await page.FillAsync("#seconds", "0.5");
        await page.FillAsync("#size", "32x32");
        await page.FillAsync("#steps", "1");
        await page.ClickAsync("#generate");
        await page.Locator("#notice").Filter(new() { HasTextString = "This mode needs a video to edit" }).WaitForAsync();

        await page.SetInputFilesAsync("input[name=edit]", source);
        await page.ClickAsync("#generate");
        await page.Locator("#result video").WaitForAsync(new() { Timeout = 60_000 });
        var id = (await server.GetAsync("/api/tasks?limit=1")).GetProperty("data")[0].GetProperty("id").GetString()!;
        Assert.Equal("upload:source.mp4", (await server.GetAsync($"/api/tasks/{id}/record")).GetProperty("edit").GetString());
        session.AssertNoErrors();
    }

    [Fact]
    public async Task ImageToVideoUploadsTheFirstFrame()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.FromMilliseconds(1)));
        var earlier = await ArenaSeed.GenerateAsync(server, "A blue star spins", seed: 3);
        var frame = Path.Combine(server.DataDir, "first.png");
        await File.WriteAllBytesAsync(frame, await server.Http.GetByteArrayAsync($"/api/tasks/{earlier}/poster"));
        await using var session = await chromium.OpenAsync(server, "/");
        var page = session.Page;

        await page.ClickAsync("[data-mode=image]");
        Assert.Equal("true", await page.GetAttributeAsync("[data-mode=image]", "aria-selected"));
        await page.FillAsync("#prompt", Prompt);
        await page.FillAsync("#seconds", "1");
        await page.FillAsync("#size", "64x64");
        await page.ClickAsync("#generate");
        await page.Locator("#notice").Filter(new() { HasTextString = "This mode needs a first frame" }).WaitForAsync();   // checked before sending

        await page.SetInputFilesAsync("input[name=image]", frame);
        await page.ClickAsync("#generate");
        await page.Locator("#result video").WaitForAsync();
        var task = (await server.GetAsync("/api/tasks?limit=1")).GetProperty("data")[0];
        Assert.NotEqual(earlier, task.GetProperty("id").GetString());
        Assert.Equal(JsonValueKind.Object, task.GetProperty("request").GetProperty("image").ValueKind);   // the upload reached the task
        Assert.True(!task.GetProperty("request").TryGetProperty("last_frame", out var last) || last.ValueKind == JsonValueKind.Null);
        session.AssertNoErrors();
    }

    [Fact]
    public async Task AnInvalidRequestNamesTheField()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero));
        await using var session = await chromium.OpenAsync(server, "/");
        var page = session.Page;
        await page.FillAsync("#prompt", Prompt);
        await page.FillAsync("#steps", "500");
        await page.ClickAsync("#generate");
        await page.Locator("#notice").Filter(new() { HasTextString = "steps: 500 must be in [1, 200]" }).WaitForAsync();
        Assert.Equal("true", await page.GetAttributeAsync("#steps", "aria-invalid"));
        Assert.Empty((await server.GetAsync("/api/tasks")).GetProperty("data").EnumerateArray());
    }

    [Fact]
    public async Task TheHistoryShowsTasksWithPostersAndOpensTheirRecord()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.FromMilliseconds(1)));
        var first = await ArenaSeed.GenerateAsync(server, "A blue star spins", seed: 1);
        var second = await ArenaSeed.GenerateAsync(server, Prompt, seed: 2);
        await using var session = await chromium.OpenAsync(server, "/studio/history");
        var page = session.Page;

        var cards = page.Locator("#history-list li");
        await cards.Nth(1).WaitForAsync();
        Assert.Equal(2, await cards.CountAsync());
        Assert.Equal([second, first], await cards.EvaluateAllAsync<string[]>("cards => cards.map(c => c.dataset.id)"));   // newest first
        await page.WaitForFunctionAsync("() => [...document.querySelectorAll('#history-list img')].every(i => i.complete && i.naturalWidth > 0)");
        Assert.Contains(Prompt, await cards.Nth(0).InnerTextAsync());
        Assert.Equal("succeeded", await cards.Nth(0).Locator(".state").TextContentAsync());
        await session.ScreenshotAsync("history");

        await cards.Nth(0).Locator("button").ClickAsync();
        await page.Locator("#history-detail[open]").WaitForAsync();
        await page.Locator("#detail-record").Filter(new() { HasTextString = "weights_sha256" }).WaitForAsync();
        var record = JsonDocument.Parse(await page.InnerTextAsync("#detail-record")).RootElement;
        Assert.Equal(Prompt, record.GetProperty("prompt").GetString());
        var playing = await Play(page, "#detail-video");
        Assert.True(playing.GetProperty("duration").GetDouble() > 0, playing.ToString());

        // entering the task into the arena from its page
        await page.ClickAsync("#detail-arena");
        await page.Locator("#detail-message").Filter(new() { HasTextString = "Entered into the arena" }).WaitForAsync();
        session.AssertNoErrors();
    }

    [Fact]
    public async Task TheArenaTakesABlindVoteThenRevealsAndRanks()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.FromMilliseconds(1)));
        await ArenaSeed.TwoModelsAsync(server, Prompt);
        await using var session = await chromium.OpenAsync(server, "/studio/arena");
        var page = session.Page;

        await page.Locator("#arena-match").WaitForAsync();
        Assert.Equal(Prompt, await page.InnerTextAsync("#arena-prompt"));
        foreach (var video in new[] { "#arena-a", "#arena-b" })
        {
            var playing = await Play(page, video);
            Assert.True(playing.GetProperty("advanced").GetBoolean(), $"{video} did not play: {playing}");
        }
        Assert.DoesNotContain("model-", await page.InnerTextAsync("#arena-match"));   // blind until the vote
        await page.Locator("#leaderboard tbody tr").Nth(1).WaitForAsync();

        await page.ClickAsync("[data-outcome=left]");
        await page.Locator("#reveal-a").Filter(new() { HasTextRegex = new("model-") }).WaitForAsync();
        var a = (await page.InnerTextAsync("#reveal-a")).Trim('·', ' ');
        var b = (await page.InnerTextAsync("#reveal-b")).Trim('·', ' ');
        Assert.Equal(["model-a", "model-b"], new[] { a, b }.Order());
        Assert.Contains($"A was {a}", await page.InnerTextAsync("#arena-result"));

        // the leaderboard shows the vote: the winner first, one vote each
        await page.Locator("#leaderboard-note").Filter(new() { HasTextString = "1 vote (1 decided" }).WaitForAsync();
        var rows = await page.Locator("#leaderboard tbody tr").EvaluateAllAsync<string[][]>("rows => rows.map(r => [...r.cells].map(c => c.textContent))");
        Assert.Equal(2, rows.Length);
        Assert.Equal(["1", a], rows[0][..2]);
        Assert.Equal(["1", "1"], new[] { rows[0][4], rows[1][4] });
        Assert.True(int.Parse(rows[0][2]) > int.Parse(rows[1][2]), string.Join(" | ", rows.Select(r => string.Join(",", r))));
        await session.ScreenshotAsync("arena");

        await page.ClickAsync("#arena-next");
        await page.Locator("#arena-message").Filter(new() { HasTextString = "judged all 1 matchups" }).WaitForAsync();
        session.AssertNoErrors();
    }

    [Fact]
    public async Task AnEmptyArenaSaysHowToFillIt()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero));
        await using var session = await chromium.OpenAsync(server, "/studio/arena");
        await session.Page.Locator("#arena-empty").WaitForAsync();
        Assert.Contains("canter arena add", await session.Page.InnerTextAsync("#arena-empty"));
        Assert.True(await session.Page.Locator("#arena-match").IsHiddenAsync());
        session.AssertNoErrors();
    }

    [Fact]
    public async Task WithApiKeysThePageAsksForOneAndUsesIt()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.FromMilliseconds(1)), settings: new() { ["Canter:ApiKeys:0"] = "key-one" });
        await using var session = await chromium.OpenAsync(server, "/");
        var page = session.Page;
        await page.Locator("#notice").Filter(new() { HasTextString = "requires an API key" }).WaitForAsync();
        Assert.True(await page.Locator("#api-key").IsVisibleAsync());
        await page.FillAsync("#api-key", "key-one");
        await page.PressAsync("#api-key", "Enter");
        await page.Locator("#key-state").Filter(new() { HasTextString = "set" }).WaitForAsync();
        Assert.Equal("key-one", await page.EvaluateAsync<string>("() => localStorage.getItem('canter.apiKey')"));

        await page.FillAsync("#prompt", Prompt);
        await page.FillAsync("#seconds", "1");
        await page.FillAsync("#size", "64x64");
        await page.ClickAsync("#generate");
        await page.Locator("#result video").WaitForAsync();
        Assert.StartsWith("blob:", await page.GetAttributeAsync("#result-video", "src"));   // fetched with the key
        var playing = await Play(page, "#result-video");
        Assert.True(playing.GetProperty("advanced").GetBoolean(), playing.ToString());

        await page.ClickAsync("nav [data-nav=history]");
        await page.WaitForFunctionAsync("() => { const i = document.querySelector('#history-list img'); return i && i.complete && i.naturalWidth > 0; }");
    }

    /// <summary>Plays a video element for a moment and reports what it did.</summary>
    private static async Task<JsonElement> Play(IPage page, string selector)
    {
        await page.WaitForFunctionAsync($"() => document.querySelector('{selector}').readyState >= 2");
        return await page.EvaluateAsync<JsonElement>($$"""
            async () => {
              const v = document.querySelector('{{selector}}');
              const start = v.currentTime;
              await v.play();
              await new Promise(r => setTimeout(r, 500));
              const state = { readyState: v.readyState, duration: v.duration, start, now: v.currentTime, advanced: v.currentTime > start,
                audioBytes: v.webkitAudioDecodedByteCount ?? -1, videoBytes: v.webkitVideoDecodedByteCount ?? -1, error: v.error?.message ?? null };
              v.pause();
              return state;
            }
            """);
    }
}

/// <summary>
/// One headless Chromium for the browser tests: Debian's package, not a Playwright download. Missing, every browser
/// test fails and says how to install it (a skipped browser test would pass unnoticed on a machine without it).
/// </summary>
public sealed class ChromiumFixture : IAsyncLifetime
{
    public static string ExecutablePath => Environment.GetEnvironmentVariable("CANTER_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    private IPlaywright? _playwright;
    private IBrowser? _browser;
    private string? _missing;

    public async Task InitializeAsync()
    {
        if (!File.Exists(ExecutablePath))
        {
            _missing = $"Chromium is not installed at {ExecutablePath}: install it with `apt-get install -y chromium` (`./canter test` does), " +
                "or set CANTER_CHROMIUM to a Chromium executable";
            return;
        }
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new()
        {
            ExecutablePath = ExecutablePath,
            Headless = true,
            // sound is played without a click, and the page's own audio decoding is what the tests check
            Args = ["--autoplay-policy=no-user-gesture-required", "--disable-gpu", "--disable-dev-shm-usage"],
        });
    }

    /// <summary>A fresh browser context (its own cookies and storage) on <paramref name="path"/> of the server, loaded.</summary>
    internal async Task<BrowserSession> OpenAsync(TestServer server, string path)
    {
        if (_browser is null) Assert.Fail(_missing ?? "Chromium did not start");
        var context = await _browser.NewContextAsync(new() { BaseURL = server.Http.BaseAddress!.ToString(), ViewportSize = new() { Width = 1280, Height = 900 } });
        context.SetDefaultTimeout(30_000);   // a busy CI machine is slow to start a page
        var page = await context.NewPageAsync();
        var session = new BrowserSession(context, page);
        await page.GotoAsync(path);
        await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
        return session;
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null) await _browser.DisposeAsync();
        _playwright?.Dispose();
    }
}

/// <summary>A page with the errors it logged (script errors and console errors) and screenshots on request.</summary>
internal sealed class BrowserSession : IAsyncDisposable
{
    private readonly List<string> _errors = [];

    public BrowserSession(IBrowserContext context, IPage page)
    {
        Context = context;
        Page = page;
        page.PageError += (_, error) => { lock (_errors) _errors.Add("page error: " + error); };
        page.Console += (_, message) => { if (message.Type == "error") lock (_errors) _errors.Add("console: " + message.Text); };
    }

    public IBrowserContext Context { get; }

    public IPage Page { get; }

    public void AssertNoErrors()
    {
        lock (_errors) Assert.True(_errors.Count == 0, string.Join("\n", _errors));
    }

    /// <summary>Saves a screenshot as studio-NAME.png in the folder CANTER_STUDIO_SCREENSHOTS names, when it is set.</summary>
    public async Task ScreenshotAsync(string name)
    {
        if (Environment.GetEnvironmentVariable("CANTER_STUDIO_SCREENSHOTS") is not { Length: > 0 } folder) return;
        Directory.CreateDirectory(folder);
        await Page.ScreenshotAsync(new() { Path = Path.Combine(folder, $"studio-{name}.png"), FullPage = true });
    }

    public async ValueTask DisposeAsync() => await Context.DisposeAsync();
}
