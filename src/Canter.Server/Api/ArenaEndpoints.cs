using System.Globalization;
using System.Text.RegularExpressions;
using Canter.Eval.Arena;
using Canter.Server.Storage;
using Canter.Server.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Canter.Server.Api;

/// <summary>
/// The arena on the web, over the data folder's <c>arena.db</c> (the store <c>canter arena</c> uses): the next blind
/// matchup for the caller, its two videos, votes (the models are named only in the answer to a vote), the leaderboard,
/// and entering a succeeded task. The voter is the API key's id, or on an open server a random id kept in a cookie.
/// <code>
/// curl -s localhost:8000/api/arena/next -c jar -b jar
/// curl -s localhost:8000/api/arena/votes -c jar -b jar -H 'Content-Type: application/json' -d '{"matchup":1,"outcome":"left"}'
/// curl -s localhost:8000/api/arena/leaderboard
/// </code>
/// </summary>
public static partial class ArenaEndpoints
{
    public const string VoterCookie = "canter_voter";

    private static readonly string[] VoteFields = ["matchup", "outcome"];
    private static readonly string[] EntryFields = ["task_id"];

    public static RouteGroupBuilder MapArenaEndpoints(this IEndpointRouteBuilder app)
    {
        var arena = app.MapGroup("/api/arena").AddEndpointFilter<ApiKeyFilter>().AddEndpointFilter<ApiExceptionFilter>().WithTags("arena");
        arena.MapGet("/next", Next).WithSummary("Arena: the caller's next blind matchup (a prompt and two videos, no models), or why there is none");
        arena.MapGet("/matchups/{id}/{side}", Media).WithSummary("Arena: the left or right video of a matchup (MP4)");
        arena.MapPost("/votes", Vote).DisableAntiforgery().WithSummary("Arena: vote left, right, tie or both_bad on a matchup; answers with both models");
        arena.MapGet("/leaderboard", Leaderboard).WithSummary("Arena: Bradley-Terry ratings as Elo with bootstrap 95 % intervals");
        arena.MapPost("/entries", Enter).DisableAntiforgery().WithSummary("Arena: enter a succeeded task under its model and prompt");
        return arena;
    }

    /// <summary>The caller's next matchup without its models, or none with the reason (an empty arena, or all judged).</summary>
    public static Results<Ok<ArenaNextView>, ProblemHttpResult> Next(HttpContext http, ArenaService arena)
    {
        var voter = Voter(http);
        var store = arena.Store();
        if (store is null) return TypedResults.Ok(new ArenaNextView("arena.next", null, new ArenaCounts(0, 0, 0, 0), 0, EmptyMessage));
        var matchup = store.NextMatchup(voter);
        var counts = store.Counts();
        int mine = store.VotesOf(voter).Count;
        string? message = matchup is not null ? null
            : counts.Matchups == 0 ? EmptyMessage
            : $"you have judged all {counts.Matchups} matchups; new ones appear when generations of one prompt by another model are entered";
        return TypedResults.Ok(new ArenaNextView("arena.next", matchup is null ? null : MatchupView.Of(matchup), counts, mine, message));
    }

    /// <summary>One side's video of a matchup, by matchup and side, so that the address says nothing about the model.</summary>
    public static Results<PhysicalFileHttpResult, ProblemHttpResult> Media(string id, string side, HttpContext http, ArenaService arena)
    {
        var matchup = Find(arena, id);
        var entry = side switch
        {
            "left" => matchup.Left,
            "right" => matchup.Right,
            _ => throw ApiException.NotFound($"side '{Clip(side)}' (a matchup has a left and a right video)"),
        };
        if (!File.Exists(entry.Path)) throw ApiException.NotFound($"the {side} video of matchup {matchup.Id} (the arena's copy is missing)");
        http.Response.Headers.CacheControl = "private, max-age=3600";
        return TypedResults.PhysicalFile(entry.Path, "video/mp4", enableRangeProcessing: true);
    }

