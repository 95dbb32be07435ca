using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;

namespace Canter.Server.Api;

/// <summary>
/// The rest of OpenAI's <c>videos</c> resource (openai-node 6.x: edit, extend, createCharacter, getCharacter):
/// extensions continue a video with the model's extend mode; characters are reference pictures that
/// <c>character_ids</c> in a create turns into the model's references (r2v); edits run the model's edit mode, and
/// are refused where the served model has none.
/// </summary>
public static class VideoCompatEndpoints
{
    public static RouteGroupBuilder MapVideoCompatEndpoints(this RouteGroupBuilder videos)
    {
        videos.MapPost("/edits", Edit).DisableAntiforgery();
        videos.MapPost("/extensions", Extend).DisableAntiforgery();
        videos.MapPost("/characters", CreateCharacter).DisableAntiforgery();
        videos.MapGet("/characters/{id}", GetCharacter);
        return videos;
    }

    /// <summary>
    /// An edit of <c>video</c> (an upload, or <c>{id}</c> of a completed video) by the prompt, with the model's edit
    /// mode. A model without one refuses it at submit, after the body is read (so a wrong field or an oversized upload
    /// is still named as such) and before any task exists.
    /// </summary>
    public static Task<Results<Ok<VideoView>, ProblemHttpResult>> Edit(HttpContext http, TaskService service, Submissions submissions,
        [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey, CancellationToken cancel) =>
        VideoEndpoints.SubmitFields(http, service, idempotencyKey, submissions.OpenAiEditAsync, cancel);

    public static Task<Results<Ok<VideoView>, ProblemHttpResult>> Extend(HttpContext http, TaskService service, Submissions submissions,
        [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey, CancellationToken cancel) =>
        VideoEndpoints.SubmitFields(http, service, idempotencyKey, submissions.OpenAiExtensionAsync, cancel);

    public static async Task<Results<Ok<CharacterView>, ProblemHttpResult>> CreateCharacter(HttpContext http, Submissions submissions, CancellationToken cancel)
    {
        var fields = await RequestFields.ReadAsync(http.Request, cancel);
        return TypedResults.Ok(CharacterView.Of(await submissions.CharacterAsync(fields, ApiKeyFilter.Owner(http), cancel)));
    }

    public static Results<Ok<CharacterView>, ProblemHttpResult> GetCharacter(string id, HttpContext http, CharacterStore characters)
    {
        return TypedResults.Ok(CharacterView.Of(characters.Get(id, ApiKeyFilter.Owner(http))));
    }
}

/// <summary>OpenAI's character object (VideoCreateCharacterResponse): id, created_at in Unix seconds, name.</summary>
public sealed record CharacterView(string Id, string Object, long CreatedAt, string Name)
{
    public static CharacterView Of(Character c) => new(c.Id, "video.character", c.CreatedAt, c.Name);
}
