using System.CommandLine;
using System.Globalization;
using Canter.Server;
using Canter.Server.Provenance;
using Canter.Server.Webhooks;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Canter.Cli.Commands;

/// <summary>
/// <c>canter serve [--port N] [--data DIR] [--workers N] [--store postgres://...] [--no-workers]</c>: the task API and
/// the OpenAI-style video API on one port, with the shipped model. Keys come from --api-key and from <c>canter keys
/// create</c> on the same data folder. With <c>--store</c> several servers and <c>canter worker</c>s on several machines
/// share one PostgreSQL database and one data folder (a shared mount); <c>--results s3://BUCKET[/PREFIX]</c> keeps the
/// results in an S3-compatible bucket instead.
/// </summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var port = new Option<int>("--port") { Description = "Port to listen on.", DefaultValueFactory = _ => 8000 };
        var host = new Option<string>("--host") { Description = "Address to listen on (0.0.0.0 for every interface).", DefaultValueFactory = _ => "127.0.0.1" };
        var data = new Option<string>("--data") { Description = "Folder of the task database, inputs and results (created when missing).", DefaultValueFactory = _ => "canter-data" };
        var model = new Option<string>("--model") { Description = "Model folder.", DefaultValueFactory = _ => VaeCommands.DefaultModelDir };
        var device = new Option<string>("--device") { Description = "cpu or cuda.", DefaultValueFactory = _ => "cpu" };
        var apiKeys = new Option<string[]>("--api-key") { Description = "A key clients must send as 'Authorization: Bearer KEY' (repeatable); without one the server is open.", AllowMultipleArgumentsPerToken = false };
        var allowUrls = new Option<bool>("--allow-url-inputs") { Description = "Let clients give inputs as http(s) URLs for the server to fetch." };
        var inputHosts = new Option<string[]>("--allow-input-host") { Description = "A host whose http(s) URLs inputs may name (repeatable; *.example.com for its subdomains).", AllowMultipleArgumentsPerToken = false };
        var workers = new Option<int>("--workers") { Description = "Generations at once, each by its own worker in this process.", DefaultValueFactory = _ => 1 };
        var rate = new Option<string?>("--rate-limit") { Description = "Requests per minute per key, like 60/min, for keys without their own (default: none)." };
        var quota = new Option<string?>("--quota") { Description = "Seconds of video per key per 24 hours, like 600/day, for keys without their own (default: none)." };
        var concurrency = new Option<int?>("--concurrency") { Description = "Unfinished tasks per key at once, for keys without their own (default: no cap)." };
        var store = StoreOption();
        var noWorkers = new Option<bool>("--no-workers") { Description = "Serve the API only; separate 'canter worker' processes generate." };
        var command = new Command("serve", "Serve the task API (/api/tasks) and the OpenAI-style video API (/v1/videos) on one port.")
            { port, host, data, model, device, apiKeys, allowUrls, inputHosts, workers, rate, quota, concurrency, store, noWorkers };
        var results = ResultOptions.AddTo(command);
        command.SetAction(async (result, cancel) =>
        {
            int p = result.GetValue(port);
            if (p is < 1 or > 65535) throw new ArgumentException($"--port {p} must be in [1, 65535]");
            int w = result.GetValue(workers);
            if (w is < 1 or > 64) throw new ArgumentException($"--workers {w} must be in [1, 64]");
            var dir = result.GetValue(model)!;
            ModelBundleCheck(dir);
            var settings = new Dictionary<string, string?>
            {
                ["Canter:DataDir"] = Path.GetFullPath(result.GetValue(data)!),
                ["Canter:ModelDir"] = Path.GetFullPath(dir),
                ["Canter:Device"] = result.GetValue(device),
                ["Canter:AllowUrlInputs"] = result.GetValue(allowUrls).ToString(CultureInfo.InvariantCulture),
                ["Canter:Workers"] = w.ToString(CultureInfo.InvariantCulture),
                ["Canter:RunWorkers"] = (!result.GetValue(noWorkers)).ToString(CultureInfo.InvariantCulture),
            };
            var limits = Canter.Server.Keys.KeyAdmin.Limits(result.GetValue(rate), result.GetValue(quota), result.GetValue(concurrency));
            if (limits.RateLimit is { } r) settings["Canter:RateLimitPerMinute"] = r.ToString(CultureInfo.InvariantCulture);
            if (limits.QuotaSeconds is { } q) settings["Canter:QuotaSecondsPerDay"] = q.ToString(CultureInfo.InvariantCulture);
            if (limits.Concurrency is { } c) settings["Canter:MaxTasksPerKey"] = c.ToString(CultureInfo.InvariantCulture);
            if (result.GetValue(store) is { Length: > 0 } s) settings["Canter:Store"] = s;   // else Canter__Store from the environment, or SQLite
            var storeLine = StoreLine(settings);
            var resultsLine = results.Apply(result, settings);
            if (result.GetValue(noWorkers) && storeLine.Contains("SQLite", StringComparison.Ordinal))
                throw new ArgumentException("--no-workers needs --store postgres://...: no other process can run the tasks of this server's SQLite store");
            var keys = result.GetValue(apiKeys) ?? [];
            for (int i = 0; i < keys.Length; i++) settings[$"Canter:ApiKeys:{i}"] = keys[i];
            var hosts = result.GetValue(inputHosts) ?? [];
            for (int i = 0; i < hosts.Length; i++) settings[$"Canter:AllowedInputHosts:{i}"] = hosts[i];
            var url = $"http://{result.GetValue(host)}:{p}";
            await using var app = CanterServer.Create(url, settings);
            Console.WriteLine(storeLine);
            Console.WriteLine(resultsLine);
            await app.StartAsync(cancel);
            Console.WriteLine($"serving {url} (tasks: {url}/api/tasks, OpenAI-style: {url}/v1/videos); data in {settings["Canter:DataDir"]}" +
                (result.GetValue(noWorkers) ? "; no workers here" : ""));
            Console.WriteLine($"webhook signing secret in {app.Services.GetRequiredService<WebhookSecret>().Path}; provenance key in " +
                $"{app.Services.GetRequiredService<ProvenanceKey>().Path} (public half at {url}/api/provenance/key)");
            Console.WriteLine($"studio: {url}/");
            await app.WaitForShutdownAsync(cancel);
            return 0;
        });
        return command;
    }

    /// <summary>
    /// --results s3://BUCKET[/PREFIX], --s3-endpoint URL and --s3-region: where results go, for serve and worker alike
    /// (credentials only from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, never an option that shows in a process list).
    /// </summary>
    internal sealed class ResultOptions
    {
        private readonly Option<string?> _results = new("--results")
        {
            Description = "Where results go: s3://BUCKET[/PREFIX] for an S3-compatible bucket shared by servers and workers " +
                          "(credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY); default the data folder's results/. Env: Canter__Results.",
        };
        private readonly Option<string?> _endpoint = new("--s3-endpoint") { Description = "URL of a self-hosted S3-compatible server (path-style addressing), like http://10.0.0.5:9000; default AWS S3." };
        private readonly Option<string?> _region = new("--s3-region") { Description = "The bucket's region (the signing region of a self-hosted server); default us-east-1." };

        public static ResultOptions AddTo(Command command)
        {
            var o = new ResultOptions();
            command.Options.Add(o._results);
            command.Options.Add(o._endpoint);
            command.Options.Add(o._region);
            return o;
        }

        /// <summary>Puts the options into <paramref name="settings"/> and returns the "results: ..." line (a malformed value fails here).</summary>
        public string Apply(ParseResult result, IDictionary<string, string?> settings)
        {
            if (result.GetValue(_results) is { Length: > 0 } r) settings["Canter:Results"] = r;
            if (result.GetValue(_endpoint) is { Length: > 0 } e) settings["Canter:S3Endpoint"] = e;
            if (result.GetValue(_region) is { Length: > 0 } g) settings["Canter:S3Region"] = g;
            string? Get(string name) => settings.TryGetValue($"Canter:{name}", out var v) && v is { Length: > 0 } ? v
                : Environment.GetEnvironmentVariable($"Canter__{name}") is { Length: > 0 } env ? env : null;
            var options = new ServerOptions { DataDir = settings["Canter:DataDir"]!, Results = Get("Results") ?? "", S3Endpoint = Get("S3Endpoint") ?? "" };
            if (Get("S3Region") is { } region) options.S3Region = region;
            if (options.Results.Length == 0 && (options.S3Endpoint.Length > 0 || result.GetValue(_region) is not null))
                throw new ArgumentException("--s3-endpoint and --s3-region need --results s3://BUCKET[/PREFIX]");
            return $"results: {Canter.Server.Storage.ResultStores.Describe(options)}";
        }
    }

    /// <summary>A wrong model folder is one clear line before anything listens.</summary>
    internal static void ModelBundleCheck(string dir) => Canter.Training.Unified.ModelBundle.ReadManifest(dir);

    internal static Option<string> StoreOption() => new("--store")
    {
        Description = "The task list: a PostgreSQL URL (postgres://user:password@host:port/database) or connection string shared by " +
                      "servers and workers; default an SQLite file in the data folder (one process). Env: Canter__Store.",
    };

    /// <summary>"store: ..." naming the store without its password (a malformed URL is an error here, before anything starts).</summary>
    internal static string StoreLine(IDictionary<string, string?> settings)
    {
        var options = new ServerOptions { DataDir = settings["Canter:DataDir"]!, Store = settings.TryGetValue("Canter:Store", out var s) ? s ?? "" : "" };
        if (options.Store.Length == 0 && Environment.GetEnvironmentVariable("Canter__Store") is { Length: > 0 } fromEnv) options.Store = fromEnv;
        return $"store: {Canter.Server.Tasks.TaskStores.Describe(options)}";
    }
}
