using System.CommandLine;

namespace ArchNet.Cli;

/// <summary>The verbs of archnetc. A new verb adds one line here and one file under Commands/.</summary>
internal static class CommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return Commands.InspectCommand.Create();
        yield return Commands.ConvertCommand.Create();
        yield return Commands.BackendsCommand.Create();
        yield return Commands.TargetsCommand.Create();
        yield return Commands.CompileCommand.Create();
        yield return Commands.AuditCommand.Create();
        yield return Commands.OpsCommand.Create();
    }
}
