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
    /// inputs and results are files there.
    /// </summary>
    public string Store { get; set; } = "";

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

    /// <summary>Whether inputs may be given as http(s) URLs for the server to fetch (off: the server reaches out only when told to).</summary>
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
}
