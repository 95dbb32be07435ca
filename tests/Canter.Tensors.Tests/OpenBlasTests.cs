using Canter.Tensors.Backends.Cpu;

namespace Canter.Tensors.Tests;

public class OpenBlasTests
{
    [Fact]
    public void AnUnsetCoreTypeIsChosenFromTheCpusInstructionSetsAndAUsersValueIsKept()
    {
        Assert.Equal("SkylakeX", OpenBlas.CoreTypeFor(null, avx512: true, avx2Fma: true));
        Assert.Equal("Haswell", OpenBlas.CoreTypeFor("", avx512: false, avx2Fma: true));
        Assert.Null(OpenBlas.CoreTypeFor(null, avx512: false, avx2Fma: false));
        Assert.Null(OpenBlas.CoreTypeFor("Prescott", avx512: true, avx2Fma: true));
    }

    [Fact]
    public void OpenBlasRunsTheKernelsChosenForIt()
    {
        OpenBlas.EnsureLoaded();
        // After the choice the variable holds either Canter's pick or the user's own value; OpenBLAS must run it
        // (a CPU without AVX2 and no value set leaves the choice to OpenBLAS, with nothing to compare).
        var asked = OpenBlas.CoreTypeChosen ?? Environment.GetEnvironmentVariable("OPENBLAS_CORETYPE");
        if (string.IsNullOrEmpty(asked))
        {
            Assert.False(System.Runtime.Intrinsics.X86.Avx2.IsSupported && System.Runtime.Intrinsics.X86.Fma.IsSupported,
                "a CPU with AVX2 and FMA gets a kernel set when the variable is unset");
            return;
        }
        Assert.Equal(asked, OpenBlas.CoreName, ignoreCase: true);
        Assert.Contains(OpenBlas.CoreName, OpenBlas.CoreDescription);
    }
}
