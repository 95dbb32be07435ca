using System.CommandLine;
using Canter.Server.Keys;

namespace Canter.Cli.Commands;

/// <summary>
/// <c>canter keys create | list | revoke</c>: the API keys of a data folder, stored as hashes in its tasks.db, or with
/// <c>--store postgres://...</c> in the database a scale-out shares. A running <c>canter serve</c> on that folder or
/// database accepts a new key and refuses a revoked one from the next request on.
/// <code>
/// canter keys create --name alice --rate-limit 60/min --quota 600/day --concurrency 2   # the key is the last line
/// canter keys list
/// canter keys revoke alice
/// </code>
/// </summary>
public static class KeysCommands
{
    public static Command Create()
    {
        var keys = new Command("keys", "API keys of a data folder: create, list, revoke. Clients send a key as 'Authorization: Bearer KEY'.");
        keys.Subcommands.Add(CreateKey());
        keys.Subcommands.Add(List());
        keys.Subcommands.Add(Revoke());
        return keys;
    }

    private static Option<string> Data() =>
        new("--data") { Description = "The server's data folder (its tasks.db holds the keys).", DefaultValueFactory = _ => "canter-data" };

    /// <summary>The store the servers were started with: <c>--store</c>, else Canter__Store, else none (the data folder's tasks.db).</summary>
    private static string? Store(ParseResult result, Option<string> store) =>
        result.GetValue(store) is { Length: > 0 } s ? s : Environment.GetEnvironmentVariable("Canter__Store") is { Length: > 0 } env ? env : null;

    private static Command CreateKey()
    {
        var data = Data();
        var name = new Option<string>("--name") { Description = "Who the key is for (unique among keys not revoked).", Required = true };
        var rate = new Option<string?>("--rate-limit") { Description = "Requests per minute, like 60/min (default: the server's)." };
        var quota = new Option<string?>("--quota") { Description = "Seconds of video per 24 hours, like 600/day (default: the server's)." };
        var concurrency = new Option<int?>("--concurrency") { Description = "Unfinished tasks at once (default: the server's)." };
        var store = ServeCommand.StoreOption();
        var command = new Command("create", "Make a key; it is printed once, as the last line, and only its hash is stored.") { data, store, name, rate, quota, concurrency };
        command.SetAction(async (result, cancel) =>
        {
            var limits = KeyAdmin.Limits(result.GetValue(rate), result.GetValue(quota), result.GetValue(concurrency));
            var dir = result.GetValue(data)!;
            var where = Store(result, store);
            var (key, secret) = await KeyAdmin.CreateAsync(dir, result.GetValue(name)!, limits, cancel, where);
            Console.WriteLine($"created key {key.Id} '{key.Name}' in {KeyAdmin.Location(dir, where)}; it is shown once, here, and not kept:");
            Console.WriteLine(secret);
            return 0;
        });
        return command;
    }

    private static Command List()
    {
        var data = Data();
        var store = ServeCommand.StoreOption();
        var command = new Command("list", "Every key: id, name, created, revoked, limits (never the key itself).") { data, store };
        command.SetAction(async (result, cancel) =>
        {
            var all = await KeyAdmin.ListAsync(result.GetValue(data)!, cancel, Store(result, store));
            if (all.Count == 0) Console.WriteLine("no keys (the server is open unless started with --api-key)");
            foreach (var key in all) Console.WriteLine(KeyAdmin.Describe(key));
            return 0;
        });
        return command;
    }

    private static Command Revoke()
    {
        var data = Data();
        var which = new Argument<string>("ID|NAME") { Description = "The key's id (from 'keys list') or its name." };
        var store = ServeCommand.StoreOption();
        var command = new Command("revoke", "Revoke a key: a running server refuses it from the next request on.") { data, store, which };
        command.SetAction(async (result, cancel) =>
        {
            var key = await KeyAdmin.RevokeAsync(result.GetValue(data)!, result.GetValue(which)!, cancel, Store(result, store));
            Console.WriteLine($"revoked key {key.Id} '{key.Name}'");
            return 0;
        });
        return command;
    }
}
