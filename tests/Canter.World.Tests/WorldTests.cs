namespace Canter.World.Tests;

public class WorldTests
{
    [Fact]
    public void SameSeedSameSceneAndFrames()
    {
        var a = SceneGenerator.Generate(42);
        var b = SceneGenerator.Generate(42);
        Assert.Equal(a.Subjects, b.Subjects);
        Assert.Equal(Renderer.Render(a, 1.3f, 64, 64), Renderer.Render(b, 1.3f, 64, 64));
        Assert.Equal(AudioSynth.Synthesize(a), AudioSynth.Synthesize(b));
        Assert.NotEqual(SceneGenerator.Generate(43).Subjects, a.Subjects);
    }

    [Fact]
    public void SplitsAreDisjoint()
    {
        Assert.Equal(Split.Train, Splits.Of(Splits.Seed(Split.Train, 10_000_000)));
        Assert.Equal(Split.Validation, Splits.Of(Splits.Seed(Split.Validation, 0)));
        Assert.Equal(Split.Test, Splits.Of(Splits.Seed(Split.Test, 5)));
        Assert.True(Splits.Seed(Split.Train, 400_000_000_000) < Splits.Seed(Split.Validation, 0));
    }

    [Fact]
    public void ScenesUseTheWholeVocabularyAndDistinctIdentities()
    {
        var scenes = Enumerable.Range(0, 400).Select(i => SceneGenerator.Generate(Splits.Seed(Split.Train, i))).ToList();
        Assert.Equal(Enum.GetValues<SubjectClass>().Length, scenes.SelectMany(s => s.Subjects).Select(s => s.Class).Distinct().Count());
        Assert.Equal(Enum.GetValues<SubjectColor>().Length, scenes.SelectMany(s => s.Subjects).Select(s => s.Color).Distinct().Count());
        Assert.Equal(Enum.GetValues<Action>().Length, scenes.SelectMany(s => s.Subjects).Select(s => s.Action).Distinct().Count());
        Assert.Equal([1, 2, 3], scenes.Select(s => s.Subjects.Count).Distinct().Order().ToArray());
        Assert.All(scenes, s => Assert.Equal(s.Subjects.Count, s.Subjects.Select(x => (x.Class, x.Color)).Distinct().Count()));
        // events happen in the order of the subjects
        Assert.All(scenes, s => Assert.True(s.Subjects.Zip(s.Subjects.Skip(1)).All(p => p.First.End <= p.Second.Start + 1e-4f)));
    }

    [Fact]
    public void SubjectsAreDrawnWhereTheTruthSaysInTheirColour()
    {
        var scene = SceneGenerator.Generate(Splits.Seed(Split.Test, 3));
        foreach (var (w, h) in new[] { (64, 64), (320, 180), (1920, 1080) })
        {
            var clip = WorldClip.Render(scene with { Seconds = 1f }, w, h, 4);
            foreach (var truth in clip.Frames)
            {
                var frame = clip.Video.Frames[truth.Frame];
                foreach (var s in truth.Subjects)
                {
                    if (s.X < 2 || s.Y < 2 || s.X >= w - 2 || s.Y >= h - 2) continue;
                    // a pixel a quarter-radius left of the centre carries the subject's hue (pattern may darken it)
                    int x = (int)(s.X - s.Radius * 0.25f), y = (int)s.Y;
                    int o = (y * w + x) * 3;
                    var (r, g, b) = Vocabulary.Rgb(scene.Subjects[s.Index].Color);
                    var light = Renderer.Light(scene, truth.Time);
                    double expected = Math.Max(r * light.R, Math.Max(g * light.G, b * light.B));
                    double dominant = Math.Max(frame[o], Math.Max(frame[o + 1], frame[o + 2]));
                    Assert.True(dominant > 0.4 * expected, $"{w}x{h} frame {truth.Frame} subject {s.Index}: pixel ({frame[o]},{frame[o + 1]},{frame[o + 2]})");
                }
            }
        }
    }

