using Microsoft.ML.Tokenizers;

namespace Canter.Models.Unified;

/// <summary>
/// Text to token rows of the model's embedding table. Text is split by the o200k BPE (Microsoft.ML.Tokenizers);
/// the model keeps rows only for the BPE ids its training captions use (a 200k-row table would be most of a tiny
/// model), listed in <see cref="Ids"/>: row 0 pads, row 1 stands for any id the model never saw.
/// </summary>
public sealed class TextTokens
{
    public const int Pad = 0;
    public const int Unknown = 1;
    private static readonly Lazy<Tokenizer> Bpe = new(() => TiktokenTokenizer.CreateForEncoding("o200k_base"));
    private readonly Dictionary<int, int> _rows;

    public TextTokens(IReadOnlyList<int> ids)
    {
        Ids = ids;
        _rows = [];
        for (int i = 0; i < ids.Count; i++) _rows[ids[i]] = i + 2;
    }

    /// <summary>BPE ids with a row, in row order (rows 2, 3, ...).</summary>
    public IReadOnlyList<int> Ids { get; }

    /// <summary>Rows of the embedding table (pad and unknown included).</summary>
    public int Rows => Ids.Count + 2;

    public static IReadOnlyList<int> Encode(string text) => Bpe.Value.EncodeToIds(text);

    /// <summary>
    /// Starts reading the BPE tables (about a third of a second) on a pool thread, so that it overlaps with loading a
    /// model's weights; <see cref="Encode"/> waits for it, and gets any error it met.
    /// </summary>
    public static void StartLoading() => ThreadPool.QueueUserWorkItem(_ =>
    {
        try
        {
            _ = Bpe.Value;
        }
        catch (Exception)
        {
            // kept by the Lazy and thrown again by the first Encode, on the caller's thread
        }
    });

    /// <summary>A vocabulary of every BPE id in <paramref name="texts"/>, in first-seen order.</summary>
    public static TextTokens Build(IEnumerable<string> texts, int maxRows)
    {
        var ids = new List<int>();
        var seen = new HashSet<int>();
        foreach (var t in texts)
            foreach (var id in Encode(t))
                if (seen.Add(id))
                {
                    if (ids.Count + 2 >= maxRows) throw new ArgumentException($"the captions use more than {maxRows - 2} distinct tokens; raise the text vocabulary size");
                    ids.Add(id);
                }
        return new TextTokens(ids);
    }

    /// <summary>Rows for <paramref name="text"/>, padded with <see cref="Pad"/> to <paramref name="length"/>; its true length (error when longer).</summary>
    public (int[] Rows, int Length) ToRows(string text, int length)
    {
        var ids = Encode(text);
        if (ids.Count > length) throw new ArgumentException($"the prompt is {ids.Count} tokens; this model reads at most {length}");
        var rows = new int[length];
        for (int i = 0; i < ids.Count; i++) rows[i] = _rows.TryGetValue(ids[i], out int r) ? r : Unknown;
        return (rows, ids.Count);
    }

    /// <summary>How many of the prompt's tokens the model has no row for (it reads them as one unknown token).</summary>
    public int UnknownCount(string text) => Encode(text).Count(id => !_rows.ContainsKey(id));
}
