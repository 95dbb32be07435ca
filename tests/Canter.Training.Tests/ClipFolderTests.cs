using Canter.Training.Data;

namespace Canter.Training.Tests;

/// <summary>A user's clip folder that cannot be read is refused with a message that says where the problem is.</summary>
public sealed class ClipFolderTests
{
    private static void Touch(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, []);   // Read checks that files exist; it does not decode them
    }

    [Fact]
    public void MetadataNamesClipsAndCaptions()
    {
        using var tmp = new TempFolder("clips-ok");
        Touch(tmp.Sub("clips/a.mp4"));
        Touch(tmp.Sub("b.mov"));
        File.WriteAllLines(tmp.Sub("metadata.jsonl"),
        [
            """{"video": "clips/a.mp4", "caption": "a red ball"}""",
            "",
            """{"file_name": "b.mov", "text": "a blue cube"}""",
        ]);

        var entries = ClipFolder.Read(tmp.Path);

        Assert.Equal([Path.GetFullPath(tmp.Sub("clips/a.mp4")), Path.GetFullPath(tmp.Sub("b.mov"))], entries.Select(e => e.VideoPath));
        Assert.Equal(["a red ball", "a blue cube"], entries.Select(e => e.Caption));
    }

    [Fact]
    public void AnEntryMayCarryAnEditPair()
    {
        using var tmp = new TempFolder("clips-edit");
        Touch(tmp.Sub("clips/a.mp4"));
        Touch(tmp.Sub("edits/a.mp4"));
        File.WriteAllLines(tmp.Sub("metadata.jsonl"),
        [
            """{"video": "clips/a.mp4", "caption": "a red ball", "edit": {"video": "edits/a.mp4", "instruction": "Make the red ball blue."}}""",
            """{"video": "clips/a.mp4", "caption": "a red ball"}""",
        ]);
        var entries = ClipFolder.Read(tmp.Path);
        Assert.Equal(new ClipEdit(Path.GetFullPath(tmp.Sub("edits/a.mp4")), "Make the red ball blue."), entries[0].Edit);
        Assert.Null(entries[1].Edit);

        File.WriteAllLines(tmp.Sub("metadata.jsonl"), ["""{"video": "clips/a.mp4", "edit": {"video": "../a.mp4", "instruction": "Make it blue."}}"""]);
        Assert.Contains("points outside", Assert.Throws<InvalidDataException>(() => ClipFolder.Read(tmp.Path)).Message, StringComparison.Ordinal);
        File.WriteAllLines(tmp.Sub("metadata.jsonl"), ["""{"video": "clips/a.mp4", "edit": {"video": "edits/a.mp4"}}"""]);
        Assert.Contains("metadata.jsonl:1", Assert.Throws<InvalidDataException>(() => ClipFolder.Read(tmp.Path)).Message, StringComparison.Ordinal);
        File.WriteAllLines(tmp.Sub("metadata.jsonl"), ["""{"video": "clips/a.mp4", "edit": {"video": "edits/b.mp4", "instruction": "Make it blue."}}"""]);
        Assert.Throws<FileNotFoundException>(() => ClipFolder.Read(tmp.Path));
    }

    [Fact]
    public void WithoutMetadataEveryVideoFileIsAnUncaptionedClip()
    {
        using var tmp = new TempFolder("clips-plain");
        Touch(tmp.Sub("z.mp4"));
        Touch(tmp.Sub("sub/a.WEBM"));
        Touch(tmp.Sub("notes.txt"));

        var entries = ClipFolder.Read(tmp.Path);

        Assert.Equal(2, entries.Count);
        Assert.All(entries, e => Assert.Equal("", e.Caption));
        Assert.DoesNotContain(entries, e => e.VideoPath.EndsWith(".txt", StringComparison.Ordinal));
    }

    [Fact]
    public void MissingFolderIsRefused()
    {
        using var tmp = new TempFolder("clips-missing");
        var e = Assert.Throws<DirectoryNotFoundException>(() => ClipFolder.Read(tmp.Sub("nowhere")));
        Assert.Contains("nowhere", e.Message);
    }

    [Fact]
    public void LineThatIsNotJsonIsNamedByNumber()
    {
        using var tmp = new TempFolder("clips-json");
        Touch(tmp.Sub("a.mp4"));
        File.WriteAllLines(tmp.Sub("metadata.jsonl"), ["""{"video": "a.mp4"}""", "", "{video: a.mp4"]);

        var e = Assert.Throws<InvalidDataException>(() => ClipFolder.Read(tmp.Path));
        Assert.Contains("metadata.jsonl:3:", e.Message);
        Assert.Contains("not JSON", e.Message);
    }

    [Theory]
    [InlineData("../outside.mp4")]
    [InlineData("../data2/outside.mp4")]
    [InlineData("clips/../../outside.mp4")]
    [InlineData("/etc/hostname")]
    public void PathEscapingTheFolderIsRefused(string video)
    {
        using var tmp = new TempFolder("clips-escape");
        var folder = tmp.Sub("data");
        Touch(tmp.Sub("outside.mp4"));                               // the escaping path exists: only its place is wrong
        File.WriteAllText(Path.Combine(Directory.CreateDirectory(folder).FullName, "metadata.jsonl"),
            System.Text.Json.JsonSerializer.Serialize(new { video }) + "\n");

        var e = Assert.Throws<InvalidDataException>(() => ClipFolder.Read(folder));
        Assert.Contains("metadata.jsonl:1:", e.Message);
        Assert.Contains("outside the folder", e.Message);
    }

    [Fact]
    public void EmptyFolderIsRefused()
    {
        using var tmp = new TempFolder("clips-empty");
        Touch(tmp.Sub("readme.txt"));
        var e = Assert.Throws<InvalidDataException>(() => ClipFolder.Read(tmp.Path));
        Assert.Contains("has no clips", e.Message);

        File.WriteAllText(tmp.Sub("metadata.jsonl"), "\n\n");         // a metadata file with no entries is empty too
        Assert.Throws<InvalidDataException>(() => ClipFolder.Read(tmp.Path));
    }
}
