using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Canter.Eval.Arena;
using Canter.Media;
using Canter.Server.Tasks;
using Microsoft.Extensions.DependencyInjection;

namespace Canter.Server.Tests;

/// <summary>
/// The arena routes the studio votes through: an empty arena says how to fill it and writes nothing, a matchup shows
/// no model until the vote, each voter (cookie or API key) votes once per matchup, the leaderboard counts the votes,
/// a succeeded task can be entered, and every bad request is a ProblemDetails that names its field.
/// </summary>
public sealed class StudioArenaApiTests
{
    private const string Prompt = "A red ball bounces on a wooden floor";

    [Fact]
    public async Task AnEmptyArenaSaysHowToFillItAndWritesNothing()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero));
        var next = await server.GetAsync("/api/arena/next");
        Assert.Equal(JsonValueKind.Null, next.GetProperty("matchup").ValueKind);
        Assert.Contains("canter arena add", next.GetProperty("message").GetString());
        var board = await server.GetAsync("/api/arena/leaderboard");
        Assert.Empty(board.GetProperty("ratings").EnumerateArray());
        Assert.False(File.Exists(Path.Combine(server.DataDir, ArenaStore.FileName)), "reading an empty arena created arena.db");
        using var vote = await server.Http.PostAsJsonAsync("/api/arena/votes", new { matchup = 1, outcome = "left" });
        await TaskApiTests.AssertProblem(vote, HttpStatusCode.NotFound, "matchup 1");
    }

    [Fact]
    public async Task AVoteRevealsTheModelsAndCountsOnTheLeaderboard()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero));
        await ArenaSeed.TwoModelsAsync(server, Prompt);

        using var nextResponse = await server.Http.GetAsync("/api/arena/next");
        var nextText = await nextResponse.Content.ReadAsStringAsync();
        Assert.DoesNotContain("model-", nextText);   // blind: neither model is named before the vote
        var matchup = JsonDocument.Parse(nextText).RootElement.GetProperty("matchup");
        Assert.Equal(Prompt, matchup.GetProperty("prompt").GetString());
        long id = matchup.GetProperty("id").GetInt64();
        foreach (var side in new[] { "left", "right" })
        {
            var url = matchup.GetProperty(side).GetString()!;
            Assert.DoesNotContain("model", url);
            using var media = await server.Http.GetAsync(url);
            Assert.Equal(HttpStatusCode.OK, media.StatusCode);
            Assert.Equal("video/mp4", media.Content.Headers.ContentType?.MediaType);
            Assert.Null(media.Content.Headers.ContentDisposition);   // no file name that could say where it came from
            var file = Path.Combine(server.DataDir, $"{side}.mp4");
            await File.WriteAllBytesAsync(file, await media.Content.ReadAsByteArrayAsync());
            Assert.True(MediaProbe.Probe(file).HasVideo);
        }

        using var voted = await server.Http.PostAsJsonAsync("/api/arena/votes", new { matchup = id, outcome = "left" });
        var vote = await voted.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(HttpStatusCode.Created, voted.StatusCode);
        var models = new[] { vote.GetProperty("left").GetProperty("model").GetString(), vote.GetProperty("right").GetProperty("model").GetString() };
        Assert.Equal(["model-a", "model-b"], models.Order());
        Assert.Equal(1, vote.GetProperty("counts").GetProperty("votes").GetInt32());

        using var again = await server.Http.PostAsJsonAsync("/api/arena/votes", new { matchup = id, outcome = "right" });
        await TaskApiTests.AssertProblem(again, HttpStatusCode.Conflict, "already voted");
        var done = await server.GetAsync("/api/arena/next");
        Assert.Equal(JsonValueKind.Null, done.GetProperty("matchup").ValueKind);
        Assert.Contains("judged all 1 matchups", done.GetProperty("message").GetString());

        var board = await server.GetAsync("/api/arena/leaderboard");
        var rows = board.GetProperty("ratings").EnumerateArray().ToList();
        Assert.Equal(2, rows.Count);
        Assert.Equal(models[0], rows[0].GetProperty("model").GetString());   // the winner ranks first
        Assert.Equal(1, rows[0].GetProperty("rank").GetInt32());
        Assert.True(rows[0].GetProperty("elo").GetDouble() > rows[1].GetProperty("elo").GetDouble());
        Assert.All(rows, r => Assert.Equal(1, r.GetProperty("votes").GetInt32()));
        Assert.True(rows[0].GetProperty("low").GetDouble() <= rows[0].GetProperty("elo").GetDouble());
        Assert.Equal(1, board.GetProperty("votes").GetInt32());

        // another browser (no cookie) is another voter and gets the matchup
        using var other = new HttpClient { BaseAddress = server.Http.BaseAddress };
        var theirs = await other.GetFromJsonAsync<JsonElement>("/api/arena/next");
        Assert.Equal(id, theirs.GetProperty("matchup").GetProperty("id").GetInt64());
        using var theirVote = await other.PostAsJsonAsync("/api/arena/votes", new { matchup = id, outcome = "tie" });
        Assert.Equal(HttpStatusCode.Created, theirVote.StatusCode);
        Assert.Equal(2, (await server.GetAsync("/api/arena/leaderboard")).GetProperty("votes").GetInt32());
    }

    [Theory]
    [InlineData("""{"outcome":"left"}""", "matchup", "required")]
    [InlineData("""{"matchup":1}""", "outcome", "required")]
    [InlineData("""{"matchup":"x","outcome":"left"}""", "matchup", "not a matchup id")]
    [InlineData("""{"matchup":-1,"outcome":"left"}""", "matchup", "not a matchup id")]
    [InlineData("""{"matchup":1,"outcome":"a"}""", "outcome", "left, right, tie or both_bad")]
    [InlineData("""{"matchup":1,"outcome":"left","voter":"someone-else"}""", "voter", "unknown field")]
    [InlineData("""[1,2]""", null, "JSON object")]
    [InlineData("""{"matchup":""", null, "not valid JSON")]
    public async Task ABadVoteIsRefusedWithTheFieldNamed(string body, string? param, string says)
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero));
        using var response = await server.Http.PostAsync("/api/arena/votes", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));
        var problem = await TaskApiTests.AssertProblem(response, HttpStatusCode.BadRequest, says);
        if (param is not null) Assert.Equal(param, problem.GetProperty("param").GetString());
    }

    [Theory]
    [InlineData("/api/arena/matchups/1/left")]
    [InlineData("/api/arena/matchups/1/middle")]
    [InlineData("/api/arena/matchups/x/left")]
    [InlineData("/api/arena/matchups/99/right")]
    public async Task AnUnknownMatchupOrSideIsA404(string path)
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero));
        if (!path.Contains("/1/left")) await ArenaSeed.TwoModelsAsync(server, Prompt);
        using var response = await server.Http.GetAsync(path);
        await TaskApiTests.AssertProblem(response, HttpStatusCode.NotFound, "not found");
    }

    [Fact]
    public async Task ASucceededTaskCanBeEnteredOnce()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.FromMilliseconds(1)));
        var id = await ArenaSeed.GenerateAsync(server, Prompt, seed: 5);
        using var entered = await server.Http.PostAsJsonAsync("/api/arena/entries", new { task_id = id });
        var entry = await entered.Content.ReadFromJsonAsync<JsonElement>();
        Assert.True(entered.StatusCode == HttpStatusCode.Created, entry.ToString());
        Assert.Equal(Shipped.Generator.Info.Model, entry.GetProperty("model").GetString());
        Assert.Equal(Prompt, entry.GetProperty("prompt").GetString());
        Assert.Equal(0, entry.GetProperty("new_matchups").GetInt32());   // no other model has this prompt yet

        using var twice = await server.Http.PostAsJsonAsync("/api/arena/entries", new { task_id = id });
        await TaskApiTests.AssertProblem(twice, HttpStatusCode.Conflict, "already in the arena");

        // another model's clip of the prompt makes a matchup with it
        using (var store = ArenaStore.Open(server.DataDir))
            store.AddEntry("other-model", Prompt, 1, server.Services.GetRequiredService<TaskFiles>().Result(await ArenaSeed.GenerateAsync(server, Prompt, 6), TaskFiles.Video));
        Assert.Equal(JsonValueKind.Object, (await server.GetAsync("/api/arena/next")).GetProperty("matchup").ValueKind);

        using var missing = await server.Http.PostAsJsonAsync("/api/arena/entries", new { task_id = "video_nope" });
        await TaskApiTests.AssertProblem(missing, HttpStatusCode.NotFound, "not found");
        using var empty = await server.Http.PostAsJsonAsync("/api/arena/entries", new { });
        Assert.Equal("task_id", (await TaskApiTests.AssertProblem(empty, HttpStatusCode.BadRequest, "required")).GetProperty("param").GetString());
    }

    [Fact]
    public async Task ARunningTaskCannotBeEntered()
    {
        var fake = new FakeGenerator(TimeSpan.Zero);
        fake.Hold.Reset();
        await using var server = await TestServer.StartAsync(fake);
        var id = (await server.SubmitAsync(new { prompt = Prompt, seconds = 0.5, size = "32x32", steps = 2 })).GetProperty("id").GetString()!;
        using var response = await server.Http.PostAsJsonAsync("/api/arena/entries", new { task_id = id });
        await TaskApiTests.AssertProblem(response, HttpStatusCode.Conflict, "has succeeded");
        fake.Hold.Set();
    }

    [Fact]
    public async Task WithApiKeysTheKeyIsTheVoter()
    {
        await using var server = await TestServer.StartAsync(new FakeGenerator(TimeSpan.Zero), settings: new() { ["Canter:ApiKeys:0"] = "key-one" });
        server.Http.DefaultRequestHeaders.Authorization = new("Bearer", "key-one");
        await ArenaSeed.TwoModelsAsync(server, Prompt);
        var id = (await server.GetAsync("/api/arena/next")).GetProperty("matchup").GetProperty("id").GetInt64();
        using var voted = await server.Http.PostAsJsonAsync("/api/arena/votes", new { matchup = id, outcome = "both_bad" });
        Assert.Equal(HttpStatusCode.Created, voted.StatusCode);
        Assert.False(voted.Headers.Contains("Set-Cookie"), "a keyed voter needs no cookie");

        // the same key from another client is the same voter
        using var other = new HttpClient { BaseAddress = server.Http.BaseAddress };
        other.DefaultRequestHeaders.Add("X-Api-Key", "key-one");
        using var again = await other.PostAsJsonAsync("/api/arena/votes", new { matchup = id, outcome = "left" });
        await TaskApiTests.AssertProblem(again, HttpStatusCode.Conflict, "already voted");
        using var store = ArenaStore.Open(server.DataDir);
        Assert.Equal(Outcome.BothBad, store.VotesOf("key:" + Api.ApiKeyFilter.KeyId("key-one")).Single().Outcome);
    }
}