    [Fact]
    public void ImpactOnsetsFallOnTheFrameOfContact()
    {
        // find scenes with impacts; the audio's energy jumps within 10 ms of each impact time
        int checkedImpacts = 0;
        for (int i = 0; i < 60 && checkedImpacts < 10; i++)
        {
            var scene = SceneGenerator.Generate(Splits.Seed(Split.Train, i));
            var audio = AudioSynth.Synthesize(scene);
            foreach (var e in Motion.Events(scene).Where(e => e.Kind == "impact" && e.Time < scene.Seconds - 0.05f))
            {
                int at = (int)MathF.Round(e.Time * AudioSynth.DefaultSampleRate);
                double before = Rms(audio, at - 240, at - 80), after = Rms(audio, at, at + 160);
                Assert.True(after > 3 * before + 0.01, $"seed {scene.Seed}: impact at {e.Time:0.000}s has no onset ({before:0.000} -> {after:0.000})");
                // and the subject touches down then: it is at its resting height
                var state = Motion.At(scene.Subjects[e.Subject], e.Time);
                Assert.Equal(scene.Subjects[e.Subject].Y, state.Y, 3);
                checkedImpacts++;
            }
        }
        Assert.True(checkedImpacts >= 10);
    }

    [Fact]
    public void MouthOpeningFollowsTheVoice()
    {
        var scene = Enumerable.Range(0, 200).Select(i => SceneGenerator.Generate(Splits.Seed(Split.Train, i)))
            .First(s => s.Subjects.Any(x => x.Action == Action.Speak && x.End - x.Start > 1f));
        var speaker = scene.Subjects.First(x => x.Action == Action.Speak);
        var audio = AudioSynth.Synthesize(scene);
        var mouths = new List<double>();
        var loudness = new List<double>();
        for (float t = speaker.Start; t < speaker.End; t += 0.02f)
        {
            mouths.Add(Motion.At(speaker, t).Mouth);
            int at = (int)(t * AudioSynth.DefaultSampleRate);
            loudness.Add(Rms(audio, at - 80, at + 80));
        }
        Assert.True(Correlation(mouths, loudness) > 0.8, $"correlation {Correlation(mouths, loudness):0.00}");
    }

    [Fact]
    public void CaptionsNameEverySubjectInOrder()
    {
        var scene = Enumerable.Range(0, 50).Select(i => SceneGenerator.Generate(Splits.Seed(Split.Validation, i))).First(s => s.Subjects.Count == 3);
        var text = Captions.Long(scene);
        int last = -1;
        foreach (var s in scene.Subjects)
        {
            int at = text.IndexOf($"{Vocabulary.Word(s.Color)} {Vocabulary.Word(s.Class)} {Vocabulary.Verb(s.Action)}", StringComparison.Ordinal);
            Assert.True(at > last, $"'{text}' does not name {s.Color} {s.Class} in order");
            last = at;
        }
        Assert.Contains(Vocabulary.Word(scene.Background), text, StringComparison.OrdinalIgnoreCase);
        Assert.NotEqual(Captions.Long(scene, 0), Captions.Long(scene, 1));
        Assert.StartsWith("A", Captions.Short(scene));
    }

    private static double Rms(float[] x, int a, int b)
    {
        a = Math.Max(0, a);
        b = Math.Min(x.Length, b);
        double s = 0;
        for (int i = a; i < b; i++) s += x[i] * x[i];
        return b > a ? Math.Sqrt(s / (b - a)) : 0;
    }

    private static double Correlation(IReadOnlyList<double> a, IReadOnlyList<double> b)
    {
        double ma = a.Average(), mb = b.Average(), sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < a.Count; i++) { sab += (a[i] - ma) * (b[i] - mb); saa += (a[i] - ma) * (a[i] - ma); sbb += (b[i] - mb) * (b[i] - mb); }
        return sab / Math.Sqrt(saa * sbb);
    }
}

public class VariationsTests
{
    [Fact]
    public void MultiShotCutsAtTheCaptionedTimes()
    {
        var scene = Variations.MultiShot(SceneGenerator.Generate(Splits.Seed(Split.Test, 9)));
        Assert.InRange(scene.Shots!.Count, 2, 3);
        var caption = Variations.TimecodedCaption(scene);
        foreach (var shot in scene.Shots.Skip(1))
        {
            Assert.Contains($"-{shot.Start.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture)}s]", caption);
            // the picture changes at the cut: frames just before and after differ far more than two frames inside a shot
            var before = Renderer.Render(scene, shot.Start - 0.02f, 64, 64);
            var after = Renderer.Render(scene, shot.Start + 0.02f, 64, 64);
            var inside = Renderer.Render(scene, shot.Start + 0.06f, 64, 64);
            Assert.True(Distance(before, after) > 4 * Distance(after, inside), $"cut at {shot.Start}");
        }
    }

