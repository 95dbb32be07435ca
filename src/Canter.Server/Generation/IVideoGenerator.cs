using Canter.Training.Unified;

namespace Canter.Server.Generation;

/// <summary>What the served model is: its name and weights (for records and the API), and the rates it makes.</summary>
public sealed record GeneratorInfo(string Model, string WeightsSha256, int FrameRate, int SampleRate, int DefaultWidth, int DefaultHeight, float DefaultSeconds);

/// <summary>
/// The model behind the server. <see cref="ModelGenerator"/> runs the shipped model; tests put a fast fake here.
/// Generate runs on a worker thread, reports (step, steps) after each sampling step and stops within one step of
/// <c>cancel</c> with an <see cref="OperationCanceledException"/>.
/// </summary>
public interface IVideoGenerator
{
    GeneratorInfo Info { get; }

    /// <summary>Throws <see cref="ArgumentException"/> with the reason when the model cannot make <paramref name="request"/>.</summary>
    void Validate(GenerationRequest request);

    GenerationResult Generate(GenerationRequest request, Action<int, int> progress, CancellationToken cancel);
}

/// <summary>The shipped (or a given) model folder, loaded once; one generation at a time.</summary>
public sealed class ModelGenerator : IVideoGenerator
{
    private readonly ModelBundle _model;

    public ModelGenerator(string modelDir, string device = "cpu")
    {
        _model = ModelBundle.Load(modelDir, Canter.Tensors.Device.Parse(device));
        var m = _model.Manifest;
        Info = new GeneratorInfo(Path.GetFileName(Path.GetFullPath(modelDir).TrimEnd('/')), GenerationOutput.WeightsHash(modelDir), (int)m.Config.FrameRate,
            _model.Codec.Audio.Config.SampleRate, m.Width, m.Height, m.Seconds);
    }

    public GeneratorInfo Info { get; }

    public void Validate(GenerationRequest request) => Generator.Validate(_model, request);

    public GenerationResult Generate(GenerationRequest request, Action<int, int> progress, CancellationToken cancel) =>
        Generator.Generate(_model, request, progress, cancel);
}
