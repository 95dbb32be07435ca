using Canter.Media;
using Canter.World;

namespace Canter.Training.Data;

/// <summary>Frames of one clip as RGB bytes (W x H x 3 each) with the clip's sound.</summary>
public sealed record ClipSample(IReadOnlyList<byte[]> Frames, int Width, int Height, float[] Audio, int SampleRate);

/// <summary>
/// Where training clips come from: the procedural world (endless, train split only) or a folder of the
/// user's clips. Item <c>i</c> is always the same clip, so a resumed run sees the data it would have seen.
/// </summary>
public abstract class TrainingClips
{
    /// <summary>Frames <paramref name="first"/>.. of item <paramref name="index"/> at the given size and rate, with its whole sound track.</summary>
    public abstract ClipSample Get(long index, int first, int frames, int width, int height, double fps, int sampleRate);

    /// <summary>How many frames item <paramref name="index"/> has at <paramref name="fps"/>.</summary>
    public abstract int FrameCount(long index, double fps);

    /// <summary>The sound of item <paramref name="index"/> alone (cheaper than <see cref="Get"/>).</summary>
    public abstract float[] Audio(long index, int sampleRate);

    public abstract string Describe();

    /// <summary>"world" for the procedural world, otherwise a folder in the dataset layout.</summary>
    public static TrainingClips Open(string data, float seconds = 4f) =>
        data == "world" ? new WorldClips(seconds) : new FolderClips(data);
}

/// <summary>Scenes of one split of the world (train unless told); every third one is multi-shot, as in exported datasets.</summary>
public sealed class WorldClips(float seconds, Split split = Split.Train) : TrainingClips
{
    private SceneSpec Scene(long index)
    {
        ulong seed = Splits.Seed(split, index);
        var scene = SceneGenerator.Generate(seed, seconds);
        return seed % 3 == 0 ? Variations.MultiShot(scene) : scene;
    }

    public override int FrameCount(long index, double fps) => Math.Max(1, (int)Math.Round(seconds * fps));

    public override ClipSample Get(long index, int first, int frames, int width, int height, double fps, int sampleRate)
    {
        var scene = Scene(index);
        var list = new byte[frames][];
        for (int f = 0; f < frames; f++) list[f] = Renderer.Render(scene, (float)((first + f) / fps), width, height);
        return new ClipSample(list, width, height, [], sampleRate);
    }

    public override float[] Audio(long index, int sampleRate) => AudioSynth.Synthesize(Scene(index), sampleRate);

    public override string Describe() => $"the world's {split.ToString().ToLowerInvariant()} split ({seconds} s scenes)";
}

/// <summary>A folder of clips (see <see cref="ClipFolder"/>), decoded on demand with a small cache.</summary>
public sealed class FolderClips : TrainingClips
{
    private readonly IReadOnlyList<ClipEntry> _entries;
    private readonly string _folder;
    private readonly Dictionary<(int, int, int, double), VideoClip> _videoCache = [];
    private readonly Dictionary<(int, int), float[]> _audioCache = [];

    public FolderClips(string folder)
    {
        _folder = folder;
        _entries = ClipFolder.Read(folder);
    }

    public IReadOnlyList<ClipEntry> Entries => _entries;

    private int Slot(long index) => (int)(index % _entries.Count);

    private VideoClip Video(long index, int width, int height, double fps)
    {
        var key = (Slot(index), width, height, fps);
        lock (_videoCache)
        {
            if (_videoCache.TryGetValue(key, out var v)) return v;
            if (_videoCache.Count >= 16) _videoCache.Clear();
            v = MediaReader.ReadVideo(_entries[key.Item1].VideoPath, width, height, fps, maxSeconds: 60);
            _videoCache[key] = v;
            return v;
        }
    }

    /// <summary>Frames <paramref name="first"/>.. of the edited clip of item <paramref name="index"/> (its last frame held past its end); an error when it has no edit.</summary>
    public IReadOnlyList<byte[]> EditFrames(long index, int first, int frames, int width, int height, double fps)
    {
        var edit = _entries[Slot(index)].Edit ?? throw new InvalidOperationException($"{_entries[Slot(index)].VideoPath} has no edit pair");
        var v = MediaReader.ReadVideo(edit.VideoPath, width, height, fps, maxSeconds: 60);
        return [.. Enumerable.Range(0, frames).Select(f => v.Frames[Math.Min(first + f, v.Frames.Count - 1)])];
    }

    public override int FrameCount(long index, double fps) => Video(index, 64, 64, fps).Frames.Count;

    public override ClipSample Get(long index, int first, int frames, int width, int height, double fps, int sampleRate)
    {
        var v = Video(index, width, height, fps);
        var list = new byte[frames][];
        for (int f = 0; f < frames; f++) list[f] = v.Frames[Math.Min(first + f, v.Frames.Count - 1)];
        return new ClipSample(list, width, height, [], sampleRate);
    }

    public override float[] Audio(long index, int sampleRate)
    {
        var key = (Slot(index), sampleRate);
        lock (_audioCache)
        {
            if (_audioCache.TryGetValue(key, out var a)) return a;
            if (_audioCache.Count >= 64) _audioCache.Clear();
            var path = _entries[key.Item1].VideoPath;
            a = MediaProbe.Probe(path).HasAudio ? MediaReader.ReadAudio(path, sampleRate, maxSeconds: 60).Samples : new float[sampleRate];
            _audioCache[key] = a;
            return a;
        }
    }

    public override string Describe() => $"{_entries.Count} clips in {_folder}" + (_entries.Any(e => e.Edit is not null) ? $" ({_entries.Count(e => e.Edit is not null)} with edit pairs)" : "");
}
