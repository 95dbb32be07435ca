using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Encodings.Web;

namespace Canter.Server.Provenance;

/// <summary>What checking a video against its manifest found.</summary>
public sealed record ManifestCheck(bool Verified, string Reason, string? KeyId = null);

/// <summary>
/// The signed manifest written beside every result (<c>manifest.json</c>). Its <c>manifest</c> field is a JSON text,
/// signed as those exact UTF-8 bytes, so any language can check it without re-serialising anything:
/// <code>
/// {
///   "manifest": "{\"format\":\"canter.manifest/1\",\"task_id\":...,\"ai_generated\":true,\"model\":...,\"weights_sha256\":...,
///                 \"parameters\":{...the generation record...},\"files\":{\"video.mp4\":{\"sha256\":...,\"bytes\":...},\"poster.png\":{...}}}",
///   "signature": {"alg": "ES256", "key_id": "...", "public_key": "BASE64 SPKI", "value": "BASE64 r||s"}
/// }
/// </code>
/// ES256 is ECDSA P-256 with SHA-256, the signature as r||s (IEEE P1363, as in JWS). The server's public key is at
/// <c>GET /api/provenance/key</c>; <c>canter verify VIDEO MANIFEST --key KEY.pem</c> checks a file.
/// </summary>
public static class ProvenanceManifest
{
    public const string Format = "canter.manifest/1";

    // readable text: quotes inside the manifest string are \" rather than \u0022 (the bytes signed are the decoded string either way)
    private static readonly JsonSerializerOptions Written = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The first 16 hex digits of the SHA-256 of a public key's SubjectPublicKeyInfo.</summary>
    public static string KeyId(ECDsa key) => Convert.ToHexString(SHA256.HashData(key.ExportSubjectPublicKeyInfo()))[..16].ToLowerInvariant();

    /// <summary>The manifest file's text: <paramref name="manifest"/> serialised once, signed, and wrapped.</summary>
    public static string Sign(JsonObject manifest, ECDsa key)
    {
        var payload = manifest.ToJsonString(Written);
        var signature = key.SignData(Encoding.UTF8.GetBytes(payload), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        var file = new JsonObject
        {
            ["manifest"] = payload,
            ["signature"] = new JsonObject
            {
                ["alg"] = "ES256",
                ["key_id"] = KeyId(key),
                ["public_key"] = Convert.ToBase64String(key.ExportSubjectPublicKeyInfo()),
                ["value"] = Convert.ToBase64String(signature),
            },
        };
        return file.ToJsonString(Written);
    }

    /// <summary>
    /// Checks that <paramref name="manifestText"/> is signed (by <paramref name="trusted"/>, or else by the key it
    /// carries, which proves only that it was not changed since) and that <paramref name="video"/> is the video it names.
    /// </summary>
    public static ManifestCheck Verify(Stream video, string manifestText, ECDsa? trusted = null)
    {
        string payload, value;
        string? embedded, keyId;
        try
        {
            using var doc = JsonDocument.Parse(manifestText);
            var root = doc.RootElement;
            payload = root.GetProperty("manifest").GetString() ?? "";
            var signature = root.GetProperty("signature");
            if (signature.GetProperty("alg").GetString() != "ES256") return new(false, "the signature is not ES256");
            value = signature.GetProperty("value").GetString() ?? "";
            embedded = signature.TryGetProperty("public_key", out var pk) ? pk.GetString() : null;
            keyId = signature.TryGetProperty("key_id", out var kid) ? kid.GetString() : null;
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return new(false, $"not a Canter manifest ({e.Message})");
        }
        using var carried = ECDsa.Create();
        ECDsa key;
        if (trusted is not null) key = trusted;
        else if (embedded is not null)
        {
            try { carried.ImportSubjectPublicKeyInfo(Convert.FromBase64String(embedded), out _); }
            catch (Exception e) when (e is CryptographicException or FormatException) { return new(false, "the manifest's public key cannot be read"); }
            key = carried;
        }
        else return new(false, "the manifest carries no public key; give the server's key");
        byte[] signatureBytes;
        try { signatureBytes = Convert.FromBase64String(value); }
        catch (FormatException) { return new(false, "the signature is not base64"); }
        if (!key.VerifyData(Encoding.UTF8.GetBytes(payload), signatureBytes, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation))
            return new(false, trusted is null
                ? "the signature does not match the manifest: it was changed after it was signed"
                : "the signature does not match: the manifest was changed, or it was not signed by this key", keyId);
        string? expected;
        try
        {
            using var manifest = JsonDocument.Parse(payload);
            if (manifest.RootElement.GetProperty("format").GetString() != Format) return new(false, "the manifest's format is not " + Format);
            expected = manifest.RootElement.GetProperty("files").GetProperty("video.mp4").GetProperty("sha256").GetString();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return new(false, $"the signed manifest names no video ({e.Message})");
        }
        var actual = Convert.ToHexString(SHA256.HashData(video)).ToLowerInvariant();
        if (actual != expected) return new(false, $"the video's SHA-256 is {actual}, the manifest signed {expected}: this is not the signed video", keyId);
        var who = trusted is null ? $"by the key the manifest carries ({keyId}; give the server's key to know who signed it)" : $"by key {ProvenanceManifest.KeyId(trusted)}";
        return new(true, $"the video is the one signed, and the signature is valid {who}", ProvenanceManifest.KeyId(key));
    }
}
