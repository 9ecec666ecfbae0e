using ArchNet.Capabilities;
using ArchNet.IR;
using ArchNet.Passes.Legalization;

namespace ArchNet.Compiler;

/// <summary>The legalization driver's view of a chip: the capability checker's violations, and MACs per cycle as cost.</summary>
public sealed class CapabilityOracle(Capability capability) : ISupportOracle
{
    public IReadOnlyList<string> Violations(Node node) =>
        node.OpType == "Constant" && node.IsDefaultDomain ? [] : [.. capability.Check(node).Violations.Select(v => v.ToString())];

    public double Cost(Node node)
    {
        var macs = OpRegistry.Macs(node) ?? 0;
        var perCycle = capability.Find(node.Domain, node.OpType)?.MacsPerCycle ?? capability.Cost?.MacsPerCycle ?? 1;
        return 1 + macs / Math.Max(perCycle, 1e-9); // every node costs at least its dispatch
    }

    /// <summary>
    /// Before quantization a Conv/Gemm bias is float, and a chip that only takes int32 biases would reject every such
    /// node although quantization will make the bias int32. Legalization judges the quantized graph: this marks
    /// constant biases as int32 until the quantizer sets their real parameters. Returns the values marked.
    /// </summary>
    public static List<Value> MarkBiasesInt32(Model model)
    {
        var marked = new List<Value>();
        foreach (var node in model.Graph.Nodes.Where(n => n.OpType is "Conv" or "Gemm" && n.IsDefaultDomain))
            if (node.Input(2) is { IsConstant: true, Quant: null } b && b.ElementType == ElementType.Float)
            {
                b.Quant = QuantParams.PerTensor(32, true, 1f);
                marked.Add(b);
            }
        return marked;
    }
}
