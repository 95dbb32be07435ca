using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Canter.Server.Api;

/// <summary>
/// Requires one of the configured API keys (Authorization: Bearer KEY, as OpenAI clients send it, or X-Api-Key) and
/// scopes every task to the key that made it: a client sees, cancels and deletes only its own tasks. With no keys
/// configured the server is open (local use) and all tasks are shared. Keys are kept and stored only as hashes.
/// </summary>
public sealed class ApiKeyFilter(IOptions<ServerOptions> options) : IEndpointFilter
{
    private const string OwnerItem = "canter.owner";
    private readonly HashSet<string> _keys = options.Value.ApiKeys.Where(k => !string.IsNullOrWhiteSpace(k)).Select(KeyId).ToHashSet(StringComparer.Ordinal);

    /// <summary>The id tasks are stored under for a key: the first 24 hex digits of its SHA-256, never the key itself.</summary>
    public static string KeyId(string key) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key.Trim())))[..24].ToLowerInvariant();

    /// <summary>The caller's key id, or null on an open server.</summary>
    public static string? Owner(HttpContext context) => context.Items[OwnerItem] as string;

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        if (_keys.Count > 0)
        {
            string? key = http.Request.Headers.Authorization.ToString() is { Length: > 7 } auth && auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
                ? auth[7..] : http.Request.Headers["X-Api-Key"].ToString();
            if (string.IsNullOrWhiteSpace(key) || !_keys.Contains(KeyId(key)))
            {
                http.Response.Headers.WWWAuthenticate = "Bearer";
                return Problems.Of(http, 401, "invalid_api_key", string.IsNullOrWhiteSpace(key)
                    ? "this server requires an API key: send 'Authorization: Bearer KEY' or 'X-Api-Key: KEY'"
                    : "the API key is not valid on this server");
            }
            http.Items[OwnerItem] = KeyId(key);
        }
        return await next(context);
    }
}
