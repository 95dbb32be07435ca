using System.Security.Cryptography;
using System.Text;

namespace Canter.Server.Keys;

/// <summary>
/// An API key as the store keeps it: never the key itself, only its SHA-256, and the key's own limits (null: the
/// server's defaults from <see cref="ServerOptions"/>). A revoked key stays in the store, so its name and id keep
/// meaning something in the task history and a server whose last key was revoked does not fall open.
/// </summary>
/// <param name="Id">The first 24 hex digits of the key's SHA-256: the owner id its tasks are stored under (as for keys given with --api-key).</param>
/// <param name="Sha256">The whole SHA-256 of the key, in hex; a presented key is looked up by it.</param>
/// <param name="RateLimit">Requests per minute.</param>
/// <param name="QuotaSeconds">Seconds of video per rolling 24 hours.</param>
/// <param name="Concurrency">Unfinished (queued or running) tasks at once.</param>
public sealed record ApiKeyRecord(string Id, string Name, string Sha256, DateTimeOffset CreatedAt, DateTimeOffset? RevokedAt,
    int? RateLimit, double? QuotaSeconds, int? Concurrency)
{
    public bool Revoked => RevokedAt is not null;
}

/// <summary>The limits a new key gets; null leaves the server's default.</summary>
public sealed record KeyLimits(int? RateLimit = null, double? QuotaSeconds = null, int? Concurrency = null);

/// <summary>What an owner has asked of the server lately: its unfinished tasks, and the seconds of video counted against its quota.</summary>
/// <param name="OldestCounted">When the oldest task counted in <paramref name="Seconds"/> was submitted (its seconds leave the window 24 h later).</param>
public sealed record KeyUsage(int Unfinished, double Seconds, DateTimeOffset? OldestCounted);

/// <summary>Making keys and their ids and hashes, in one place so the filter, the store and the CLI agree.</summary>
public static class ApiKeySecrets
{
    /// <summary>The prefix of every key this server makes (so a leaked one is recognisable, by people and by secret scanners).</summary>
    public const string Prefix = "ck_";

    private const string Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

    /// <summary>A new key: the prefix and 40 characters drawn by the operating system's CSPRNG (about 238 bits).</summary>
    public static string NewKey() => Prefix + RandomNumberGenerator.GetString(Alphabet, 40);

    /// <summary>
    /// The SHA-256 of a key, in lower-case hex. Unsalted on purpose: a key is 238 random bits, so there is nothing to
    /// guess, and a presented key must be found by its hash in one indexed lookup.
    /// </summary>
    public static string Sha256(string key) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key.Trim()))).ToLowerInvariant();

    /// <summary>The owner id of a key (the first 24 hex digits of its SHA-256), the same as <see cref="Api.ApiKeyFilter.KeyId"/>.</summary>
    public static string Id(string sha256) => sha256[..24];
}
