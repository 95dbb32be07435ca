using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Canter.Media;
using Canter.Models.Unified;
using Canter.Server.Tasks;

namespace Canter.Server.Api;

/// <summary>
/// The compatible routes' submissions: Model Studio's video synthesis, OpenAI's video extensions and characters. The
/// same boundary as the native API: fields checked and named as the client wrote them, inputs read by their content,
/// the whole request validated by the model before a task exists.
/// </summary>
public sealed partial class Submissions
{
    private static readonly string[] DashScopeFields =
    [
        "model", "input.prompt", "input.negative_prompt", "input.img_url", "input.audio_url", "input.first_frame_url", "input.last_frame_url",
        "input.media.first_frame", "input.media.last_frame", "input.media.driving_audio", "input.media.first_clip", "input.media.reference_image", "input.media.video",
        "parameters.size", "parameters.resolution", "parameters.duration", "parameters.seed", "parameters.shot_type", "parameters.watermark", "parameters.audio",
        "parameters.prompt_extend",
    ];

    /// <summary>The <c>type</c>s of Model Studio's <c>input.media</c> items; <c>video</c> is an editing source (refused by a model without edit mode).</summary>
    public static readonly string[] DashScopeMediaTypes = ["first_frame", "last_frame", "driving_audio", "first_clip", "reference_image", "video"];

    /// <summary>
    /// Model Studio's video synthesis (wan2.x): <c>input</c> (prompt, negative_prompt, img_url, audio_url, media[]) and
    /// <c>parameters</c> (size "W*H" or resolution, duration, seed, shot_type, watermark, audio, prompt_extend).
    /// Media items arrive flattened as <c>input.media.TYPE</c> (see DashScopeEndpoints). Refused, each with its reason:
    /// a <c>video</c> to edit, <c>watermark: true</c>, 720P and 1080P, and <c>shot_type: multi</c> without timecoded beats.
    /// <c>prompt_extend</c> is accepted and does nothing: there is no prompt rewriter, the prompt is used as written.
    /// </summary>
    public async Task<TaskSpec> DashScopeAsync(RequestFields f, string id, string? owner, CancellationToken cancel)
    {
        var model = f.Text("model");
        if (string.IsNullOrEmpty(model)) throw ApiException.BadRequest("Required parameter \"model\" missing from request.", "model", "empty_model");
        if (!f.Names.Any(n => n.StartsWith("input.", StringComparison.Ordinal)))
            throw ApiException.BadRequest("Required input parameter missing from request: give input.prompt.", "input", "empty_input");
        Known(f, DashScopeFields);
        // Model Studio clients name Model Studio's models (wan2.x-...); they get the one model served here
        if (model != Generator.Info.Model && !model.StartsWith("wan", StringComparison.OrdinalIgnoreCase))
            throw ApiException.BadRequest($"Model not exist: '{model}' is not served here; this server serves '{Generator.Info.Model}' (any wan model name is served by it too)", "model", "model_not_found");
        if (f.Has("input.media.video") && !Generator.Info.Edit)
            throw ApiException.BadRequest($"input.media: type 'video' asks to edit a video, and {UnifiedConfig.NoEditMode}; use first_clip to continue a clip, or reference_image", "input.media", "unsupported");
        if (f.Bool("parameters.watermark") == true)
            throw ApiException.BadRequest("parameters.watermark: this server draws no visible watermark; every video is marked as machine-generated in its MP4 metadata instead. Send false or leave it out", "parameters.watermark", "unsupported");
        f.Bool("parameters.prompt_extend");   // checked, then ignored: no prompt rewriter here (orig_prompt is what ran)

        var prompt = f.Text("input.prompt");
        if (string.IsNullOrWhiteSpace(prompt)) throw ApiException.BadRequest("input.prompt: a prompt is required by this model", "input.prompt");
        if (prompt.Length > Options.MaxPromptChars) throw ApiException.BadRequest($"input.prompt: {prompt.Length} characters is over the limit of {Options.MaxPromptChars}", "input.prompt");
        var negative = f.Text("input.negative_prompt") ?? "";
        if (negative.Length > Options.MaxPromptChars) throw ApiException.BadRequest($"input.negative_prompt: {negative.Length} characters is over the limit of {Options.MaxPromptChars}", "input.negative_prompt");
        switch (f.Text("parameters.shot_type"))
        {
            case null or "single": break;
            case "multi" when Timecoded().IsMatch(prompt): break;
            case "multi":
                throw ApiException.BadRequest("parameters.shot_type: this model cuts between shots where the prompt gives timecoded beats (\"[0s-2s] wide shot, ... [2s-4s] close-up on ...\") " +
                    "and has no prompt rewriter to plan shots itself: write the beats into input.prompt, or use single", "parameters.shot_type", "unsupported");
            case var other: throw ApiException.BadRequest($"parameters.shot_type: '{Clip(other)}' is not single or multi", "parameters.shot_type");
        }
        var (w, h) = DashScopeSize(f);

        var dir = Files.Inputs(id);
        var image = await OneOfAsync(f, ["input.img_url", "input.first_frame_url", "input.media.first_frame"], dir, "image", "poster", owner, cancel);
        var last = await OneOfAsync(f, ["input.last_frame_url", "input.media.last_frame"], dir, "last_frame", "poster", owner, cancel);
        var driving = await OneOfAsync(f, ["input.audio_url", "input.media.driving_audio"], dir, "audio", "video", owner, cancel);
        var extend = await OneOfAsync(f, ["input.media.first_clip"], dir, "extend", "video", owner, cancel);
        var edit = await OneOfAsync(f, ["input.media.video"], dir, "edit", "video", owner, cancel);
        var refs = new List<TaskInputFile>();
        foreach (var url in f.Texts("input.media.reference_image"))
            refs.Add(await FetchAsync(url, dir, $"ref-{refs.Count}", "input.media reference_image", "poster", owner, cancel));
        float seconds = f.Float("parameters.duration", 0.5f, 15f) ?? (edit is null ? Generator.Info.DefaultSeconds : SourceSeconds(dir, "input.media video"));
        var spec = new TaskSpec(prompt, w, h, seconds, f.ULong("parameters.seed") ?? 0, 8, 3f, 1.5f,
            negative, f.Bool("parameters.audio") ?? true, Canter.Training.Unified.Samplers.Default, image, last, refs.Count > 0 ? refs : null, driving, extend, edit);
        Check(spec, dir);
        return spec;
    }

