using System.CommandLine;
using ArchNet.Cli;
using ArchNet.IR;

// Each verb lives in Commands/<Verb>Command.cs and registers itself here; the pipeline code they call is library
// code shared with the tests.
var root = new RootCommand("archnetc: compiles ONNX models for neural-network accelerators from their capability files.");
foreach (var command in CommandCatalog.All()) root.Subcommands.Add(command);
ArchNet.Cli.Commands.CompileCommand.Configure(root); // archnetc MODEL --target T -o DIR: the main job is the root command

try
{
    return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (ArchNetException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return e.ExitCode;
}
catch (Exception e) when (e is IOException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return ExitCodes.BadInput;
}
