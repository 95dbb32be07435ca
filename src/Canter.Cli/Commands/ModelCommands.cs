using System.CommandLine;
using Canter.Models.Unified;

namespace Canter.Cli.Commands;

/// <summary><c>canter model info</c>: sizes and cost of the transformer presets.</summary>
public static class ModelCommands
{
    public static Command Create()
    {
        var model = new Command("model", "Facts about the unified transformer's presets.");
        var seconds = new Option<float>("--seconds") { Description = "Clip duration for the token count.", DefaultValueFactory = _ => 4f };
        var size = new Option<string>("--size") { Description = "Frame size for the token count.", DefaultValueFactory = _ => "128x128" };
        var info = new Command("info", "Parameters, tokens and FLOPs per sampling step of each preset.") { seconds, size };
        info.SetAction(result =>
        {
            var (w, h) = WorldCommands.ParseSize(result.GetValue(size)!);
            float s = result.GetValue(seconds);
            foreach (var (name, c) in new[] { ("tiny", UnifiedConfig.Tiny), ("small", UnifiedConfig.Small), ("base", UnifiedConfig.Base) })
            {
                int frames = 1 + (int)Math.Floor(s * c.FrameRate / c.TemporalRatio) * c.TemporalRatio;
                int groups = 1 + (frames - 1) / c.TemporalRatio;
                var layout = new SequenceLayout(c, groups, h / 8 / c.Patch, w / 8 / c.Patch, (int)Math.Round(s * c.AudioLatentRate), c.MaxReferences);
                Console.WriteLine($"{name}_parameters: {c.ParameterCount}");
                Console.WriteLine($"{name}_tokens: {layout.Count}");
                Console.WriteLine($"{name}_gflops_per_forward: {c.ForwardFlops(layout.Count) / 1e9:F1}");
                // an edit adds the source video's tokens, as many as the video's
                var edit = new SequenceLayout(c, groups, h / 8 / c.Patch, w / 8 / c.Patch, (int)Math.Round(s * c.AudioLatentRate), c.MaxReferences, source: c.Edit);
                Console.WriteLine($"{name}_edit_tokens: {edit.Count}");
                Console.WriteLine($"{name}_edit_gflops_per_forward: {c.ForwardFlops(edit.Count) / 1e9:F1}");
            }
            return 0;
        });
        model.Subcommands.Add(info);
        return model;
    }
}
