using Canter.Tensors;

namespace Canter.Models.Autoencoders;

/// <summary>
/// Short-time Fourier magnitudes as a strided 1-D convolution with a fixed Hann-windowed DFT basis, so
/// they are differentiable with the engine's own ops: waveform (B, 1, L) -> log magnitude (B, N/2+1, frames).
/// </summary>
public sealed class Stft : IDisposable
{
    private readonly Tensor _basis; // (2 (N/2+1), 1, N): cosine rows then sine rows

    public Stft(int fftSize, int hop, IBackend backend)
    {
        if (fftSize < 8 || hop < 1 || hop > fftSize) throw new ArgumentException($"bad STFT geometry: size {fftSize}, hop {hop}");
        FftSize = fftSize;
        Hop = hop;
        Bins = fftSize / 2 + 1;
        var basis = new float[2 * Bins * fftSize];
        for (int k = 0; k < Bins; k++)
            for (int n = 0; n < fftSize; n++)
            {
                double window = 0.5 - 0.5 * Math.Cos(2 * Math.PI * n / fftSize);
                double angle = 2 * Math.PI * k * n / fftSize;
                basis[k * fftSize + n] = (float)(window * Math.Cos(angle));
                basis[(Bins + k) * fftSize + n] = (float)(-window * Math.Sin(angle));
            }
        _basis = Tensor.FromArray(basis, [2 * Bins, 1, fftSize], backend);
        Canter.Tensors.Autograd.TensorScope.Unregister(_basis);
    }

    public int FftSize { get; }
    public int Hop { get; }
    public int Bins { get; }

    /// <summary>waveform (B, 1, L) -> 0.5 log(|X|^2 + eps), (B, Bins, frames); frames centred by padding N/2 zeros on each side.</summary>
    public Tensor LogMagnitude(Tensor waveform)
    {
        var spectrum = Ops.Conv1d(waveform, _basis, null, Hop, FftSize / 2, FftSize / 2);   // (B, 2 Bins, frames)
        var parts = Ops.Split(spectrum, 1, Bins, Bins);
        var power = Ops.Add(Ops.Square(parts[0]), Ops.Square(parts[1]));                   // (B, Bins, frames)
        return Ops.Scale(Ops.Log(Ops.AddScalar(power, 1e-5f)), 0.5f);
    }

    public void Dispose() => _basis.Dispose();
}

/// <summary>
/// Multi-resolution log-magnitude L1 between two waveforms (three FFT sizes), the audio autoencoder's
/// perceptual term next to the waveform L1: short windows hold onsets in place, long ones hold pitch.
/// </summary>
public sealed class MultiResolutionStftLoss : IDisposable
{
    private readonly Stft[] _transforms;

    public MultiResolutionStftLoss(IBackend backend, params (int Size, int Hop)[] resolutions)
    {
        if (resolutions.Length == 0) resolutions = [(256, 64), (1024, 256), (2048, 512)];
        _transforms = resolutions.Select(r => new Stft(r.Size, r.Hop, backend)).ToArray();
    }

    /// <summary>prediction, target (B, 1, L) -> scalar mean over resolutions of mean |log|P| - log|T||.</summary>
    public Tensor Forward(Tensor prediction, Tensor target)
    {
        Tensor? total = null;
        foreach (var stft in _transforms)
        {
            var diff = Ops.MeanAll(Ops.Abs(Ops.Sub(stft.LogMagnitude(prediction), stft.LogMagnitude(target))));
            total = total is null ? diff : Ops.Add(total, diff);
        }
        return Ops.Scale(total!, 1f / _transforms.Length);
    }

    public void Dispose()
    {
        foreach (var t in _transforms) t.Dispose();
    }
}

/// <summary>
/// L1 between log loudness envelopes (RMS over 5 ms windows) of two waveforms: it punishes an attack that comes
/// late or smeared, which is what onset timing and lip-sync depend on.
/// </summary>
public sealed class EnvelopeLoss : IDisposable
{
    private readonly Tensor _window; // (1, 1, W): 1 / W each
    private readonly int _size;

    public EnvelopeLoss(int sampleRate, IBackend backend)
    {
        _size = Math.Max(1, sampleRate / 200);
        var w = new float[_size];
        Array.Fill(w, 1f / _size);
        _window = Tensor.FromArray(w, [1, 1, _size], backend);
        Canter.Tensors.Autograd.TensorScope.Unregister(_window);
    }

    /// <summary>prediction, target (B, 1, L) -> scalar mean |log(rms_p + 1e-3) - log(rms_t + 1e-3)|.</summary>
    public Tensor Forward(Tensor prediction, Tensor target)
    {
        var p = Ops.Conv1d(Ops.Square(prediction), _window, null, _size);   // (B, 1, L / W) mean power
        var t = Ops.Conv1d(Ops.Square(target), _window, null, _size);
        var lp = Ops.Log(Ops.AddScalar(Ops.Sqrt(Ops.AddScalar(p, 1e-8f)), 1e-3f));
        var lt = Ops.Log(Ops.AddScalar(Ops.Sqrt(Ops.AddScalar(t, 1e-8f)), 1e-3f));
        return Ops.MeanAll(Ops.Abs(Ops.Sub(lp, lt)));
    }

    public void Dispose() => _window.Dispose();
}