    [Fact]
    public void ReferencesShowTheSameIdentityInAnotherPose()
    {
        var scene = SceneGenerator.Generate(Splits.Seed(Split.Train, 5));
        var a = Variations.Reference(scene, 0, 0, 64, 64);
        var b = Variations.Reference(scene, 0, 1, 64, 64);
        Assert.NotEqual(a.Pixels, b.Pixels);
        // the subject's colour dominates the centre of both
        var (r, g, bl) = Vocabulary.Rgb(scene.Subjects[0].Color);
        foreach (var img in new[] { a, b })
        {
            int o = (32 * 64 + 30) * 3;
            double d = Math.Abs(img.Pixels[o] - r) + Math.Abs(img.Pixels[o + 1] - g) + Math.Abs(img.Pixels[o + 2] - bl);
            double dark = Math.Abs(img.Pixels[o] - r * 0.55) + Math.Abs(img.Pixels[o + 1] - g * 0.55) + Math.Abs(img.Pixels[o + 2] - bl * 0.55);
            Assert.True(Math.Min(d, dark) < 60, $"centre pixel ({img.Pixels[o]},{img.Pixels[o + 1]},{img.Pixels[o + 2]}) is not {scene.Subjects[0].Color}");
        }
    }

    [Fact]
    public void EditsChangeExactlyOneAttribute()
    {
        foreach (var i in Enumerable.Range(0, 40))
        {
            var scene = SceneGenerator.Generate(Splits.Seed(Split.Train, i));
            var edit = Variations.Edit(scene, (ulong)i);
            int changes = (edit.Source.Background != edit.Target.Background ? 1 : 0) + (edit.Source.Lighting != edit.Target.Lighting ? 1 : 0)
                + edit.Source.Subjects.Zip(edit.Target.Subjects).Count(p => p.First != p.Second);
            Assert.Equal(1, changes);
            Assert.EndsWith(".", edit.Instruction);
        }
    }

