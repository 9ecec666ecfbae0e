namespace ArchNet.IR;

/// <summary>
/// Checks the IR's invariants: every value defined once, every read defined before it (topological order,
/// outer scopes visible to subgraphs), graph outputs defined, constants consistent with their types,
/// and producer links correct. Run after import and after every pass.
/// </summary>
public static class Verifier
{
    /// <summary>Throws an <see cref="ArchNetException"/> naming the first problem found; <paramref name="stage"/> says after what.</summary>
    public static void Verify(Model model, string stage = "import")
    {
        var problems = Check(model.Graph);
        if (problems.Count > 0)
        {
            var where = model.SourcePath is null ? "" : $"{model.SourcePath}: ";
            var more = problems.Count > 1 ? $" (and {problems.Count - 1} more)" : "";
            throw new ArchNetException($"{where}invalid graph after {stage}: {problems[0]}{more}");
        }
    }

    /// <summary>All problems, as one line each.</summary>
    public static List<string> Check(Graph graph)
    {
        var problems = new List<string>();
        CheckGraph(graph, [], problems);
        return problems;
    }

    private static void CheckGraph(Graph graph, HashSet<Value> outer, List<string> problems)
    {
        var visible = new HashSet<Value>(outer);
        var definedHere = new Dictionary<string, string>(StringComparer.Ordinal);

        void Define(Value v, string by)
        {
            if (v.IsAbsent) return;
            if (!definedHere.TryAdd(v.Name, by))
                problems.Add($"value '{v.Name}' is defined twice in graph '{graph.Name}' (by {definedHere[v.Name]} and by {by})");
            visible.Add(v);
        }

        foreach (var v in graph.Inputs) Define(v, "a graph input");
        foreach (var c in graph.Constants)
        {
            if (graph.Inputs.Contains(c)) { visible.Add(c); }
            else Define(c, "a constant");
            if (c.Constant is null) problems.Add($"constant '{c.Name}' has no data");
            else if (c.TensorType is { } t && !ConstantMatches(c.Constant, t))
                problems.Add($"constant '{c.Name}' holds {c.Constant} but is typed {t}");
        }

        foreach (var node in graph.Nodes)
        {
            if (node.Graph != graph) problems.Add($"node '{node.DisplayName}' ({node.OpType}) is not linked to graph '{graph.Name}'");
            if (node.IsDefaultDomain && OpRegistry.Find(node) is { RequiredInputs: > 0 and var required }
                && Enumerable.Range(0, required).FirstOrDefault(i => i >= node.Inputs.Count || node.Inputs[i] is null or { IsAbsent: true }, -1) is >= 0 and var missing)
                problems.Add($"node '{node.DisplayName}' ({node.OpType}) needs {required} input(s), and input {missing} is " +
                    (missing >= node.Inputs.Count ? $"missing (it has {node.Inputs.Count})" : "left blank"));
            for (var i = 0; i < node.Inputs.Count; i++)
            {
                var v = node.Inputs[i];
                if (v is null || v.IsAbsent) continue;
                if (!visible.Contains(v))
                    problems.Add($"node '{node.DisplayName}' ({node.OpType}) reads '{v.Name}', which is not defined before it");
                if (!v.Uses.Contains((node, i)))
                    problems.Add($"node '{node.DisplayName}' ({node.OpType}) input {i} '{v.Name}' is missing from the value's uses");
            }
            if ((AxisProblem(node) ?? ReductionProblem(node)) is { } shapeProblem) problems.Add(shapeProblem);
            foreach (var sub in node.Subgraphs) CheckGraph(sub, visible, problems);
            foreach (var o in node.Outputs)
            {
                if (o.Producer != node) problems.Add($"output '{o.Name}' of node '{node.DisplayName}' names another producer");
                Define(o, $"node '{node.DisplayName}' ({node.OpType})");
            }
        }

        foreach (var o in graph.Outputs)
            if (!visible.Contains(o))
                problems.Add($"graph '{graph.Name}' output '{o.Name}' is never defined");
    }

