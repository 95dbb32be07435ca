using System.Text.Json;
using System.Text.Json.Serialization;
using Canter.Media;
using Canter.World;

namespace Canter.Eval.Scoring;

/// <summary>Reads what <c>canter bench score</c> is given: a scene spec file, and a video with its images, checked against each other.</summary>
public static class ClipFiles
{
    /// <summary>
    /// Width the picture is analysed at, whatever the file's (as the parser's own file reader does: its fits are tuned
    /// there, and at 128 wide it misreads actions and camera moves of renders it reads right at 256).
    /// </summary>
    public const int AnalysisWidth = Parser.AnalysisWidth;

    /// <summary>Frame rate range analysed: the file's own rate, within these bounds (sync needs more than a few frames a second).</summary>
    public const double MinFrameRate = 8, MaxFrameRate = 30;

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNameCaseInsensitive = true,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>
    /// A scene spec: what <c>canter world preview</c> writes beside its clip (an object with a <c>scene</c>), or a bare
    /// <see cref="SceneSpec"/>. Throws <see cref="InvalidDataException"/> naming the problem.
    /// </summary>
    public static SceneSpec LoadSpec(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: spec file not found");
        SceneSpec? spec;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllText(path));
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}: a scene spec is a JSON object");
            var element = TryProperty(root, "scene", out var scene) ? scene : root;
            if (element.ValueKind != JsonValueKind.Object || !TryProperty(element, "subjects", out _) || !TryProperty(element, "seconds", out _))
                throw new InvalidDataException($"{path}: not a scene spec (expected a 'scene' object, or an object with 'seconds' and 'subjects', as 'canter world preview' writes)");
            spec = element.Deserialize<SceneSpec>(Json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a valid scene spec: {e.Message.ReplaceLineEndings(" ")}", e);
        }
        if (spec is null) throw new InvalidDataException($"{path}: the scene is empty");
        return Check(spec, path);
    }

    /// <summary>
    /// The <c>prompt_length</c> ("short" or "long") a bench run writes beside the scene; null when the file has none (a
    /// spec written by hand, or by <c>canter world preview</c>). Any other value is an error naming the file.
    /// </summary>
    public static PromptLength? LoadPromptLength(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        if (doc.RootElement.ValueKind != JsonValueKind.Object || !TryProperty(doc.RootElement, "prompt_length", out var value)) return null;
        if (value.ValueKind == JsonValueKind.String)
            switch (value.GetString()?.ToLowerInvariant())
            {
                case "short": return PromptLength.Short;
                case "long": return PromptLength.Long;
            }
        throw new InvalidDataException($"{path}: prompt_length is {value.GetRawText()}; expected \"short\" or \"long\"");
    }

    private static bool TryProperty(JsonElement element, string name, out JsonElement value)
    {
        foreach (var p in element.EnumerateObject())
            if (string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase)) { value = p.Value; return true; }
        value = default;
        return false;
    }

    /// <summary>Checks what the renderer and metrics rely on: a duration, subjects with times inside it, shots in order.</summary>
    public static SceneSpec Check(SceneSpec spec, string source)
    {
        if (!(spec.Seconds is > 0 and <= 60)) throw new InvalidDataException($"{source}: the scene lasts {spec.Seconds} s; expected (0, 60]");
        if (spec.Subjects is null) throw new InvalidDataException($"{source}: the scene has no subjects list");
        for (int i = 0; i < spec.Subjects.Count; i++)
        {
            var s = spec.Subjects[i];
            if (s is null) throw new InvalidDataException($"{source}: subject {i} is null");
            if (!(s.Size > 0 && s.Size < 2)) throw new InvalidDataException($"{source}: subject {i} has size {s.Size}; expected (0, 2)");
            if (!(s.Start >= 0 && s.End >= s.Start)) throw new InvalidDataException($"{source}: subject {i} acts from {s.Start} s to {s.End} s");
        }
        if (spec.Shots is not null && spec.Shots.Any(s => s is null || !(s.Start >= 0)))
            throw new InvalidDataException($"{source}: every shot needs a start time of 0 s or more");
        return spec;
    }

    /// <summary>
    /// Decodes a video for scoring: <see cref="AnalysisWidth"/> wide (aspect kept), at its own frame rate within
    /// [<see cref="MinFrameRate"/>, <see cref="MaxFrameRate"/>], its sound at the world's sample rate. Rejects images
    /// and files whose length is far from the asked scene's.
    /// </summary>
    public static (VideoClip Video, AudioTrack? Audio) ReadVideo(string path, SceneSpec asked)
    {
        var info = MediaProbe.Probe(path);
        if (!info.HasVideo) throw new MediaException($"{path}: has no video stream");
        if (info.Format.Contains("image2", StringComparison.Ordinal) || info.Format.EndsWith("_pipe", StringComparison.Ordinal))
            throw new MediaException($"{path}: is an image ({info.Format}), not a video");
        if (info.Seconds > 0) CheckLength(path, info.Seconds, asked);
        int width = AnalysisWidth;
        int height = Math.Max(16, (int)Math.Round((double)width * info.Height / info.Width));
        double fps = info.FrameRate > 0 ? Math.Clamp(info.FrameRate, MinFrameRate, MaxFrameRate) : 24;
        var video = MediaReader.ReadVideo(path, width, height, fps);
        if (video.Frames.Count < 3) throw new MediaException($"{path}: {video.Frames.Count} frames decoded; a video to score needs at least 3");
        if (info.Seconds <= 0) CheckLength(path, video.Seconds, asked);   // a container that does not say its length
        var audio = info.HasAudio ? MediaReader.ReadAudio(path, AudioSynth.DefaultSampleRate) : null;
        return (video, audio);
    }

    private static void CheckLength(string path, double seconds, SceneSpec asked)
    {
        if (Math.Abs(seconds - asked.Seconds) > Math.Max(0.5, 0.2 * asked.Seconds))
            throw new InvalidDataException($"{path}: lasts {seconds:0.##} s but the spec asks for {asked.Seconds:0.##} s; is this the spec of this video?");
    }

    /// <summary>An image (first frame, last frame, reference) at the given size, else <see cref="AnalysisWidth"/> wide.</summary>
    public static RgbImage ReadImage(string path, int? width = null, int? height = null)
    {
        var info = MediaProbe.Probe(path);
        if (!info.HasVideo) throw new MediaException($"{path}: is not an image");
        if (width is null || height is null)
        {
            width = AnalysisWidth;
            height = Math.Max(16, (int)Math.Round((double)width.Value * info.Height / info.Width));
        }
        return MediaReader.ReadImage(path, width, height);
    }

    /// <summary>Everything <c>canter bench score</c> is given, read and checked.</summary>
    public static ClipUnderTest Load(string videoPath, string specPath, string? firstFrame = null, string? lastFrame = null,
        IReadOnlyList<string>? references = null, string? editSource = null, string? drivingAudio = null, string? extends = null)
    {
        var spec = LoadSpec(specPath);
        var (video, audio) = ReadVideo(videoPath, spec);
        return new ClipUnderTest(Path.GetFileName(videoPath), video, audio, spec)
        {
            PromptLength = LoadPromptLength(specPath),
            FirstFrame = firstFrame is null ? null : ReadImage(firstFrame, video.Width, video.Height),
            LastFrame = lastFrame is null ? null : ReadImage(lastFrame, video.Width, video.Height),
            References = [.. (references ?? []).Select(r => ReadImage(r))],
            EditSource = editSource is null ? null : LoadSpec(editSource),
            DrivingAudio = drivingAudio is null ? null : MediaReader.ReadAudio(drivingAudio, AudioSynth.DefaultSampleRate),
            ExtendedFrom = extends is null ? null : MediaReader.ReadVideo(extends, video.Width, video.Height, video.FrameRate),
        };
    }
}
