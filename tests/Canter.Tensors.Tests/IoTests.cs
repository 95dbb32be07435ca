using System.Buffers.Binary;
using System.Text;
using Canter.Tensors.IO;
using Canter.Tensors.Nn;
using Canter.Tensors.Rng;
using Canter.Tensors.Tests.Support;

namespace Canter.Tensors.Tests;

public sealed class SafeTensorsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("canter-st-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string PathOf(string name) => Path.Combine(_dir, name);

    [Theory]
    [InlineData(SafeTensorsDType.F32, 0f)]
    [InlineData(SafeTensorsDType.F16, 1e-3f)]
    [InlineData(SafeTensorsDType.BF16, 8e-3f)]
    public void RoundTripsWithMetadata(SafeTensorsDType dtype, float rtol)
    {
        var a = Tensor.Randn([3, 5], seed: 1);
        var b = Tensor.Randn([7], seed: 2);
        var path = PathOf($"rt-{dtype}.safetensors");
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["a"] = a, ["layer.b"] = b }, new Dictionary<string, string> { ["note"] = "hello" }, dtype);
        using var file = SafeTensors.Load(path);
        Assert.Equal("hello", file.Metadata["note"]);
        Assert.Equal(["a", "layer.b"], file.Names.ToArray());
        Check.Close(a.ToArray(), file.Read("a").ToArray(), 1e-7f, rtol, "a");
        Check.Close(b.ToArray(), file.Read("layer.b", [7]).ToArray(), 1e-7f, rtol, "b");
        Assert.Throws<SafeTensorsException>(() => file.Read("a", [5, 3]));
        Assert.Throws<SafeTensorsException>(() => file.Read("missing"));
    }

    [Fact]
    public void ReadsWhatThePythonWriterWrote()
    {
        // the reference server writes its answers with its own writer; read one back
        var x = Tensor.Randn([4, 3], seed: 3);
        var result = TorchReference.Instance.Run("exp", new Dictionary<string, Tensor> { ["x"] = x });
        var expected = x.ToArray().Select(MathF.Exp).ToArray();
        Check.Close(expected, result["y"], 1e-6f, 1e-6f, "python-written tensor");
    }

    [Fact]
    public void EveryTruncationIsReportedNotCrashed()
    {
        var path = PathOf("full.safetensors");
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["w"] = Tensor.Randn([16, 16], seed: 4) });
        var bytes = File.ReadAllBytes(path);
        foreach (int cut in new[] { 0, 4, 8, 20, bytes.Length / 2, bytes.Length - 1 })
        {
            var cutPath = PathOf($"cut{cut}.safetensors");
            File.WriteAllBytes(cutPath, bytes[..cut]);
            var e = Assert.Throws<SafeTensorsException>(() => { using var f = SafeTensors.Load(cutPath); f.Read("w"); });
            Assert.Contains(cutPath, e.Message);
        }
    }

    private string WriteRaw(string name, string header, int dataBytes, ulong? declaredLength = null)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredLength ?? (ulong)h.Length);
        h.CopyTo(bytes, 8);
        var path = PathOf(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Theory]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", "JSON")]
    [InlineData("{\"w\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,16]}}", "not supported")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", "expected 12")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,64]}}", "bytes")]
    [InlineData("{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", "invalid dimension")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", "overlap")]
    [InlineData("[1,2,3]", "not a JSON object")]
    public void MalformedHeadersGiveClearErrors(string header, string expected)
    {
        var path = WriteRaw($"bad{Math.Abs(header.GetHashCode())}.safetensors", header, 16);
        var e = Assert.Throws<SafeTensorsException>(() => SafeTensors.Load(path).Dispose());
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void HeaderLongerThanTheFileIsRejected()
    {
        var path = WriteRaw("long.safetensors", "{}", 0, declaredLength: 1_000_000);
        var e = Assert.Throws<SafeTensorsException>(() => SafeTensors.Load(path).Dispose());
        Assert.Contains("truncated", e.Message);
        var huge = WriteRaw("huge.safetensors", "{}", 0, declaredLength: ulong.MaxValue);
        Assert.Throws<SafeTensorsException>(() => SafeTensors.Load(huge).Dispose());
    }
}

public class ModuleTests
{
    private sealed class Two : Module
    {
        public Two(ulong seed)
        {
            First = RegisterModule("first", new Linear(4, 3, seed: seed));
            Second = RegisterModule("blocks.0", new Linear(3, 2, bias: false, seed: seed + 1));
        }

        public Linear First { get; }
        public Linear Second { get; }
    }

    [Fact]
    public void NamesFollowRegistration()
    {
        var m = new Two(1);
        Assert.Equal(["first.weight", "first.bias", "blocks.0.weight"], m.Parameters().Select(p => p.Name).ToArray());
        Assert.Equal(4 * 3 + 3 + 3 * 2, m.ParameterCount);
    }

    [Fact]
    public void SaveLoadRoundTripAndStrictErrors()
    {
        var dir = Directory.CreateTempSubdirectory("canter-mod-").FullName;
        try
        {
            var a = new Two(1);
            var path = Path.Combine(dir, "m.safetensors");
            a.Save(path);
            var b = new Two(99);
            Assert.NotEqual(a.First.Weight.ToArray(), b.First.Weight.ToArray());
            b.Load(path);
            Assert.Equal(a.First.Weight.ToArray(), b.First.Weight.ToArray());

            var wrong = new Dictionary<string, Tensor>(a.StateDict()) { ["first.weight"] = Tensor.Zeros([3, 5]), ["extra"] = Tensor.Zeros([1]) };
            wrong.Remove("first.bias");
            var before = b.Second.Weight.ToArray();
            var e = Assert.Throws<ArgumentException>(() => b.LoadStateDict(wrong));
            Assert.Contains("missing 'first.bias'", e.Message);
            Assert.Contains("unexpected 'extra'", e.Message);
            Assert.Contains("(3, 5)", e.Message);
            Assert.Equal(before, b.Second.Weight.ToArray()); // nothing changed
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void InitialisationIsSeeded()
    {
        Assert.Equal(new Linear(8, 8, seed: 5).Weight.ToArray(), new Linear(8, 8, seed: 5).Weight.ToArray());
        Assert.NotEqual(new Linear(8, 8, seed: 5).Weight.ToArray(), new Linear(8, 8, seed: 6).Weight.ToArray());
    }
}

public class RngTests
{
    [Fact]
    public void SameSeedSameValuesWhateverTheThreadCount()
    {
        int saved = Engine.Threads;
        try
        {
            Engine.Threads = 1;
            var one = Tensor.Randn([300_001], seed: 42).ToArray();
            Engine.Threads = 2;
            var two = Tensor.Randn([300_001], seed: 42).ToArray();
            Assert.Equal(one, two);
            Assert.NotEqual(one, Tensor.Randn([300_001], seed: 43).ToArray());
        }
        finally
        {
            Engine.Threads = saved;
        }
    }

    [Fact]
    public void NormalAndUniformHaveTheirMoments()
    {
        var n = Tensor.Randn([1_000_000], seed: 7, std: 2f).ToArray();
        double mean = n.Average(v => (double)v), std = Math.Sqrt(n.Average(v => (double)v * v) - mean * mean);
        Assert.InRange(mean, -0.01, 0.01);
        Assert.InRange(std, 1.99, 2.01);
        var u = Tensor.Rand([1_000_000], seed: 8, low: -1f, high: 3f).ToArray();
        Assert.InRange(u.Min(), -1f, -0.99f);
        Assert.True(u.Max() < 3f);
        Assert.InRange(u.Average(v => (double)v), 0.99, 1.01);
    }

    [Fact]
    public void StreamReplaysFromASavedPosition()
    {
        var s = new RandomStream(5);
        s.Normal([10]);
        ulong mark = s.Position;
        var a = s.Normal([7]).ToArray();
        float f = s.NextFloat();
        var t = new RandomStream(5) { Position = mark };
        Assert.Equal(a, t.Normal([7]).ToArray());
        Assert.Equal(f, t.NextFloat());
    }
}
