using System.CommandLine;
using Canter.Cli.Commands;
using Canter.Tensors.Cuda;

GpuDevices.Register();

var root = new RootCommand("Canter: audio-video generation. Engine, benchmarks and (later) generation, training and serving.");
root.Subcommands.Add(InfoCommand.Create());
root.Subcommands.Add(BenchCommands.Create());
root.Subcommands.Add(WorldCommands.Create());
return root.Parse(args).Invoke();
