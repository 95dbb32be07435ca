using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Canter.Bench;

/// <summary>
/// A throwaway PostgreSQL server: Debian's binaries (the <c>postgresql</c> package), a fresh cluster in /tmp on a free
/// loopback port (as the <c>postgres</c> user when run as root, since PostgreSQL refuses to run as root), one database
/// per <see cref="NewDatabaseAsync"/>; stopped and removed on dispose. Missing binaries throw with what to install.
/// The scale-out benchmark and the PostgreSQL tests share this file (the tests compile it in: they reference no benchmark).
/// </summary>
/// <example><code>
/// await using var pg = await ThrowawayPostgres.StartAsync();
/// string store = ThrowawayPostgres.Url(await pg.NewDatabaseAsync());   // for --store
/// </code></example>
public sealed class ThrowawayPostgres : IAsyncDisposable
{
    private readonly string _dir;
    private readonly string _bin;

    private ThrowawayPostgres(string dir, string bin, int port) => (_dir, _bin, Port) = (dir, bin, port);

    public int Port { get; }

    /// <summary>To the server's postgres database, as its superuser (trust authentication on loopback).</summary>
    public string AdminConnection => $"Host=127.0.0.1;Port={Port};Username=postgres;Database=postgres;Pooling=false";

    public static async Task<ThrowawayPostgres> StartAsync()
    {
        var pg = new ThrowawayPostgres(Path.Combine("/tmp", $"canter-pg-{Guid.NewGuid():N}"[..20]), FindBinaries(), FreePort());
        await pg.PgAsync("initdb", "-D", pg._dir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync");
        await pg.StartServerAsync();
        return pg;
    }

    /// <summary>A new, empty database; its connection string.</summary>
    public async Task<string> NewDatabaseAsync()
    {
        var name = $"canter_{Guid.NewGuid():N}"[..20];
        await using (var c = new NpgsqlConnection(AdminConnection))
        {
            await c.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", c);
            await create.ExecuteNonQueryAsync();
        }
        return $"Host=127.0.0.1;Port={Port};Username=postgres;Database={name}";
    }

    /// <summary>The URL form of a connection string of <see cref="NewDatabaseAsync"/>, as <c>--store</c> takes it.</summary>
    public static string Url(string connection) =>
        $"postgres://postgres@127.0.0.1:{new NpgsqlConnectionStringBuilder(connection).Port}/{new NpgsqlConnectionStringBuilder(connection).Database}";

    /// <summary>Stops the server at once (every connection drops) and starts it again on the same port.</summary>
    public async Task RestartAsync(TimeSpan down)
    {
        await PgAsync("pg_ctl", "-D", _dir, "-m", "immediate", "-w", "stop");
        await Task.Delay(down);
        await StartServerAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!Directory.Exists(_dir)) return;
        try { await PgAsync("pg_ctl", "-D", _dir, "-m", "immediate", "-w", "stop"); }
        catch (InvalidOperationException) { }   // already down
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>
    /// fsync off (nothing here survives a power cut), but commits stay synchronous: <see cref="RestartAsync"/> crashes the
    /// server, and an asynchronous commit lost in that crash would undo a finished task.
    /// </summary>
    private Task StartServerAsync() => PgAsync("pg_ctl", "-D", _dir, "-l", Path.Combine(_dir, "server.log"), "-w", "-t", "60", "-o",
        $"-p {Port} -k {_dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200", "start");

    private static string FindBinaries()
    {
        var versions = Directory.Exists("/usr/lib/postgresql") ? Directory.GetDirectories("/usr/lib/postgresql") : [];
        var bin = versions.Select(v => Path.Combine(v, "bin")).Where(b => File.Exists(Path.Combine(b, "pg_ctl")) && File.Exists(Path.Combine(b, "initdb")))
            .OrderByDescending(b => int.TryParse(Path.GetFileName(Path.GetDirectoryName(b)), out int v) ? v : 0).FirstOrDefault();
        return bin ?? throw new InvalidOperationException(
            "a throwaway PostgreSQL needs a PostgreSQL server's binaries (/usr/lib/postgresql/<version>/bin/initdb and pg_ctl) and found none: " +
            "install the Debian package 'postgresql' (sudo apt-get install -y postgresql; ./canter test installs it), or pass --store postgres://...");
    }

    /// <summary>Runs a PostgreSQL tool, as the postgres user when we are root; throws with its output when it fails.</summary>
    private async Task PgAsync(string tool, params string[] args)
    {
        var start = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true };
        if (Environment.IsPrivilegedProcess)
        {
            start.FileName = "runuser";
            foreach (var a in new[] { "-u", "postgres", "--" }) start.ArgumentList.Add(a);
            start.ArgumentList.Add(Path.Combine(_bin, tool));
        }
        else start.FileName = Path.Combine(_bin, tool);
        foreach (var a in args) start.ArgumentList.Add(a);
        using var p = Process.Start(start)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var errors = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await p.WaitForExitAsync(timeout.Token);
        if (p.ExitCode != 0)
            throw new InvalidOperationException($"{tool} {string.Join(' ', args)} failed ({p.ExitCode}): {await output}{await errors}");
    }

    internal static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }
}
