using System.CommandLine;
using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Passes;
using ArchNet.Compiler;
using ArchNet.Passes.Legalization;

namespace ArchNet.Cli.Commands;

/// <summary>
/// <c>archnetc convert MODEL [--target T] -o OUT.onnx</c>: import and verify; with a target, canonicalize and legalize
/// (exact rewrites only) and print what changed and what is left for retraining. OUT is written through a temporary
/// file and a rename, so a failed run never leaves a partial file.
/// </summary>
internal static class ConvertCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("MODEL") { Description = "The ONNX model to convert." };
        var output = new Option<string>("--output", "-o") { Description = "Where to write the converted model.", Required = true };
        var target = new Option<string?>("--target", "-t") { Description = "Legalize for this target (name, a,b intersection, or a .json capability file)." };
        var shapes = new Option<string[]>("--input-shape") { Description = "Static shape for an input, NAME=1,3,224,224 (with --target, a symbolic non-batch dim that neither this nor --dim sets is refused).", AllowMultipleArgumentsPerToken = true };
        var dims = ShapeOptions.DimOption("for the exact rewrites, which need static shapes");
        var dumpAfter = new Option<string[]>("--dump-after") { Description = "Print the IR after the named pass ('all' for every pass).", AllowMultipleArgumentsPerToken = true };
        var command = new Command("convert", "Import an ONNX model and write it back; with --target, rewrite it exactly into the target's operators.");
        command.Arguments.Add(model);
        command.Options.Add(output);
        command.Options.Add(target);
        command.Options.Add(shapes);
        command.Options.Add(dims);
        command.Options.Add(dumpAfter);
        command.SetAction(parse =>
        {
            var source = parse.GetValue(model)!;
            var destination = parse.GetValue(output)!;
            if (Path.GetFullPath(source) == Path.GetFullPath(destination))
                throw new ArchNetException($"{destination}: the output would overwrite the input model; choose another path");
            var imported = OnnxImporter.Load(source); // verified by the importer
            if (parse.GetValue(target) is { } spec)
                Legalize(imported, spec, parse.GetValue(shapes) ?? [], parse.GetValue(dims) ?? [], parse.GetValue(dumpAfter) ?? []);
            OnnxExporter.Save(imported, destination);
            var nodes = imported.Graph.SelfAndSubgraphs().Sum(g => g.Nodes.Count);
            Console.Out.WriteLine($"wrote {destination} ({nodes} nodes, {new FileInfo(destination).Length:N0} bytes)");
            return ExitCodes.Ok;
        });
        return command;
    }

    private static void Legalize(Model model, string spec, string[] shapes, string[] dims, string[] dumpAfter)
    {
        var capability = TargetsCommand.Catalog().Resolve(spec);
        ConversionResult result;
        try
        {
            result = Conversion.Legalize(model, capability, ShapeOptions.ParseDims(dims), ParseShapes(shapes), dumpAfter,
                (pass, text) => Console.Out.Write($"--- IR after {pass} ---\n{text}"), new ConsoleDiagnostics());
        }
        catch (UnsetDimensionsException e)
        {
            throw new ArchNetException($"convert --target needs static shapes, and {string.Join(", ", e.Unset.Select(b => b.Symbol ?? $"'{b.Input}' axis {b.Axis}"))} " +
                $"{(e.Unset.Count == 1 ? "is" : "are")} not given: set {string.Join(" ", e.Unset.Select(b => b.Symbol is { } s ? $"--dim {s}=SIZE" : $"--input-shape {b.Input}=..."))}");
        }
        var (results, report) = (result.Passes, result.Legalization);

        Console.Out.WriteLine($"target {capability.Name}: unsupported nodes {report.UnsupportedBefore} -> {report.UnsupportedAfter} (element types are left to quantization)");
        foreach (var r in results)
            Console.Out.WriteLine($"  pass {r.Pass,-18} {r.Changes,5} changes  {r.Elapsed.TotalMilliseconds,8:F1} ms");
        foreach (var group in result.Rewrites.GroupBy(r => (r.Pass, r.Rule)).OrderBy(g => g.Key.Pass).ThenByDescending(g => g.Count()).ThenBy(g => g.Key.Rule))
            Console.Out.WriteLine($"  {group.Key.Pass}: {group.Key.Rule} x{group.Count()}");
        if (report.Retrain.Count == 0)
        {
            Console.Out.WriteLine("nothing left for retraining: every node runs on the target");
            return;
        }
        Console.Out.WriteLine($"left for retraining ({report.Retrain.Count} nodes, marked '{Legalizer.RetrainKey}'):");
        foreach (var r in report.Retrain)
            Console.Out.WriteLine($"  {r.Node} ({r.OpType}): {string.Join("; ", r.Violations)}");
    }

    private static Dictionary<string, long[]> ParseShapes(string[] specs)
    {
        var result = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var spec in specs)
        {
            var eq = spec.LastIndexOf('=');
            if (eq <= 0) throw new ArchNetException($"--input-shape '{spec}': expected NAME=D1,D2,...");
            try
            {
                result[spec[..eq]] = [.. spec[(eq + 1)..].Split(',').Select(d => long.Parse(d.Trim(), System.Globalization.CultureInfo.InvariantCulture))];
            }
            catch (FormatException)
            {
                throw new ArchNetException($"--input-shape '{spec}': dimensions must be integers, e.g. x=1,3,224,224");
            }
        }
        return result;
    }
}
