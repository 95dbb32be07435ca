using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Canter.Server.Tasks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Canter.Server.Api;

/// <summary>
/// Pre-signed, expiring download links for results, as Model Studio's <c>video_url</c> is: whoever holds the link may
/// download that one file until it expires, without an API key (a browser, a player, a plain HTTP GET). The signature
/// is an HMAC-SHA256 of the task id and the expiry time under a secret made once and kept under the data folder
/// (url-signing.key), so links survive a restart and every server sharing the folder accepts them.
/// <code>GET /api/v1/files/ID/video.mp4?Expires=1767225600&amp;Signature=...</code>
/// </summary>
public sealed class SignedUrls(TaskFiles files, IOptions<ServerOptions> options)
{
    public const string KeyFile = "url-signing.key";

    private readonly Lazy<byte[]> _key = new(() => LoadOrCreate(Path.Combine(files.Root, KeyFile)));

    /// <summary>An absolute link on this server (as the client reached it) to a task's video, valid for <see cref="ServerOptions.SignedUrlHours"/>.</summary>
    public string Video(HttpRequest request, string taskId)
    {
        long expires = DateTimeOffset.UtcNow.AddHours(Math.Max(1, options.Value.SignedUrlHours)).ToUnixTimeSeconds();
        return $"{request.Scheme}://{request.Host}{request.PathBase}/api/v1/files/{taskId}/{TaskFiles.Video}?Expires={expires}&Signature={Sign(taskId, expires)}";
    }

    /// <summary>Null when the link is good; otherwise why not.</summary>
    public string? Check(string taskId, string? expires, string? signature)
    {
        if (expires is null || signature is null) return "the link is not signed (Expires and Signature are required)";
        if (!long.TryParse(expires, NumberStyles.None, CultureInfo.InvariantCulture, out long at)) return "Expires is not a time";
        var expected = Encoding.ASCII.GetBytes(Sign(taskId, at));
        if (!CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(signature))) return "the signature does not match the link";
        return at < DateTimeOffset.UtcNow.ToUnixTimeSeconds() ? "the link has expired; read the task again for a fresh one" : null;
    }

    private string Sign(string taskId, long expires)
    {
        var mac = HMACSHA256.HashData(_key.Value, Encoding.UTF8.GetBytes($"{taskId}\n{expires}"));
        return Convert.ToBase64String(mac).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    }

    private static byte[] LoadOrCreate(string path)
    {
        if (!File.Exists(path))
        {
            // written aside and moved without overwrite: two servers starting together agree on one key
            var partial = $"{path}.{Guid.NewGuid():N}.partial";
            var bytes = RandomNumberGenerator.GetBytes(32);
            var createOptions = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows()) createOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            using (var stream = new FileStream(partial, createOptions)) stream.Write(bytes);
            try { File.Move(partial, path, overwrite: false); }
            catch (IOException) { File.Delete(partial); }
        }
        var key = File.ReadAllBytes(path);
        return key.Length >= 16 ? key : throw new InvalidDataException($"{path}: the URL signing key is shorter than 16 bytes");
    }
}
