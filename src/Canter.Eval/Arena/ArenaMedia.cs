using System.Security.Cryptography;
using Canter.Media;

namespace Canter.Eval.Arena;

/// <summary>What the arena accepts as a generation: a readable video file of some length (a still image is not one).</summary>
public static class ArenaMedia
{
    /// <summary>Probes <paramref name="path"/> (by content, not by name) and returns what it holds; throws when it is not a video.</summary>
    public static MediaInfo RequireVideo(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"no such file: {path}");
        var info = MediaProbe.Probe(path);
        // a still image probes as a one-frame video stream in an image format (png_pipe, image2, ...)
        bool still = info.Format.Contains("_pipe", StringComparison.Ordinal) || info.Format.Contains("image2", StringComparison.Ordinal);
        if (!info.HasVideo || still || !(info.Seconds > 0))
            throw new InvalidDataException($"{path} is not a video ({(info.HasVideo ? info.Format : "no video stream")})");
        return info;
    }

    /// <summary>The file's SHA-256 in hex: the same generation entered twice is found by its content.</summary>
    public static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
