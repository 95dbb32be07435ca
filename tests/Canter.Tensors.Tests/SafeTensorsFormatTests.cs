using System.Buffers.Binary;
using System.Text;
using Canter.Tensors.IO;
using Canter.Tensors.Nn;
using Canter.Tensors.Tests.Support;

namespace Canter.Tensors.Tests;

public sealed class SafeTensorsFormatTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("canter-st-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    private static Dictionary<string, Tensor> Sample() => new()
    {
        ["matrix"] = Tensor.Randn([3, 5], seed: 1),
        ["vector"] = Tensor.Randn([7], seed: 2, std: 100f),
        ["scalar"] = Tensor.Scalar(-2.5f),
        ["empty"] = Tensor.Zeros([0, 4]),
        ["cube"] = Tensor.Randn([2, 3, 4], seed: 3, std: 1e-3f),
    };

    /// <summary>A file with the given header text and data bytes, the length field saying <paramref name="declaredLength"/> (default: the true length).</summary>
    private string WriteRaw(string name, string header, byte[] data, ulong? declaredLength = null)
    {
        var path = PathOf(name);
        var headerBytes = Encoding.UTF8.GetBytes(header);
        using var f = File.Create(path);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, declaredLength ?? (ulong)headerBytes.Length);
        f.Write(len);
        f.Write(headerBytes);
        f.Write(data);
        return path;
    }

    private static SafeTensorsException Rejects(string path, string expectedInMessage)
    {
        var e = Assert.Throws<SafeTensorsException>(() =>
        {
            using var file = SafeTensors.Load(path);
            foreach (var name in file.Names) file.Read(name).Dispose();
        });
        Assert.Contains(path, e.Message);
        Assert.Contains(expectedInMessage, e.Message, StringComparison.OrdinalIgnoreCase);
        return e;
    }

    [Fact]
    public void F32RoundTripIsExactWithMetadataAndSortedNames()
    {
        var tensors = Sample();
        tensors["transposed"] = Ops.Transpose(Tensor.Randn([4, 6], seed: 4), 0, 1);   // a strided view is written in logical order
        var metadata = new Dictionary<string, string> { ["step"] = "1200", ["note"] = "ünïcode & <json> \"quotes\"" };
        var path = PathOf("f32.safetensors");
        SafeTensors.Save(path, tensors, metadata);

        using var file = SafeTensors.Load(path);
        Assert.Equal(tensors.Keys.Order(StringComparer.Ordinal), file.Names);
        Assert.Equal(metadata, file.Metadata);
        foreach (var (name, t) in tensors)
        {
            using var back = file.Read(name);
            Assert.Equal(t.Shape, back.Shape);
            Assert.Equal(t.ToArray(), back.ToArray());
            Assert.Equal(SafeTensorsDType.F32, file.Entries[name].DType);
        }
        // data starts 8-byte aligned
        Assert.Equal(0, (8 + BinaryPrimitives.ReadInt64LittleEndian(File.ReadAllBytes(path).AsSpan(0, 8))) % 8);
    }

    [Fact]
    public void F16RoundTripRoundsToNearest()
    {
        var x = Tensor.FromArray([0f, -0f, 1f, -2.5f, 65504f, 1e-7f, 70000f, float.NegativeInfinity, 0.1f, 1f / 3f], [10]);
        var path = PathOf("f16.safetensors");
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["x"] = x }, dtype: SafeTensorsDType.F16);
        using var file = SafeTensors.Load(path);
        Assert.Equal(SafeTensorsDType.F16, file.Entries["x"].DType);
        var back = file.Read("x").ToArray();
        // expected: .NET's IEEE binary16 conversion (round to nearest even, overflow to infinity)
        Assert.Equal(x.ToArray().Select(v => (float)(Half)v).ToArray(), back);
        Assert.Equal(65504f, back[4]);
        Assert.Equal(float.PositiveInfinity, back[6]);
        Assert.True(float.IsNegative(back[1]));

        var r = Tensor.Randn([1000], seed: 9);
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["r"] = r }, dtype: SafeTensorsDType.F16);
        using var file2 = SafeTensors.Load(path);
        Check.Close(r.ToArray(), file2.Read("r").ToArray(), 6e-8f, 1f / 2048, "f16 round trip");
    }

    [Fact]
    public void BF16RoundTripRoundsToNearestEven()
    {
        // bf16 keeps 7 mantissa bits: 1 + 2^-8 is a tie between 1 and 1 + 2^-7 and goes to the even 1;
        // 1 + 3 * 2^-8 is a tie between 1 + 2^-7 and 1 + 2^-6 and goes to the even 1 + 2^-6
        float[] values = [1f, 1f + MathF.Pow(2, -8), 1f + 3 * MathF.Pow(2, -8), 1f + 1.5f * MathF.Pow(2, -8), -3f, float.PositiveInfinity, float.NaN, float.MaxValue];
        float[] expected = [1f, 1f, 1f + MathF.Pow(2, -6), 1f + MathF.Pow(2, -7), -3f, float.PositiveInfinity, float.NaN, float.PositiveInfinity];   // the largest float rounds up past bf16's largest finite value
        var path = PathOf("bf16.safetensors");
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(values, [values.Length]) }, dtype: SafeTensorsDType.BF16);
        using var file = SafeTensors.Load(path);
        Assert.Equal(SafeTensorsDType.BF16, file.Entries["x"].DType);
        Assert.Equal(2 * values.Length, file.Entries["x"].End - file.Entries["x"].Begin);
        Assert.Equal(expected, file.Read("x").ToArray());

        var r = Tensor.Randn([1000], seed: 10);
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["r"] = r }, dtype: SafeTensorsDType.BF16);
        using var file2 = SafeTensors.Load(path);
        Check.Close(r.ToArray(), file2.Read("r").ToArray(), 0f, 1f / 256, "bf16 round trip");
    }

    [Theory]
    [InlineData(SafeTensorsDType.F32)]
    [InlineData(SafeTensorsDType.F16)]
    [InlineData(SafeTensorsDType.BF16)]
    public void TensorsLargerThanTheIoBufferRoundTrip(SafeTensorsDType dtype)
    {
        // 2.3 buffers' worth, so that reading and writing go through full and partial chunks
        int n = SafeTensors.ChunkElements * 2 + SafeTensors.ChunkElements / 3;
        var big = Tensor.Randn([n], seed: 12);
        var small = Tensor.Randn([3], seed: 13);
        var path = PathOf("big.safetensors");
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["big"] = big, ["small"] = small }, dtype: dtype);
        using var file = SafeTensors.Load(path);
        Func<float, float> round = dtype switch
        {
            SafeTensorsDType.F16 => v => (float)(Half)v,
            SafeTensorsDType.BF16 => v => BitConverter.Int32BitsToSingle(SafeTensors.ToBFloat16(v) << 16),
            _ => v => v,
        };
        Assert.Equal(big.ToArray().Select(round).ToArray(), file.Read("big").ToArray());
        Assert.Equal(small.ToArray().Select(round).ToArray(), file.Read("small").ToArray());
    }

    [Fact]
    public void TruncatedFilesAreRejectedWhereverTheyAreCut()
    {
        var path = PathOf("whole.safetensors");
        SafeTensors.Save(path, Sample());
        var bytes = File.ReadAllBytes(path);
        long dataStart = 8 + BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(0, 8));
        // inside the length field, inside the header, at the start of the data, inside the data, one byte short
        foreach (long cut in new[] { 0, 5, 8, 20, dataStart - 1, dataStart, dataStart + 3, bytes.Length / 2 + 1, bytes.Length - 1 })
        {
            var cutPath = PathOf($"cut{cut}.safetensors");
            File.WriteAllBytes(cutPath, bytes.AsSpan(0, (int)cut).ToArray());
            var e = Assert.Throws<SafeTensorsException>(() => SafeTensors.Load(cutPath).Dispose());
            Assert.Contains(cutPath, e.Message);
            Assert.True(e.Message.Contains("short") || e.Message.Contains("truncated"), $"cut at {cut}: {e.Message}");
        }
    }

    [Fact]
    public void HeaderLengthBeyondTheFileIsRejected()
    {
        var header = """{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""";
        Rejects(WriteRaw("long.safetensors", header, new byte[4], declaredLength: 1000), "truncated");
        Rejects(WriteRaw("huge.safetensors", header, new byte[4], declaredLength: ulong.MaxValue), "not plausible");
        Rejects(WriteRaw("zero.safetensors", header, new byte[4], declaredLength: 0), "not plausible");
    }

    [Theory]
    [InlineData("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", "not valid JSON")]   // unterminated
    [InlineData("{\"x\": nope}", "not valid JSON")]
    [InlineData("[1, 2]", "not a JSON object")]
    [InlineData("\"text\"", "not a JSON object")]
    [InlineData("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "twice")]
    [InlineData("{\"__metadata__\":[1]}", "__metadata__")]
    [InlineData("{\"__metadata__\":{\"k\":1}}", "metadata value 'k'")]
    [InlineData("{\"x\":[0]}", "not an object")]
    public void MalformedHeadersAreRejected(string header, string expected)
    {
        Rejects(WriteRaw("bad.safetensors", header, new byte[4]), expected);
    }

    [Theory]
    [InlineData("\"F64\"", "F64 is not supported")]
    [InlineData("\"I32\"", "I32 is not supported")]
    [InlineData("\"f32\"", "f32 is not supported")]
    [InlineData("32", "dtype")]
    [InlineData("null", "dtype")]
    public void UnsupportedDTypesAreRejected(string dtype, string expected)
    {
        var header = "{\"x\":{\"dtype\":" + dtype + ",\"shape\":[2],\"data_offsets\":[0,8]}}";
        Rejects(WriteRaw("dtype.safetensors", header, new byte[8]), expected);
    }

    [Theory]
    [InlineData("[2, 3]", "[0, 20]", "expected 24")]           // 20 bytes for 6 floats
    [InlineData("[2, 3]", "[4, 24]", "expected 24")]           // shifted and short
    [InlineData("[2]", "[8, 4]", "data_offsets")]             // end before begin
    [InlineData("[2]", "[-8, 0]", "data_offsets")]
    [InlineData("[2]", "[0]", "data_offsets")]
    [InlineData("[2]", "[0, 8, 16]", "data_offsets")]
    [InlineData("[2]", "[\"0\", \"8\"]", "data_offsets")]      // offsets as strings
    [InlineData("[2]", "[0.0, 8.5]", "data_offsets")]
    [InlineData("[2]", "null", "data_offsets")]
    [InlineData("[2]", "[0, 99999999999]", "expected 8")]
    [InlineData("[-2]", "[0, 8]", "invalid dimension")]
    [InlineData("[2.5]", "[0, 8]", "invalid dimension")]
    [InlineData("[\"2\"]", "[0, 8]", "invalid dimension")]
    [InlineData("2", "[0, 8]", "shape")]
    [InlineData("[65536, 65536]", "[0, 8]", "elements")]
    [InlineData("[2]", "[24, 32]", "truncated")]              // beyond the data
    public void OffsetsInconsistentWithShapeOrFileAreRejected(string shape, string offsets, string expected)
    {
        var header = "{\"x\":{\"dtype\":\"F32\",\"shape\":" + shape + ",\"data_offsets\":" + offsets + "}}";
        Rejects(WriteRaw("offsets.safetensors", header, new byte[24]), expected);
    }

    [Fact]
    public void OverlappingTensorsAreRejected()
    {
        var header = """{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}""";
        var e = Rejects(WriteRaw("overlap.safetensors", header, new byte[16]), "overlap");
        Assert.Contains("'a'", e.Message);
        Assert.Contains("'b'", e.Message);
        // the same region twice
        var twice = """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[4],"data_offsets":[0,8]}}""";
        Rejects(WriteRaw("twice.safetensors", twice, new byte[8]), "overlap");
        // adjacent regions and empty tensors are fine
        var fine = """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"e":{"dtype":"F32","shape":[0],"data_offsets":[8,8]},"b":{"dtype":"BF16","shape":[4],"data_offsets":[8,16]}}""";
        using var file = SafeTensors.Load(WriteRaw("fine.safetensors", fine, new byte[16]));
        Assert.Equal(3, file.Names.Count());
    }

    [Fact]
    public void MissingNamesAndShapeMismatchesAreReported()
    {
        var path = PathOf("named.safetensors");
        SafeTensors.Save(path, Sample());
        using var file = SafeTensors.Load(path);
        Assert.Contains("no tensor named 'nope'", Assert.Throws<SafeTensorsException>(() => file.Read("nope")).Message);
        var e = Assert.Throws<SafeTensorsException>(() => file.Read("matrix", [5, 3]));
        Assert.Contains("(3, 5)", e.Message);
        Assert.Contains("(5, 3)", e.Message);
        Assert.Contains("not found", Assert.Throws<SafeTensorsException>(() => SafeTensors.Load(PathOf("absent.safetensors"))).Message);
        Assert.Throws<ArgumentException>(() => SafeTensors.Save(PathOf("reserved.safetensors"), new Dictionary<string, Tensor> { ["__metadata__"] = Tensor.Zeros([1]) }));
    }

    // found by `canter fuzz --target safetensors`: JsonDocument checks UTF-8 only when a string is read, so a bad byte
    // in a name, a dtype or a metadata value crashed the loader with InvalidOperationException
    [Theory]
    [InlineData(new byte[] { 0x7b, 0x22, 0xff, 0x22, 0x3a, 0x7b, 0x7d, 0x7d }, "UTF-8")]                                // {"\xff":{}}
    [InlineData(new byte[] { 0x7b, 0x22, 0x61, 0x22, 0x3a, 0x7b, 0x22, 0x64, 0x74, 0x79, 0x70, 0x65, 0x22, 0x3a, 0x22, 0xc3, 0x22, 0x7d, 0x7d }, "UTF-8")] // {"a":{"dtype":"\xc3"}}
    public void HeaderWithInvalidUtf8IsRefused(byte[] header, string expected)
    {
        var path = PathOf("utf8.safetensors");
        using (var f = File.Create(path))
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
            f.Write(len);
            f.Write(header);
        }
        Rejects(path, expected);
    }

    [Fact]
    public void HeaderWithALoneSurrogateEscapeIsRefused() =>
        Rejects(WriteRaw("surrogate.safetensors", """{"__metadata__":{"\ud800":"x"}}""", []), "invalid string");

    // found by `canter fuzz --target safetensors --seed 1` (inputs #94, #535, #1718, replayed byte for byte): the F16 seed
    // checkpoint with a byte of its header made invalid UTF-8 in a tensor name, a metadata value and a dtype. Before the
    // fix each crashed the loader with InvalidOperationException ("Cannot transcode invalid UTF-8 JSON text").
    [Theory]
    [InlineData( // #94, a tensor name: "a.\xffeight"
        "98000000000000007b225f5f6d657461646174615f5f223a7b22666f726d6174223a227074227d2c22612eff6569676874223a7b226474797065" +
        "223a22463136222c227368617065223a5b322c335d2c22646174615f6f666673657473223a5b302c31325d7d2c2262223a7b226474797065223a" +
        "22463136222c227368617065223a5b315d2c22646174615f6f666673657473223a5b31322c31345d7d7d2020003c004000420044004500460038")]
    [InlineData( // #535, a metadata value: "format": "\xff\xff"
        "98000000000000007b225f5f6d657461646174615f5f223a7b22666f726d6174223a22ffff227d2c22612e776569676874223a7b226474797065" +
        "223a22463136222c227368617065223a5b322c335d2c22646174615f6f666673657473223a5b302c31325d7d2c2262223a7b226474797065223a" +
        "22463136222c227368617065223a5b315d2c22646174615f6f666673657473223a5b31322c31345d7d7d2020003c004000420044004500460038")]
    [InlineData( // #1718, a dtype: "F\xff\x7f"
        "98000000000000007b225f5f6d657461646174615f5f223a7b22666f726d6174223a227074227d2c22612e776569676874223a7b226474797065" +
        "223a2246ff7f222c227368617065223a5b322c335d2c22646174615f6f666673657473223a5b302c31325d7d2c2262223a7b226474797065223a" +
        "22463136222c227368617065223a5b315d2c22646174615f6f666673657473223a5b31322c31345d7d7d2020003c004000420044004500460038")]
    public void FuzzFindingsWithInvalidUtf8InTheHeaderAreRefused(string hex)
    {
        var path = PathOf("fuzz-finding.safetensors");
        File.WriteAllBytes(path, Convert.FromHexString(hex));
        Rejects(path, "not valid UTF-8");
    }
}
