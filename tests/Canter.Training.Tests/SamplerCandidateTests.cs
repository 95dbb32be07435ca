using Canter.Bench;

namespace Canter.Training.Tests;

/// <summary>The sampler bench's candidate settings: SAMPLER:STEPS[:GUIDANCE_UNTIL[:SHIFT[:GUIDANCE_EVERY]]].</summary>
public sealed class SamplerCandidateTests
{
    [Fact]
    public void CandidatesReadTheirSettingsAndNameThem()
    {
        var plain = SamplerCandidate.Parse("ab2:8");
        Assert.Equal(("ab2", 8, 0f, (float?)null, "ab2_8"), (plain.Sampler, plain.Steps, plain.GuidanceUntil, plain.Shift, plain.Name));
        var shifted = SamplerCandidate.Parse("ab2:6:0:1.5");
        Assert.Equal(("ab2", 6, 0f, (float?)1.5f, "ab2_6_shift_1.5"), (shifted.Sampler, shifted.Steps, shifted.GuidanceUntil, shifted.Shift, shifted.Name));
        var both = SamplerCandidate.Parse("dpm++2m:6:0.5:2");
        Assert.Equal("dpm++2m_6_until_0.5_shift_2", both.Name);
        var reused = SamplerCandidate.Parse("ab2:8:0:3:2");
        Assert.Equal((2, "ab2_8_shift_3_every_2"), (reused.GuidanceEvery, reused.Name));
        Assert.Equal(1, plain.GuidanceEvery);
    }

    [Theory]
    [InlineData("ab2", "is not SAMPLER:STEPS")]
    [InlineData("ab2:8:0:2:1:1", "is not SAMPLER:STEPS")]
    [InlineData("ab2:8:0:2:0", "guidance-every '0' is not")]
    [InlineData("ab2:8:0:2:9", "guidance-every '9' is not")]
    [InlineData("ab2:8:0:2:1.5", "guidance-every '1.5' is not")]
    [InlineData("rk4:8", "is not SAMPLER:STEPS")]
    [InlineData("ab2:0", "is not SAMPLER:STEPS")]
    [InlineData("ab2:8:1.5", "guidance-until")]
    [InlineData("ab2:8:0:0", "shift '0' is not in")]
    [InlineData("ab2:8:0:x", "shift 'x' is not in")]
    [InlineData("ab2:8:0:40", "shift '40' is not in")]
    public void BadCandidatesAreRefused(string text, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => SamplerCandidate.Parse(text));
        Assert.Contains(expected, e.Message);
    }
}