    /// <summary>
    /// OpenAI's video extension: <c>video</c> (an upload, or <c>{id}</c> of a completed video) continued by
    /// <c>seconds</c> more under a new prompt. The model's extend mode keeps the clip's frames as clean conditions and
    /// generates the rest, so the result is the whole stitched video, as OpenAI's <c>seconds</c> says of extensions.
    /// </summary>
    public async Task<TaskSpec> OpenAiExtensionAsync(RequestFields f, string id, string? owner, CancellationToken cancel)
    {
        Known(f, ["prompt", "seconds", "video", "video.id", "model"]);
        CheckModel(f.Text("model"));
        var prompt = Prompt(f);
        var dir = Files.Inputs(id);
        var clip = await VideoFieldAsync(f, dir, "extend", owner, cancel);
        MediaInfo info;
        try { info = MediaProbe.Probe(Path.Combine(dir, "extend"), Options.MediaLimits); }
        catch (MediaException) { throw ApiException.BadRequest("video: not a readable video", "video", "invalid_input"); }
        if (!info.HasVideo || !(info.Seconds > 0)) throw ApiException.BadRequest("video: the file has no video stream", "video", "invalid_input");
        float more = f.Float("seconds", 0.5f, 15f) ?? Generator.Info.DefaultSeconds;
        float total = MathF.Round((float)info.Seconds + more, 2);
        if (total > 15f)
            throw ApiException.BadRequest($"seconds: the video is {info.Seconds:0.##} s, and {more} s more makes {total} s, over this model's 15 s", "seconds");
        var spec = new TaskSpec(prompt, info.Width, info.Height, total, 0, 8, 3f, 1.5f, "", true, Canter.Training.Unified.Samplers.Default, Extend: clip);
        Check(spec, dir);
        return spec;
    }

