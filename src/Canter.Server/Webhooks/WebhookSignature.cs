using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Canter.Server.Webhooks;

/// <summary>
/// How a webhook delivery is signed, and how a receiver checks it. The header is
/// <c>Canter-Signature: t=TIMESTAMP,v1=HEX</c>: TIMESTAMP the Unix seconds of the attempt, HEX the lowercase
/// HMAC-SHA256, keyed by the UTF-8 bytes of the server's webhook secret, of <c>TIMESTAMP + "." + BODY</c> where BODY is
/// the raw request body exactly as received. A receiver recomputes it, compares in constant time, and refuses a
/// timestamp further than a few minutes from its clock (a replayed delivery), then de-duplicates by
/// <c>Canter-Event-Id</c> (a retried delivery carries the same id).
/// <code>
/// if (!WebhookSignature.Verify(secret, request.Headers["Canter-Signature"], body, TimeSpan.FromMinutes(5))) return 400;
/// </code>
/// In Python: <c>hmac.compare_digest(hmac.new(secret.encode(), f"{t}.{body}".encode(), "sha256").hexdigest(), v1)</c>.
/// </summary>
public static class WebhookSignature
{
    public const string Header = "Canter-Signature";
    public const string EventIdHeader = "Canter-Event-Id";

    public static string Sign(string secret, long timestamp, string body) =>
        $"t={timestamp.ToString(CultureInfo.InvariantCulture)},v1={Hex(secret, timestamp, body)}";

    /// <summary>
    /// Whether <paramref name="header"/> is a valid signature of <paramref name="body"/> by <paramref name="secret"/>
    /// made within <paramref name="tolerance"/> of <paramref name="now"/> (the clock when null). Several v1 values
    /// are accepted (one of them must match), so a secret can be rotated.
    /// </summary>
    public static bool Verify(string secret, string? header, string body, TimeSpan tolerance, DateTimeOffset? now = null)
    {
        if (string.IsNullOrEmpty(header)) return false;
        long? timestamp = null;
        var signatures = new List<string>();
        foreach (var part in header.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            int eq = part.IndexOf('=');
            if (eq <= 0) continue;
            var (key, value) = (part[..eq], part[(eq + 1)..]);
            if (key == "t" && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var t)) timestamp = t;
            else if (key == "v1") signatures.Add(value);
        }
        if (timestamp is not { } ts || signatures.Count == 0) return false;
        var age = (now ?? DateTimeOffset.UtcNow) - DateTimeOffset.FromUnixTimeSeconds(ts);
        if (age.Duration() > tolerance) return false;
        var expected = Encoding.ASCII.GetBytes(Hex(secret, ts, body));
        return signatures.Any(s => CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(s)));
    }

    private static string Hex(string secret, long timestamp, string body) =>
        Convert.ToHexString(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes($"{timestamp.ToString(CultureInfo.InvariantCulture)}.{body}"))).ToLowerInvariant();
}

/// <summary>
/// The server's webhook signing secret: made once (32 random bytes, as <c>whsec_HEX</c>), kept in the data folder as
/// <c>webhook-secret</c> readable by its owner only; <c>canter serve</c> prints where. Delete the file and restart to
/// rotate it.
/// </summary>
public sealed class WebhookSecret
{
    public WebhookSecret(string dataDir)
    {
        Path = System.IO.Path.Combine(dataDir, "webhook-secret");
        Value = KeyFiles.ReadOrCreate(Path, () => "whsec_" + Convert.ToHexString(RandomNumberGenerator.GetBytes(32)).ToLowerInvariant());
    }

    public string Path { get; }

    public string Value { get; }
}
