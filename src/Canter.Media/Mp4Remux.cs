namespace Canter.Media;

/// <summary>
/// Copies a video into a new MP4 without re-encoding it (ffmpeg's stream copy), leaving behind what could tell a
/// viewer where it came from: container and stream tags (title, comment, a generator's settings), chapters, the
/// muxer's name and, for H.264, the SEI messages in which encoders write their name and options. The blind arena
/// needs this: a generation's own metadata often names the model that made it. The AI-generated mark is set again.
/// </summary>
public static class Mp4Remux
{
    /// <summary>Writes <paramref name="target"/> atomically (beside it, then renamed); <paramref name="probed"/> is the source's probe.</summary>
    public static void WithoutMetadata(string source, string target, MediaInfo probed)
    {
        if (!probed.HasVideo) throw new MediaException($"{source}: no video stream to copy");
        var full = Path.GetFullPath(target);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var partial = full + ".partial-" + Environment.ProcessId + ".mp4";
        var args = new List<string> { "-v", "error", "-nostdin", "-y", "-i", source, "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy" };
        // SEI (NAL type 6) carries x264's banner and options; decoding does not need it
        if (probed.VideoCodec == "h264") args.AddRange(["-bsf:v", "filter_units=remove_types=6"]);
        args.AddRange(["-map_metadata", "-1", "-map_chapters", "-1", "-fflags", "+bitexact",
            "-movflags", "+faststart+use_metadata_tags", "-metadata", "ai_generated=true", "-f", "mp4", partial]);
        try
        {
            Ffmpeg.RunText(Ffmpeg.FfmpegPath, args, TimeSpan.FromMinutes(5), $"{source}: could not copy into an MP4");
            File.Move(partial, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(partial)) File.Delete(partial);
        }
    }
}
