using System.Globalization;
using System.Runtime.InteropServices;

namespace Canter.Media;

/// <summary>
/// Writes MP4 (H.264 yuv420p + AAC) through ffmpeg: frames stream through its stdin and audio
/// through a named pipe, so nothing is written per frame. The file appears atomically (written
/// beside the target, then renamed) and every output carries the AI-generated mark in its metadata.
/// Odd sizes are padded to even ones (one black row or column), as yuv420p requires.
/// </summary>
public static partial class Mp4Writer
{
    public static void Write(string path, VideoClip video, AudioTrack? audio, Mp4Metadata? metadata = null, int crf = 18)
    {
        video.Validate();
        audio?.Validate();
        ArgumentOutOfRangeException.ThrowIfGreaterThan(crf, 51);
        ArgumentOutOfRangeException.ThrowIfNegative(crf);
        metadata ??= new Mp4Metadata();
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var work = Directory.CreateTempSubdirectory("canter-mp4-").FullName;
        var partial = full + ".partial-" + Environment.ProcessId + ".mp4";
        try
        {
            string fifo = Path.Combine(work, "audio.f32");
            if (audio is not null && MkFifo(fifo, Convert.ToUInt32("600", 8)) != 0)
                throw new MediaException($"could not create a pipe for the audio (errno {Marshal.GetLastPInvokeError()})");
            var args = new List<string>
            {
                "-v", "error", "-nostdin", "-y",
                "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", $"{video.Width}x{video.Height}",
                "-r", video.FrameRate.ToString(CultureInfo.InvariantCulture), "-i", "pipe:0",
            };
            if (audio is not null)
                args.AddRange(["-f", "f32le", "-ar", audio.SampleRate.ToString(CultureInfo.InvariantCulture), "-ac", "1", "-i", fifo]);
            args.AddRange(["-map", "0:v"]);
            if (audio is not null) args.AddRange(["-map", "1:a", "-c:a", "aac", "-b:a", "128k"]);
            args.AddRange(["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264", "-preset", "medium", "-crf", crf.ToString(CultureInfo.InvariantCulture),
                "-pix_fmt", "yuv420p", "-movflags", "+faststart+use_metadata_tags",
                "-metadata", $"title={metadata.Title}", "-metadata", $"comment={metadata.Comment}",
                "-metadata", "ai_generated=true", "-metadata", $"generator={metadata.Generator}", "-f", "mp4", partial]);

            var (p, errors) = Ffmpeg.Start(Ffmpeg.FfmpegPath, args, stdin: true);
            using (p)
            {
                var videoTask = Task.Run(() =>
                {
                    using var stdin = p.StandardInput.BaseStream;
                    foreach (var frame in video.Frames) stdin.Write(frame);
                });
                var audioTask = audio is null ? Task.CompletedTask : Task.Run(() => WriteAudio(fifo, audio, video.Seconds));
                bool exited = p.WaitForExit(TimeSpan.FromMinutes(30));
                if (!exited) Ffmpeg.Kill(p);
                if (!audioTask.IsCompleted) UnblockFifo(fifo);
                try
                {
                    Task.WaitAll(videoTask, audioTask);
                }
                catch (AggregateException) when (p.HasExited && p.ExitCode != 0)
                {
                    // broken pipe after ffmpeg failed: its own message says why
                }
                p.WaitForExit();
                if (p.ExitCode != 0) throw new MediaException($"{path}: ffmpeg could not encode the video ({Ffmpeg.LastLine(errors())})");
            }
            File.Move(partial, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(partial)) File.Delete(partial);
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>Audio samples trimmed or zero-padded to the video's length, as little-endian float32.</summary>
    private static void WriteAudio(string fifo, AudioTrack audio, double seconds)
    {
        using var stream = new FileStream(fifo, FileMode.Open, FileAccess.Write);
        int wanted = (int)Math.Round(seconds * audio.SampleRate);
        var samples = new float[wanted];
        Array.Copy(audio.Samples, samples, Math.Min(wanted, audio.Samples.Length));
        for (int i = 0; i < samples.Length; i++) samples[i] = Math.Clamp(samples[i], -1f, 1f);
        stream.Write(MemoryMarshal.AsBytes(samples.AsSpan()));
    }

    /// <summary>Opens the pipe's read end so that a writer blocked in open() returns when ffmpeg never opened it.</summary>
    private static void UnblockFifo(string fifo)
    {
        try
        {
            using var reader = new FileStream(fifo, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.None);
        }
        catch (IOException)
        {
        }
    }

    [LibraryImport("libc", EntryPoint = "mkfifo", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int MkFifo(string path, uint mode);
}
