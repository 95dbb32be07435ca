using Canter.Training.Unified;
using Canter.World;

namespace Canter.Training.Tests;

/// <summary>
/// <c>bench adherence</c> skips only prompts longer than the model reads; a bad setting is an error, not a report of
/// nothing with every prompt skipped.
/// </summary>
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

    [Fact]
    public void ABadSettingIsAnErrorNotEveryPromptSkipped()
    {
        var tiny = TinyModels.Bundle(TinyModels.Transformer(48, 16, 0), "a red ball");
        var bundle = new ModelBundle(tiny.Transformer, tiny.Codec, tiny.Manifest with { Seconds = 1f });   // test scenes last 1 s or more
        var e = Assert.Throws<ArgumentException>(() => Adherence.Run(bundle, 2, longPrompts: false, steps: 0));
        Assert.Contains("steps 0", e.Message);
    }

    [Fact]
    public void AShiftOutsideItsBoundsIsRefusedBeforeAnyGeneration()
    {
        var bundle = TinyModels.Bundle(TinyModels.Transformer(8, 16, 0), "a red ball");
        foreach (var shift in new[] { 0f, 100f, float.NaN })
            Assert.Contains("--shift", Assert.Throws<ArgumentException>(() => Adherence.Run(bundle, 1, longPrompts: false, steps: 1, shift: shift)).Message);
    }

    [Fact]
    public void CleanRendersScoreHighAgainstTheirOwnCaptionsAndLowAgainstAnothers()
    {
        var scenes = new List<SceneSpec>();
        var parsed = new List<ParsedScene>();
        for (int i = 0; i < 6; i++)
        {
            var scene = SceneGenerator.Generate(Splits.Seed(Split.Test, i), 2);
            var clip = WorldClip.Render(scene, 128, 128, 12);
            scenes.Add(scene);
            parsed.Add(Parser.Parse(clip.Video, clip.Audio));
        }
        foreach (var longPrompts in new[] { false, true })
        {
            var own = Adherence.Score(scenes, parsed, 12, longPrompts);
            var other = Adherence.Score([.. scenes.Skip(1), scenes[0]], parsed, 12, longPrompts);
            Assert.True(own.Adherence >= 0.9, $"long {longPrompts}: own captions {own.Adherence:0.000}");
            Assert.True(other.Adherence <= own.Adherence - 0.3, $"long {longPrompts}: another's captions {other.Adherence:0.000}, own {own.Adherence:0.000}");
            Assert.Subset(new HashSet<string>(own.PerAttribute.Keys), new HashSet<string> { "color", "class", "action" });
            Assert.Equal(longPrompts, own.PerAttribute.ContainsKey("background"));
        }
        Assert.Throws<ArgumentException>(() => Adherence.Score(scenes, parsed.Take(5).ToList(), 12, false));
    }
}
