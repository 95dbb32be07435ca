namespace Canter.World;

/// <summary>
/// The sound the picture makes: impacts (an onset at the exact time of contact), steps, whooshes,
/// rising tones, speech whose loudness envelope is the mouth opening, and ambience per background.
/// Each subject class has its own timbre.
/// </summary>
public static class AudioSynth
{
    public const int DefaultSampleRate = 16000;

    public static float[] Synthesize(SceneSpec scene, int sampleRate = DefaultSampleRate)
    {
        if (sampleRate is < 8000 or > 96000) throw new ArgumentOutOfRangeException(nameof(sampleRate));
        int n = (int)MathF.Round(scene.Seconds * sampleRate);
        var mix = new float[n];
        Ambience(scene, mix, sampleRate);
        foreach (var e in Motion.Events(scene))
        {
            var s = scene.Subjects[e.Subject];
            var (pitch, harmonics) = Vocabulary.Timbre(s.Class);
            int start = (int)MathF.Round(e.Time * sampleRate);
            switch (e.Kind)
            {
                case "impact":
                    Tone(mix, sampleRate, start, 0.35f, pitch, harmonics, 0.55f, decay: 0.07f);
                    break;
                case "step":
                    Tone(mix, sampleRate, start, 0.06f, pitch * 0.5f, harmonics, 0.2f, decay: 0.02f);
                    break;
                case "whoosh":
                    Noise(mix, sampleRate, start, e.Duration, 0.12f, (ulong)s.VoiceSeed, t => MathF.Sin(MathF.PI * t / e.Duration));
                    break;
                case "rise":
                    Rise(mix, sampleRate, start, e.Duration, pitch, 0.15f);
                    break;
            }
        }
        // speech: the class's voice under the syllable envelope, sample by sample (the mouth uses the same envelope)
        foreach (var s in scene.Subjects.Where(x => x.Action == Action.Speak))
        {
            var (pitch, harmonics) = Vocabulary.Timbre(s.Class);
            foreach (var (onset, duration) in Motion.Syllables(s))
            {
                int a = (int)(onset * sampleRate), b = Math.Min(n, (int)((onset + duration) * sampleRate));
                for (int i = a; i < b; i++)
                {
                    float t = i / (float)sampleRate;
                    float env = Motion.Voice(s, t);
                    float vibrato = 1f + 0.03f * MathF.Sin(2 * MathF.PI * 5 * t);
                    mix[i] += 0.35f * env * Harmonic(pitch * 1.2f * vibrato, harmonics, t);
                }
            }
        }
        for (int i = 0; i < n; i++) mix[i] = MathF.Tanh(mix[i]);
        return mix;
    }

    private static float Harmonic(float pitch, float[] harmonics, float t)
    {
        float v = 0, norm = 0;
        for (int h = 0; h < harmonics.Length; h++)
        {
            v += harmonics[h] * MathF.Sin(2 * MathF.PI * pitch * (h + 1) * t);
            norm += harmonics[h];
        }
        return v / norm;
    }

    private static void Tone(float[] mix, int rate, int start, float seconds, float pitch, float[] harmonics, float amp, float decay)
    {
        int len = (int)(seconds * rate);
        for (int i = 0; i < len && start + i < mix.Length; i++)
        {
            if (start + i < 0) continue;
            float t = i / (float)rate;
            mix[start + i] += amp * MathF.Exp(-t / decay) * Harmonic(pitch, harmonics, t);
        }
    }

    private static void Rise(float[] mix, int rate, int start, float seconds, float pitch, float amp)
    {
        int len = (int)(seconds * rate);
        float phase = 0;
        for (int i = 0; i < len && start + i < mix.Length; i++)
        {
            float u = i / (float)len;
            phase += 2 * MathF.PI * pitch * (1 + u) / rate;
            mix[start + i] += amp * MathF.Sin(MathF.PI * u) * MathF.Sin(phase);
        }
    }

    private static void Noise(float[] mix, int rate, int start, float seconds, float amp, ulong seed, Func<float, float> envelope)
    {
        var rng = new WorldRandom(seed);
        int len = (int)(seconds * rate);
        float low = 0;
        for (int i = 0; i < len && start + i < mix.Length; i++)
        {
            low += 0.2f * ((rng.NextFloat() * 2 - 1) - low);
            mix[start + i] += amp * envelope(i / (float)rate) * low * 3;
        }
    }

    private static void Ambience(SceneSpec scene, float[] mix, int rate)
    {
        var rng = new WorldRandom(scene.Seed ^ 0xA5A5A5A5UL);
        float low = 0;
        for (int i = 0; i < mix.Length; i++)
        {
            float t = i / (float)rate;
            float white = rng.NextFloat() * 2 - 1;
            low += 0.05f * (white - low);
            mix[i] += scene.Background switch
            {
                Background.Meadow => 0.04f * low,
                Background.Beach => 0.08f * low * (0.6f + 0.4f * MathF.Sin(2 * MathF.PI * 0.2f * t)),
                Background.Night => 0.008f * MathF.Sin(2 * MathF.PI * 4200 * t) * (MathF.Sin(2 * MathF.PI * 3 * t) > 0.6f ? 1 : 0),
                _ => 0.005f * white,
            };
        }
    }
}
