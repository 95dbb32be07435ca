namespace Canter.Server.Tests;

/// <summary>
/// The native API takes the multistep samplers and a guidance interval, runs them on the shipped model, and writes both
/// into the task's record (so the record reproduces the run); a task without an interval records none.
/// </summary>
public sealed class SamplerSubmissionTests
{
    [Fact]
    public async Task TheSamplerAndTheGuidanceIntervalReachTheRecord()
    {
        await using var server = await TestServer.StartAsync();
        var withInterval = await server.Http.SubmitTaskAsync(new
        {
            prompt = "A red ball bounces", seconds = 0.5, size = "32x32", steps = 3, sampler = "dpm++2m", guidance_until = 0.5, guidance_every = 2, seed = 4,
        });
        var plain = await server.Http.SubmitTaskAsync(new { prompt = "A red ball bounces", seconds = 0.5, size = "32x32", steps = 2, sampler = "ab2", seed = 4 });
        await server.WaitForStateAsync(withInterval, "succeeded");
        await server.WaitForStateAsync(plain, "succeeded");

        var record = await server.GetAsync($"/api/tasks/{withInterval}/record");
        Assert.Equal(("dpm++2m", 3, 0.5f), (record.GetProperty("sampler").GetString(), record.GetProperty("steps").GetInt32(), record.GetProperty("guidance_until").GetSingle()));
        Assert.Equal(2, record.GetProperty("guidance_every").GetInt32());
        record = await server.GetAsync($"/api/tasks/{plain}/record");
        Assert.Equal("ab2", record.GetProperty("sampler").GetString());
        Assert.False(record.TryGetProperty("guidance_until", out _));
        Assert.Equal(Canter.Training.Unified.GenerationRequest.DefaultGuidanceEvery, record.GetProperty("guidance_every").GetInt32());
    }
}