/// <summary>Real small MP4s made by the fake generator through the API, and an arena seeded with them.</summary>
internal static class ArenaSeed
{
    /// <summary>Generates a short clip (its colour set by the seed) and returns the task id once it has succeeded.</summary>
    public static async Task<string> GenerateAsync(TestServer server, string prompt, int seed, int steps = 2)
    {
        var id = (await server.SubmitAsync(new { prompt, seconds = 1, size = "64x64", steps, seed })).GetProperty("id").GetString()!;
        var done = await server.WaitAsync(id, t => t.GetProperty("state").GetString() is "succeeded" or "failed" or "cancelled");
        Assert.Equal("succeeded", done.GetProperty("state").GetString());
        return id;
    }

    /// <summary>Enters two clips of <paramref name="prompt"/> as model-a and model-b: one matchup.</summary>
    public static async Task TwoModelsAsync(TestServer server, string prompt)
    {
        var files = server.Services.GetRequiredService<TaskFiles>();
        var a = files.Result(await GenerateAsync(server, prompt, 1), TaskFiles.Video);
        var b = files.Result(await GenerateAsync(server, prompt, 2), TaskFiles.Video);
        using var store = ArenaStore.Open(server.DataDir, create: true);
        store.AddEntry("model-a", prompt, 1, a);
        store.AddEntry("model-b", prompt, 2, b);
    }
}
