using ArchNet.IR;

namespace ArchNet.Passes.Quantization;

/// <summary>
/// The activations of a graph that become integers, and the groups of them that share one set of quantization
/// parameters: a value read only by a data-moving op (Reshape, Slice, MaxPool...), a ReLU or a Concat takes its
/// consumer's parameters, so no requantization happens between them. One definition for the post-training
/// quantizer and for quantization-aware training, so that training sees exactly the integer graph the backends run.
/// </summary>
public sealed class ActivationGroups
{
    private static readonly HashSet<string> Tied =
        ["Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Slice", "Gather", "Pad",
         "MaxPool", "Relu", "Clip", "Concat", "Split", "DepthToSpace", "SpaceToDepth"];

    private readonly Dictionary<Value, Value> _parent;

    private ActivationGroups(List<Value> values, Dictionary<Value, Value> parent)
    {
        Values = values;
        _parent = parent;
    }

    /// <summary>Float values that become integers, in graph order: graph inputs, node outputs, and constants read as activations.</summary>
    public IReadOnlyList<Value> Values { get; }

    public bool Contains(Value v) => _parent.ContainsKey(v);

    /// <summary>The group's representative (its last value in graph order), whose statistics set the group's parameters.</summary>
    public Value Representative(Value v)
    {
        while (_parent[v] != v) v = _parent[v] = _parent[_parent[v]];
        return v;
    }

    /// <summary>Every representative, in the order their groups' first values appear.</summary>
    public IEnumerable<Value> Representatives => Values.Select(Representative).Distinct();

    public static ActivationGroups Of(Graph graph)
    {
        var values = ActivationValues(graph);
        var order = new Dictionary<Value, int>();
        foreach (var v in graph.Inputs) order[v] = -1;
        for (var i = 0; i < graph.Nodes.Count; i++) foreach (var o in graph.Nodes[i].Outputs) order[o] = i;
        var groups = new ActivationGroups(values, values.ToDictionary(v => v, v => v));
        foreach (var node in graph.Nodes)
        {
            if (!node.IsDefaultDomain || !Tied.Contains(node.OpType)) continue;
            foreach (var output in node.Outputs.Where(groups.Contains))
                foreach (var input in (node.OpType == "Concat" ? node.Inputs : node.Inputs.Take(1)).OfType<Value>())
                    if (groups.Contains(input) && !input.IsConstant && !graph.Inputs.Contains(input)
                        && !graph.Outputs.Contains(input) && input.Uses.Count == 1)
                    {
                        var (ra, rb) = (groups.Representative(input), groups.Representative(output));
                        if (ra == rb) continue;
                        if (order.GetValueOrDefault(ra, -2) > order.GetValueOrDefault(rb, -2)) groups._parent[rb] = ra;
                        else groups._parent[ra] = rb;
                    }
        }
        return groups;
    }

    /// <summary>
    /// The first and last weight layers (each with the weight layers chained to it directly) and the representatives
    /// of their input and output groups: what <see cref="LayerPrecision.EightBit"/> keeps at 8 bits. Both sets are
    /// empty under any other policy.
    /// </summary>
    public (IReadOnlySet<Node> Nodes, IReadOnlySet<Value> Representatives) EdgeLayers(Graph graph, LayerPrecision policy)
    {
        var weightNodes = graph.Nodes.Where(Quantizer.IsWeightNode).ToList();
        var nodes = new HashSet<Node>();
        var reps = new HashSet<Value>();
        if (policy != LayerPrecision.EightBit || weightNodes.Count == 0) return (nodes, reps);
        // A layer that a rewrite factored into a chain of weight layers with nothing between them (a 7x7 conv as
        // stacked 3x3 convs whose first ones copy shifted inputs) is still one layer: the whole chain is the edge.
        // Keeping only its first link at 8 bits would quantize the copies of the input, and the original taps, to the
        // narrow widths. Each link's output must feed only the next link (its data input), else it is a layer's end.
        for (var n = weightNodes[0]; ; )
        {
            nodes.Add(n);
            if (n.Outputs[0].Uses is not [{ Node: var next, Index: 0 }] || !Quantizer.IsWeightNode(next) || graph.Outputs.Contains(n.Outputs[0])) break;
            n = next;
        }
        for (var n = weightNodes[^1]; ; )
        {
            nodes.Add(n);
            if (n.Input(0)?.Producer is not { } previous || !Quantizer.IsWeightNode(previous) || previous.Outputs[0].Uses.Count != 1
                || graph.Outputs.Contains(previous.Outputs[0])) break;
            n = previous;
        }
        foreach (var n in nodes)
        {
            if (n.Input(0) is { } x && Contains(x)) reps.Add(Representative(x));
            if (Contains(n.Outputs[0])) reps.Add(Representative(n.Outputs[0]));
        }
        return (nodes, reps);
    }

    /// <summary>
    /// Attention: every Softmax and every MatMul between two activations (scores Q K^T and context P V), and the
    /// representatives of their inputs and outputs: what <see cref="LayerPrecision.EightBit"/> keeps at 8 bits. The
    /// weight layers that produce Q, K and V and read the context keep their widths; only the activations they write
    /// or read here are wider. Both sets are empty under any other policy.
    /// </summary>
    public (IReadOnlySet<Node> Nodes, IReadOnlySet<Value> Representatives) Attention(Graph graph, LayerPrecision policy)
    {
        var nodes = new HashSet<Node>();
        var reps = new HashSet<Value>();
        if (policy != LayerPrecision.EightBit) return (nodes, reps);
        foreach (var n in graph.Nodes)
        {
            var isAttention = n.IsDefaultDomain && (n.OpType == "Softmax"
                || (n.OpType == "MatMul" && n.Inputs.Count == 2 && n.Inputs.All(i => i is { IsConstant: false })));
            if (!isAttention) continue;
            nodes.Add(n);
            foreach (var v in n.Inputs.Append(n.Outputs[0]))
                if (v is { IsConstant: false } && Contains(v)) reps.Add(Representative(v));
        }
        return (nodes, reps);
    }

    private static List<Value> ActivationValues(Graph graph)
    {
        var result = new List<Value>();
        var seen = new HashSet<Value>();
        void Add(Value v)
        {
            if (v.IsAbsent || v.ElementType != ElementType.Float || !seen.Add(v)) return;
            result.Add(v);
        }
        foreach (var v in graph.Inputs.Where(v => !v.IsConstant)) Add(v);
        foreach (var node in graph.Nodes)
        {
            // Constant-only subgraphs (shape arithmetic) stay float unless an activation op reads them.
            foreach (var o in node.Outputs) Add(o);
            if (node.OpType is "Add" or "Sub" or "Mul" or "Concat")
                foreach (var i in node.Inputs.OfType<Value>().Where(i => i.IsConstant)) Add(i);
        }
        return result;
    }
}
