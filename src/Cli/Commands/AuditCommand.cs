using System.CommandLine;
using ArchNet.Capabilities;
using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Passes.Canonicalization;

namespace ArchNet.Cli.Commands;

/// <summary>
/// <c>archnetc audit MODEL --target T[,T...]|all [--json FILE] [--markdown FILE]</c>: what share of the model's nodes
/// and MACs each chip runs, and why the rest does not, with the compiler's remedy. The audit itself is library code
/// (<see cref="AuditReport"/>); this only prints it. Exit 0 whenever the audit ran, whatever it found;
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
            var sizes = InputShapes.ParseDims(parse.GetValue(dims) ?? []);
            var path = parse.GetValue(model)!;
            var loaded = OnnxImporter.Load(path);
            InputShapes.Bind(loaded, sizes); // also runs shape inference: MACs and limits need shapes
            var remedies = Remedies().Add(new ArchNet.Compiler.StudentRemedies(loaded));
            var folding = Folding(loaded, path, sizes);
            if (folding is not null) remedies.Add(folding);
            var report = AuditReport.Run(loaded, targets, remedies, judgedAs: folding is null ? null : folding.JudgedAs);
            Console.Out.Write(report.ToText());
            if (parse.GetValue(json) is { } jsonPath) TargetsCommand.WriteAtomically(jsonPath, report.ToJson());
            if (parse.GetValue(markdown) is { } mdPath) TargetsCommand.WriteAtomically(mdPath, report.ToMarkdown());
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>What canonicalization removes from the model as audited (<see cref="FoldRemedies"/>), found on a second copy.
    /// A model canonicalization refuses is still audited, node by node as written; then nothing is marked "fold", and a
    /// note on stderr says why.</summary>
    private static FoldRemedies? Folding(Model model, string path, IReadOnlyDictionary<string, long> sizes)
    {
        try
        {
            var copy = OnnxImporter.Load(path);
            InputShapes.Bind(copy, sizes);
            return FoldRemedies.Of(model, copy);
        }
        catch (ArchNetException e)
        {
            Console.Error.WriteLine($"note: canonicalization cannot run on this model ({e.Message.Split('\n')[0]}), so no node is marked 'fold'");
            return null;
        }
    }

    /// <summary>The remedies the compiler has: each pass that owns some registers them (exact rewrites, then retraining).</summary>
    public static RemedyRegistry Remedies() => new RemedyRegistry()
        .Add(new ArchNet.Passes.Legalization.RewriteRemedies())
        .Add(new ArchNet.Passes.Distillation.ReplacementCatalog.Remedies());
}
