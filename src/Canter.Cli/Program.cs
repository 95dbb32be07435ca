using System.CommandLine;
using Canter.Cli.Commands;
using Canter.Tensors.Cuda;

// OpenBLAS's kernels are chosen through environment variables: before any other thread starts
Canter.Tensors.Backends.Cpu.OpenBlas.Initialize();
GpuDevices.Register();

var root = new RootCommand("Canter: audio-video generation. Engine, benchmarks, the world, training, generation and serving.");
root.Subcommands.Add(InfoCommand.Create());
root.Subcommands.Add(BenchCommands.Create());
root.Subcommands.Add(WorldCommands.Create());
root.Subcommands.Add(TrainCommands.Create());
root.Subcommands.Add(VaeCommands.Create());
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(ModelCommands.Create());
root.Subcommands.Add(ServeCommand.Create());
root.Subcommands.Add(KeysCommands.Create());
root.Subcommands.Add(WorkerCommand.Create());
root.Subcommands.Add(ArenaCommands.Create());
root.Subcommands.Add(VerifyCommand.Create());
root.Subcommands.Add(FuzzCommand.Create());
// Ctrl+C or SIGTERM asks a running command to stop at a safe point (training checkpoints first); a command with no safe
// point to stop at (an evaluation, a benchmark) ends at a second one, which takes the default and ends the process
using var stop = new CancellationTokenSource();
int signals = 0;
void OnSignal(System.Runtime.InteropServices.PosixSignalContext c)
{
    if (Interlocked.Increment(ref signals) > 1) return;
    c.Cancel = true;
    stop.Cancel();
    Console.Error.WriteLine($"canter: {c.Signal}: stopping at the next safe point; a second one ends it now");
}
using var onInt = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, OnSignal);
using var onTerm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, OnSignal);
try
{
    return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false, ProcessTerminationTimeout = null }, stop.Token);
}
catch (Exception e) when (e is ArgumentException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException
    or Canter.Media.MediaException or Canter.Tensors.IO.SafeTensorsException or NotSupportedException)
{
    // bad input: one clear line, no stack trace
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
catch (Canter.Server.Storage.ResultStoreException e)
{
    // the result bucket cannot be reached or written (checked at start): one line, no stack trace
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
catch (System.Data.Common.DbException e)
{
    // the task store could not be reached or refused us (a wrong host, password or database): one line, no stack trace
    Console.Error.WriteLine($"error: the task store: {e.Message}");
    return 2;
}
