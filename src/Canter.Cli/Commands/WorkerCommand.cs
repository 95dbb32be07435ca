using System.CommandLine;
using Canter.Server;
using Microsoft.Extensions.Hosting;

namespace Canter.Cli.Commands;

/// <summary>
/// <c>canter worker --store postgres://... --data DIR</c>: a generation worker with no HTTP, for servers started with
/// <c>canter serve --store ... --no-workers</c>. Run any number on any number of machines: they share the PostgreSQL
/// database (each task is claimed by one worker under a lease) and the data folder, which on several machines must be
/// one shared mount (NFS, SMB, ...) that every server and worker sees at its path: inputs are read and results written
/// there, unless <c>--results s3://BUCKET</c> puts the results into a bucket shared by all (inputs and keys stay in the
/// folder). SIGTERM puts the running task back in the queue; a worker killed outright loses its lease, and another runs
/// the task again.
/// </summary>
public static class WorkerCommand
{
    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = "The data folder shared with the servers (inputs and results).", DefaultValueFactory = _ => "canter-data" };
        var model = new Option<string>("--model") { Description = "Model folder.", DefaultValueFactory = _ => VaeCommands.DefaultModelDir };
        var device = new Option<string>("--device") { Description = "cpu or cuda.", DefaultValueFactory = _ => "cpu" };
        var store = ServeCommand.StoreOption();
        var command = new Command("worker", "Generate the queued tasks of a shared PostgreSQL store, with no HTTP (scale-out beside 'canter serve --no-workers').")
            { store, data, model, device };
        var results = ServeCommand.ResultOptions.AddTo(command);
        command.SetAction(async (result, cancel) =>
        {
            var dir = result.GetValue(model)!;
            ServeCommand.ModelBundleCheck(dir);
            var settings = new Dictionary<string, string?>
            {
                ["Canter:DataDir"] = Path.GetFullPath(result.GetValue(data)!),
                ["Canter:ModelDir"] = Path.GetFullPath(dir),
                ["Canter:Device"] = result.GetValue(device),
            };
            if (result.GetValue(store) is { Length: > 0 } s) settings["Canter:Store"] = s;
            var storeLine = ServeCommand.StoreLine(settings);
            var resultsLine = results.Apply(result, settings);
            if (storeLine.Contains("SQLite", StringComparison.Ordinal))
                throw new ArgumentException("a worker needs --store postgres://...: the SQLite store belongs to the one 'canter serve' that uses its data folder");
            Console.WriteLine(storeLine);
            Console.WriteLine(resultsLine);
            using var host = CanterServer.CreateWorker(settings);
            await host.StartAsync(cancel);
            Console.WriteLine($"worker running; data in {settings["Canter:DataDir"]}");
            await host.WaitForShutdownAsync(cancel);
            return 0;
        });
        return command;
    }
}
