using System.Text.Json;
using Canter.Media;
using Canter.Server.Tasks;

namespace Canter.Server.Api;

/// <summary>A named subject (OpenAI's video character): one reference picture, made from an uploaded clip or image.</summary>
public sealed record Character(string Id, string Name, long CreatedAt, string? Owner);

/// <summary>
/// Characters under the data folder: characters/ID/character.json and reference.png. A character is one reference
/// image of the model (r2v): a generation that names it in <c>character_ids</c> gets that picture as a reference. One
/// picture per character, because the model takes few references (two for canter-tiny) and two characters in one
/// video is the useful case. A character belongs to the API key that made it.
/// </summary>
public sealed class CharacterStore(TaskFiles files)
{
    public const string Reference = "reference.png";

    private const string Meta = "character.json";

    /// <summary>Largest side of a stored reference; generations read it at their own size anyway.</summary>
    private const int MaxSide = 1024;

    private string Root => Path.Combine(files.Root, "characters");

    public static string NewId() => "char_" + Guid.NewGuid().ToString("N")[..24];

    /// <summary>The folder a new character is built in (its source file is written there first).</summary>
    public string Folder(string id) => Path.Combine(Root, Checked(id));

    /// <summary>
    /// Makes the character from <paramref name="source"/> (in its folder): an image is kept as it is, a clip gives its
    /// middle frame (read at one frame per second over its first 15 s). The source file is removed afterwards.
    /// </summary>
    public Character Create(string id, string name, string source, string? owner, MediaLimits limits)
    {
        RgbImage picture;
        try
        {
            var info = MediaProbe.Probe(source, limits);
            if (!info.HasVideo) throw new MediaException("it has no picture (a sound file?)");
            var (w, h) = Fit(info.Width, info.Height);
            try { picture = MediaReader.ReadImage(source, w, h, limits); }
            catch (MediaException)
            {
                var clip = MediaReader.ReadVideo(source, w, h, 1, 15, limits);
                picture = new RgbImage(w, h, clip.Frames[clip.Frames.Count / 2]);
            }
        }
        catch (MediaException e)
        {
            Delete(id);
            throw ApiException.BadRequest($"video: not a readable clip or image ({e.Message.Replace(source, "video", StringComparison.Ordinal)})", "video", "invalid_input");
        }
        finally { if (File.Exists(source)) File.Delete(source); }
        var character = new Character(id, name, DateTimeOffset.UtcNow.ToUnixTimeSeconds(), owner);
        var dir = Folder(id);
        Png.Write(Path.Combine(dir, Reference), picture);
        // the metadata last: a character without it does not exist (a crash halfway leaves nothing visible)
        File.WriteAllText(Path.Combine(dir, Meta + ".partial"), JsonSerializer.Serialize(character, TaskSpec.Json));
        File.Move(Path.Combine(dir, Meta + ".partial"), Path.Combine(dir, Meta), overwrite: true);
        return character;
    }

    /// <summary>The caller's character, or a 404 (another key's character is not found either).</summary>
    public Character Get(string id, string? owner, string? param = null)
    {
        Character? character = null;
        if (IsId(id) && File.Exists(Path.Combine(Folder(id), Meta)))
            character = JsonSerializer.Deserialize<Character>(File.ReadAllText(Path.Combine(Folder(id), Meta)), TaskSpec.Json);
        if (character is null || character.Owner != owner)
            throw param is null ? ApiException.NotFound($"character '{id}'") : ApiException.BadRequest($"{param}: character '{id}' was not found", param);
        return character;
    }

    public string ReferencePath(string id) => Path.Combine(Folder(id), Reference);

    public void Delete(string id)
    {
        try { if (Directory.Exists(Folder(id))) Directory.Delete(Folder(id), recursive: true); }
        catch (IOException) { }
    }

    private static (int Width, int Height) Fit(int w, int h)
    {
        double scale = Math.Min(1, (double)MaxSide / Math.Max(w, h));
        return (Math.Max(1, (int)Math.Round(w * scale)), Math.Max(1, (int)Math.Round(h * scale)));
    }

    private static bool IsId(string id) => id.Length is > 0 and <= 64 && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-');

    private static string Checked(string id) => IsId(id) ? id : throw ApiException.NotFound($"character '{(id.Length > 64 ? id[..64] + "..." : id)}'");
}
