using Canter.Media;
using Canter.Server.Tasks;
using Canter.Training.Unified;

namespace Canter.Server.Generation;

/// <summary>Turns a stored task into the generator's request: its input files are decoded at the task's size and rates.</summary>
public static class TaskRequests
{
    /// <summary>Longest clip to extend or edit, or sound to follow, as the CLI reads them.</summary>
    public const double MaxInputSeconds = 15;

    public static GenerationRequest Load(TaskSpec spec, string inputsDir, GeneratorInfo info, MediaLimits limits)
    {
        RgbImage? image = null, last = null;
        var refs = new List<RgbImage>();
        float[]? driving = null;
        VideoClip? extend = null, source = null;
        float[]? sourceSound = null;
        foreach (var (field, file, _) in spec.Inputs())
        {
            var path = Path.Combine(inputsDir, file);
            try
            {
                switch (file)
                {
                    case "image": image = MediaReader.ReadImage(path, spec.Width, spec.Height, limits); break;
                    case "last_frame": last = MediaReader.ReadImage(path, spec.Width, spec.Height, limits); break;
                    case "audio": driving = MediaReader.ReadAudio(path, info.SampleRate, MaxInputSeconds, limits).Samples; break;
                    case "extend": extend = MediaReader.ReadVideo(path, spec.Width, spec.Height, info.FrameRate, MaxInputSeconds, limits); break;
                    case "edit":
                        // the source at the request's size and frame rate; its sound, where it has one, is kept (as canter generate --edit does)
                        source = MediaReader.ReadVideo(path, spec.Width, spec.Height, info.FrameRate, MaxInputSeconds, limits);
                        if (MediaProbe.Probe(path, limits).HasAudio) sourceSound = MediaReader.ReadAudio(path, info.SampleRate, MaxInputSeconds, limits).Samples;
                        break;
                    default: refs.Add(MediaReader.ReadImage(path, spec.Width, spec.Height, limits)); break;
                }
            }
            catch (MediaException e)
            {
                // the message names the file by its path on this machine: name the request's field instead
                throw new MediaException(e.Message.Replace(path, field, StringComparison.Ordinal), e);
            }
        }
        return new GenerationRequest(spec.Prompt, spec.Width, spec.Height, spec.Seconds, spec.Seed, spec.Steps, spec.Guidance, spec.RefGuidance,
            spec.Negative, spec.Audio, spec.Sampler, image, last, refs, driving, extend,
            Source: source, SourceAudio: sourceSound, SourceGuidance: spec.SourceGuidance ?? 1f, GuidanceUntil: spec.GuidanceUntil ?? 0f,
            GuidanceEvery: spec.GuidanceEvery ?? GenerationRequest.DefaultGuidanceEvery, EditStrength: spec.EditStrength ?? 1f);
    }

    /// <summary>The JSON record written beside the result: the inputs are named by where they came from.</summary>
    public static GenerationRecord Record(TaskSpec spec, GenerationRequest request, GeneratorInfo info) =>
        GenerationRecord.Of(info.Model, info.WeightsSha256, request, spec.Image?.Source, spec.LastFrame?.Source,
            spec.Refs?.Select(r => r.Source).ToArray() ?? [], spec.Extend?.Source, spec.DrivingAudio?.Source, info.FrameRate,
            edit: spec.Edit?.Source);
}
