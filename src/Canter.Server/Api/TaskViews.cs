using Canter.Server.Tasks;

namespace Canter.Server.Api;

/// <summary>
/// A task as the native API shows it (snake_case JSON). Progress is the fraction of the whole generation done (each
/// sampling step, the decode and the encode one unit each); step and steps count sampling steps; phase says which part
/// a running task is in.
/// </summary>
public sealed record TaskView(
    string Id,
    string Object,
    TaskState State,
    int? QueuePosition,
    double Progress,
    int Step,
    int Steps,
    string? Phase,
    bool CancelRequested,
    ErrorView? Error,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? CompletedAt,
    DateTimeOffset? ExpiresAt,
    string Model,
    string? RemixedFrom,
    TaskSpec Request,
    TaskLinks Links)
{
    public static TaskView Of(TaskRecord t)
    {
        var self = $"/api/tasks/{t.Id}";
        bool done = t.State == TaskState.Succeeded;
        return new TaskView(t.Id, "task", t.State, t.QueuePosition, Math.Round(t.Progress, 4), t.SamplingStep, t.Spec.Steps, t.Phase, t.CancelRequested,
            t.Error is null ? null : new ErrorView(t.ErrorCode ?? "failed", t.Error), t.CreatedAt, t.StartedAt, t.CompletedAt, t.ExpiresAt, t.Model, t.RemixedFrom, t.Spec,
            new TaskLinks(self, $"{self}/events", done ? $"{self}/video" : null, done ? $"{self}/poster" : null, done ? $"{self}/record" : null,
                done ? $"{self}/spritesheet" : null));
    }
}

public sealed record ErrorView(string Code, string Message);

public sealed record TaskLinks(string Self, string Events, string? Video, string? Poster, string? Record, string? Spritesheet);

/// <summary>A page of a list, shaped like OpenAI's cursor pages: pass <see cref="LastId"/> as <c>after</c> for the next one.</summary>
public sealed record ListPage<T>(string Object, IReadOnlyList<T> Data, string? FirstId, string? LastId, bool HasMore)
{
    public static ListPage<T> Of(TaskPage page, Func<TaskRecord, T> view) =>
        new("list", page.Tasks.Select(view).ToList(), page.Tasks.FirstOrDefault()?.Id, page.Tasks.LastOrDefault()?.Id, page.HasMore);
}

/// <summary>What the server serves; <see cref="Edit"/> says whether the model has edit mode (takes a source video to edit).</summary>
public sealed record ModelView(string Id, string Object, string WeightsSha256, int FrameRate, int SampleRate, string DefaultSize, float DefaultSeconds, bool Edit);
