using Canter.Bench;

namespace Canter.Server.Tests;

/// <summary>
/// A throwaway PostgreSQL server for the tests (<see cref="ThrowawayPostgres"/>, shared with <c>canter bench scaleout</c>),
/// each test in its own database. Missing binaries fail the tests with what to install: a silent skip would let the
/// scale-out go untested.
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private ThrowawayPostgres? _server;

    private ThrowawayPostgres Server => _server ?? throw new InvalidOperationException("the PostgreSQL fixture has not started");

    public int Port => Server.Port;

    /// <summary>To the server's postgres database, as its superuser (trust authentication on loopback).</summary>
    public string AdminConnection => Server.AdminConnection;

    public async Task InitializeAsync() => _server = await ThrowawayPostgres.StartAsync();

    /// <summary>A new, empty database; its connection string.</summary>
    public Task<string> NewDatabaseAsync() => Server.NewDatabaseAsync();

    /// <summary>The URL form of a connection string of <see cref="NewDatabaseAsync"/>, as <c>--store</c> takes it.</summary>
    public static string Url(string connection) => ThrowawayPostgres.Url(connection);

    /// <summary>Stops the server at once (every connection drops) and starts it again on the same port.</summary>
    public Task RestartAsync(TimeSpan down) => Server.RestartAsync(down);

    public async Task DisposeAsync()
    {
        if (_server is not null) await _server.DisposeAsync();
    }
}
