using Canter.Training.Unified;

namespace Canter.Training.Tests;

/// <summary><c>bench adherence</c>'s settings are checked once, up front: a prompt the model refuses is skipped, so a bad setting checked per prompt would skip them all and report nothing.</summary>
public sealed class AdherenceTests
{
    [Theory]
    [InlineData(-1f)]
    [InlineData(20.5f)]
    [InlineData(float.NaN)]
    public void GuidanceOutsideItsBoundsIsRefusedBeforeAnyGeneration(float guidance)
    {
        var bundle = TinyModels.Bundle(TinyModels.Transformer(8, 16, 0), "a red ball");
        var generated = 0;
        var e = Assert.Throws<ArgumentException>(() => Adherence.Run(bundle, 1, longPrompts: false, steps: 1, _ => generated++, guidance: guidance));
        Assert.Contains("--guidance", e.Message);
        Assert.Equal(0, generated);
    }
}
