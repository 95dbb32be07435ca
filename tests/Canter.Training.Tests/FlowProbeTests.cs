using Canter.Tensors;
using Canter.Training.Unified;

namespace Canter.Training.Tests;

/// <summary>
/// <c>bench flow</c>: the flow loss of test clips with and without the prompt. The same model gives the same figures
/// (seeded noise); a model whose prediction ignores its input has no prompt gain; one that reads the prompt has.
/// </summary>
public sealed class FlowProbeTests
{
    private static ModelBundle Bundle()
    {
        var tiny = TinyModels.Bundle(TinyModels.Transformer(48, 64, 0), "A red ball bounces and a blue star spins");
        return new ModelBundle(tiny.Transformer, tiny.Codec, tiny.Manifest with { Seconds = 1f });   // test scenes last 1 s or more
    }

    [Fact]
    public void ThePromptGainIsZeroForAModelBlindToItsInputAndTheFiguresRepeat()
    {
        var bundle = Bundle();
        var seen = new List<int>();
        var report = FlowProbe.Run(bundle, 2, longPrompts: false, [0.5f, 1f], seen.Add);
        Assert.Equal(2, report.Clips);
        Assert.Equal([1, 2], seen);
        Assert.Equal([0.5f, 1f], report.Times.Select(t => t.Time));
        Assert.All(report.Times, t => Assert.True(double.IsFinite(t.VideoLoss) && double.IsFinite(t.AudioLoss) && t.VideoLoss > 0));
        // the subjects' tokens are a part of the clip with losses of their own
        Assert.All(report.Times, t => Assert.True(t.SubjectLoss > 0 && t.SubjectLossWithoutPrompt > 0 && t.SubjectLoss != t.VideoLoss, $"{t}"));
        Assert.Contains(report.Times, t => t.VideoLoss != t.VideoLossWithoutPrompt);   // random weights read the prompt a little
        Assert.True(report.UnconditionalError > 0);
        var again = FlowProbe.Run(bundle, 2, longPrompts: false, [0.5f, 1f]);
        Assert.Equal(report.Times, again.Times);

        // outputs that do not depend on the input (only the output bias): the prompt cannot change the loss
        var output = bundle.Transformer.VisualOut.Weight;
        output.Backend.Copy(output, Tensor.Zeros(output.Shape));
        var blind = FlowProbe.Run(bundle, 2, longPrompts: false, [0.5f, 1f]);
        Assert.All(blind.Times, t => Assert.Equal((0, 0), (t.PromptGain, t.SubjectPromptGain)));
    }

    [Fact]
    public void BadSettingsAreRefused()
    {
        var bundle = Bundle();
        Assert.Contains("--count", Assert.Throws<ArgumentException>(() => FlowProbe.Run(bundle, 0, false)).Message);
        Assert.Contains("flow times", Assert.Throws<ArgumentException>(() => FlowProbe.Run(bundle, 1, false, [0f])).Message);
        Assert.Contains("flow times", Assert.Throws<ArgumentException>(() => FlowProbe.Run(bundle, 1, false, [1.5f])).Message);
        Assert.Contains("flow times", Assert.Throws<ArgumentException>(() => FlowProbe.Run(bundle, 1, false, [])).Message);
    }
}
