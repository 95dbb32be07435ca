using System.Buffers.Binary;
using System.Text;

namespace Canter.Bench.Fuzz;

/// <summary>
/// Byte-level and JSON-level mutations of a seed input, drawn from one seeded random source so that a run is
/// reproducible from its seed: bit flips, interesting values, little-endian length fields set to extremes,
/// truncation, extension, chunk duplication and splicing, and for JSON text deep nesting, huge numbers,
/// wrong types, duplicate keys and odd unicode.
/// </summary>
public sealed class Mutator(int seed)
{
    private static readonly byte[] InterestingBytes = [0, 1, 0x7f, 0x80, 0xff];
    private static readonly ulong[] InterestingInts = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0xffff, 0x7fffffff, 0xffffffff, 1UL << 32, 1UL << 60, ulong.MaxValue];

    private readonly Random _random = new(seed);

    public Random Random => _random;

    /// <summary>One to four stacked byte mutations of <paramref name="seed"/>; <paramref name="lengthFields"/> are offsets of known length fields.</summary>
    public byte[] MutateBytes(byte[] seed, IReadOnlyList<int>? lengthFields = null)
    {
        var data = seed.ToList();
        int rounds = 1 + _random.Next(4);
        for (int r = 0; r < rounds; r++)
        {
            if (data.Count == 0) data.Add(0);
            int at = _random.Next(data.Count);
            switch (_random.Next(9))
            {
                case 0: data[at] ^= (byte)(1 << _random.Next(8)); break;
                case 1: data[at] = InterestingBytes[_random.Next(InterestingBytes.Length)]; break;
                case 2: SetInt(data, lengthFields is { Count: > 0 } && _random.Next(2) == 0 ? lengthFields[_random.Next(lengthFields.Count)] : at); break;
                case 3: Truncate(data); break;
                case 4: data.AddRange(Enumerable.Range(0, 1 + _random.Next(64)).Select(_ => (byte)_random.Next(256))); break;
                case 5: Duplicate(data); break;
                case 6: Splice(data, seed); break;
                case 7: data.RemoveRange(at, Math.Min(data.Count - at, 1 + _random.Next(16))); break;
                default: data.Insert(at, (byte)_random.Next(256)); break;
            }
        }
        return data.ToArray();
    }

    private void SetInt(List<byte> data, int at)
    {
        ulong value = InterestingInts[_random.Next(InterestingInts.Length)];
        int width = _random.Next(3) switch { 0 => 2, 1 => 4, _ => 8 };
        Span<byte> bytes = stackalloc byte[8];
        if (_random.Next(4) == 0) BinaryPrimitives.WriteUInt64BigEndian(bytes, value);
        else BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        for (int i = 0; i < width && at + i < data.Count; i++) data[at + i] = bytes[i];
    }

    private void Truncate(List<byte> data)
    {
        int keep = _random.Next(data.Count + 1);
        data.RemoveRange(keep, data.Count - keep);
    }

    private void Duplicate(List<byte> data)
    {
        int start = _random.Next(data.Count), length = Math.Min(data.Count - start, 1 + _random.Next(256));
        var chunk = data.GetRange(start, length);
        data.InsertRange(_random.Next(data.Count + 1), chunk);
    }

    private void Splice(List<byte> data, byte[] other)
    {
        if (other.Length == 0) return;
        int from = _random.Next(other.Length), length = Math.Min(other.Length - from, 1 + _random.Next(512));
        int to = _random.Next(data.Count + 1);
        int overwrite = Math.Min(length, data.Count - to);
        data.RemoveRange(to, overwrite);
        data.InsertRange(to, other.AsSpan(from, length).ToArray());
    }

    private static readonly string[] JsonValues =
    [
        "null", "true", "false", "0", "-1", "1e308", "-1e308", "1e999", "123456789012345678901234567890", "0.5", "-0",
        "\"\"", "\"x\"", "[]", "{}", "[1,2,3]", "\"\\u0000\"", "\"\\ud800\"", "\"\u202e\u0301\"", "\"../../etc/passwd\"",
        "\"upload:../x\"", "\"task:..\"", "\"http://169.254.169.254/latest\"", "\"" + new string('a', 5000) + "\"",
        "9223372036854775808", "18446744073709551616", "4294967296", "2147483648", "-2147483649", "NaN", "1.5e-400",
    ];

    /// <summary>A structural mutation of JSON text; the result is often, not always, valid JSON.</summary>
    public string MutateJson(string json)
    {
        switch (_random.Next(7))
        {
            case 0: // replace one value (after a colon) with an interesting value
            {
                var colons = Enumerable.Range(0, json.Length).Where(i => json[i] == ':').ToList();
                if (colons.Count == 0) goto default;
                int c = colons[_random.Next(colons.Count)];
                int end = ValueEnd(json, c + 1);
                return json[..(c + 1)] + JsonValues[_random.Next(JsonValues.Length)] + json[end..];
            }
            case 1: // deep nesting
            {
                int depth = _random.Next(2) == 0 ? 70 : 2000;
                int brace = json.IndexOf(':');
                if (brace < 0) goto default;
                int end = ValueEnd(json, brace + 1);
                return json[..(brace + 1)] + new string('[', depth) + json[(brace + 1)..end] + new string(']', depth) + json[end..];
            }
            case 2: // duplicate the first key
            {
                int close = json.LastIndexOf('}');
                int open = json.IndexOf('{');
                if (close <= open + 1) goto default;
                return json[..close] + "," + json[(open + 1)..close] + "}";
            }
            case 3: // an unknown key with an odd name
                return json.Length > 1 && json[0] == '{' ? "{\"\\u0000\u00e9\ud83d\ude00\":" + JsonValues[_random.Next(JsonValues.Length)] + "," + json[1..] : json;
            case 4: // wrong top-level type
                return JsonValues[_random.Next(JsonValues.Length)];
            case 5:
                return Encoding.UTF8.GetString(MutateBytes(Encoding.UTF8.GetBytes(json)));
            default:
                return json[.._random.Next(json.Length + 1)];
        }
    }

    private static int ValueEnd(string json, int start)
    {
        int depth = 0;
        bool inString = false;
        for (int i = start; i < json.Length; i++)
        {
            char ch = json[i];
            if (inString) { if (ch == '\\') i++; else if (ch == '"') inString = false; continue; }
            if (ch == '"') inString = true;
            else if (ch is '[' or '{') depth++;
            else if (ch is ']' or '}') { if (depth == 0) return i; depth--; }
            else if (ch == ',' && depth == 0) return i;
        }
        return json.Length;
    }
}
