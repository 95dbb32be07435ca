namespace Canter.Training.Unified;

/// <summary>
/// The ODE solvers a generation can walk the flow with, by the name a request, the CLI and the API give them.
/// <c>euler</c> and the two multistep solvers cost one model evaluation per step; <c>heun</c> costs two per step but
/// the last (2 n - 1).
/// </summary>
public static class Samplers
{
    public const string Euler = "euler";
    public const string Heun = "heun";
    /// <summary>DPM-Solver++(2M) for rectified flow: second-order multistep on the data prediction x0 = x - t v in log-SNR.</summary>
    public const string DpmPlusPlus2M = "dpm++2m";
    /// <summary>Variable-step Adams-Bashforth 2 on the velocity.</summary>
    public const string AdamsBashforth2 = "ab2";

    public static readonly IReadOnlyList<string> Names = [Euler, Heun, DpmPlusPlus2M, AdamsBashforth2];

    /// <summary>
    /// What a request that names none gets: ab2's 8 steps land as close to a fine solution as 8 Heun steps at about half
    /// the evaluations (8 against 15; <c>canter bench sampler</c>, models/canter-tiny/README.md).
    /// </summary>
    public const string Default = AdamsBashforth2;

    /// <summary>"euler, heun, dpm++2m or ab2": for option descriptions and error messages.</summary>
    public static string Listed => string.Join(", ", Names.Take(Names.Count - 1)) + " or " + Names[^1];

    public static bool IsKnown(string? name) => name is not null && Names.Contains(name);

    /// <summary>
    /// A time u in [0, 1] bent toward noise by <paramref name="shift"/>: s u / (1 + (s - 1) u). The solver's schedule over
    /// evenly spaced u, and the trainer's flow times over logit-normal u (<c>--time-shift</c>).
    /// </summary>
    public static float Shifted(float u, float shift) => shift * u / (1 + (shift - 1) * u);

    /// <summary>The u whose shifted time is <paramref name="t"/>: the inverse of <see cref="Shifted"/>.</summary>
    public static float Unshifted(float t, float shift) => t / (shift - (shift - 1) * t);

    /// <summary>Model evaluations (each runs every guidance branch, or one where guidance is off) for <paramref name="steps"/> steps.</summary>
    public static int Evaluations(string sampler, int steps) => sampler == Heun ? 2 * steps - 1 : steps;

    /// <summary>RMS(a - b) / RMS(b) over two equally long token arrays: how far a sampler setting lands from a reference solution.</summary>
    public static double RelativeRms(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"{a.Length} tokens against {b.Length}");
        double diff = 0, norm = 0;
        for (int i = 0; i < a.Length; i++)
        {
            diff += (double)(a[i] - b[i]) * (a[i] - b[i]);
            norm += (double)b[i] * b[i];
        }
        return norm == 0 ? (diff == 0 ? 0 : double.PositiveInfinity) : Math.Sqrt(diff / norm);
    }
}

/// <summary>
/// The memory of a second-order multistep solver for one stream of tokens (the video's or the sound's): it turns each
/// evaluation's velocity into the direction of an Euler-shaped update x_next = x + (next - t) d, using the previous
/// evaluation. With no previous evaluation (the first step) d is the velocity itself, which is Euler.
/// <para>
/// Adams-Bashforth 2 with variable steps: d = (1 + dt / (2 dt')) v - dt / (2 dt') v', dt' the previous step.
/// </para>
/// <para>
/// DPM-Solver++(2M) for x_t = (1 - t) x0 + t e (alpha = 1 - t, sigma = t, lambda = log((1 - t) / t)), on the data
/// prediction D = x - t v: x_next = (next / t) x + (1 - next)(1 - e^-h) (D + (D - D') / (2 r)), h = lambda(next) - lambda(t),
/// r = h' / h. Its first-order part is exactly Euler's step, so d = v - (D - D') / (2 r t). The step into t = 0 (h
/// infinite) and a step after t = 1 (lambda(1) = -infinity, so r is infinite) are first order, as in the reference
/// algorithm.
/// </para>
/// </summary>
internal sealed class MultistepSolver(string sampler)
{
    private float[]? _previous;   // AB2: the last velocity; DPM++: the last data prediction
    private float _previousT = float.NaN, _previousNext = float.NaN;

    /// <summary>
    /// The direction for the step t -> <paramref name="next"/> from this evaluation's velocity <paramref name="v"/> at
    /// state <paramref name="x"/> (both the stream's tokens, same length); remembers what the next step needs.
    /// </summary>
    public float[] Direction(ReadOnlySpan<float> x, float[] v, float t, float next)
    {
        if (x.Length != v.Length) throw new ArgumentException($"{x.Length} state values for {v.Length} velocities");
        var d = (float[])v.Clone();
        if (sampler == Samplers.AdamsBashforth2)
        {
            if (_previous is not null)
            {
                double dt = next - t, previousDt = _previousNext - _previousT, k = dt / (2 * previousDt);
                float a = (float)(1 + k), b = (float)-k;
                for (int i = 0; i < d.Length; i++) d[i] = a * v[i] + b * _previous[i];
            }
            _previous = v;
        }
        else if (sampler == Samplers.DpmPlusPlus2M)
        {
            var data = new float[v.Length];
            for (int i = 0; i < data.Length; i++) data[i] = x[i] - t * v[i];
            if (_previous is not null && next > 0 && _previousT < 1)
            {
                double h = Lambda(next) - Lambda(t), previousH = Lambda(t) - Lambda(_previousT), r = previousH / h;
                float k = (float)(-1 / (2 * r * t));
                for (int i = 0; i < d.Length; i++) d[i] = v[i] + k * (data[i] - _previous[i]);
            }
            _previous = data;
        }
        else throw new ArgumentException($"sampler '{sampler}' is not a multistep sampler");
        _previousT = t;
        _previousNext = next;
        return d;
    }

    private static double Lambda(double t) => Math.Log((1 - t) / t);
}
