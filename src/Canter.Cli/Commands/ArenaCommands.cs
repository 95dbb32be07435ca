using System.CommandLine;
using System.Globalization;
using System.Text;
using Canter.Eval.Arena;
using Spectre.Console;

namespace Canter.Cli.Commands;

/// <summary>
/// <c>canter arena add | next | vote | leaderboard</c>: two anonymous generations of one prompt side by side, votes
/// kept in the data folder's <c>arena.db</c>, and Bradley-Terry ratings shown as Elo with bootstrap intervals.
/// Only <c>add</c> creates an arena; the others refuse a folder without one, so a mistyped <c>--data</c> writes nothing.
/// </summary>
public static class ArenaCommands
{
    public static Command Create()
    {
        var arena = new Command("arena", "Blind side-by-side votes between models and the leaderboard they make.");
        arena.Subcommands.Add(Add());
        arena.Subcommands.Add(Next());
        arena.Subcommands.Add(VoteCommand());
        arena.Subcommands.Add(Leaderboard());
        return arena;
    }

    private static Option<string> Data() => new("--data") { Description = "Data folder holding arena.db and arena-media/.", DefaultValueFactory = _ => "canter-data" };

    private static Option<string> Voter() => new("--voter") { Description = "Who votes (one vote per voter and matchup).", DefaultValueFactory = _ => Environment.UserName };

    private static Command Add()
    {
        var data = Data();
        var model = new Option<string>("--model") { Description = "Name of the model that made the file.", Required = true };
        var prompt = new Option<string>("--prompt") { Description = "The prompt it was made from (matchups pair entries of one prompt).", Required = true };
        var seed = new Option<long>("--seed") { Description = "Seed of the generation.", DefaultValueFactory = _ => 0 };
        var file = new Argument<string>("FILE") { Description = "The generated video (copied into the arena without its metadata)." };
        var command = new Command("add", "Enter a generated video into the arena; it is paired with the other models' videos of the same prompt.")
            { data, model, prompt, seed, file };
        command.SetAction(result =>
        {
            string path = Path.GetFullPath(result.GetValue(file)!);
            // checked before the store is opened, so that a bad entry does not leave an empty arena behind
            ArenaStore.CheckEntry(result.GetValue(model)!, result.GetValue(prompt)!, path);
            using var store = ArenaStore.Open(result.GetValue(data)!, create: true);
            int before = store.Counts().Matchups;
            var entry = store.AddEntry(result.GetValue(model)!, result.GetValue(prompt)!, result.GetValue(seed), path);
            var counts = store.Counts();
            Console.WriteLine($"entry: {entry.Id}");
            Console.WriteLine($"model: {entry.Model}");
            Console.WriteLine($"copy: {entry.Path}");
            Console.WriteLine($"new_matchups: {counts.Matchups - before}");
            Console.WriteLine($"arena_entries: {counts.Entries}");
            Console.WriteLine($"arena_matchups: {counts.Matchups}");
            return 0;
        });
        return command;
    }

    private static Command Next()
    {
        var data = Data();
        var voter = Voter();
        var command = new Command("next", "The next matchup for a voter: one prompt, two anonymous videos (left and right).") { data, voter };
        command.SetAction(result =>
        {
            using var store = ArenaStore.Open(result.GetValue(data)!);
            string who = result.GetValue(voter)!;
            var matchup = store.NextMatchup(who);
            if (matchup is null)
            {
                var counts = store.Counts();
                Console.Error.WriteLine(counts.Matchups == 0
                    ? "the arena has no matchups yet: add generations of one prompt by two or more models"
                    : $"'{who}' has judged all {counts.Matchups} matchups");
                Console.WriteLine("matchup: none");
                return 0;
            }
            Console.WriteLine($"matchup: {matchup.Id}");
            Console.WriteLine($"prompt: {matchup.Prompt}");
            Console.WriteLine($"left: {matchup.Left.Path}");
            Console.WriteLine($"right: {matchup.Right.Path}");
            return 0;
        });
        return command;
    }

