using Canter.Server.Keys;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Canter.Server.Api;

/// <summary>
/// Requires a valid API key (Authorization: Bearer KEY, as OpenAI clients send it, or X-Api-Key) and scopes every task
/// to the key that made it: a client sees, cancels and deletes only its own tasks. Keys come from the configuration
/// (--api-key) and from the data folder's key store (<c>canter keys create</c>), which is read on every request, so a
/// new key works and a revoked one is refused from the next request on. With no key configured and none ever stored the
/// server is open (local use) and all tasks are shared. Each key's requests per minute are limited here (429,
/// <c>rate_limited</c>, with Retry-After). Keys are kept and stored only as hashes.
/// </summary>
public sealed class ApiKeyFilter(IOptions<ServerOptions> options, IKeyStore store, KeyRateLimiter limiter) : IEndpointFilter
{
    private const string OwnerItem = "canter.owner";
    private readonly HashSet<string> _keys = options.Value.ApiKeys.Where(k => !string.IsNullOrWhiteSpace(k)).Select(KeyId).ToHashSet(StringComparer.Ordinal);
    private volatile bool _storeHasKeys;   // once true it stays true: revoked keys stay in the store

    /// <summary>The id tasks are stored under for a key: the first 24 hex digits of its SHA-256, never the key itself.</summary>
    public static string KeyId(string key) => ApiKeySecrets.Id(ApiKeySecrets.Sha256(key));

    /// <summary>The caller's key id, or null on an open server.</summary>
    public static string? Owner(HttpContext context) => context.Items[OwnerItem] as string;

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var cancel = http.RequestAborted;
        string? key = http.Request.Headers.Authorization.ToString() is { Length: > 7 } auth && auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            ? auth[7..] : http.Request.Headers["X-Api-Key"].ToString();
        if (string.IsNullOrWhiteSpace(key)) key = null;
        string? owner = null;
        int rateLimit = options.Value.RateLimitPerMinute;
        ApiKeyRecord? stored = null;
        if (key is not null)
        {
            var sha = ApiKeySecrets.Sha256(key);
            if (_keys.Contains(ApiKeySecrets.Id(sha))) owner = ApiKeySecrets.Id(sha);
            else if ((stored = await store.FindByHashAsync(sha, cancel)) is { Revoked: false })
            {
                owner = stored.Id;
                rateLimit = stored.RateLimit ?? rateLimit;
            }
        }
        if (owner is null && (_keys.Count > 0 || await StoreHasKeysAsync(cancel)))
        {
            http.Response.Headers.WWWAuthenticate = "Bearer";
            return Problems.Of(http, 401, "invalid_api_key", key is null
                ? "this server requires an API key: send 'Authorization: Bearer KEY' or 'X-Api-Key: KEY'"
                : stored is { Revoked: true } ? "the API key has been revoked" : "the API key is not valid on this server");
        }
        if (owner is not null)
        {
            var (allowed, retryAfter) = limiter.TryTake(owner, rateLimit);
            if (!allowed)
            {
                Problems.SetRetryAfter(http, retryAfter);
                return Problems.Of(http, 429, "rate_limited", $"this API key may make {rateLimit} requests a minute; try again in {Math.Max(1, Math.Ceiling(retryAfter.TotalSeconds))} s");
            }
            http.Items[OwnerItem] = owner;
        }
        return await next(context);
    }

    private async ValueTask<bool> StoreHasKeysAsync(CancellationToken cancel) => _storeHasKeys || (_storeHasKeys = await store.AnyAsync(cancel));
}