    /// <summary>Operators whose <c>axis</c> attribute names an axis of their first input: within [-r, r-1] for rank r
    /// (Flatten's within [-r, r]). Passes index shapes with it; the rank is known once shapes are inferred.</summary>
    private static readonly HashSet<string> AxisOfFirstInput =
    [
        "Concat", "Softmax", "LogSoftmax", "Hardmax", "Gather", "GatherElements", "Split", "ArgMax", "ArgMin", "TopK",
        "LayerNormalization", "ScatterElements", "Compress", "Flatten",
    ];

    /// <summary>
    /// The operands of a Conv, MatMul or Gemm disagree on the dimension they reduce over, where both sizes are known:
    /// Conv's input channels against group x the weight's (and its groups against its filters), and the K of a matrix
    /// product. Such a node cannot run, and a
    /// pass rebuilding it would index past its weights.
    /// </summary>
    private static string? ReductionProblem(Node node)
    {
        if (!node.IsDefaultDomain) return null;
        long? Size(int input, Index axis) =>
            node.Input(input)?.Shape is { Rank: > 0 } s && axis.GetOffset(s.Rank) is var a && a >= 0 && a < s.Rank ? s[a].Value : null;
        switch (node.OpType)
        {
            case "Conv" when node.Attr("group") is null or { Kind: AttributeKind.Int }:
            {
                var group = node.GetInt("group", 1);
                if (group < 1) return $"node '{node.DisplayName}' (Conv): group {group} is not a positive count";
                if (Size(1, 0) is { } filters && filters % group != 0)
                    return $"node '{node.DisplayName}' (Conv): its {filters} filters do not divide into {group} groups";
                return Size(0, 1) is { } c && Size(1, 1) is { } perGroup && c != group * perGroup
                    ? $"node '{node.DisplayName}' (Conv): its input has {c} channels, its weight takes {perGroup} per group x {group} group(s)"
                    : null;
            }
            case "MatMul" when node.Input(0)?.Shape is { } a && node.Input(1)?.Shape is { } b:
            {
                var k = a.Rank > 0 ? a[^1].Value : null;
                var kb = b.Rank switch { 0 => null, 1 => b[0].Value, _ => b[^2].Value };
                return k is { } x && kb is { } y && x != y ? $"node '{node.DisplayName}' (MatMul): A has {x} columns, B has {y} rows" : null;
            }
            case "Gemm" when node.Input(0)?.Shape is { Rank: 2 } a && node.Input(1)?.Shape is { Rank: 2 } b
                && node.Attr("transA") is null or { Kind: AttributeKind.Int } && node.Attr("transB") is null or { Kind: AttributeKind.Int }:
            {
                var ka = a[node.GetInt("transA", 0) != 0 ? 0 : 1].Value;
                var kb = b[node.GetInt("transB", 0) != 0 ? 1 : 0].Value;
                return ka is { } x && kb is { } y && x != y ? $"node '{node.DisplayName}' (Gemm): A has {x} columns, B has {y} rows (after transA/transB)" : null;
            }
            default:
                return null;
        }
    }

    private static string? AxisProblem(Node node)
    {
        if (!node.IsDefaultDomain || !AxisOfFirstInput.Contains(node.OpType) || node.Attr("axis") is not { Kind: AttributeKind.Int } a
            || node.Input(0)?.Shape is not { } shape)
            return null;
        var (axis, rank) = (a.AsInt(), shape.Rank);
        var top = node.OpType == "Flatten" ? rank : rank - 1;
        return axis >= -rank && axis <= top ? null
            : $"node '{node.DisplayName}' ({node.OpType}): axis {axis} is outside [{-rank}, {top}] for its rank-{rank} input";
    }

    private static bool ConstantMatches(TensorData data, TensorType type)
    {
        if (type.ElementType != ElementType.Undefined && type.ElementType != data.ElementType) return false;
        if (type.Shape is null) return true;
        if (type.Shape.Rank != data.Dims.Length) return false;
        return type.Shape.Dims.Zip(data.Dims).All(p => !p.First.IsKnown || p.First.Value == p.Second);
    }
}
