using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Canter.Server.Generation;
using Canter.Server.Tasks;

namespace Canter.Server.Provenance;

/// <summary>
/// The server's signing key, ECDSA P-256, made once and kept in the data folder as <c>provenance-key.pem</c> (PKCS#8,
/// readable by its owner only). Anyone can have the public half: <c>GET /api/provenance/key</c>.
/// </summary>
public sealed class ProvenanceKey : IDisposable
{
    public ProvenanceKey(string dataDir)
    {
        Path = System.IO.Path.Combine(dataDir, "provenance-key.pem");
        var pem = KeyFiles.ReadOrCreate(Path, () =>
        {
            using var made = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            return made.ExportPkcs8PrivateKeyPem();
        });
        Key = ECDsa.Create();
        Key.ImportFromPem(pem);
        if (Key.KeySize != 256) throw new InvalidDataException($"{Path}: not a P-256 key");
    }

    public string Path { get; }

    public ECDsa Key { get; }

    public string Id => ProvenanceManifest.KeyId(Key);

    public string PublicPem => Key.ExportSubjectPublicKeyInfoPem();

    /// <summary>The public key as a JWK (RFC 7517).</summary>
    public Dictionary<string, string> PublicJwk()
    {
        var p = Key.ExportParameters(includePrivateParameters: false);
        return new() { ["kty"] = "EC", ["crv"] = "P-256", ["x"] = Base64Url(p.Q.X!), ["y"] = Base64Url(p.Q.Y!), ["alg"] = "ES256", ["use"] = "sig", ["kid"] = Id };
    }

    public void Dispose() => Key.Dispose();

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

/// <summary>Writes the signed manifest beside each result before its task reads succeeded (see <see cref="ProvenanceManifest"/>).</summary>
public sealed class ProvenanceSigner(ProvenanceKey key, IVideoGenerator generator, TimeProvider clock) : ITaskObserver
{
    public const string ManifestFile = "manifest.json";

    public void ResultsWritten(TaskRecord task, string resultsDir)
    {
        var record = JsonNode.Parse(File.ReadAllText(Path.Combine(resultsDir, TaskFiles.Record)));
        var files = new JsonObject();
        foreach (var name in new[] { TaskFiles.Video, TaskFiles.Poster })
        {
            using var stream = File.OpenRead(Path.Combine(resultsDir, name));
            files[name] = new JsonObject { ["sha256"] = Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant(), ["bytes"] = stream.Length };
        }
        var manifest = new JsonObject
        {
            ["format"] = ProvenanceManifest.Format,
            ["task_id"] = task.Id,
            ["created_at"] = clock.GetUtcNow().UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture),
            ["ai_generated"] = true,
            ["generator"] = "canter",
            ["model"] = generator.Info.Model,
            ["weights_sha256"] = generator.Info.WeightsSha256,
            ["parameters"] = record,
            ["files"] = files,
        };
        var partial = Path.Combine(resultsDir, ManifestFile + ".partial");
        File.WriteAllText(partial, ProvenanceManifest.Sign(manifest, key.Key));
        File.Move(partial, Path.Combine(resultsDir, ManifestFile), overwrite: true);
    }
}
