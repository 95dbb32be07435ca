using System.CommandLine;
using System.Security.Cryptography;
using Canter.Server.Provenance;

namespace Canter.Cli.Commands;

/// <summary>
/// <c>canter verify VIDEO MANIFEST [--key PEM]</c>: checks a video against its signed manifest (the server's
/// <c>GET /api/tasks/ID/manifest</c>): the signature, by the given public key (<c>GET /api/provenance/key</c>) or else
/// by the key the manifest carries, and the video's SHA-256. Prints <c>verified: true|false</c> and why; exits 1 when false.
/// <code>
/// curl -s localhost:8000/api/provenance/key > canter.pem
/// canter verify ball.mp4 ball.manifest.json --key canter.pem
/// </code>
/// </summary>
public static class VerifyCommand
{
    public static Command Create()
    {
        var video = new Argument<FileInfo>("video") { Description = "The video file." };
        var manifest = new Argument<FileInfo>("manifest") { Description = "Its manifest.json." };
        var key = new Option<FileInfo?>("--key") { Description = "The signer's public key (PEM); without it the key in the manifest is used, which proves only that nothing was changed since signing." };
        var command = new Command("verify", "Check a generated video against its signed provenance manifest.") { video, manifest, key };
        command.SetAction(result =>
        {
            var videoFile = result.GetValue(video)!;
            var manifestFile = result.GetValue(manifest)!;
            if (!videoFile.Exists) throw new FileNotFoundException($"{videoFile.FullName}: file not found");
            if (!manifestFile.Exists) throw new FileNotFoundException($"{manifestFile.FullName}: file not found");
            using var trusted = result.GetValue(key) is { } pem ? ReadKey(pem) : null;
            using var stream = videoFile.OpenRead();
            var check = ProvenanceManifest.Verify(stream, File.ReadAllText(manifestFile.FullName), trusted);
            Console.WriteLine($"verified: {(check.Verified ? "true" : "false")}");
            Console.WriteLine($"reason: {check.Reason}");
            return check.Verified ? 0 : 1;
        });
        return command;
    }

    private static ECDsa ReadKey(FileInfo pem)
    {
        if (!pem.Exists) throw new FileNotFoundException($"{pem.FullName}: file not found");
        var key = ECDsa.Create();
        try { key.ImportFromPem(File.ReadAllText(pem.FullName)); }
        catch (Exception e) when (e is ArgumentException or CryptographicException)
        {
            key.Dispose();
            throw new ArgumentException($"{pem.FullName}: not an EC public key in PEM ({e.Message})");
        }
        return key;
    }
}
