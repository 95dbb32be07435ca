using System.Diagnostics;
using Canter.Eval.Metrics;
using Canter.Media;
using Canter.Models.Autoencoders;
using Canter.World;

namespace Canter.Training.Autoencoders;

public sealed record VaeEvaluationOptions(string ModelDir, Split Split = Split.Test, int Count = 20, int First = 0, int Width = 128, int Height = 128, double Fps = 24, float Seconds = 4f);

/// <summary>The figures of <c>canter vae eval</c>, in the order it prints them.</summary>
public sealed record VaeReport(int Clips, double VideoPsnr, double VideoSsim, double ParserAccuracyOriginal, double ParserAccuracyReconstructed,
    double EventTimingErrorFrames, int EventsCompared, double AudioOnsetErrorMs, int AudioOnsets, int AudioOnsetsMissed, double AudioLogMelDistance,
    double LipSyncOriginal, double LipSyncReconstructed, double Seconds, IReadOnlyDictionary<string, (double Original, double Reconstructed)> PerAttribute)
{
    public double ParserAccuracyRatio => ParserAccuracyReconstructed / ParserAccuracyOriginal;

    public IEnumerable<(string Name, string Value)> Figures()
    {
        static string F(double v, string format = "F4") => double.IsFinite(v) ? v.ToString(format, System.Globalization.CultureInfo.InvariantCulture) : "nan";
        yield return ("clips", Clips.ToString(System.Globalization.CultureInfo.InvariantCulture));
        foreach (var (name, (o, r)) in PerAttribute.OrderBy(p => p.Key, StringComparer.Ordinal))
            yield return ($"parser_{name}_original_vs_reconstructed", $"{F(o, "F3")} {F(r, "F3")}");
        yield return ("video_psnr", F(VideoPsnr, "F2"));
        yield return ("video_ssim", F(VideoSsim));
        yield return ("parser_accuracy_original", F(ParserAccuracyOriginal));
        yield return ("parser_accuracy_reconstructed", F(ParserAccuracyReconstructed));
        yield return ("parser_accuracy_ratio", F(ParserAccuracyRatio));
        yield return ("event_timing_error_frames", F(EventTimingErrorFrames, "F3"));
        yield return ("audio_onset_error_ms", F(AudioOnsetErrorMs, "F2"));
        yield return ("audio_onsets_missed", $"{AudioOnsetsMissed}/{AudioOnsets}");
        yield return ("audio_logmel_distance", F(AudioLogMelDistance));
        yield return ("lipsync_correlation_original", F(LipSyncOriginal, "F3"));
        yield return ("lipsync_correlation_reconstructed", F(LipSyncReconstructed, "F3"));
        yield return ("seconds", F(Seconds, "F1"));
    }
}

