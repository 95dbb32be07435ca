using System.CommandLine;
using System.Globalization;
using Canter.Eval.Arena;
using Canter.Media;

namespace Canter.Cli.Commands;

/// <summary>
/// <c>canter arena add | next | vote | leaderboard</c>: two anonymous generations of one prompt side by side, votes
/// stored in the data folder's <c>arena.db</c>, and Bradley-Terry ratings shown as Elo with bootstrap intervals.
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

    private static Option<string> Data() => new("--data") { Description = "Data folder holding arena.db (created on first use).", DefaultValueFactory = _ => "canter-data" };

    private static Option<string> Voter() => new("--voter") { Description = "Who votes (one vote per voter and matchup).", DefaultValueFactory = _ => Environment.UserName };

    private static Command Add()
    {
        var data = Data();
        var model = new Option<string>("--model") { Description = "Name of the model that made the file.", Required = true };
        var prompt = new Option<string>("--prompt") { Description = "The prompt it was made from (matchups pair entries of one prompt).", Required = true };
        var seed = new Option<long>("--seed") { Description = "Seed of the generation.", DefaultValueFactory = _ => 0 };
        var file = new Argument<string>("FILE") { Description = "The generated MP4." };
        var command = new Command("add", "Enter a generated video into the arena.") { data, model, prompt, seed, file };
        command.SetAction(result =>
        {
            string path = Path.GetFullPath(result.GetValue(file)!);
            if (!File.Exists(path)) throw new FileNotFoundException($"no such file: {path}");
            var info = MediaProbe.Probe(path);
            // a still image probes as a one-frame video stream: the arena compares videos
            if (!info.HasVideo || info.Format.Contains("_pipe", StringComparison.Ordinal) || info.Format.Contains("image2", StringComparison.Ordinal) || !(info.Seconds > 0))
                throw new InvalidDataException($"{path} is not a video ({info.Format})");
            using var store = ArenaStore.Open(result.GetValue(data)!);
            var entry = store.AddEntry(result.GetValue(model)!, result.GetValue(prompt)!, result.GetValue(seed), path);
            Console.WriteLine($"entry {entry.Id}: {entry.Model} \"{entry.Prompt}\"");
            return 0;
        });
        return command;
    }

    private static Command Next()
    {
        var data = Data();
        var voter = Voter();
        var command = new Command("next", "The next matchup to judge: one prompt, two anonymous videos.") { data, voter };
        command.SetAction(result =>
        {
            using var store = ArenaStore.Open(result.GetValue(data)!);
            var matchup = store.NextMatchup(result.GetValue(voter)!);
            if (matchup is null) { Console.WriteLine("no matchup left to judge"); return 0; }
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
        var matchup = new Argument<long>("MATCHUP") { Description = "Matchup id (from `arena next`)." };
        var outcome = new Argument<string>("OUTCOME") { Description = "left, right, tie or both_bad." };
        var command = new Command("vote", "Judge a matchup.") { data, voter, matchup, outcome };
        command.SetAction(result =>
        {
            var o = result.GetValue(outcome)!.ToLowerInvariant() switch
            {
                "left" => Outcome.Left,
                "right" => Outcome.Right,
                "tie" => Outcome.Tie,
                "both_bad" => Outcome.BothBad,
                var other => throw new ArgumentException($"outcome must be left, right, tie or both_bad; got '{other}'"),
            };
            using var store = ArenaStore.Open(result.GetValue(data)!);
            store.Vote(result.GetValue(matchup), o, result.GetValue(voter)!);
            Console.WriteLine("vote recorded");
            return 0;
        });
        return command;
    }

    private static Command Leaderboard()
    {
        var data = Data();
        var bootstrap = new Option<int>("--bootstrap") { Description = "Bootstrap resamples for the 95 % intervals.", DefaultValueFactory = _ => 1000 };
        var seed = new Option<int>("--seed") { Description = "Seed of the bootstrap.", DefaultValueFactory = _ => 0 };
        var command = new Command("leaderboard", "Bradley-Terry ratings of the models, as Elo with bootstrap 95 % intervals.") { data, bootstrap, seed };
        command.SetAction(result =>
        {
            int resamples = result.GetValue(bootstrap);
            if (resamples is < 0 or > 100_000) throw new ArgumentException($"--bootstrap must be in 0..100000; got {resamples}");
            using var store = ArenaStore.Open(result.GetValue(data)!);
            var games = store.Games();
            var board = BradleyTerry.Leaderboard(games, store.Models(), resamples, result.GetValue(seed));
            Console.WriteLine($"{"rank",4}  {"model",-24} {"Elo",6}  {"95% interval",-13} {"games",5}  W/T/L");
            int rank = 0;
            foreach (var r in board)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{(r.Rated ? (++rank).ToString(CultureInfo.InvariantCulture) : "-"),4}  {r.Model,-24} "
                    + $"{(r.Rated ? r.Elo.ToString("0", CultureInfo.InvariantCulture) : "unrated"),6}  {(r.Rated ? $"{r.Low:0} .. {r.High:0}" : ""),-13} {r.Games,5}  {r.Wins}/{r.Ties}/{r.Losses}"));
            Console.WriteLine();
            Console.WriteLine($"arena_votes: {games.Count}");
            Console.WriteLine($"arena_both_bad: {games.Count(g => g.Outcome == Outcome.BothBad)}");
            foreach (var r in board.Where(r => r.Rated))
                Console.WriteLine(FormattableString.Invariant($"elo_{FigureName(r.Model)}: {r.Elo:0.0}"));
            return 0;
        });
        return command;
    }

    // figure lines are read as `name: value`; a model name with spaces or colons would break that reading
    private static string FigureName(string model) =>
        string.Concat(model.Select(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' ? c : '_'));
}