    [Fact]
    public void ExportWritesADatasetFolder()
    {
        var dir = Directory.CreateTempSubdirectory("canter-export-").FullName;
        try
        {
            DatasetExporter.Export(dir, new ExportOptions(Split.Validation, 2, 48, 32, 12, 1f));
            var lines = File.ReadAllLines(Path.Combine(dir, "metadata.jsonl"));
            Assert.Equal(2, lines.Length);
            foreach (var line in lines)
            {
                using var doc = System.Text.Json.JsonDocument.Parse(line);
                var root = doc.RootElement;
                Assert.True(File.Exists(Path.Combine(dir, root.GetProperty("video").GetString()!)));
                Assert.True(File.Exists(Path.Combine(dir, root.GetProperty("edit").GetProperty("video").GetString()!)));
                Assert.True(File.Exists(Path.Combine(dir, root.GetProperty("annotation").GetString()!)));
                Assert.NotEmpty(root.GetProperty("caption").GetString()!);
                Assert.Equal("Validation", root.GetProperty("split").GetString());
                foreach (var r in root.GetProperty("references").EnumerateArray())
                    Assert.True(File.Exists(Path.Combine(dir, r.GetProperty("image").GetString()!)));
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static double Distance(byte[] a, byte[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += Math.Abs(a[i] - b[i]);
        return s / a.Length;
    }
}

public class ParserTests
{
    [Fact]
    public void RecoversSceneAttributesAndEventTimesFromCleanRenders()
    {
        var evaluation = new ParserEvaluation();
        for (int i = 0; i < 8; i++)
        {
            var scene = SceneGenerator.Generate(Splits.Seed(Split.Test, i));
            var clip = WorldClip.Render(scene, 256, 144, 12);
            evaluation.Add(scene, Parser.Parse(clip.Video, clip.Audio), 12);
        }
        foreach (var attribute in new[] { "background", "lighting", "camera", "color", "subject_count", "class", "pattern" })
            Assert.True(evaluation.Accuracy(attribute) == 1.0, $"{attribute}: {evaluation.Accuracy(attribute):0.00}");
        // `canter bench parser --count 40` measures 0.99 and more over all attributes; these 8 scenes include one where two
        // subjects of one colour overlap while one of them bounces, which the parser does not untangle (its action is missed)
        Assert.True(evaluation.Overall >= 0.97, $"overall attribute accuracy {evaluation.Overall:0.000}");
        Assert.True(evaluation.Accuracy("event_time") >= 0.9, $"events within a frame: {evaluation.Accuracy("event_time"):0.00}");
        Assert.True(evaluation.Accuracy("position") >= 0.9, $"subjects placed within 0.02: {evaluation.Accuracy("position"):0.00}");
        Assert.True(evaluation.MedianEventError < 0.5 / 12, $"median event time error {evaluation.MedianEventError * 1000:0} ms");
    }

    [Theory]
    [InlineData(Degradation.Blur)]
    [InlineData(Degradation.Noise)]
    [InlineData(Degradation.Reencode)]
    public void SceneAttributesSurviveDegradedVideo(Degradation degradation)
    {
        var evaluation = new ParserEvaluation();
        for (int i = 0; i < 3; i++)
        {
            var scene = SceneGenerator.Generate(Splits.Seed(Split.Test, 20 + i));
            var clip = WorldClip.Render(scene, 256, 144, 12);
            evaluation.Add(scene, Parser.Parse(Degradations.Apply(clip.Video, degradation, (ulong)i), clip.Audio), 12);
        }
        foreach (var attribute in new[] { "background", "lighting", "subject_count" })
            Assert.True(evaluation.Accuracy(attribute) == 1.0, $"{degradation}: {attribute} {evaluation.Accuracy(attribute):0.00}");
        // blur and compression mix a small striped subject's colour with its stripes and the background: most, not all, colours survive
        Assert.True(evaluation.Accuracy("color") >= 0.85, $"{degradation}: color {evaluation.Accuracy("color"):0.00}");
        Assert.True(evaluation.Overall >= 0.9, $"{degradation}: overall {evaluation.Overall:0.000}");
    }

    [Fact]
    public void FindsShotCutsTheirFramingsAndTheSubjectsAcrossThem()
    {
        var evaluation = new ParserEvaluation();
        for (int i = 0; i < 4; i++)
        {
            var scene = Variations.MultiShot(SceneGenerator.Generate(Splits.Seed(Split.Test, i)));
            var clip = WorldClip.Render(scene, 256, 144, 12);
            evaluation.Add(scene, Parser.Parse(clip.Video, clip.Audio), 12);
        }
        // each shot found within a frame of its cut, with its framing (a close-up on the right subject)
        Assert.True(evaluation.Accuracy("shots") >= 0.9, $"shots {evaluation.Accuracy("shots"):0.00}");
        foreach (var attribute in new[] { "background", "subject_count", "color", "class", "pattern" })
            Assert.True(evaluation.Accuracy(attribute) >= 0.9, $"{attribute}: {evaluation.Accuracy(attribute):0.00}");
        Assert.True(evaluation.Overall >= 0.9, $"overall {evaluation.Overall:0.000}");
    }

    [Fact]
    public void AReferenceImageReadsAsItsSubjectsIdentity()
    {
        int right = 0, total = 0;
        for (int i = 0; i < 4; i++)
        {
            var scene = SceneGenerator.Generate(Splits.Seed(Split.Test, i));
            for (int s = 0; s < scene.Subjects.Count; s++, total++)
            {
                var found = Parser.ParseImage(Variations.Reference(scene, s, 1, 256, 256));
                var truth = scene.Subjects[s];
                if (found.Count > 0 && (found[0].Class, found[0].Color, found[0].Pattern) == (truth.Class, truth.Color, truth.Pattern)) right++;
            }
        }
        Assert.True(right >= total - 1, $"{right} of {total} references read as their subject");
    }

    [Fact]
    public void ReadsAnEncodedMp4()
    {
        var scene = SceneGenerator.Generate(Splits.Seed(Split.Test, 4));
        var clip = WorldClip.Render(scene, 320, 180, 24);
        var path = Path.Combine(Path.GetTempPath(), $"canter-parse-{Environment.ProcessId}.mp4");
        try
        {
            Canter.Media.Mp4Writer.Write(path, clip.Video, clip.Audio);
            var parsed = Parser.ParseFile(path);
            Assert.Equal(scene.Background, parsed.Background);
            Assert.Equal(scene.Lighting, parsed.Lighting);
            Assert.Equal(scene.Subjects.Select(s => s.Color).Order(), parsed.Subjects.Select(s => s.Color).Order());
            // audio onsets land within 10 ms of the impacts
            foreach (var impact in clip.Events.Where(e => e.Kind == "impact" && e.Time < scene.Seconds - 0.1f))
                Assert.Contains(parsed.AudioOnsets, t => Math.Abs(t - impact.Time) < 0.01f);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