    /// <summary>
    /// OpenAI's <c>video</c> field of an extension or an edit, stored in <paramref name="dir"/> as <paramref name="use"/>
    /// (<c>extend</c> or <c>edit</c>): an upload, or <c>{id}</c> of a completed video of the caller's.
    /// </summary>
    private async Task<TaskInputFile> VideoFieldAsync(RequestFields f, string dir, string use, string? owner, CancellationToken cancel)
    {
        if (f.Text("video.id") is { } sourceId)
        {
            if (f.Has("video")) throw ApiException.BadRequest("video: give a file or {\"id\": VIDEO_ID}, not both", "video");
            return await FetchAsync($"task:{sourceId}/video", dir, use, "video.id", "video", owner, cancel);
        }
        return await InputAsync(f, "video", dir, use, "video", owner, cancel)
            ?? throw ApiException.BadRequest($"video: give the video to {use}: an upload, or {{\"id\": VIDEO_ID}} of a completed video", "video");
    }

    /// <summary>
    /// OpenAI's video edit: <c>video</c> (an upload, or <c>{id}</c> of a completed video) edited by the prompt with the
    /// model's edit mode, at the source's size and length (up to 15 s), its sound kept. A model without edit mode refuses
    /// it once the fields are known to be OpenAI's, before the source is fetched.
    /// </summary>
    public async Task<TaskSpec> OpenAiEditAsync(RequestFields f, string id, string? owner, CancellationToken cancel)
    {
        var unknown = f.Names.FirstOrDefault(n => n is not ("prompt" or "video" or "video.id" or "model"));
        if (unknown is not null) throw ApiException.BadRequest($"unknown field '{unknown}'; an edit takes prompt and video", unknown, "unknown_field");
        CheckModel(f.Text("model"));
        if (!Generator.Info.Edit)
            throw ApiException.BadRequest($"video: {UnifiedConfig.NoEditMode}. POST /v1/videos/{{id}}/remix makes a new video from a new prompt " +
                "and the source's settings, and POST /v1/videos/extensions continues one", "video", "unsupported");
        var prompt = Prompt(f);
        var dir = Files.Inputs(id);
        var source = await VideoFieldAsync(f, dir, "edit", owner, cancel);
        var info = ProbeVideo(Path.Combine(dir, "edit"), "video");
        var spec = new TaskSpec(prompt, info.Width, info.Height, SourceSeconds(dir, "video"), 0, 8, 3f, 1.5f, "", true, Canter.Training.Unified.Samplers.Default, Edit: source);
        Check(spec, dir);
        return spec;
    }

    /// <summary>An edit's length when none is asked: its source's, to the hundredth of a second below, at most 15 s.</summary>
    private float SourceSeconds(string dir, string field)
    {
        var info = ProbeVideo(Path.Combine(dir, "edit"), field);
        float seconds = MathF.Min(15f, MathF.Floor((float)info.Seconds * 100f) / 100f);
        if (seconds < 0.5f) throw ApiException.BadRequest($"{field}: the video is {info.Seconds:0.##} s; an edit needs 0.5 s at least", field, "invalid_input");
        return seconds;
    }

    private MediaInfo ProbeVideo(string path, string field)
    {
        MediaInfo info;
        try { info = MediaProbe.Probe(path, Options.MediaLimits); }
        catch (MediaException) { throw ApiException.BadRequest($"{field}: not a readable video", field, "invalid_input"); }
        if (!info.HasVideo || !(info.Seconds > 0)) throw ApiException.BadRequest($"{field}: the file has no video stream", field, "invalid_input");
        return info;
    }

