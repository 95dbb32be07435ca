using Canter.Server.Api;
using Canter.Server.Net;
using Microsoft.Extensions.Options;

namespace Canter.Server.Uploads;

/// <summary>An input opened for copying into a task: where it came from (as the record names it) and its bytes.</summary>
public sealed record OpenedInput(string Source, Stream Stream) : IAsyncDisposable
{
    public ValueTask DisposeAsync() => Stream.DisposeAsync();
}

/// <summary>
/// Inputs named by reference that live outside the request: this server's own uploads (<c>upload:ID</c>, or the URL
/// that <c>POST /api/uploads</c> answered), read from disk without a fetch; and http(s) URLs on the hosts the operator
/// allowed (<see cref="ServerOptions.AllowedInputHosts"/>, exact names or <c>*.suffix</c>; or any public host with
/// <see cref="ServerOptions.AllowUrlInputs"/>). A fetch has a size and time limit, follows redirects only to allowed
/// hosts, and connects only to public addresses unless the host is listed by name.
/// </summary>
public sealed class InputSources : IDisposable
{
    private const int MaxRedirects = 5;
    private static readonly TimeSpan FetchTime = TimeSpan.FromSeconds(30);
    private readonly UploadStore _uploads;
    private readonly ServerOptions _options;
    private readonly TimeProvider _clock;
    private readonly HttpClient _http;

    public InputSources(UploadStore uploads, IOptions<ServerOptions> options, TimeProvider clock)
    {
        (_uploads, _options, _clock) = (uploads, options.Value, clock);
        _http = new HttpClient(OutboundGuard.Handler(Listed)) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("Canter-Inputs/1");
    }

    /// <summary>Whether <paramref name="host"/> is in <see cref="ServerOptions.AllowedInputHosts"/>: an exact name, or under a <c>*.suffix</c>.</summary>
    public bool Listed(string host)
    {
        host = host.Trim('[', ']').TrimEnd('.');
        foreach (var pattern in _options.AllowedInputHosts.Select(p => p.Trim().Trim('[', ']').TrimEnd('.')).Where(p => p.Length > 0))
        {
            if (pattern.StartsWith("*.", StringComparison.Ordinal) ? host.EndsWith(pattern[1..], StringComparison.OrdinalIgnoreCase) && host.Length > pattern.Length - 1
                                                                    : host.Equals(pattern, StringComparison.OrdinalIgnoreCase)) return true;
        }
        return false;
    }

    /// <summary>The input <paramref name="reference"/> names, when it is an upload or an http(s) URL; null for other kinds of reference.</summary>
    public async Task<OpenedInput?> OpenAsync(string reference, string? owner, string field, CancellationToken cancel)
    {
        if (reference.StartsWith("upload:", StringComparison.Ordinal)) return await UploadAsync(reference[7..], owner, field, cancel);
        if (!Uri.TryCreate(reference, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https")) return null;
        var segments = uri.AbsolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments is ["api", "uploads", var id] && UploadStore.IsId(id) && await _uploads.GetAsync(id, cancel) is { } mine && mine.Url == uri.AbsoluteUri)
            return await UploadAsync(id, owner, field, cancel);
        return await FetchAsync(uri, field, cancel);
    }

    private async Task<OpenedInput> UploadAsync(string id, string? owner, string field, CancellationToken cancel)
    {
        var upload = UploadStore.IsId(id) ? await _uploads.GetAsync(id, cancel) : null;
        if (upload is null || upload.Owner != owner) throw ApiException.BadRequest($"{field}: upload '{id}' was not found", field);
        if (upload.Expired || upload.ExpiresAt <= _clock.GetUtcNow())
            throw ApiException.BadRequest($"{field}: upload '{id}' expired at {upload.ExpiresAt.UtcDateTime:yyyy-MM-dd HH:mm:ss} UTC; upload the file again", field, "upload_expired");
        return new OpenedInput($"upload:{id}", File.OpenRead(_uploads.PathOf(id)));
    }

    private void CheckHost(Uri uri, string field)
    {
        if (Listed(uri.IdnHost) || _options.AllowUrlInputs) return;
        throw _options.AllowedInputHosts.Length == 0
            ? ApiException.BadRequest($"{field}: this server does not fetch URLs (start it with --allow-input-host HOST); upload the file to /api/uploads or send a data: URL",
                field, "url_inputs_disabled")
            : ApiException.BadRequest($"{field}: this server does not fetch URLs from '{uri.IdnHost}'; its allowed hosts are {string.Join(", ", _options.AllowedInputHosts)}",
                field, "input_host_not_allowed");
    }

    private async Task<OpenedInput> FetchAsync(Uri url, string field, CancellationToken cancel)
    {
        CheckHost(url, field);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        timeout.CancelAfter(FetchTime);
        var original = url;
        try
        {
            for (int hop = 0; ; hop++)
            {
                using var response = await _http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                if ((int)response.StatusCode is >= 300 and < 400 && response.Headers.Location is { } location)
                {
                    if (hop == MaxRedirects) throw ApiException.BadRequest($"{field}: {original} redirects more than {MaxRedirects} times", field, "input_fetch_failed");
                    url = new Uri(url, location);
                    if (url.Scheme is not ("http" or "https")) throw ApiException.BadRequest($"{field}: {original} redirects to a {url.Scheme}: URL", field, "input_fetch_failed");
                    CheckHost(url, field);
                    continue;
                }
                if (!response.IsSuccessStatusCode) throw ApiException.BadRequest($"{field}: fetching {original} answered {(int)response.StatusCode}", field, "input_fetch_failed");
                if (response.Content.Headers.ContentLength is { } length) TooLarge(length, field);
                await using var body = await response.Content.ReadAsStreamAsync(timeout.Token);
                var copy = new MemoryStream();
                var buffer = new byte[81920];
                int n;
                while ((n = await body.ReadAsync(buffer, timeout.Token)) > 0)
                {
                    TooLarge(copy.Length + n, field);
                    copy.Write(buffer, 0, n);
                }
                copy.Position = 0;
                return new OpenedInput($"url:{original}", copy);
            }
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            throw ApiException.BadRequest($"{field}: {original} did not arrive within {FetchTime.TotalSeconds:0} s", field, "input_fetch_failed");
        }
        catch (HttpRequestException e)
        {
            var why = e.InnerException is OutboundRefusedException refused ? refused.Message : e.Message;
            throw ApiException.BadRequest($"{field}: could not fetch {original} ({why})", field, "input_fetch_failed");
        }
    }

    private void TooLarge(long bytes, string field)
    {
        if (bytes > _options.MaxUploadBytes)
            throw new ApiException(413, "too_large", $"{field}: the file is over the limit of {_options.MaxUploadBytes / 1024.0:0.#} KiB", field);
    }

    public void Dispose() => _http.Dispose();
}
