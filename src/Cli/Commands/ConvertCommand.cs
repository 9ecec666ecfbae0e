using System.CommandLine;
using ArchNet.Frontend;
using ArchNet.IR;

namespace ArchNet.Cli.Commands;

/// <summary>
/// <c>archnetc convert MODEL -o OUT.onnx</c>: import, verify, export. Later issues put passes between import and
/// export. OUT is written through a temporary file and a rename, so a failed run never leaves a partial file.
/// </summary>
internal static class ConvertCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("MODEL") { Description = "The ONNX model to convert." };
        var output = new Option<string>("--output", "-o") { Description = "Where to write the converted model.", Required = true };
        var command = new Command("convert", "Import an ONNX model, verify it, and write it back as ONNX.");
        command.Arguments.Add(model);
        command.Options.Add(output);
        command.SetAction(parse =>
        {
            var source = parse.GetValue(model)!;
            var target = parse.GetValue(output)!;
            if (Path.GetFullPath(source) == Path.GetFullPath(target))
                throw new ArchNetException($"{target}: the output would overwrite the input model; choose another path");
            var imported = OnnxImporter.Load(source);
            Verifier.Verify(imported, "import");
            OnnxExporter.Save(imported, target);
            var nodes = imported.Graph.SelfAndSubgraphs().Sum(g => g.Nodes.Count);
            Console.Out.WriteLine($"wrote {target} ({nodes} nodes, {new FileInfo(target).Length:N0} bytes)");
            return ExitCodes.Ok;
        });
        return command;
    }
}
