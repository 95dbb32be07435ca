using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Canter.Tensors.IO;

namespace Canter.Tensors.Tests.Support;

/// <summary>
/// A long-lived PyTorch process (tests/torch/reference.py, run by /usr/bin/python3) that
/// computes reference outputs and gradients. Inputs and answers travel as safetensors files.
/// One process serves the whole test run.
/// </summary>
public sealed class TorchReference : IDisposable
{
    private static readonly Lazy<TorchReference> Shared = new(() => new TorchReference(), LazyThreadSafetyMode.ExecutionAndPublication);
    private readonly Process _process;
    private readonly string _dir;
    private readonly Lock _gate = new();
    private int _counter;

    public static TorchReference Instance => Shared.Value;

    /// <summary>CANTER_PYTHON when set, else Debian's /usr/bin/python3 (where python3-torch installs), else python3.</summary>
    public static string PythonExecutable =>
        Environment.GetEnvironmentVariable("CANTER_PYTHON") is { Length: > 0 } p ? p
        : File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

    public string TorchVersion { get; }

    private TorchReference()
    {
        var python = PythonExecutable;
        var script = Path.Combine(RepoRoot.Path, "tests", "torch", "reference.py");
        _dir = Directory.CreateTempSubdirectory("canter-torch-").FullName;
        var psi = new ProcessStartInfo(python, [script])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.Environment["CANTER_TORCH_THREADS"] = "1";
        _process = Process.Start(psi) ?? throw new InvalidOperationException("could not start python3");
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginErrorReadLine();
        var ready = _process.StandardOutput.ReadLine();
        if (ready is null || !ready.Contains("\"ready\""))
            throw new InvalidOperationException(
                "The PyTorch reference did not start. Parity tests need Debian's python3-torch: " +
                "run 'apt-get install python3-torch' (the README's test command does this).");
        TorchVersion = JsonNode.Parse(ready)!["torch"]!.GetValue<string>();
    }

    /// <summary>Runs <paramref name="op"/> in PyTorch. Inputs named in <paramref name="grad"/> get gradients "grad.NAME".</summary>
    public Dictionary<string, float[]> Run(string op, IReadOnlyDictionary<string, Tensor> inputs, object? parameters = null,
        IEnumerable<string>? grad = null, bool float64 = false)
    {
        lock (_gate)
        {
            int id = ++_counter;
            var input = Path.Combine(_dir, $"in{id}.safetensors");
            var output = Path.Combine(_dir, $"out{id}.safetensors");
            SafeTensors.Save(input, inputs);
            var request = new JsonObject
            {
                ["op"] = op,
                ["inputs"] = input,
                ["output"] = output,
                ["params"] = parameters is null ? new JsonObject() : JsonSerializer.SerializeToNode(parameters),
                ["grad"] = new JsonArray((grad ?? []).Select(g => (JsonNode?)JsonValue.Create(g)).ToArray()),
                ["float64"] = float64,
            };
            _process.StandardInput.WriteLine(request.ToJsonString());
            _process.StandardInput.Flush();
            var answer = _process.StandardOutput.ReadLine() ?? throw new InvalidOperationException("PyTorch reference exited");
            var node = JsonNode.Parse(answer)!;
            if (node["ok"]?.GetValue<bool>() != true)
                throw new InvalidOperationException($"PyTorch reference failed on '{op}': {node["error"]}\n{node["trace"]}");
            var result = new Dictionary<string, float[]>();
            using (var file = SafeTensors.Load(output))
                foreach (var name in file.Names)
                    using (var t = file.Read(name))
                        result[name] = t.ToArray();
            File.Delete(input);
            File.Delete(output);
            return result;
        }
    }

    public void Dispose()
    {
        try
        {
            _process.StandardInput.Close();
            _process.WaitForExit(5000);
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}

/// <summary>The repository root, found by walking up to Canter.sln.</summary>
public static class RepoRoot
{
    public static string Path { get; } = Find();

    private static string Find()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "Canter.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Canter.sln not found above the test binaries");
    }
}
