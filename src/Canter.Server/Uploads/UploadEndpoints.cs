using System.Security.Cryptography;
using Canter.Media;
using Canter.Server.Api;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;

namespace Canter.Server.Uploads;

/// <summary>An upload as the API shows it; <see cref="Url"/> (or <c>upload:ID</c>) is accepted by any input field of this server.</summary>
public sealed record UploadView(string Id, string Object, string Kind, string Filename, long Bytes, string Sha256, string Url, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt)
{
    public static UploadView Of(UploadRecord u) => new(u.Id, "upload", u.Kind, u.Name, u.Bytes, u.Sha256, u.Url, u.CreatedAt, u.ExpiresAt);
}

/// <summary>
/// <c>POST /api/uploads</c>: put a file on the server once (a multipart <c>file</c>, or the raw body) and name it in
/// any number of submissions by the URL it answers, without the server fetching anything. The file must be an image,
/// a video or a sound by its content, within the upload limit; it is kept for <see cref="ServerOptions.UploadRetention"/>.
/// <code>
/// curl -s localhost:8000/api/uploads --data-binary @cat.png        # {"id":"upload_...","url":"http://localhost:8000/api/uploads/upload_...",...}
/// curl -s localhost:8000/api/tasks -H 'Content-Type: application/json' -d '{"prompt":"A cat","image":"upload:upload_..."}'
/// </code>
/// </summary>
public static class UploadEndpoints
{
    public static RouteGroupBuilder MapUploadEndpoints(this IEndpointRouteBuilder app)
    {
        var uploads = app.MapGroup("/api/uploads").AddEndpointFilter<ApiKeyFilter>().WithTags("uploads");
        uploads.MapPost("/", Upload).DisableAntiforgery();
        uploads.MapGet("/{id}", Download);
        return uploads;
    }

    public static async Task<Results<Created<UploadView>, ProblemHttpResult>> Upload(HttpContext http, UploadStore store, IOptions<ServerOptions> options,
        TimeProvider clock, CancellationToken cancel)
    {
        var o = options.Value;
        var id = UploadStore.NewId();
        var partial = store.PathOf(id) + ".partial";
        try
        {
            Stream source;
            string name;
            if (http.Request.HasFormContentType)
            {
                IFormCollection form;
                try { form = await http.Request.ReadFormAsync(cancel); }
                catch (Exception e) when (e is InvalidDataException or IOException && !e.Message.Contains("limit", StringComparison.OrdinalIgnoreCase))
                {
                    // a malformed multipart body (bad headers, no closing boundary) is the client's error, not a 500
                    throw ApiException.BadRequest($"the form cannot be read: {e.Message}", "file", "invalid_form");
                }
                var file = form.Files.Count == 1 && form.Files[0].Name == "file" && form.Keys.Count == 0
                    ? form.Files[0] : throw ApiException.BadRequest("send one file, as the multipart field 'file' (or the file itself as the body)", "file");
                (source, name) = (file.OpenReadStream(), SafeName(file.FileName));
            }
            else (source, name) = (http.Request.Body, "body");
            long bytes;
            string sha;
            await using (source) (bytes, sha) = await CopyAsync(source, partial, o.MaxUploadBytes, cancel);
            if (bytes == 0) throw ApiException.BadRequest("the upload is empty", "file");
            MediaInfo info;
            try { info = MediaProbe.Probe(partial, o.MediaLimits); }
            catch (MediaException e)
            {
                throw ApiException.BadRequest($"the upload is not a readable image, video or audio file ({e.Message.Replace(partial, "upload", StringComparison.Ordinal)})", "file", "invalid_input");
            }
            File.Move(partial, store.PathOf(id));
            var now = clock.GetUtcNow();
            var url = $"{http.Request.Scheme}://{http.Request.Host}{http.Request.PathBase}/api/uploads/{id}";
            var upload = new UploadRecord(id, ApiKeyFilter.Owner(http), Kind(info), name, bytes, sha, url, now, now + o.UploadRetention, false);
            await store.AddAsync(upload, cancel);
            return TypedResults.Created(url, UploadView.Of(upload));
        }
        catch (ApiException e) { return e.ToProblem(http); }
        catch (InvalidDataException e) when (e.Message.Contains("limit", StringComparison.OrdinalIgnoreCase))
        {
            return Problems.Of(http, 413, "too_large", $"the upload is over the server's limits ({e.Message})");
        }
        finally { File.Delete(partial); }
    }

    public static async Task<Results<PhysicalFileHttpResult, ProblemHttpResult>> Download(string id, HttpContext http, UploadStore store, TimeProvider clock,
        CancellationToken cancel)
    {
        var upload = UploadStore.IsId(id) ? await store.GetAsync(id, cancel) : null;
        if (upload is null || upload.Owner != ApiKeyFilter.Owner(http)) return ApiException.NotFound($"upload '{id}'").ToProblem(http);
        if (upload.Expired || upload.ExpiresAt <= clock.GetUtcNow())
            return Problems.Of(http, 410, "upload_expired", $"upload '{id}' expired at {upload.ExpiresAt.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC; upload the file again");
        return TypedResults.PhysicalFile(store.PathOf(id), "application/octet-stream", upload.Name, enableRangeProcessing: true);
    }

    /// <summary>image (a still picture format), video, or audio (sound only), by what ffprobe found.</summary>
    private static string Kind(MediaInfo info) =>
        !info.HasVideo ? "audio" : info.Format.EndsWith("_pipe", StringComparison.Ordinal) || info.Format is "image2" or "gif" ? "image" : "video";

    private static async Task<(long Bytes, string Sha256)> CopyAsync(Stream source, string path, long limit, CancellationToken cancel)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var target = File.Create(path);
        var buffer = new byte[81920];
        long total = 0;
        int n;
        while ((n = await source.ReadAsync(buffer, cancel)) > 0)
        {
            total += n;
            if (total > limit) throw new ApiException(413, "too_large", $"the upload is over the limit of {limit / 1024.0:0.#} KiB", "file");
            sha.AppendData(buffer, 0, n);
            await target.WriteAsync(buffer.AsMemory(0, n), cancel);
        }
        return (total, Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant());
    }

    private static string SafeName(string name)
    {
        var clean = new string(Path.GetFileName(name).Where(c => !char.IsControl(c)).Take(100).ToArray());
        return clean.Length > 0 ? clean : "file";
    }
}
