using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Canter.Tensors.IO;

/// <summary>Element types of the safetensors format that Canter reads (F32, F16, BF16) and writes (F32, F16, BF16).</summary>
public enum SafeTensorsDType { F32, F16, BF16 }

/// <summary>A malformed, truncated or mismatched safetensors file. The message names the file and the problem.</summary>
public sealed class SafeTensorsException(string message) : Exception(message);

/// <summary>
/// Reads and writes the safetensors format: an 8-byte little-endian header length, a JSON
/// header mapping names to dtype, shape and byte offsets, then the raw data. Every field
/// is checked; a bad file raises <see cref="SafeTensorsException"/>, never a crash or a
/// silent partial load.
/// <example><code>
/// SafeTensors.Save("w.safetensors", new Dictionary&lt;string, Tensor&gt; { ["w"] = w });
/// using var file = SafeTensors.Load("w.safetensors");
/// var w2 = file["w"];
/// </code></example>
/// </summary>
public static class SafeTensors
{
    /// <summary>Largest header accepted (the format's reference implementation uses 100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors,
        IReadOnlyDictionary<string, string>? metadata = null, SafeTensorsDType dtype = SafeTensorsDType.F32)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null) Directory.CreateDirectory(dir);
        var tmp = $"{path}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
                Write(stream, tensors, metadata, dtype);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    /// <summary>Writes a whole safetensors file to <paramref name="stream"/>. Names are written in sorted order.</summary>
    public static void Write(Stream stream, IReadOnlyDictionary<string, Tensor> tensors,
        IReadOnlyDictionary<string, string>? metadata = null, SafeTensorsDType dtype = SafeTensorsDType.F32)
    {
        int elementSize = dtype == SafeTensorsDType.F32 ? 4 : 2;
        var names = tensors.Keys.OrderBy(k => k, StringComparer.Ordinal).ToList();
        var header = new Dictionary<string, object>();
        if (metadata is { Count: > 0 }) header["__metadata__"] = metadata;
        long offset = 0;
        foreach (var name in names)
        {
            if (name == "__metadata__") throw new ArgumentException("'__metadata__' is reserved and cannot name a tensor");
            var t = tensors[name];
            long bytes = (long)t.Count * elementSize;
            header[name] = new Dictionary<string, object>
            {
                ["dtype"] = dtype.ToString(),
                ["shape"] = t.Shape,
                ["data_offsets"] = new[] { offset, offset + bytes },
            };
            offset += bytes;
        }
        var json = JsonSerializer.SerializeToUtf8Bytes(header);
        int pad = (8 - json.Length % 8) % 8; // align data to 8 bytes, padded with spaces as the format allows
        var headerBytes = new byte[json.Length + pad];
        json.CopyTo(headerBytes, 0);
        for (int i = json.Length; i < headerBytes.Length; i++) headerBytes[i] = (byte)' ';
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)headerBytes.Length);
        stream.Write(len);
        stream.Write(headerBytes);
        // encode through a bounded buffer: a tensor of more than 2 GB must not need a byte array as large
        var buffer = new byte[ChunkElements * elementSize];
        foreach (var name in names)
        {
            var values = tensors[name].ToArray();
            for (int start = 0; start < values.Length; start += ChunkElements)
            {
                int count = Math.Min(ChunkElements, values.Length - start);
                var bytes = buffer.AsSpan(0, count * elementSize);
                Encode(values.AsSpan(start, count), bytes, dtype);
                stream.Write(bytes);
            }
        }
    }

    /// <summary>Elements encoded or decoded per buffer when writing or reading.</summary>
    internal const int ChunkElements = 1 << 18;

    /// <summary>Opens and fully validates a file; the tensors are read on demand.</summary>
    public static SafeTensorsFile Load(string path)
    {
        if (!File.Exists(path)) throw new SafeTensorsException($"{path}: file not found");
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        try
        {
            return SafeTensorsFile.Open(stream, path);
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>Reads every tensor of a file into memory.</summary>
    public static Dictionary<string, Tensor> LoadAll(string path, Device? device = null)
    {
        using var file = Load(path);
        return file.Names.ToDictionary(n => n, n => file.Read(n, device), StringComparer.Ordinal);
    }

    internal static void Encode(ReadOnlySpan<float> values, Span<byte> dst, SafeTensorsDType dtype)
    {
        switch (dtype)
        {
            case SafeTensorsDType.F32 when BitConverter.IsLittleEndian:
                MemoryMarshal.AsBytes(values).CopyTo(dst);
                break;
            case SafeTensorsDType.F32:
                for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(dst[(i * 4)..], values[i]);
                break;
            case SafeTensorsDType.F16:
                for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteHalfLittleEndian(dst[(i * 2)..], (Half)values[i]);
                break;
            case SafeTensorsDType.BF16:
                for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(dst[(i * 2)..], ToBFloat16(values[i]));
                break;
        }
    }

    internal static void Decode(ReadOnlySpan<byte> src, Span<float> values, SafeTensorsDType dtype)
    {
        switch (dtype)
        {
            case SafeTensorsDType.F32 when BitConverter.IsLittleEndian:
                src[..(values.Length * 4)].CopyTo(MemoryMarshal.AsBytes(values));
                break;
            case SafeTensorsDType.F32:
                for (int i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadSingleLittleEndian(src[(i * 4)..]);
                break;
            case SafeTensorsDType.F16:
                for (int i = 0; i < values.Length; i++) values[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(src[(i * 2)..]);
                break;
            case SafeTensorsDType.BF16:
                for (int i = 0; i < values.Length; i++) values[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(src[(i * 2)..]) << 16);
                break;
        }
    }

    /// <summary>Round-to-nearest-even conversion to bfloat16 (NaN kept NaN).</summary>
    internal static ushort ToBFloat16(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFFFFFF) > 0x7F800000) return (ushort)((bits >> 16) | 0x40);
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }
}

/// <summary>Header entry of one tensor in a safetensors file.</summary>
public sealed record SafeTensorInfo(string Name, SafeTensorsDType DType, int[] Shape, long Begin, long End);

/// <summary>An open, validated safetensors file.</summary>
public sealed class SafeTensorsFile : IDisposable
{
    private readonly Stream _stream;
    private readonly long _dataStart;
    private readonly Dictionary<string, SafeTensorInfo> _entries;

    private SafeTensorsFile(Stream stream, string path, long dataStart, Dictionary<string, SafeTensorInfo> entries, Dictionary<string, string> metadata)
    {
        _stream = stream;
        Path = path;
        _dataStart = dataStart;
        _entries = entries;
        Metadata = metadata;
    }

    public string Path { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }
    public IEnumerable<string> Names => _entries.Keys.OrderBy(k => k, StringComparer.Ordinal);
    public IReadOnlyDictionary<string, SafeTensorInfo> Entries => _entries;

    public bool Contains(string name) => _entries.ContainsKey(name);

    public Tensor this[string name] => Read(name);

    internal static SafeTensorsFile Open(Stream stream, string path)
    {
        long length = stream.Length;
        if (length < 8) throw new SafeTensorsException($"{path}: file is {length} bytes, too short for a safetensors header");
        Span<byte> lenBytes = stackalloc byte[8];
        stream.ReadExactly(lenBytes);
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
        if (headerLength == 0 || headerLength > SafeTensors.MaxHeaderBytes)
            throw new SafeTensorsException($"{path}: header length {headerLength} is not plausible (1 .. {SafeTensors.MaxHeaderBytes} bytes)");
        if ((long)headerLength > length - 8)
            throw new SafeTensorsException($"{path}: truncated: header says {headerLength} bytes but the file has {length - 8} after the length field");
        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        long dataStart = 8 + (long)headerLength;
        long dataLength = length - dataStart;

        // JsonDocument checks UTF-8 only when a string is read; a bad name must be refused here, not crash the loader later
        if (!System.Text.Unicode.Utf8.IsValid(headerBytes)) throw new SafeTensorsException($"{path}: header is not valid UTF-8");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(headerBytes, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new SafeTensorsException($"{path}: header is not valid JSON ({e.Message})");
        }
        try
        {
            using (doc)
            {
                if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new SafeTensorsException($"{path}: header is not a JSON object");
                var entries = new Dictionary<string, SafeTensorInfo>(StringComparer.Ordinal);
                var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
                bool sawMetadata = false;
                foreach (var prop in doc.RootElement.EnumerateObject())
                {
                    if (prop.Name == "__metadata__")
                    {
                        if (sawMetadata) throw new SafeTensorsException($"{path}: __metadata__ appears twice");
                        sawMetadata = true;
                        if (prop.Value.ValueKind != JsonValueKind.Object) throw new SafeTensorsException($"{path}: __metadata__ is not an object");
                        foreach (var m in prop.Value.EnumerateObject())
                        {
                            if (m.Value.ValueKind != JsonValueKind.String) throw new SafeTensorsException($"{path}: metadata value '{m.Name}' is not a string");
                            metadata[m.Name] = m.Value.GetString()!;
                        }
                        continue;
                    }
                    if (entries.ContainsKey(prop.Name)) throw new SafeTensorsException($"{path}: tensor '{prop.Name}' appears twice");
                    entries[prop.Name] = ParseEntry(path, prop.Name, prop.Value, dataLength);
                }
                // the data regions must not overlap
                SafeTensorInfo? previous = null;
                foreach (var e in entries.Values.OrderBy(e => e.Begin).ThenBy(e => e.End))
                {
                    if (previous is not null && e.Begin < previous.End && e.End > e.Begin)
                        throw new SafeTensorsException($"{path}: tensors '{previous.Name}' and '{e.Name}' overlap");
                    if (e.End > e.Begin) previous = e;
                }
                return new SafeTensorsFile(stream, path, dataStart, entries, metadata);
            }
        }
        catch (InvalidOperationException e)
        {
            // an escaped lone surrogate ("\ud800") in a name or string is valid JSON but not a valid string
            throw new SafeTensorsException($"{path}: header holds an invalid string ({e.Message})");
        }
    }

    private static SafeTensorInfo ParseEntry(string path, string name, JsonElement value, long dataLength)
    {
        string where = $"{path}: tensor '{name}'";
        if (value.ValueKind != JsonValueKind.Object) throw new SafeTensorsException($"{where}: entry is not an object");
        if (!value.TryGetProperty("dtype", out var dtypeEl)) throw new SafeTensorsException($"{where}: missing dtype");
        if (dtypeEl.ValueKind != JsonValueKind.String) throw new SafeTensorsException($"{where}: dtype {dtypeEl.GetRawText()} is not a string");
        var dtypeName = dtypeEl.GetString();
        SafeTensorsDType dtype = dtypeName switch
        {
            "F32" => SafeTensorsDType.F32,
            "F16" => SafeTensorsDType.F16,
            "BF16" => SafeTensorsDType.BF16,
            _ => throw new SafeTensorsException($"{where}: dtype {dtypeName} is not supported (F32, F16, BF16)"),
        };
        if (!value.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array)
            throw new SafeTensorsException($"{where}: missing shape (an array of dimensions)");
        var shape = new List<int>();
        long count = 1;
        foreach (var d in shapeEl.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long dim) || dim < 0 || dim > int.MaxValue)
                throw new SafeTensorsException($"{where}: invalid dimension {d}");
            shape.Add((int)dim);
            count *= dim;
            if (count > int.MaxValue) throw new SafeTensorsException($"{where}: more than {int.MaxValue} elements");
        }
        if (!value.TryGetProperty("data_offsets", out var offEl) || offEl.ValueKind != JsonValueKind.Array || offEl.GetArrayLength() != 2)
            throw new SafeTensorsException($"{where}: data_offsets must be [begin, end]");
        if (offEl[0].ValueKind != JsonValueKind.Number || offEl[1].ValueKind != JsonValueKind.Number
            || !offEl[0].TryGetInt64(out long begin) || !offEl[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw new SafeTensorsException($"{where}: invalid data_offsets {offEl.GetRawText()} (two integers, begin <= end)");
        long elementSize = dtype == SafeTensorsDType.F32 ? 4 : 2;
        if (end - begin != count * elementSize)
            throw new SafeTensorsException($"{where}: {end - begin} bytes of data for shape {ShapeUtil.Format(shape.ToArray())} {dtypeName} (expected {count * elementSize})");
        if (end > dataLength)
            throw new SafeTensorsException($"{where}: truncated file: data ends at byte {end} but only {dataLength} bytes of data are present");
        return new SafeTensorInfo(name, dtype, shape.ToArray(), begin, end);
    }

    /// <summary>Reads a tensor as float32.</summary>
    public Tensor Read(string name, Device? device = null)
    {
        if (!_entries.TryGetValue(name, out var info))
            throw new SafeTensorsException($"{Path}: no tensor named '{name}'");
        var values = new float[ShapeUtil.Count(info.Shape)];
        int elementSize = info.DType == SafeTensorsDType.F32 ? 4 : 2;
        // decode through a bounded buffer: a tensor of more than 2 GB must not need a byte array as large
        var buffer = new byte[Math.Min(values.Length, SafeTensors.ChunkElements) * elementSize];
        lock (_stream)
        {
            try
            {
                _stream.Seek(_dataStart + info.Begin, SeekOrigin.Begin);
                for (int start = 0; start < values.Length; start += SafeTensors.ChunkElements)
                {
                    int count = Math.Min(SafeTensors.ChunkElements, values.Length - start);
                    var bytes = buffer.AsSpan(0, count * elementSize);
                    _stream.ReadExactly(bytes);
                    SafeTensors.Decode(bytes, values.AsSpan(start, count), info.DType);
                }
            }
            catch (EndOfStreamException)
            {
                throw new SafeTensorsException($"{Path}: tensor '{name}' ends past the end of the file (was it truncated after it was opened?)");
            }
        }
        return Tensor.FromArray(values, info.Shape, device);
    }

    /// <summary>Reads a tensor and checks it has the expected shape.</summary>
    public Tensor Read(string name, int[] expectedShape, Device? device = null)
    {
        if (!_entries.TryGetValue(name, out var info))
            throw new SafeTensorsException($"{Path}: no tensor named '{name}'");
        if (!ShapeUtil.SameShape(info.Shape, expectedShape))
            throw new SafeTensorsException($"{Path}: tensor '{name}' has shape {ShapeUtil.Format(info.Shape)}, expected {ShapeUtil.Format(expectedShape)}");
        return Read(name, device);
    }

    public void Dispose() => _stream.Dispose();
}
