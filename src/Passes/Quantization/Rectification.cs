using ArchNet.IR;

namespace ArchNet.Passes.Quantization;

/// <summary>
/// Whether a value's negative part matters: a value whose every use reaches a ReLU (or a Clip whose minimum is at least
/// 0) through ops that commute with it (data movement, channel slices and concatenation, max-pooling) loses its
/// negatives downstream anyway. An unsigned format that saturates them at 0 computes what the chip computes after that
/// ReLU: no information is lost, so it is neither a warning nor a bad layer, and fidelity compares such a value with
/// the float value after the ReLU.
/// </summary>
public static class Rectification
{
    /// <summary>Ops for which Relu(op(x)) = op(Relu(x)) on their data input(s).</summary>
    private static readonly HashSet<string> Commuting =
        ["Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Slice", "Gather", "Split",
         "MaxPool", "GlobalMaxPool", "Concat", "DepthToSpace", "SpaceToDepth"];

    /// <summary>True when every path from <paramref name="value"/> reaches a ReLU (or Clip at min >= 0) before any op that
    /// reads its sign, and it is not a graph output.</summary>
    public static bool RectifiedDownstream(Graph graph, Value value) => Rectified(graph, value, 0);

    private static bool Rectified(Graph graph, Value value, int depth)
    {
        if (depth > 32 || value.Uses.Count == 0 || graph.Outputs.Contains(value)) return false;
        foreach (var (node, index) in value.Uses)
        {
            if (!node.IsDefaultDomain) return false;
            var ok = node.OpType switch
            {
                "Relu" => true,
                "Clip" => node.Input(1) is { IsConstant: true } min && min.Constant!.ToFloats() is [>= 0f],
                "Concat" => node.Outputs.All(o => Rectified(graph, o, depth + 1)),
                _ when Commuting.Contains(node.OpType) => index == 0 && node.Outputs.All(o => Rectified(graph, o, depth + 1)),
                _ => false,
            };
            if (!ok) return false;
        }
        return true;
    }
}
