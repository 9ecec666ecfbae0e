using System.CommandLine;
using ArchNet.Capabilities;
using ArchNet.Compiler;
using ArchNet.IR;

namespace ArchNet.Cli.Commands;

/// <summary>
/// <c>archnetc audit MODEL --target T[,T...]|all [--json FILE] [--markdown FILE]</c>: what share of the model's nodes
/// and MACs each chip runs, and why the rest does not, with the compiler's remedy. The audit itself is library code
/// (<see cref="Auditing"/>, <see cref="AuditReport"/>); this only prints it. Exit 0 whenever the audit ran, whatever it found;
/// <see cref="ExitCodes.BadInput"/> for an unreadable model or capability file.
/// </summary>
internal static class AuditCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("MODEL") { Description = "The ONNX model to audit." };
        var target = new Option<string>("--target")
        {
            Description = "Target name(s), comma-separated, a path to a .json capability file, or 'all'. Several targets add an intersection line.",
            Required = true,
        };
        var json = new Option<string?>("--json") { Description = "Also write the report as JSON (schema: targets/audit.schema.json)." };
        var markdown = new Option<string?>("--markdown") { Description = "Also write the report as Markdown." };
        var dims = ShapeOptions.DimOption("so MACs and shape limits can be judged");
        var command = new Command("audit", "Check a model against one or more chips: what runs, what does not and why, and the remedy.");
        command.Arguments.Add(model);
        command.Options.Add(target);
        command.Options.Add(json);
        command.Options.Add(markdown);
        command.Options.Add(dims);
        command.SetAction(parse =>
        {
            var targets = TargetsCommand.Catalog().LoadMany(parse.GetValue(target)!);
            var sizes = ShapeOptions.ParseDims(parse.GetValue(dims) ?? []);
            var report = Auditing.Run(parse.GetValue(model)!, targets, sizes, new ConsoleDiagnostics());
            Console.Out.Write(report.ToText());
            if (parse.GetValue(json) is { } jsonPath) TargetsCommand.WriteAtomically(jsonPath, report.ToJson());
            if (parse.GetValue(markdown) is { } mdPath) TargetsCommand.WriteAtomically(mdPath, report.ToMarkdown());
            return ExitCodes.Ok;
        });
        return command;
    }
}
