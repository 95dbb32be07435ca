using System.Globalization;
using System.Text.Json;

namespace Canter.Media;

/// <summary>What ffprobe found in a file (by content, not by name).</summary>
public sealed record MediaInfo(string Format, double Seconds, int Width, int Height, double FrameRate, string? VideoCodec,
    string? AudioCodec, int SampleRate, int Channels, IReadOnlyDictionary<string, string> Tags)
{
    public bool HasVideo => VideoCodec is not null;
    public bool HasAudio => AudioCodec is not null;
}

/// <summary>Reads a file's container and streams with ffprobe and checks them against <see cref="MediaLimits"/>.</summary>
public static class MediaProbe
{
    public static MediaInfo Probe(string path, MediaLimits? limits = null)
    {
        limits ??= MediaLimits.Default;
        if (!File.Exists(path)) throw new MediaException($"{path}: file not found");
        long size = new FileInfo(path).Length;
        if (size == 0) throw new MediaException($"{path}: the file is empty");
        if (size > limits.MaxFileBytes) throw new MediaException($"{path}: {size / (1 << 20)} MiB is over the limit of {limits.MaxFileBytes / (1 << 20)} MiB");
        string json, warnings;
        try
        {
            (json, warnings) = Ffmpeg.RunTextWithErrors(Ffmpeg.FfprobePath,
                ["-v", "error", "-probesize", "5000000", "-show_entries",
                 "format=format_name,duration:format_tags:stream=codec_type,codec_name,width,height,avg_frame_rate,r_frame_rate,sample_rate,channels,duration",
                 "-of", "json", path], TimeSpan.FromSeconds(30), $"{path}: not a readable media file");
        }
        catch (MediaException e) when (!e.Message.Contains("gave up", StringComparison.Ordinal))
        {
            throw new MediaException($"{path}: not a readable image, video or audio file ({e.Message[(e.Message.IndexOf(':') + 1)..].Trim()})", e);
        }
        using var doc = JsonDocument.Parse(json);
        var root = doc.RootElement;
        string format = root.TryGetProperty("format", out var f) && f.TryGetProperty("format_name", out var fn) ? fn.GetString() ?? "" : "";
        double seconds = f.ValueKind == JsonValueKind.Object && f.TryGetProperty("duration", out var d) ? ParseDouble(d.GetString()) : 0;
        var tags = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (f.ValueKind == JsonValueKind.Object && f.TryGetProperty("tags", out var t))
            foreach (var p in t.EnumerateObject()) tags[p.Name] = p.Value.GetString() ?? "";
        string? vcodec = null, acodec = null;
        int width = 0, height = 0, rate = 0, channels = 0;
        double fps = 0;
        if (root.TryGetProperty("streams", out var streams))
        {
            foreach (var s in streams.EnumerateArray())
            {
                var type = s.TryGetProperty("codec_type", out var ct) ? ct.GetString() : null;
                if (type == "video" && vcodec is null)
                {
                    vcodec = s.TryGetProperty("codec_name", out var cn) ? cn.GetString() : "unknown";
                    width = s.TryGetProperty("width", out var w) ? w.GetInt32() : 0;
                    height = s.TryGetProperty("height", out var h) ? h.GetInt32() : 0;
                    fps = s.TryGetProperty("avg_frame_rate", out var fr) ? ParseRate(fr.GetString()) : 0;
                    if (fps == 0 && s.TryGetProperty("r_frame_rate", out var rr)) fps = ParseRate(rr.GetString());
                    if (seconds == 0 && s.TryGetProperty("duration", out var sd)) seconds = ParseDouble(sd.GetString());
                }
                else if (type == "audio" && acodec is null)
                {
                    acodec = s.TryGetProperty("codec_name", out var cn) ? cn.GetString() : "unknown";
                    rate = s.TryGetProperty("sample_rate", out var sr) ? (int)ParseDouble(sr.GetString()) : 0;
                    channels = s.TryGetProperty("channels", out var ch) ? ch.GetInt32() : 0;
                }
            }
        }
        if (vcodec is null && acodec is null) throw new MediaException($"{path}: no video or audio stream found (format '{format}')");
        if (vcodec is not null && (width <= 0 || height <= 0))
        {
            var said = warnings.Split('\n', StringSplitOptions.TrimEntries).FirstOrDefault(l => l.Contains("size", StringComparison.OrdinalIgnoreCase));
            throw new MediaException($"{path}: the picture has no valid size{(said is null ? "" : $" ({said[(said.LastIndexOf(']') + 1)..].Trim()})")}");
        }
        if ((long)width * height > limits.MaxPixels)
            throw new MediaException($"{path}: {width}x{height} pixels is over the limit of {limits.MaxPixels} pixels");
        if (seconds > limits.MaxSeconds)
            throw new MediaException($"{path}: {seconds:0.#} s is over the limit of {limits.MaxSeconds:0.#} s");
        return new MediaInfo(format, seconds, width, height, fps, vcodec, acodec, rate, channels, tags);
    }

    private static double ParseDouble(string? s) =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v) ? v : 0;

    private static double ParseRate(string? s)
    {
        if (string.IsNullOrEmpty(s)) return 0;
        var parts = s.Split('/');
        if (parts.Length == 2 && double.TryParse(parts[0], CultureInfo.InvariantCulture, out var n) && double.TryParse(parts[1], CultureInfo.InvariantCulture, out var dd) && dd != 0)
            return n / dd;
        return ParseDouble(s);
    }
}
