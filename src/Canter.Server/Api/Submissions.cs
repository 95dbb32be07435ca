using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Canter.Media;
using Canter.Models.Unified;
using Canter.Server.Generation;
using Canter.Server.Storage;
using Canter.Server.Tasks;
using Canter.Server.Uploads;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Canter.Server.Api;

/// <summary>
/// The boundary: turns a submission's fields into a <see cref="TaskSpec"/> and its input files, and checks all of it
/// before a task exists. Numbers must parse and lie in range, the prompt must fit, every input is read by its content
/// (an image must decode as an image at the asked size, a clip as video, a track as sound) and the model must accept
/// the whole request. Every refusal is an <see cref="ApiException"/> that names the field.
/// </summary>
public sealed partial class Submissions(ITaskStore store, TaskFiles files, IVideoGenerator generator, IOptions<ServerOptions> options, InputSources sources,
    CharacterStore characters, IResultStore results)
{
    private static readonly string[] NativeFields =
        ["prompt", "negative", "seconds", "size", "fps", "seed", "steps", "sampler", "guidance", "guidance_until", "guidance_every", "ref_guidance", "no_audio", "image", "last_frame", "refs", "extend", "audio", "edit", "source_guidance", "edit_strength", "model",
         "webhook_url", "webhook_events"];   // read by WebhookSubscriptions

    private static readonly string[] OpenAiFields = ["prompt", "model", "seconds", "size", "input_reference", "input_reference.image_url", "input_reference.file_id", "character_ids"];

    private ServerOptions Options => options.Value;

    // for the compatible routes' half of this class (CompatSubmissions.cs): a primary constructor's parameters are seen only here
    private TaskFiles Files => files;
    private IVideoGenerator Generator => generator;
    private CharacterStore Characters => characters;

    /// <summary>
    /// The native API: every parameter of <c>canter generate</c>, inputs uploaded or referenced. <c>edit</c> (a source
    /// video, its sound kept), <c>source_guidance</c> and <c>edit_strength</c> need a model with edit mode; any other model
    /// refuses them here.
    /// </summary>
    public async Task<TaskSpec> NativeAsync(RequestFields f, string id, string? owner, CancellationToken cancel)
    {
        Known(f, NativeFields);
        CheckModel(f.Text("model"));
        // a model without edit mode refuses an edit before its source is read or a task exists
        if (f.Has("edit") && !generator.Info.Edit) throw ApiException.BadRequest($"edit: {UnifiedConfig.NoEditMode}", "edit", "unsupported");
        var sourceGuidance = f.Float("source_guidance", 0, 20);
        if (sourceGuidance is not null && !f.Has("edit")) throw ApiException.BadRequest("source_guidance: applies to an edit only; give the source video as edit", "source_guidance");
        var editStrength = f.Float("edit_strength", Canter.Training.Unified.GenerationRequest.MinEditStrength, 1);
        if (editStrength is not null && !f.Has("edit")) throw ApiException.BadRequest("edit_strength: applies to an edit only; give the source video as edit", "edit_strength");
        if (f.Float("fps", 1, 240) is { } fps && fps != generator.Info.FrameRate)
            throw ApiException.BadRequest($"fps: this model makes {generator.Info.FrameRate} frames per second", "fps");
        var (w, h) = Size(f.Text("size"));
        var dir = files.Inputs(id);
        var refs = new List<TaskInputFile>();
        int r = 0;
        foreach (var upload in f.Files("refs")) refs.Add(await SaveAsync(upload, dir, $"ref-{r++}", "refs", cancel));
        foreach (var reference in f.Texts("refs")) refs.Add(await FetchAsync(reference, dir, $"ref-{r++}", "refs", "poster", owner, cancel));
        var spec = new TaskSpec(Prompt(f), w, h, f.Float("seconds", 0.5f, 15f) ?? generator.Info.DefaultSeconds, f.ULong("seed") ?? 0, f.Int("steps", 1, 200) ?? 8,
            f.Float("guidance", 0, 20) ?? 3f, f.Float("ref_guidance", 0, 20) ?? 1.5f, f.Text("negative") ?? "", !(f.Bool("no_audio") ?? false),
            f.Text("sampler") ?? Canter.Training.Unified.Samplers.Default,
            await InputAsync(f, "image", dir, "image", "poster", owner, cancel),
            await InputAsync(f, "last_frame", dir, "last_frame", "poster", owner, cancel),
            refs,
            await InputAsync(f, "audio", dir, "audio", "video", owner, cancel),
            await InputAsync(f, "extend", dir, "extend", "video", owner, cancel),
            await InputAsync(f, "edit", dir, "edit", "video", owner, cancel), sourceGuidance, f.Float("guidance_until", 0, 1),
            f.Int("guidance_every", 1, Canter.Training.Unified.GenerationRequest.MaxGuidanceEvery), editStrength);
        if (spec.Negative.Length > Options.MaxPromptChars) throw ApiException.BadRequest($"negative: {spec.Negative.Length} characters is over the limit of {Options.MaxPromptChars}", "negative");
        Check(spec, dir);
        return spec;
    }

    /// <summary>The OpenAI-style create: prompt, model, seconds, size and input_reference (a file, or {image_url}).</summary>
    public async Task<TaskSpec> OpenAiAsync(RequestFields f, string id, string? owner, CancellationToken cancel)
    {
        Known(f, OpenAiFields);
        CheckModel(f.Text("model"));
        if (f.Has("input_reference.file_id"))
            throw ApiException.BadRequest("input_reference.file_id: this server has no file store; upload the image as input_reference or give input_reference.image_url", "input_reference.file_id", "unsupported");
        var (w, h) = Size(f.Text("size"));
        var dir = files.Inputs(id);
        var image = await InputAsync(f, "input_reference", dir, "image", "poster", owner, cancel)
            ?? await InputAsync(f, "input_reference.image_url", dir, "image", "poster", owner, cancel);
        var refs = CharacterReferences(f.Texts("character_ids"), dir, "character_ids", owner);
        var spec = new TaskSpec(Prompt(f), w, h, f.Float("seconds", 0.5f, 15f) ?? generator.Info.DefaultSeconds, 0, 8, 3f, 1.5f, "", true, Canter.Training.Unified.Samplers.Default, image,
            Refs: refs.Count > 0 ? refs : null);
        Check(spec, dir);
        return spec;
    }

    /// <summary>A new prompt on the settings and inputs of an earlier task (OpenAI's remix: it generates anew; an edit's source stays its source).</summary>
    public TaskSpec Remix(TaskRecord source, string prompt, string id)
    {
        if (string.IsNullOrWhiteSpace(prompt)) throw ApiException.BadRequest("prompt: the prompt is empty", "prompt");
        if (prompt.Length > Options.MaxPromptChars) throw ApiException.BadRequest($"prompt: {prompt.Length} characters is over the limit of {Options.MaxPromptChars}", "prompt");
        var from = files.Inputs(source.Id);
        var dir = files.Inputs(id);
        if (Directory.Exists(from))
        {
            Directory.CreateDirectory(dir);
            foreach (var file in Directory.EnumerateFiles(from)) File.Copy(file, Path.Combine(dir, Path.GetFileName(file)));
        }
        var spec = source.Spec with { Prompt = prompt };
        Check(spec, dir);
        return spec;
    }

    /// <summary>What makes two submissions the same request (the idempotency check): the spec with its inputs' hashes, and the model.</summary>
    public string Hash(TaskSpec spec) =>
        Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(generator.Info.Model + "\n" + spec.ToJson()))).ToLowerInvariant();

    /// <summary>Decodes every input at the request's size and asks the model whether it can make the request.</summary>
    private void Check(TaskSpec spec, string dir)
    {
        try
        {
            var request = TaskRequests.Load(spec, dir, generator.Info, Options.MediaLimits);
            generator.Validate(request);
        }
        catch (Exception e) when (e is ArgumentException or MediaException or InvalidDataException)
        {
            // the generator speaks the CLI's flags (--image); the API's fields are image, last_frame, no_audio
            throw ApiException.BadRequest(Flag().Replace(e.Message, m => m.Groups[1].Value.Replace('-', '_')), code: "invalid_input");
        }
    }

    private string Prompt(RequestFields f)
    {
        var prompt = f.Text("prompt");
        if (string.IsNullOrWhiteSpace(prompt)) throw ApiException.BadRequest("prompt: a prompt is required", "prompt");
        if (prompt.Length > Options.MaxPromptChars) throw ApiException.BadRequest($"prompt: {prompt.Length} characters is over the limit of {Options.MaxPromptChars}", "prompt");
        return prompt;
    }

    private (int Width, int Height) Size(string? size)
    {
        if (size is null) return (generator.Info.DefaultWidth, generator.Info.DefaultHeight);
        var parts = size.Split('x', 'X', '*');
        if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int w)
            && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int h) && w is > 0 and <= 8192 && h is > 0 and <= 8192)
            return (w, h);
        throw ApiException.BadRequest($"size: '{(size.Length > 20 ? size[..20] + "..." : size)}' is not WIDTHxHEIGHT (for example 128x128)", "size");
    }

    private void CheckModel(string? model)
    {
        // OpenAI clients name OpenAI's models; they get the one model served here
        if (model is null || model == generator.Info.Model || model.StartsWith("sora-2", StringComparison.Ordinal)) return;
        throw ApiException.BadRequest($"model: '{model}' is not served here; this server serves '{generator.Info.Model}'", "model", "model_not_found");
    }

    private static void Known(RequestFields f, string[] known)
    {
        var unknown = f.Names.Where(n => !known.Contains(n)).ToList();
        if (unknown.Count > 0)
            throw ApiException.BadRequest($"unknown field{(unknown.Count > 1 ? "s" : "")} {string.Join(", ", unknown.Select(u => $"'{u}'"))}; this route takes {string.Join(", ", known)}",
                unknown[0], "unknown_field");
    }

    /// <summary>One input: an uploaded file, or a reference (data: URL, task:ID[/video|/poster], http(s) URL); null when absent.</summary>
    private async Task<TaskInputFile?> InputAsync(RequestFields f, string field, string dir, string file, string taskFile, string? owner, CancellationToken cancel)
    {
        var uploads = f.Files(field);
        if (uploads.Count > 1) throw ApiException.BadRequest($"{field}: one file, not {uploads.Count}", field);
        if (uploads.Count == 1)
        {
            if (f.Texts(field).Count > 0) throw ApiException.BadRequest($"{field} is given both as a file and as text; give one", field);
            return await SaveAsync(uploads[0], dir, file, field, cancel);
        }
        return f.Text(field) is { } reference ? await FetchAsync(reference, dir, file, field, taskFile, owner, cancel) : null;
    }

    private async Task<TaskInputFile> SaveAsync(IFormFile upload, string dir, string file, string field, CancellationToken cancel)
    {
        if (upload.Length == 0) throw ApiException.BadRequest($"{field}: the uploaded file is empty", field);
        TooLarge(upload.Length, field);
        await using var source = upload.OpenReadStream();
        var hash = await WriteAsync(source, dir, file, field, cancel);
        return new TaskInputFile($"upload:{SafeName(upload.FileName)}", hash);
    }

    private async Task<TaskInputFile> FetchAsync(string reference, string dir, string file, string field, string taskFile, string? owner, CancellationToken cancel)
    {
        if (reference.StartsWith("data:", StringComparison.OrdinalIgnoreCase))
        {
            int comma = reference.IndexOf(',');
            if (comma < 0 || !reference.AsSpan(0, comma).EndsWith(";base64", StringComparison.OrdinalIgnoreCase))
                throw ApiException.BadRequest($"{field}: a data URL must be data:TYPE;base64,DATA", field);
            TooLarge((reference.Length - comma) / 4L * 3, field);
            byte[] bytes;
            try { bytes = Convert.FromBase64String(reference[(comma + 1)..]); }
            catch (FormatException) { throw ApiException.BadRequest($"{field}: the data URL is not valid base64", field); }
            if (bytes.Length == 0) throw ApiException.BadRequest($"{field}: the data URL is empty", field);
            using var memory = new MemoryStream(bytes);
            return new TaskInputFile("data-url", await WriteAsync(memory, dir, file, field, cancel));
        }
        if (reference.StartsWith("task:", StringComparison.Ordinal))
        {
            // task:ID is an earlier result: its video for a clip or a sound, its poster for an image
            var parts = reference[5..].Split('/');
            var which = parts.Length > 1 ? parts[1] : taskFile;
            if (parts.Length > 2 || which is not ("video" or "poster")) throw ApiException.BadRequest($"{field}: a task reference is task:ID, task:ID/video or task:ID/poster", field);
            var task = await store.GetAsync(parts[0], cancel);
            if (task is null || task.Owner != owner) throw ApiException.BadRequest($"{field}: task '{parts[0]}' was not found", field);
            if (task.State != TaskState.Succeeded) throw ApiException.BadRequest($"{field}: task '{parts[0]}' is {task.State.Name()}, not succeeded", field);
            var result = await results.OpenForRequestAsync(task.Id, which == "video" ? TaskFiles.Video : TaskFiles.Poster, cancel)
                ?? throw ApiException.BadRequest($"{field}: the results of task '{task.Id}' have expired", field, "result_expired");
            await using var stream = await result.OpenReadAsync(cancel);
            return new TaskInputFile($"task:{task.Id}/{which}", await WriteAsync(stream, dir, file, field, cancel));
        }
        // this server's uploads (upload:ID or their URL) and http(s) URLs on allowed hosts
        if (await sources.OpenAsync(reference, owner, field, cancel) is { } opened)
            await using (opened) return new TaskInputFile(opened.Source, await WriteAsync(opened.Stream, dir, file, field, cancel));
        throw ApiException.BadRequest($"{field}: give a file upload, a data: URL, task:ID, upload:ID or an http(s) URL", field);
    }

    /// <summary>Copies at most the upload limit into dir/file and returns the bytes' SHA-256.</summary>
    private async Task<string> WriteAsync(Stream source, string dir, string file, string field, CancellationToken cancel)
    {
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, file);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using (var target = File.Create(path))
        {
            var buffer = new byte[81920];
            long total = 0;
            int n;
            while ((n = await source.ReadAsync(buffer, cancel)) > 0)
            {
                total += n;
                TooLarge(total, field);
                sha.AppendData(buffer, 0, n);
                await target.WriteAsync(buffer.AsMemory(0, n), cancel);
            }
        }
        return Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant();
    }

    private void TooLarge(long bytes, string field)
    {
        if (bytes > Options.MaxUploadBytes)
            throw new ApiException(413, "too_large", $"{field}: the file is over the limit of {Bytes(Options.MaxUploadBytes)}", field);
    }

    private static string Bytes(long n) => n >= 1 << 20 ? $"{n / 1048576.0:0.#} MiB" : $"{n / 1024.0:0.#} KiB";

    private static string SafeName(string name)
    {
        var clean = new string(Path.GetFileName(name).Where(c => !char.IsControl(c)).Take(100).ToArray());
        return clean.Length > 0 ? clean : "file";
    }

    [GeneratedRegex(@"--([a-z][a-z-]*)")]
    private static partial Regex Flag();
}
