using System.CommandLine;
using ArchNet.Cli;
using ArchNet.IR;

// Each verb lives in Commands/<Verb>Command.cs and registers itself here; the pipeline code they call is library
// code shared with the tests.
var root = new RootCommand("archnetc: compiles ONNX models for neural-network accelerators from their capability files.");
foreach (var command in CommandCatalog.All()) root.Subcommands.Add(command);
ArchNet.Cli.Commands.CompileCommand.Configure(root); // archnetc MODEL --target T -o DIR: the main job is the root command
// A verb's command line has no root MODEL, but help would show it in the verb's usage and arguments
// ("archnetc <MODEL> inspect <MODEL>", "The ONNX model to compile.") unless it is hidden for verbs.
if (args.Length > 0 && root.Subcommands.Any(c => c.Name == args[0] || c.Aliases.Contains(args[0])))
    foreach (var argument in root.Arguments) argument.Hidden = true;

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
