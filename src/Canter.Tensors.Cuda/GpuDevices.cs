namespace Canter.Tensors.Cuda;

/// <summary>
/// Makes the GPU backend reachable by device name: "cuda" (the first NVIDIA GPU) and
/// "ilgpu-cpu" (the same kernels on ILGPU's CPU accelerator, for tests without a GPU).
/// Each backend is created on first use and shared by the process.
/// </summary>
public static class GpuDevices
{
    private static readonly Lazy<Device> Cuda = new(() => new Device("cuda", GpuBackend.CreateCuda()));
    private static readonly Lazy<Device> CpuEmulation = new(() => new Device("ilgpu-cpu", GpuBackend.CreateCpuEmulation()));

    public static void Register()
    {
        Device.Register("cuda", () => Cuda.Value);
        Device.Register("ilgpu-cpu", () => CpuEmulation.Value);
    }
}
