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
    // For the tests only: the internal-error path (exit 70) has no input that reaches it, so a test asks for it here.
    if (Environment.GetEnvironmentVariable("ARCHNETC_TEST_INJECT_INTERNAL_ERROR") == "1")
        throw new InvalidOperationException("injected by ARCHNETC_TEST_INJECT_INTERNAL_ERROR=1");
    return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception thrown)
{
    // Work spread over cores (Parallel.For) rethrows its failure wrapped: the first one is the one to report.
    var e = thrown is AggregateException a ? a.Flatten().InnerExceptions[0] : thrown;
    switch (e)
    {
        case ArchNetException known:
            Console.Error.WriteLine($"error: {ArchNet.Cli.Commands.ShapeOptions.Message(known)}");
            return known.ExitCode;
        case IOException or UnauthorizedAccessException:
            Console.Error.WriteLine($"error: {e.Message}");
            return ExitCodes.BadInput;
        default:
            // Every input problem is an ArchNetException with its own message; anything else is a bug in archnetc. One
            // line still, with what failed, and the stack trace only on request.
            var trace = Environment.GetEnvironmentVariable("ARCHNETC_STACK_TRACE") == "1";
            Console.Error.WriteLine($"error: internal error in archnetc ({e.GetType().Name}: {e.Message.Split('\n')[0].Trim()}); " +
                (trace ? "stack trace follows" : "please report it with the command line; ARCHNETC_STACK_TRACE=1 prints the stack trace"));
            if (trace) Console.Error.WriteLine(thrown);
            return ExitCodes.Internal;
    }
}
