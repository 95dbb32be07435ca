using System.Text.Json;
using System.Text.Json.Serialization;

namespace Canter.Server.Tasks;

/// <summary>
/// Where a generation task is in its life: queued -> running -> succeeded | failed | cancelled (a queued task can be
/// cancelled too). Written to the database by name: append new states, never rename one.
/// </summary>
public enum TaskState
{
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
}

public static class TaskStates
{
    public static bool IsFinished(this TaskState state) => state is TaskState.Succeeded or TaskState.Failed or TaskState.Cancelled;

    public static string Name(this TaskState state) => state.ToString().ToLowerInvariant();

    public static TaskState Parse(string name) => Enum.Parse<TaskState>(name, ignoreCase: true);
}

/// <summary>An input file of a task (a condition image, a sound track, a clip): where it came from and what it holds.</summary>
/// <param name="Source">How the client gave it: <c>upload:NAME</c>, <c>data-url</c>, <c>task:ID/video</c>, <c>url:...</c>.</param>
/// <param name="Sha256">The hash of its bytes (idempotency compares requests by it).</param>
public sealed record TaskInputFile(string Source, string Sha256);

/// <summary>
/// Everything a task will generate from: the parameters of <c>canter generate</c> and its input files, which are kept
/// under the data folder (inputs/ID/) so a task can run, or run again after a restart, without the client.
/// <see cref="Edit"/> (a source video to edit) and <see cref="SourceGuidance"/> are left out of the JSON when absent,
/// so tasks stored before edits read, and hash for idempotency, as they did; so is <see cref="GuidanceUntil"/> (guidance
/// only for flow times at or above it; absent: every step) and <see cref="GuidanceEvery"/> (every branch on every N-th
/// guided step; absent: the generator's default) and <see cref="EditStrength"/> (an edit's start from its noised source;
/// absent: 1, pure noise).
/// </summary>
public sealed record TaskSpec(
    string Prompt,
    int Width,
    int Height,
    float Seconds,
    ulong Seed,
    int Steps,
    float Guidance,
    float RefGuidance,
    string Negative,
    bool Audio,
    string Sampler,
    TaskInputFile? Image = null,
    TaskInputFile? LastFrame = null,
    IReadOnlyList<TaskInputFile>? Refs = null,
    TaskInputFile? DrivingAudio = null,
    TaskInputFile? Extend = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] TaskInputFile? Edit = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] float? SourceGuidance = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] float? GuidanceUntil = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? GuidanceEvery = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] float? EditStrength = null)
{
    /// <summary>Snake case, as the API and the database both write it.</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    /// <summary>The stored file name of each input inside the task's input folder.</summary>
    public IEnumerable<(string Field, string File, TaskInputFile Input)> Inputs()
    {
        if (Image is not null) yield return ("image", "image", Image);
        if (LastFrame is not null) yield return ("last_frame", "last_frame", LastFrame);
        for (int i = 0; i < (Refs?.Count ?? 0); i++) yield return ($"refs[{i}]", $"ref-{i}", Refs![i]);
        if (DrivingAudio is not null) yield return ("audio", "audio", DrivingAudio);
        if (Extend is not null) yield return ("extend", "extend", Extend);
        if (Edit is not null) yield return ("edit", "edit", Edit);
    }

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static TaskSpec FromJson(string json) => JsonSerializer.Deserialize<TaskSpec>(json, Json) ?? throw new InvalidDataException("empty task request");
}

/// <summary>
/// One task as stored. <see cref="QueuePosition"/> is 1 for the next task to run, null unless queued: the place in the
/// fair order between keys (see <see cref="ITaskStore.ClaimNextAsync"/>), exact while no task is added and one worker
/// runs; a task submitted later by a key with fewer tasks may still go ahead of it.
/// </summary>
public sealed record TaskRecord(
    string Id,
    long Sequence,
    TaskState State,
    TaskSpec Spec,
    string Model,
    int Step,
    int Steps,
    string? ErrorCode,
    string? Error,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? CompletedAt,
    string? IdempotencyKey,
    string? Owner,
    string RequestHash,
    string? RemixedFrom,
    bool CancelRequested,
    int? QueuePosition)
{
    /// <summary>When a succeeded task's files expire; set by the task service from the retention (the store does not keep it).</summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>
    /// Units of work after the sampling steps: decoding the latents into frames and sound, then encoding the MP4 and
    /// writing the files. The worker records the step count as sampling steps + these, so that progress covers the
    /// whole generation and reaches 1 only when the files are there.
    /// </summary>
    public const int FinishingUnits = 2;

    /// <summary>Sampling steps done (<see cref="Step"/> also counts the decode once it is done).</summary>
    public int SamplingStep => Math.Min(Step, Spec.Steps);

    /// <summary>
    /// Fraction of the work done, in [0, 1]: each sampling step, the decode and the encode are one unit each, so it
    /// grows monotonically through all of them and is 1 once succeeded.
    /// </summary>
    public double Progress => State == TaskState.Succeeded ? 1 : Spec.Steps > 0 ? Math.Min(1.0, (double)Step / (Spec.Steps + FinishingUnits)) : 0;

    /// <summary>What a running task is doing: sampling, decoding (the last step is done) or encoding (the clip is decoded); null unless running.</summary>
    public string? Phase => State != TaskState.Running ? null : Step < Spec.Steps ? "sampling" : Step == Spec.Steps ? "decoding" : "encoding";
}

/// <summary>A task to add: its id and spec, who asked, and the key that makes a retried submit return the same task.</summary>
public sealed record NewTask(string Id, TaskSpec Spec, string Model, string RequestHash, string? Owner, string? IdempotencyKey, string? RemixedFrom = null);

/// <summary>A page of tasks, newest first by default; <see cref="After"/> is the id of the last task of the previous page.</summary>
public sealed record TaskQuery(string? Owner, string? After = null, int Limit = 20, bool Ascending = false, TaskState? State = null);

public sealed record TaskPage(IReadOnlyList<TaskRecord> Tasks, bool HasMore);
