using Canter.Server.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Canter.Server.Storage;

/// <summary>Picks the result store <see cref="ServerOptions.Results"/> names: the data folder when empty, else an S3 bucket.</summary>
public static class ResultStores
{
    public static IResultStore Create(ServerOptions options, TaskFiles files) =>
        options.Results is { Length: > 0 } url
            ? new S3ResultStore(S3Location.Parse(url), options.S3Endpoint, options.S3Region, options.DataDir)
            : new DirectoryResultStore(files);

    /// <summary>One line saying where results go (a malformed --results is an error here, before anything starts).</summary>
    public static string Describe(ServerOptions options) =>
        options.Results is { Length: > 0 } url
            ? $"the bucket {S3Location.Parse(url)}" + (options.S3Endpoint is { Length: > 0 } e ? $" at {e}" : $" in {options.S3Region}")
            : $"the folder {Path.Combine(Path.GetFullPath(options.DataDir), "results")}";

    public static IServiceCollection AddResultStore(this IServiceCollection services) =>
        services.AddSingleton(sp => Create(sp.GetRequiredService<IOptions<ServerOptions>>().Value, sp.GetRequiredService<TaskFiles>()));

    /// <summary>At start: a bucket that cannot be written fails the start with the reason, not the first task.</summary>
    public static void CheckAtStart(IServiceProvider services) =>
        services.GetRequiredService<IResultStore>().CheckAsync(CancellationToken.None).GetAwaiter().GetResult();
}
