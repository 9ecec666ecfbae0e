using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Compiler;

namespace ArchNet.Cli.Commands;

/// <summary>
/// <c>archnetc inspect MODEL [--json] [--dim NAME=SIZE]</c>: inputs and outputs with shapes, op histogram with estimated MACs per
/// op type, parameter count and bytes, opsets, producer, and the ops of domains outside the ONNX standard.
/// </summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var model = new Argument<string>("MODEL") { Description = "The ONNX model to describe." };
        var json = new Option<bool>("--json") { Description = "Print the description as JSON." };
        var dims = ShapeOptions.DimOption("so MACs count the sizes the model will run at (the others are taken as 1)");
        var command = new Command("inspect", "Describe an ONNX model: interface, operators, parameters, estimated MACs.");
        command.Arguments.Add(model);
        command.Options.Add(json);
        command.Options.Add(dims);
        command.SetAction(parse =>
        {
            var path = parse.GetValue(model)!;
            var sizes = ShapeOptions.ParseDims(parse.GetValue(dims) ?? []);
            var stats = Inspection.Measure(path, sizes);
            Console.Out.Write(parse.GetValue(json) ? Json(path, stats) : Text(path, stats));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        // Names like "pytorch 2.9.0+cu126" stay readable; the output is not embedded in HTML.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    internal static string Json(string path, ModelStatistics s) => JsonSerializer.Serialize(new
    {
        model = path,
        irVersion = s.IrVersion,
        opsets = s.Opsets.Select(o => new { domain = o.Key.Length == 0 ? "ai.onnx" : o.Key, version = o.Value }),
        producer = s.Producer,
        inputs = s.Inputs,
        outputs = s.Outputs,
        nodes = s.NodeCount,
        parameters = s.ParameterCount,
        parameterBytes = s.ParameterBytes,
        macs = s.TotalMacs,
        nodesWithUnknownMacs = s.NodesWithUnknownMacs,
        symbolsTakenAsOne = s.SymbolsTakenAsOne,
        ops = s.Ops.Select(o => new { op = o.Name, count = o.Count, macs = o.Macs, unknownMacs = o.NodesWithUnknownMacs }),
        unknownDomainOps = s.UnknownDomainOps,
        opsWithoutSchema = s.OpsWithoutSchema,
    }, JsonOptions) + Environment.NewLine;

    internal static string Text(string path, ModelStatistics s)
    {
        var w = new StringWriter(CultureInfo.InvariantCulture);
        w.WriteLine($"model     {path}");
        w.WriteLine($"producer  {(s.Producer.Length > 0 ? s.Producer : "-")}");
        w.WriteLine($"ir        {s.IrVersion}");
        w.WriteLine($"opsets    {string.Join(", ", s.Opsets.Select(o => $"{(o.Key.Length == 0 ? "ai.onnx" : o.Key)} {o.Value}"))}");
        foreach (var i in s.Inputs) w.WriteLine($"input     {i.Name}: {i.Type}");
        foreach (var o in s.Outputs) w.WriteLine($"output    {o.Name}: {o.Type}");
        w.WriteLine($"params    {s.ParameterCount:N0} ({Bytes(s.ParameterBytes)})");
        var macNote = s.SymbolsTakenAsOne.Count > 0 ? $", with {string.Join(", ", s.SymbolsTakenAsOne)} = 1" : "";
        var unknownNote = s.NodesWithUnknownMacs > 0 ? $", {s.NodesWithUnknownMacs} nodes unknown" : "";
        w.WriteLine($"MACs      {s.TotalMacs:N0}{macNote}{unknownNote}");
        w.WriteLine($"nodes     {s.NodeCount}");
        var width = Math.Max(7, s.Ops.Select(o => o.Name.Length).DefaultIfEmpty(0).Max());
        w.WriteLine($"  {"op".PadRight(width)}  {"count",6}  {"MACs",16}  {"share",6}");
        foreach (var o in s.Ops)
        {
            var share = s.TotalMacs > 0 ? (double)o.Macs / s.TotalMacs : 0;
            var macs = o.NodesWithUnknownMacs == o.Count && o.Macs == 0 ? "?" : o.Macs.ToString("N0", CultureInfo.InvariantCulture);
            w.WriteLine($"  {o.Name.PadRight(width)}  {o.Count,6}  {macs,16}  {share,6:P1}");
        }
        if (s.UnknownDomainOps.Count > 0) w.WriteLine($"ops of non-standard domains: {string.Join(", ", s.UnknownDomainOps)}");
        if (s.OpsWithoutSchema.Count > 0) w.WriteLine($"ops without a schema in archnetc: {string.Join(", ", s.OpsWithoutSchema)}");
        return w.ToString();
    }

    private static string Bytes(long n) => n switch
    {
        >= 1 << 20 => $"{n / 1048576.0:F1} MiB",
        >= 1 << 10 => $"{n / 1024.0:F1} KiB",
        _ => $"{n} B",
    };
}
