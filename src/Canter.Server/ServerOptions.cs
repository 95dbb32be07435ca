using Canter.Media;

namespace Canter.Server;

/// <summary>
/// The server's settings, bound from the "Canter" configuration section (<c>canter serve</c> fills it from its options;
/// environment variables such as <c>Canter__ApiKeys__0</c> work too).
/// </summary>
public sealed class ServerOptions
{
    public const string Section = "Canter";

    /// <summary>Folder of the database (tasks.db), inputs/ and results/; created when missing.</summary>
    public string DataDir { get; set; } = "canter-data";

    /// <summary>
    /// Where the task list lives: empty for an SQLite file in <see cref="DataDir"/> (one process), or a PostgreSQL URL
    /// (<c>postgres://user:password@host:port/database</c>) or Npgsql connection string shared by several servers and
    /// workers. With PostgreSQL every process must see the same <see cref="DataDir"/> (a shared mount across machines):
    /// inputs, and results unless <see cref="Results"/> names a bucket, are files there.
    /// </summary>
    public string Store { get; set; } = "";

    /// <summary>
    /// Where results go: empty for results/ under <see cref="DataDir"/> (a shared mount when scaled out), or an
    /// S3-compatible bucket <c>s3://BUCKET[/PREFIX]</c> that every server and worker reaches (credentials from
    /// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY).
    /// </summary>
    public string Results { get; set; } = "";

    /// <summary>The S3-compatible server's URL (path-style addressing, for self-hosted servers); empty for AWS S3 itself.</summary>
    public string S3Endpoint { get; set; } = "";

    /// <summary>The bucket's region (the signing region of a self-hosted server).</summary>
    public string S3Region { get; set; } = "us-east-1";

    /// <summary>Whether this process runs generation workers; false for an API-only server in front of separate <c>canter worker</c>s.</summary>
    public bool RunWorkers { get; set; } = true;

    /// <summary>With PostgreSQL: how long a claimed task stays a worker's without a heartbeat before another worker may run it.</summary>
    public double LeaseSeconds { get; set; } = 30;

    /// <summary>Model folder; the shipped models/canter-tiny (found through CANTER_HOME) when empty.</summary>
    public string ModelDir { get; set; } = "";

    /// <summary>cpu or cuda.</summary>
    public string Device { get; set; } = "cpu";

    /// <summary>Keys a client must send (Authorization: Bearer KEY, or X-Api-Key); none means an open server for local use.</summary>
    public string[] ApiKeys { get; set; } = [];

    /// <summary>Whether inputs may be http(s) URLs on any public host for the server to fetch (off: only the hosts in <see cref="AllowedInputHosts"/>).</summary>
    public bool AllowUrlInputs { get; set; }

    public int MaxPromptChars { get; set; } = 2000;

    /// <summary>Largest single input file (an upload, a data URL, a fetched URL).</summary>
    public long MaxUploadBytes { get; set; } = 32L << 20;

    /// <summary>Largest request body.</summary>
    public long MaxRequestBytes { get; set; } = 128L << 20;

    /// <summary>Largest input picture, in pixels.</summary>
    public long MaxInputPixels { get; set; } = 4096L * 4096;

    public MediaLimits MediaLimits => new(MaxInputPixels, MaxSeconds: 600, MaxFileBytes: MaxUploadBytes, Timeout: TimeSpan.FromSeconds(60));

    public string ResolvedModelDir =>
        ModelDir is { Length: > 0 } ? ModelDir : Path.Combine(Environment.GetEnvironmentVariable("CANTER_HOME") ?? ".", "models", "canter-tiny");

    /// <summary>Whether webhooks may point at loopback, private, link-local or other non-public addresses (local setups, tests).</summary>
    public bool AllowPrivateWebhooks { get; set; }

    /// <summary>Tries per webhook delivery before it is given up (network errors, timeouts, 408, 429 and 5xx are retried).</summary>
    public int WebhookMaxAttempts { get; set; } = 6;

    /// <summary>The wait after the first failed try; it doubles each try, with jitter (6 tries: about 4 minutes in all).</summary>
    public TimeSpan WebhookRetryBaseDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a receiver has to answer one delivery.</summary>
    public TimeSpan WebhookTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>At most one progress event per this interval (and per tenth of the steps).</summary>
    public TimeSpan WebhookProgressInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Hosts whose http(s) URLs inputs may name (exact names, or <c>*.example.com</c> for its subdomains); none by default. A listed host may be on a private address.</summary>
    public string[] AllowedInputHosts { get; set; } = [];

    /// <summary>How long a succeeded task's files are kept after it completed (then downloads are 410 result_expired); zero keeps them.</summary>
    public TimeSpan ResultRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How long a file put with POST /api/uploads is kept.</summary>
    public TimeSpan UploadRetention { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How often expired results and uploads are removed.</summary>
    public TimeSpan RetentionSweepInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Generations run at once, each by its own worker loop in this process (<c>canter serve --workers N</c>).</summary>
    public int Workers { get; set; } = 1;

    /// <summary>Requests per minute a key may make, unless the key store gives the key its own limit; 0: no limit.</summary>
    public int RateLimitPerMinute { get; set; }

    /// <summary>Seconds of video a key may ask for in any 24 hours, unless the key store gives the key its own quota; 0: no quota.</summary>
    public double QuotaSecondsPerDay { get; set; }

    /// <summary>Unfinished (queued or running) tasks a key may have at once, unless the key store says otherwise; 0: no cap.</summary>
    public int MaxTasksPerKey { get; set; }

    /// <summary>How long a signed download link (Model Studio's video_url) stays valid, in hours.</summary>
    public int SignedUrlHours { get; set; } = 24;
}
