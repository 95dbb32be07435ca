using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Canter.Server.Tests;

/// <summary>
/// A second web app on loopback, standing in for the outside world: a webhook receiver that keeps every request and
/// answers what <see cref="Answer"/> says, and routes a test adds (a file host for input URLs).
/// </summary>
internal sealed class Receiver : IAsyncDisposable
{
    private readonly WebApplication _app;

    private Receiver(WebApplication app)
    {
        _app = app;
        Address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
    }

    public Uri Address { get; }

    public string Url(string path) => new Uri(Address, path).ToString();

    /// <summary>Every POST to /hook, in arrival order.</summary>
    public ConcurrentQueue<(IHeaderDictionary Headers, string Body)> Hooks { get; } = new();

    /// <summary>The status to answer a POST to /hook, given how many came before it (0 for the first).</summary>
    public Func<int, int> Answer { get; set; } = _ => 200;

    public static async Task<Receiver> StartAsync(Action<WebApplication>? routes = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        Receiver? self = null;
        app.MapPost("/hook", async (HttpContext http) =>
        {
            using var reader = new StreamReader(http.Request.Body);
            var body = await reader.ReadToEndAsync();
            int before = self!.Hooks.Count;
            self.Hooks.Enqueue((new HeaderDictionary(http.Request.Headers.ToDictionary(h => h.Key, h => h.Value)), body));
            return Results.StatusCode(self.Answer(before));
        });
        routes?.Invoke(app);
        await app.StartAsync();
        self = new Receiver(app);
        return self;
    }

    /// <summary>Waits (up to 30 s) until <paramref name="done"/> holds.</summary>
    public static async Task EventuallyAsync(Func<bool> done, string what)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!done())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(30)) throw new TimeoutException(what);
            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