    /// <summary>Records the caller's vote (left, right, tie or both_bad) and reveals the two models.</summary>
    public static async Task<Results<Created<VoteView>, ProblemHttpResult>> Vote(HttpContext http, ArenaService arena, CancellationToken cancel)
    {
        var fields = await RequestFields.ReadAsync(http.Request, cancel);
        Known(fields, VoteFields);
        var matchupText = fields.Text("matchup") ?? throw ApiException.BadRequest("matchup: the matchup voted on is required", "matchup");
        var outcomeText = fields.Text("outcome") ?? throw ApiException.BadRequest("outcome: the outcome is required (left, right, tie or both_bad)", "outcome");
        if (!long.TryParse(matchupText, NumberStyles.None, CultureInfo.InvariantCulture, out long matchupId) || matchupId <= 0)
            throw ApiException.BadRequest($"matchup: '{Clip(matchupText)}' is not a matchup id", "matchup");
        Outcome outcome;
        try { outcome = Outcomes.Parse(outcomeText); }
        catch (ArgumentException e) { throw ApiException.BadRequest("outcome: " + e.Message, "outcome"); }

        var voter = Voter(http);
        var store = arena.Store() ?? throw ApiException.NotFound($"matchup {matchupId}");
        var matchup = store.Find(matchupId) ?? throw ApiException.NotFound($"matchup {matchupId}");
        if (store.VotesOf(voter).Any(v => v.Matchup == matchupId))
            throw new ApiException(409, "already_voted", $"you have already voted on matchup {matchupId}; each voter judges a matchup once");
        ArenaVote vote;
        try { vote = store.Vote(matchupId, outcome, voter); }
        catch (ArgumentException e) { throw new ApiException(409, "already_voted", e.Message); }   // a race with the caller's own second request
        var view = new VoteView("arena.vote", matchupId, Outcomes.Word(outcome), vote.Time,
            new RevealView(matchup.Left.Model, matchup.Left.Seed), new RevealView(matchup.Right.Model, matchup.Right.Seed), store.Counts());
        return TypedResults.Created("/api/arena/leaderboard", view);
    }

    /// <summary>Bradley-Terry ratings as Elo with bootstrap 95 % intervals, as <c>canter arena leaderboard</c> computes them.</summary>
    public static Results<Ok<LeaderboardView>, ProblemHttpResult> Leaderboard(HttpContext http, ArenaService arena)
    {
        var store = arena.Store();
        if (store is null) return TypedResults.Ok(new LeaderboardView("arena.leaderboard", [], 0, 0, 0, 0, 0, null, 0, true, new ArenaCounts(0, 0, 0, 0)));
        var (board, counts) = arena.Leaderboard(store);
        int rank = 0;
        var rows = board.Ratings.Select(r => new RatingView(r.Rated ? ++rank : null, r.Model, Finite(r.Elo), Finite(r.Low), Finite(r.High),
            r.Wins, r.Ties, r.Losses, r.BothBad, r.Games + r.BothBad, r.Rated)).ToList();
        return TypedResults.Ok(new LeaderboardView("arena.leaderboard", rows, board.Votes, board.Decided, board.Ties, board.BothBad, board.Groups,
            board.Anchor, board.Bootstrap, board.Converged, counts));
    }

    /// <summary>Enters a succeeded task of the caller's into the arena under its model and prompt (the arena is created if need be).</summary>
    public static async Task<Results<Created<EntryView>, ProblemHttpResult>> Enter(HttpContext http, ArenaService arena, TaskService tasks, CancellationToken cancel)
    {
        var fields = await RequestFields.ReadAsync(http.Request, cancel);
        Known(fields, EntryFields);
        var id = fields.Text("task_id");
        if (string.IsNullOrWhiteSpace(id)) throw ApiException.BadRequest("task_id: the task to enter is required", "task_id");
        var owner = ApiKeyFilter.Owner(http);
        var task = await tasks.GetAsync(id, owner, cancel);
        var result = await tasks.ResultAsync(id, owner, TaskFiles.Video, cancel);
        await using var video = await LocalCopy.OfAsync(result, cancel);   // a bucket's object: the arena reads a file
        var (entry, matchups, counts) = await Task.Run(() => arena.Enter(task.Model, task.Spec.Prompt, unchecked((long)task.Spec.Seed), video.Path), cancel);
        return TypedResults.Created("/api/arena/next", new EntryView("arena.entry", entry.Id, task.Id, entry.Model, entry.Prompt, matchups, counts));
    }

    /// <summary>
    /// Who votes: the API key's id when the server has keys, else the id in the <see cref="VoterCookie"/> cookie, set
    /// here when missing or malformed. The two kinds are prefixed so that they never collide.
    /// </summary>
    public static string Voter(HttpContext http)
    {
        if (ApiKeyFilter.Owner(http) is { } owner) return "key:" + owner;
        var id = http.Request.Cookies[VoterCookie];
        if (id is null || !VoterId().IsMatch(id))
        {
            id = Guid.NewGuid().ToString("N");
            http.Response.Cookies.Append(VoterCookie, id, new CookieOptions
            {
                HttpOnly = true, SameSite = SameSiteMode.Lax, Path = "/", MaxAge = TimeSpan.FromDays(365), Secure = http.Request.IsHttps, IsEssential = true,
            });
        }
        return "web:" + id;
    }

