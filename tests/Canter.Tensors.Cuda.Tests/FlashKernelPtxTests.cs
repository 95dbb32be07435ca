using System.Text.RegularExpressions;
using ILGPU;
using ILGPU.Backends.EntryPoints;
using ILGPU.Backends.PTX;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;
using Xunit.Abstractions;

namespace Canter.Tensors.Cuda.Tests;

/// <summary>
/// What can be checked of the flash kernels for CUDA without a GPU: ILGPU compiles each one to PTX for an H100
/// (sm_90), its static shared memory fits the 48 KiB a block may have without opting in, and every barrier survives
/// into the PTX. (Register use and speed need ptxas and a GPU: `canter bench attention --device cuda`.)
/// </summary>
public partial class FlashKernelPtxTests(ITestOutputHelper output)
{
    private const int StaticSharedLimit = 48 * 1024;

    [GeneratedRegex(@"\.shared\s+(?:\.align\s+\d+\s+)?\.b8\s+[\w$]+\[(\d+)\]")]
    private static partial Regex SharedDeclaration();

    [GeneratedRegex(@"\bbar(?:rier)?\.sync\b")]
    private static partial Regex BarrierInstruction();

    [Theory]
    [InlineData(nameof(FlashAttentionKernels.Forward), FlashAttentionKernels.ForwardBarriers)]
    [InlineData(nameof(FlashAttentionKernels.BackwardKeys), FlashAttentionKernels.BackwardKeysBarriers)]
    [InlineData(nameof(FlashAttentionKernels.BackwardQueries), FlashAttentionKernels.BackwardQueriesBarriers)]
    public void CompilesForAnH100WithinStaticSharedMemory(string kernel, int barriers)
    {
        using var context = Context.Create(b => b.Math(MathMode.Default).EnableAlgorithms());
        using var backend = new PTXBackend(context, new CudaCapabilityContext(CudaArchitecture.SM_90), CudaArchitecture.SM_90, CudaInstructionSet.ISA_80, null);
        var method = typeof(FlashAttentionKernels).GetMethod(kernel) ?? throw new InvalidOperationException($"no kernel {kernel}");
        var compiled = (PTXCompiledKernel)backend.Compile(EntryPointDescription.FromExplicitlyGroupedKernel(method), KernelSpecialization.Empty);
        string ptx = compiled.PTXAssembly;

        var shared = SharedDeclaration().Matches(ptx).Select(m => int.Parse(m.Groups[1].Value)).ToList();
        Assert.True(shared.Count >= 8, $"{kernel}: expected its shared tiles in the PTX, found {shared.Count} declarations");
        int bytes = shared.Sum();
        Assert.True(bytes <= StaticSharedLimit, $"{kernel}: {bytes} bytes of static shared memory, over {StaticSharedLimit}");
        Assert.True(bytes >= 30_000, $"{kernel}: only {bytes} bytes of shared memory; the tiles are missing");
        int found = BarrierInstruction().Matches(ptx).Count;
        output.WriteLine($"{kernel}: {bytes} bytes of static shared memory in {shared.Count} tiles, {found} barrier instructions, {ptx.Length} characters of PTX");
        Assert.True(found >= barriers, $"{kernel}: {found} barrier instructions in the PTX, the kernel has {barriers}");
    }
}