    private static Command VoteCommand()
    {
        var data = Data();
        var voter = Voter();
        // read as text so that a bad id gets the same one-line error as an unknown one, not the parser's help page
        var matchup = new Argument<string>("MATCHUP") { Description = "Matchup id (from `arena next`)." };
        var outcome = new Argument<string>("OUTCOME") { Description = "left, right, tie or both_bad." };
        var command = new Command("vote", "Judge a matchup: left, right, tie or both_bad.") { data, voter, matchup, outcome };
        command.SetAction(result =>
        {
            string text = result.GetValue(matchup)!;
            if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long id))
                throw new ArgumentException($"the matchup must be a number from `canter arena next`; got '{text}'");
            var judged = Outcomes.Parse(result.GetValue(outcome)!);
            using var store = ArenaStore.Open(result.GetValue(data)!);
            var vote = store.Vote(id, judged, result.GetValue(voter)!);
            Console.WriteLine($"vote: matchup {vote.Matchup} {Outcomes.Word(vote.Outcome)} by {vote.Voter}");
            return 0;
        });
        return command;
    }

    private static Command Leaderboard()
    {
        var data = Data();
        var bootstrap = new Option<int>("--bootstrap") { Description = "Bootstrap resamples of the votes for the 95 % intervals (0: none).", DefaultValueFactory = _ => 1000 };
        var seed = new Option<int>("--seed") { Description = "Seed of the bootstrap (the same votes and seed give the same intervals).", DefaultValueFactory = _ => 0 };
        var anchor = new Option<string?>("--anchor") { Description = "Model placed at Elo 1000 (default: the mean of the rated models)." };
        var command = new Command("leaderboard", "Bradley-Terry ratings of the models, as Elo with bootstrap 95 % intervals.") { data, bootstrap, seed, anchor };
        command.SetAction(result =>
        {
            using var store = ArenaStore.Open(result.GetValue(data)!);
            var board = store.Leaderboard(new RatingOptions { Bootstrap = result.GetValue(bootstrap), Seed = result.GetValue(seed), Anchor = result.GetValue(anchor) });
            var counts = store.Counts();
            var table = new Table().Border(TableBorder.Simple)
                .AddColumn(new TableColumn("rank").RightAligned()).AddColumn("model").AddColumn(new TableColumn("Elo").RightAligned())
                .AddColumn(new TableColumn("95% CI").Centered()).AddColumn(new TableColumn("games").RightAligned())
                .AddColumn(new TableColumn("W/T/L").RightAligned()).AddColumn(new TableColumn("both_bad").RightAligned());
            int rank = 0;
            foreach (var r in board.Ratings)
                table.AddRow(new Text(r.Rated ? (++rank).ToString(CultureInfo.InvariantCulture) : "-"), new Text(r.Model),
                    new Text(r.Rated ? F0(r.Elo) : "unrated"), new Text(r.Rated && double.IsFinite(r.Low) ? $"{F0(r.Low)} .. {F0(r.High)}" : ""),
                    new Text(r.Games.ToString(CultureInfo.InvariantCulture)), new Text($"{r.Wins}/{r.Ties}/{r.Losses}"),
                    new Text(r.BothBad.ToString(CultureInfo.InvariantCulture)));
            AnsiConsole.Write(table);
            Console.WriteLine($"Bradley-Terry, ties half a win each, both_bad not rated; {(board.Anchor == "mean" ? "mean of the rated models" : board.Anchor)} at 1000; "
                + (board.Bootstrap > 0 ? $"95 % intervals from {board.Bootstrap} bootstrap resamples (seed {result.GetValue(seed)})" : "no intervals (--bootstrap 0)"));
            if (board.Groups > 1)
                Console.WriteLine($"note: the models fall into {board.Groups} groups that never met (no shared prompt); Elo between groups rests on the prior alone");
            if (!board.Converged) Console.WriteLine("note: a fit stopped at its iteration cap before converging");
            Console.WriteLine();
            Console.WriteLine($"arena_entries: {counts.Entries}");
            Console.WriteLine($"arena_matchups: {counts.Matchups}");
            Console.WriteLine($"arena_voters: {counts.Voters}");
            Console.WriteLine($"arena_votes: {board.Votes}");
            Console.WriteLine($"arena_decided: {board.Decided}");
            Console.WriteLine($"arena_ties: {board.Ties}");
            Console.WriteLine($"arena_both_bad: {board.BothBad}");
            Console.WriteLine($"arena_models: {board.Ratings.Count}");
            Console.WriteLine($"arena_rated_models: {board.Ratings.Count(r => r.Rated)}");
            Console.WriteLine($"arena_groups: {board.Groups}");
            foreach (var r in board.Ratings.Where(r => r.Rated))
            {
                string key = FigureName(r.Model);
                Console.WriteLine($"elo_{key}: {F1(r.Elo)}");
                if (double.IsFinite(r.Low)) Console.WriteLine($"elo_low_{key}: {F1(r.Low)}");
                if (double.IsFinite(r.High)) Console.WriteLine($"elo_high_{key}: {F1(r.High)}");
            }
            return 0;
        });
        return command;
    }

    private static string F0(double value) => value.ToString("0", CultureInfo.InvariantCulture);

    private static string F1(double value) => value.ToString("0.0", CultureInfo.InvariantCulture);

    /// <summary>A model name as a figure name: letters, digits, '.', '-' and '_' kept, anything else (a space, a colon) made '_'.</summary>
    private static string FigureName(string model)
    {
        var name = new StringBuilder(model.Length);
        foreach (char c in model) name.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_');
        return name.ToString();
    }
}
