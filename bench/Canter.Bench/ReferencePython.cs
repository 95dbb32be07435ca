namespace Canter.Bench;

/// <summary>
/// The Python that runs the PyTorch references: CANTER_PYTHON when set, else Debian's /usr/bin/python3
/// (where python3-torch installs), else python3 on the PATH.
/// </summary>
public static class ReferencePython
{
    public static string Executable =>
        Environment.GetEnvironmentVariable("CANTER_PYTHON") is { Length: > 0 } p ? p
        : File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}
