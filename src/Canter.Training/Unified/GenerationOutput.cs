using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Canter.Media;

namespace Canter.Training.Unified;

/// <summary>
/// Every setting needed to reproduce a generation, as written beside it (the .json record) and into its MP4 comment.
/// The input fields name where each condition came from (a path for the CLI, an upload or task for the server).
/// </summary>
public sealed record GenerationRecord(
    [property: JsonPropertyName("model")] string Model,
    [property: JsonPropertyName("weights_sha256")] string WeightsSha256,
    [property: JsonPropertyName("prompt")] string Prompt,
    [property: JsonPropertyName("negative")] string Negative,
    [property: JsonPropertyName("width")] int Width,
    [property: JsonPropertyName("height")] int Height,
    [property: JsonPropertyName("seconds")] float Seconds,
    [property: JsonPropertyName("fps")] int Fps,
    [property: JsonPropertyName("seed")] ulong Seed,
    [property: JsonPropertyName("steps")] int Steps,
    [property: JsonPropertyName("sampler")] string Sampler,
    [property: JsonPropertyName("guidance")] float Guidance,
    [property: JsonPropertyName("ref_guidance")] float RefGuidance,
    [property: JsonPropertyName("audio")] bool Audio,
    [property: JsonPropertyName("image")] string? Image,
    [property: JsonPropertyName("last_frame")] string? LastFrame,
    [property: JsonPropertyName("refs")] string[]? Refs,
    [property: JsonPropertyName("extend")] string? Extend,
    [property: JsonPropertyName("driving_audio")] string? DrivingAudio,
    [property: JsonPropertyName("edit"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Edit = null,
    [property: JsonPropertyName("source_guidance"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] float? SourceGuidance = null,
    [property: JsonPropertyName("guidance_until"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] float? GuidanceUntil = null,
    [property: JsonPropertyName("shift"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] float? Shift = null,
    [property: JsonPropertyName("guidance_every")] int GuidanceEvery = GenerationRequest.DefaultGuidanceEvery,
    [property: JsonPropertyName("edit_strength"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] float? EditStrength = null)
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>
    /// The record of <paramref name="r"/> made by model <paramref name="model"/> whose weights hash to <paramref name="weightsSha256"/>.
    /// An edit names its source (<paramref name="edit"/>), source guidance and edit strength; other records leave them out. A guidance
    /// interval (guidance off below a flow time) is written where the request has one; guidance at every step leaves it out.
    /// A schedule shift other than the default is written too. The guidance refresh interval is always written (records
    /// from before it existed ran every branch on every guided evaluation, as 1 does).
    /// </summary>
    public static GenerationRecord Of(string model, string weightsSha256, GenerationRequest r, string? image = null, string? lastFrame = null,
        string[]? refs = null, string? extend = null, string? drivingAudio = null, int fps = 24, string? edit = null) =>
        new(model, weightsSha256, r.Prompt, r.Negative, r.Width, r.Height, r.Seconds, fps, r.Seed, r.Steps, r.Sampler, r.Guidance,
            r.ReferenceGuidance, r.Audio, image, lastFrame, refs, extend, drivingAudio, edit, r.Source is null ? null : r.SourceGuidance,
            r.GuidanceUntil == 0 ? null : r.GuidanceUntil, r.Shift == GenerationRequest.DefaultShift ? null : r.Shift, r.GuidanceEvery,
            r.Source is null ? null : r.EditStrength);

    public string ToJson() => JsonSerializer.Serialize(this, Indented);
}

/// <summary>Writes a generation's three files: the MP4 (marked as machine-generated, with its record), the poster, the JSON record.</summary>
public static class GenerationOutput
{
    /// <summary>The first 16 hex digits of the SHA-256 of a model folder's transformer weights: what a record names the weights by.</summary>
    public static string WeightsHash(string modelDir)
    {
        using var file = File.OpenRead(Path.Combine(modelDir, "transformer.safetensors"));
        return Convert.ToHexString(SHA256.HashData(file))[..16].ToLowerInvariant();
    }

    /// <summary>
    /// Writes the three files; each appears whole or not at all (written beside its target, then renamed), so a reader
    /// never sees half a file and a crash leaves no file that looks finished.
    /// </summary>
    public static void Write(GenerationResult generated, GenerationRecord record, string videoPath, string posterPath, string recordPath)
    {
        var json = record.ToJson();
        Mp4Writer.Write(videoPath, generated.Video, generated.Audio, new Mp4Metadata(record.Prompt, json.Replace('\n', ' ')));
        var frames = generated.Video.Frames;
        var posterTemp = Path.ChangeExtension(posterPath, ".partial.png");
        Png.Write(posterTemp, new RgbImage(generated.Video.Width, generated.Video.Height, frames[frames.Count / 2]));
        File.Move(posterTemp, posterPath, overwrite: true);
        var recordTemp = recordPath + ".partial";
        File.WriteAllText(recordTemp, json);
        File.Move(recordTemp, recordPath, overwrite: true);
    }
}