    /// <summary>OpenAI's character: <c>name</c> and <c>video</c> (a clip or an image, uploaded or referenced).</summary>
    public async Task<Character> CharacterAsync(RequestFields f, string? owner, CancellationToken cancel)
    {
        Known(f, ["name", "video"]);
        var name = f.Text("name");
        if (string.IsNullOrWhiteSpace(name)) throw ApiException.BadRequest("name: a name is required", "name");
        if (name.Length > 200) throw ApiException.BadRequest($"name: {name.Length} characters is over the limit of 200", "name");
        var id = CharacterStore.NewId();
        var dir = Characters.Folder(id);
        try
        {
            if (await InputAsync(f, "video", dir, "source", "video", owner, cancel) is null)
                throw ApiException.BadRequest("video: give the clip (or an image) of the character", "video");
        }
        catch { Characters.Delete(id); throw; }
        return Characters.Create(id, name.Trim(), Path.Combine(dir, "source"), owner, Options.MediaLimits);
    }

    /// <summary>The reference pictures of the caller's characters, copied into a task's inputs as its refs.</summary>
    private List<TaskInputFile> CharacterReferences(IReadOnlyList<string> ids, string dir, string field, string? owner)
    {
        var refs = new List<TaskInputFile>();
        foreach (var characterId in ids)
        {
            Characters.Get(characterId, owner, field);
            Directory.CreateDirectory(dir);
            var target = Path.Combine(dir, $"ref-{refs.Count}");
            File.Copy(Characters.ReferencePath(characterId), target, overwrite: true);
            using var stream = File.OpenRead(target);
            refs.Add(new TaskInputFile($"character:{characterId}", Convert.ToHexString(SHA256.HashData(stream)).ToLowerInvariant()));
        }
        return refs;
    }

    /// <summary>One input that the client may give under any of several names (Model Studio has grown a few), at most once.</summary>
    private async Task<TaskInputFile?> OneOfAsync(RequestFields f, string[] names, string dir, string file, string taskFile, string? owner, CancellationToken cancel)
    {
        var given = names.Where(f.Has).ToList();
        if (given.Count == 0) return null;
        var field = Shown(given[0]);
        if (given.Count > 1 || f.Texts(given[0]).Count > 1)
            throw ApiException.BadRequest($"{field}: given more than once ({string.Join(", ", given.Select(Shown))}); give it once", field);
        return await FetchAsync(f.Texts(given[0])[0], dir, file, field, taskFile, owner, cancel);
    }

    /// <summary>A size as "W*H" (Model Studio writes the asterisk), or a resolution tier; the model's default size when neither.</summary>
    private (int Width, int Height) DashScopeSize(RequestFields f)
    {
        var size = f.Text("parameters.size");
        var resolution = f.Text("parameters.resolution");
        if (size is not null && resolution is not null)
            throw ApiException.BadRequest("parameters.size and parameters.resolution both given; give one", "parameters.resolution");
        if (resolution is not null)
        {
            return resolution.ToUpperInvariant() switch
            {
                "480P" => (832, 480),
                "720P" or "1080P" => throw ApiException.BadRequest(
                    $"parameters.resolution: {resolution} is larger than this model makes (up to 1024x1024); use 480P (832*480) or a parameters.size such as 512*512",
                    "parameters.resolution", "unsupported"),
                _ => throw ApiException.BadRequest($"parameters.resolution: '{Clip(resolution)}' is not 480P, 720P or 1080P", "parameters.resolution"),
            };
        }
        if (size is null) return (Generator.Info.DefaultWidth, Generator.Info.DefaultHeight);
        var parts = size.Split('*', 'x', 'X');
        if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int w)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int h) && w is > 0 and <= 8192 && h is > 0 and <= 8192)
            return (w, h);
        throw ApiException.BadRequest($"parameters.size: '{Clip(size)}' is not WIDTH*HEIGHT (for example 832*480)", "parameters.size");
    }

    /// <summary>A flattened media name as the client wrote it: input.media.first_frame is the input.media item of type first_frame.</summary>
    private static string Shown(string name) => name.StartsWith("input.media.", StringComparison.Ordinal) ? $"input.media {name[12..]}" : name;

    private static string Clip(string text) => text.Length <= 40 ? text : text[..40] + "...";

    /// <summary>A timecoded beat such as "[0s-2s]" or "[2.5s - 4s]", which the model was trained to cut on.</summary>
    [GeneratedRegex(@"\[\s*\d+(?:\.\d+)?s?\s*-\s*\d+(?:\.\d+)?s\s*\]")]
    private static partial Regex Timecoded();
}