/// <summary>
/// Measures the shipped autoencoders on unseen scenes of the world: each clip is rendered, sent through the video
/// and the audio autoencoder, and the reconstruction is compared with the original: PSNR and SSIM of the frames;
/// the world parser's attribute accuracy on both (the ratio says how much identity and action survive); the
/// parser's action start times on both (in frames); audio onsets of both (milliseconds apart, misses over 50 ms);
/// log-mel distance; and how well the loudness of each version follows the true mouth opening of speaking subjects.
/// </summary>
public static class VaeEvaluation
{
    public static VaeReport Run(VaeEvaluationOptions o, Action<int>? progress = null)
    {
        if (o.Count < 1 || o.Count > 100_000) throw new ArgumentException($"--count {o.Count} must be in [1, 100000]");
        var video = AutoencoderFiles.LoadVideo(Path.Combine(o.ModelDir, "video_vae.safetensors"));
        var audio = AutoencoderFiles.LoadAudio(Path.Combine(o.ModelDir, "audio_vae.safetensors"));
        var clock = Stopwatch.StartNew();
        var original = new ParserEvaluation();
        var reconstructed = new ParserEvaluation();
        double sse = 0, ssim = 0;
        long count = 0;
        int ssimFrames = 0, onsetsTotal = 0, missed = 0;
        var onsetErrors = new List<double>();
        var timing = new List<double>();
        double logMel = 0;
        var lipOriginal = new List<double>();
        var lipReconstructed = new List<double>();
        for (int i = 0; i < o.Count; i++)
        {
            var scene = SceneGenerator.Generate(Splits.Seed(o.Split, o.First + i), o.Seconds);
            var clip = WorldClip.Render(scene, o.Width, o.Height, o.Fps, audio.Config.SampleRate);
            var videoBack = MediaTensors.Reconstruct(video, clip.Video);
            var audioBack = MediaTensors.Reconstruct(audio, clip.Audio);

            var (s, n) = MediaMetrics.SquaredError(clip.Video.Frames, videoBack.Frames);
            sse += s;
            count += n;
            for (int f = 0; f < clip.Video.Frames.Count; f += 4, ssimFrames++)
                ssim += MediaMetrics.Ssim(clip.Video.Frames[f], videoBack.Frames[f], o.Width, o.Height);

            var parsedOriginal = Parser.Parse(clip.Video, clip.Audio);
            var parsedBack = Parser.Parse(videoBack, audioBack);
            original.Add(scene, parsedOriginal, clip.Video.FrameRate);
            reconstructed.Add(scene, parsedBack, videoBack.FrameRate);
            foreach (var p in parsedOriginal.Subjects)
            {
                var q = parsedBack.Subjects.FirstOrDefault(x => x.Color == p.Color && x.Class == p.Class && x.Action == p.Action);
                if (q is not null) timing.Add(Math.Abs(q.Start - p.Start) * o.Fps);
            }

            var (errors, miss) = MediaMetrics.MatchOnsets(parsedOriginal.AudioOnsets, parsedBack.AudioOnsets);
            onsetErrors.AddRange(errors);
            missed += miss;
            onsetsTotal += parsedOriginal.AudioOnsets.Count;
            logMel += MediaMetrics.LogMelDistance(clip.Audio.Samples, audioBack.Samples, audio.Config.SampleRate);

            // loudness against the true mouth opening of each speaking subject
            for (int k = 0; k < scene.Subjects.Count; k++)
            {
                if (scene.Subjects[k].Action != Canter.World.Action.Speak) continue;
                var frames = clip.Frames.Where(fr => fr.Time >= scene.Subjects[k].Start && fr.Time <= scene.Subjects[k].End).ToList();
                var mouth = frames.Select(fr => (double)fr.Subjects[k].Mouth).ToList();
                var times = frames.Select(fr => fr.Time).ToList();
                lipOriginal.Add(MediaMetrics.Correlation(mouth, MediaMetrics.LoudnessAt(clip.Audio.Samples, clip.Audio.SampleRate, times, o.Fps)));
                lipReconstructed.Add(MediaMetrics.Correlation(mouth, MediaMetrics.LoudnessAt(audioBack.Samples, audioBack.SampleRate, times, o.Fps)));
            }
            progress?.Invoke(i + 1);
        }
        var attributes = original.Counts.Keys.ToDictionary(k => k, k => (original.Accuracy(k), reconstructed.Accuracy(k)));
        static double Mean(IEnumerable<double> xs)
        {
            var finite = xs.Where(double.IsFinite).ToList();
            return finite.Count == 0 ? double.NaN : finite.Average();
        }
        return new VaeReport(o.Count, MediaMetrics.Psnr(sse, count), ssim / Math.Max(1, ssimFrames), original.Overall, reconstructed.Overall,
            Mean(timing), timing.Count, Mean(onsetErrors) * 1000, onsetsTotal, missed, logMel / o.Count,
            Mean(lipOriginal), Mean(lipReconstructed), clock.Elapsed.TotalSeconds, attributes);
    }
}
