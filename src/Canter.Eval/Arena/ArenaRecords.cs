namespace Canter.Eval.Arena;

/// <summary>How a voter judged a matchup. Written to arena.db by name: append only, never renamed.</summary>
public enum Outcome { Left, Right, Tie, BothBad }

/// <summary>The words voters use for an <see cref="Outcome"/> (left, right, tie, both_bad), on the command line and the web.</summary>
public static class Outcomes
{
    public static string Word(Outcome outcome) => outcome switch
    {
        Outcome.Left => "left",
        Outcome.Right => "right",
        Outcome.Tie => "tie",
        Outcome.BothBad => "both_bad",
        _ => throw new ArgumentOutOfRangeException(nameof(outcome), outcome, null),
    };

    public static Outcome Parse(string word) => word.Trim().ToLowerInvariant() switch
    {
        "left" => Outcome.Left,
        "right" => Outcome.Right,
        "tie" => Outcome.Tie,
        "both_bad" => Outcome.BothBad,
        _ => throw new ArgumentException($"the outcome must be left, right, tie or both_bad; got '{word}'"),
    };
}

/// <summary>
/// A generated video entered into the arena. <see cref="Path"/> is the arena's own anonymous copy (a random name,
/// the source's metadata removed); <see cref="Source"/> is where it was entered from (null for entries made before
/// the arena kept copies).
/// </summary>
public sealed record ArenaEntry(long Id, string Model, string Prompt, long Seed, string Path, string? Source, DateTimeOffset Created);

/// <summary>
/// Two generations of one prompt by two models, in the order voters see them. The models are in the record for the
/// code that scores votes; a page or command that shows a matchup shows only <see cref="Prompt"/> and the two paths.
/// </summary>
public sealed record Matchup(long Id, string Prompt, ArenaEntry Left, ArenaEntry Right);

/// <summary>One recorded vote.</summary>
public sealed record ArenaVote(long Matchup, Outcome Outcome, string Voter, DateTimeOffset Time);

/// <summary>One vote seen as a game between the two models (left model, right model, outcome), as the ratings read it.</summary>
public sealed record Game(string Left, string Right, Outcome Outcome);

/// <summary>How much the arena holds.</summary>
public sealed record ArenaCounts(int Entries, int Matchups, int Votes, int Voters);
