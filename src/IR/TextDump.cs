using System.Text;

namespace ArchNet.IR;

/// <summary>A readable, deterministic listing of a graph, one node a line:
/// <c>%y: float32[1,8,28,28] = Conv(%x, %w, %b) {kernel_shape=[3,3]}</c>.</summary>
public static class TextDump
{
    public static string Dump(Model model)
    {
        var sb = new StringBuilder();
        sb.Append("model ir=").Append(model.IrVersion).Append(" opsets={")
            .Append(string.Join(", ", model.OpsetImports.Select(kv => $"{(kv.Key == "" ? "ai.onnx" : kv.Key)}:{kv.Value}")))
            .Append('}');
        if (model.ProducerName.Length > 0) sb.Append(" producer=").Append(model.ProducerName).Append(' ').Append(model.ProducerVersion);
        sb.AppendLine();
        DumpGraph(model.Graph, sb, "");
        return sb.ToString();
    }

    public static string Dump(Graph graph)
    {
        var sb = new StringBuilder();
        DumpGraph(graph, sb, "");
        return sb.ToString();
    }

    private static void DumpGraph(Graph graph, StringBuilder sb, string indent)
    {
        sb.Append(indent).Append("graph ").Append(graph.Name).Append(" (")
            .Append(string.Join(", ", graph.Inputs.Select(Typed))).AppendLine(") {");
        foreach (var c in graph.Constants)
            sb.Append(indent).Append("  const ").Append(Typed(c)).Append(Quant(c)).AppendLine();
        foreach (var node in graph.Nodes)
        {
            sb.Append(indent).Append("  ");
            sb.Append(string.Join(", ", node.Outputs.Select(o => Typed(o) + Quant(o))));
            sb.Append(" = ");
            if (!node.IsDefaultDomain) sb.Append(node.Domain).Append("::");
            sb.Append(node.OpType).Append('(')
                .Append(string.Join(", ", node.Inputs.Select(v => v is null || v.IsAbsent ? "_" : v.ToString())))
                .Append(')');
            var plain = node.Attributes.Values.Where(a => !a.Subgraphs.Any()).ToList();
            if (plain.Count > 0)
                sb.Append(" {").Append(string.Join(", ", plain.Select(a => $"{a.Name}={a.ValueText()}"))).Append('}');
            if (node.Name.Length > 0) sb.Append("  # ").Append(node.Name);
            sb.AppendLine();
            foreach (var a in node.Attributes.Values)
                foreach (var sub in a.Subgraphs)
                {
                    sb.Append(indent).Append("    ").Append(a.Name).AppendLine(":");
                    DumpGraph(sub, sb, indent + "    ");
                }
        }
        sb.Append(indent).Append("  return ").AppendLine(string.Join(", ", graph.Outputs.Select(Typed)));
        sb.Append(indent).AppendLine("}");
    }

    private static string Typed(Value v) => $"{v}: {v.Type?.ToString() ?? "?"}";

    private static string Quant(Value v) => v.Quant is { } q ? $" <{q}>" : "";
}
