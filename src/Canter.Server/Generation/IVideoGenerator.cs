using Canter.Training.Unified;

namespace Canter.Server.Generation;

/// <summary>
/// What the served model is: its name and weights (for records and the API), the rates it makes, and whether it has
/// edit mode (<see cref="Canter.Models.Unified.UnifiedConfig.Edit"/>: trained with edit pairs, so it takes a source video).
/// </summary>
public sealed record GeneratorInfo(string Model, string WeightsSha256, int FrameRate, int SampleRate, int DefaultWidth, int DefaultHeight, float DefaultSeconds,
    bool Edit = false);

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

/// <summary>
/// The shipped (or a given) model folder, loaded once and shared by every worker.
/// </summary>
/// <remarks>
/// On the CPU several workers generate at once with the one model: <see cref="Generator.Generate"/> only reads the
/// weights (no gradients: the autograd tape and tensor scopes are per thread), every generation's activations are its
/// own, the host allocator and the BLAS thread setting are behind locks, and the text vocabulary is read-only. A test
/// checks that two generations at once give the same clips as one after the other. A copy of the model per worker
/// would buy nothing but memory. On a GPU (or its emulation) generations are serialized instead: all kernels of the
/// backend go to one stream with one cuBLAS handle, so a second generation at once would not run any sooner, and
/// sharing the stream and handle between threads is not something the GPU backend has been tested for.
/// </remarks>
public sealed class ModelGenerator : IVideoGenerator
{
    private readonly ModelBundle _model;
    private readonly SemaphoreSlim? _serial;

    public ModelGenerator(string modelDir, string device = "cpu")
    {
        var target = Canter.Tensors.Device.Parse(device);
        _model = ModelBundle.Load(modelDir, target);
        if (target != Canter.Tensors.Device.Cpu) _serial = new SemaphoreSlim(1, 1);
        var m = _model.Manifest;
        Info = new GeneratorInfo(Path.GetFileName(Path.GetFullPath(modelDir).TrimEnd('/')), GenerationOutput.WeightsHash(modelDir), (int)m.Config.FrameRate,
            _model.Codec.Audio.Config.SampleRate, m.Width, m.Height, m.Seconds, m.Config.Edit);
    }

    public GeneratorInfo Info { get; }

    public void Validate(GenerationRequest request) => Generator.Validate(_model, request);

    public GenerationResult Generate(GenerationRequest request, Action<int, int> progress, CancellationToken cancel)
    {
        if (_serial is null) return Generator.Generate(_model, request, progress, cancel);
        _serial.Wait(cancel);
        try { return Generator.Generate(_model, request, progress, cancel); }
        finally { _serial.Release(); }
    }
}