    private const string EmptyMessage =
        "the arena has no matchups yet: enter generations of one prompt by two or more models, with `canter arena add --data DATA --model NAME --prompt \"...\" FILE` " +
        "(DATA is this server's data folder) or, for this server's model, from a finished task in the history";

    private static Matchup Find(ArenaService arena, string id)
    {
        if (!long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out long matchupId)) throw ApiException.NotFound($"matchup '{Clip(id)}'");
        return arena.Store()?.Find(matchupId) ?? throw ApiException.NotFound($"matchup {matchupId}");
    }

    private static void Known(RequestFields fields, string[] known)
    {
        foreach (var name in fields.Names)
            if (!known.Contains(name)) throw ApiException.BadRequest($"{Clip(name)}: unknown field (this route takes {string.Join(", ", known)})", name, "unknown_field");
    }

    private static double? Finite(double x) => double.IsFinite(x) ? Math.Round(x, 1) : null;

    private static string Clip(string text) => text.Length <= 40 ? text : text[..40] + "...";

    [GeneratedRegex("^[0-9a-f]{32}$")]
    private static partial Regex VoterId();
}

/// <summary>
/// The arena store the server shares between requests: opened on first use, and only created by an entry, so that
/// reading an empty arena leaves no <c>arena.db</c> behind. The leaderboard is kept until the votes or entries change.
/// </summary>
public sealed class ArenaService(TaskFiles files) : IDisposable
{
    private readonly Lock _gate = new();
    private ArenaStore? _store;
    private (ArenaCounts Counts, Leaderboard Board)? _board;

    /// <summary>The arena, or null while the data folder has none.</summary>
    public ArenaStore? Store() => Open(create: false);

    public (ArenaEntry Entry, int NewMatchups, ArenaCounts Counts) Enter(string model, string prompt, long seed, string video)
    {
        try
        {
            ArenaStore.CheckEntry(model, prompt, video);
            var store = Open(create: true)!;
            int before = store.Counts().Matchups;
            var entry = store.AddEntry(model, prompt, seed, video);
            var counts = store.Counts();
            return (entry, counts.Matchups - before, counts);
        }
        catch (ArgumentException e) when (e.Message.Contains("already in the arena", StringComparison.Ordinal))
        {
            throw new ApiException(409, "already_entered", "this task's video is already in the arena");
        }
        catch (Exception e) when (e is ArgumentException or InvalidDataException or FileNotFoundException)
        {
            throw new ApiException(422, "invalid_entry", $"the task cannot be entered: {e.Message}");
        }
    }

    public (Leaderboard Board, ArenaCounts Counts) Leaderboard(ArenaStore store)
    {
        var counts = store.Counts();
        lock (_gate)
            if (_board is { } cached && cached.Counts == counts) return (cached.Board, counts);
        var board = store.Leaderboard(new RatingOptions());
        lock (_gate) _board = (counts, board);
        return (board, counts);
    }

    public void Dispose()
    {
        lock (_gate) _store?.Dispose();
    }

    private ArenaStore? Open(bool create)
    {
        lock (_gate)
        {
            if (_store is not null) return _store;
            if (!create && !File.Exists(Path.Combine(files.Root, ArenaStore.FileName))) return null;
            try { return _store = ArenaStore.Open(files.Root, create); }
            catch (InvalidDataException e) { throw new ApiException(503, "arena_unavailable", e.Message); }
        }
    }
}

public sealed record ArenaNextView(string Object, MatchupView? Matchup, ArenaCounts Counts, int YourVotes, string? Message);

/// <summary>A matchup as voters see it: the prompt and two anonymous videos, never the models.</summary>
public sealed record MatchupView(long Id, string Prompt, string Left, string Right)
{
    public static MatchupView Of(Matchup m) => new(m.Id, m.Prompt, $"/api/arena/matchups/{m.Id}/left", $"/api/arena/matchups/{m.Id}/right");
}

public sealed record RevealView(string Model, long Seed);

public sealed record VoteView(string Object, long Matchup, string Outcome, DateTimeOffset Time, RevealView Left, RevealView Right, ArenaCounts Counts);

/// <summary>One leaderboard row; Elo and its interval are null for a model with no decided or tied game.</summary>
public sealed record RatingView(int? Rank, string Model, double? Elo, double? Low, double? High, int Wins, int Ties, int Losses, int BothBad, int Votes, bool Rated);

public sealed record LeaderboardView(string Object, IReadOnlyList<RatingView> Ratings, int Votes, int Decided, int Ties, int BothBad, int Groups,
    string? Anchor, int Bootstrap, bool Converged, ArenaCounts Counts);

public sealed record EntryView(string Object, long Id, string TaskId, string Model, string Prompt, int NewMatchups, ArenaCounts Counts);
