using Canter.Server.Storage;

namespace Canter.Server.Api;

/// <summary>Reading results from a request: a result store that fails is a 503 that says why, not a 500.</summary>
public static class ResultAccess
{
    public static async Task<ResultFile?> OpenForRequestAsync(this IResultStore results, string id, string file, CancellationToken cancel)
    {
        try { return await results.OpenAsync(id, file, cancel); }
        catch (ResultStoreException e) { throw new ApiException(503, "result_store_unavailable", e.Message) { RetryAfter = TimeSpan.FromSeconds(30) }; }
    }
}
