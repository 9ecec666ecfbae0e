using ArchNet.IR;

namespace ArchNet.Passes.Distillation;

/// <summary>Why a graph whose input is bound to one item cannot run several items stacked along dimension 0.</summary>
public sealed record BatchBound(string Node, string OpType, string Reason)
{
    public override string ToString() => $"{Node} ({OpType}): {Reason}";
}

/// <summary>
/// Chips run one item at a time, so the compile binds a symbolic batch to 1 before canonicalization; shape chains
/// (Shape -> Gather -> Concat -> Reshape) then fold into constants that may carry that 1 (a Reshape to [1,49,64], a
/// class token concatenated as a [1,1,64] constant). Stacking N items along dimension 0 is only the same as running
/// them one by one when every node treats dimension 0 as an independent batch dimension. This proves it node by node
/// from the static shapes (conservatively: an op it does not know binds the batch); the emulator and the distiller
/// run such a graph item by item instead.
/// </summary>
public static class BatchBinding
{
    private static readonly HashSet<string> Unary =
    [
        "Relu", "Clip", "Sigmoid", "Tanh", "Erf", "Gelu", "Exp", "Log", "Sqrt", "Neg", "Abs", "Cast", "Identity", "Dropout",
        "LeakyRelu", "HardSigmoid", "HardSwish", "Softplus", "Softsign", "Elu", "Selu", "Celu", "Mish", "Reciprocal", "Floor",
        "Ceil", "Round", "Sign", "Not", "Sin", "Cos", "IsNaN", "IsInf", "QuantizeLinear", "DequantizeLinear",
    ];

    private static readonly HashSet<string> Broadcasting =
    [
        "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Where", "Equal", "Less", "LessOrEqual", "Greater",
        "GreaterOrEqual", "And", "Or", "Xor", "PRelu", "Mod", "BitShift",
    ];

    /// <summary>Ops whose first input carries the batch at dimension 0 and whose other inputs are parameters.</summary>
    private static readonly HashSet<string> PerItem =
    [
        "Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool", "BatchNormalization",
        "InstanceNormalization", "LRN", "DepthToSpace", "SpaceToDepth",
    ];

    /// <summary>
    /// Null when <paramref name="graph"/> (single input bound to batch 1) runs N stacked items exactly like N runs of
    /// one item; otherwise the first node that ties the batch to 1, and why. A graph whose input batch is not a static 1
    /// (symbolic: the model's own contract; or a fixed batch the model was exported with) is not this analysis's case
    /// and gives null.
    /// </summary>
    public static BatchBound? FirstBound(Graph graph) => Bound(graph).FirstOrDefault();

    /// <summary>Every node that ties the batch to 1 (each checked as if what it reads carried the batch), in graph order.</summary>
    public static IEnumerable<BatchBound> Bound(Graph graph) =>
        BoundNodes(graph, []).Select(p => new BatchBound(p.Node.DisplayName, p.Node.OpType, p.Reason));

    /// <param name="batched">Filled with the values that carry the batch, up to the node yielded.</param>
    private static IEnumerable<(Node Node, string Reason)> BoundNodes(Graph graph, HashSet<Value> batched)
    {
        var inputs = graph.Inputs.Where(v => !v.IsConstant).ToList();
        if (inputs.Count == 0 || inputs.Any(v => v.Shape is not { Rank: > 0 } s || s[0].Value != 1)) yield break;
        batched.UnionWith(inputs);
        foreach (var node in graph.Nodes)
        {
            if (!node.Inputs.Any(v => v is not null && batched.Contains(v))) continue;
            var reason = Check(node, batched);
            foreach (var o in node.Outputs) batched.Add(o);
            if (reason is not null) yield return (node, reason);
        }
    }

    /// <summary>
    /// A form of <paramref name="graph"/> that runs N stacked items like N runs of one, for training only, or null when
    /// some node binding the batch has no such form. Two fixes, both exact on one item: a Reshape whose shape constant
    /// starts with the item's 1 (its input's dimension 0 carrying the batch, the same per-item element count after)
    /// copies dimension 0 instead (0 in ONNX); a Concat of a constant fixed at batch 1 (a class token) to the items
    /// reads the constant expanded to the items' count. The graph itself is changed only in those nodes' inputs and
    /// only until the form is disposed; the expansion runs in nodes outside the graph.
    /// </summary>
    /// <param name="unfixed">When null is returned for a bound graph: the first node without a batched form.</param>
    public static BatchedForm? Unbind(Graph graph, out BatchBound? unfixed)
    {
        unfixed = null;
        var batched = new HashSet<Value>();
        var bound = BoundNodes(graph, batched).ToList();
        if (bound.Count == 0) return null;
        var form = new BatchedForm(graph);
        foreach (var (node, reason) in bound)
            if (!form.Fix(node, batched))
            {
                form.Dispose();
                unfixed = new BatchBound(node.DisplayName, node.OpType, reason);
                return null;
            }
        return form;
    }

    private static string? Check(Node node, HashSet<Value> batched)
    {
        if (!node.IsDefaultDomain) return $"op of domain '{node.Domain}' is not known to keep items apart";
        var op = node.OpType;
        var x = node.Input(0);
        var rank = node.Outputs[0].Shape?.Rank;
        if (rank is null or 0 || node.Outputs.Any(o => o.Shape is not { Rank: > 0 } s || s[0].Value != 1))
            return "an output has no dimension 0 of size 1 to carry the batch";
        bool Batched(Value? v) => v is not null && batched.Contains(v);
        if (Unary.Contains(op)) return node.Inputs.Skip(1).Any(Batched) ? "a parameter input depends on the items" : null;
        if (Broadcasting.Contains(op))
        {
            foreach (var v in node.Inputs.Where(v => v is not null))
            {
                var r = v!.Shape?.Rank;
                if (r is null) return "an input of unknown rank";
                if (Batched(v) && r != rank) return "a batched input of lower rank broadcasts the batch into another dimension";
                if (!Batched(v) && r == rank && v.Shape![0].Value != 1) return "a constant operand spans dimension 0";
            }
            return null;
        }
        if (PerItem.Contains(op))
            return !Batched(x) || node.Inputs.Skip(1).Any(Batched) ? "the batch is not (only) in the data input" : null;
        switch (op)
        {
            case "Gemm":
                return Batched(x) && node.GetInt("transA", 0) == 0 && !node.Inputs.Skip(1).Any(Batched) ? null : "the batch is not the rows of A";
            case "MatMul":
            {
                var (a, b) = (node.Input(0)!, node.Input(1)!);
                if (a.Shape?.Rank is not { } ra || b.Shape?.Rank is not { } rb) return "an input of unknown rank";
                if (Batched(b) && (rb < 3 || rb != rank)) return "the batch of B is not a leading batch dimension";
                if (Batched(a) && ra != rank) return "the batch of A is not a leading batch dimension";
                foreach (var (v, r) in new[] { (a, ra), (b, rb) })
                    if (!Batched(v) && r == rank && r >= 3 && v.Shape![0].Value != 1) return "a constant operand spans dimension 0";
                return null;
            }
            case "Softmax" or "LogSoftmax" or "Hardmax" or "Flatten":
                return Axis(node, x, op == "Flatten" ? 1 : -1) >= 1 ? null : "it works across dimension 0";
            case "LayerNormalization":
                return Axis(node, x, -1) >= 1 && !node.Inputs.Skip(1).Any(Batched) ? null : "it normalizes across dimension 0";
            case "Transpose":
                return node.GetInts("perm") is { } perm && perm.Length > 0 && perm[0] == 0 ? null : "it moves dimension 0";
            case "Reshape":
            {
                if (node.Input(1)?.Constant is not { } c) return "its shape is computed at run time";
                var s = c.ToInt64s();
                var zeroCopies = node.GetInt("allowzero", 0) == 0;
                if (s.Length > 0 && ((s[0] == 0 && zeroCopies) || (s[0] == -1 && s.Skip(1).All(d => d > 0)))) return null;
                return $"its shape constant [{string.Join(",", s)}] fixes dimension 0 at {(s.Length > 0 ? s[0] : 0)}";
            }
            case "Squeeze" or "Unsqueeze":
            {
                var axes = Axes(node, 1);
                var r = op == "Squeeze" ? x!.Shape?.Rank : rank;
                if (axes is null) return op == "Squeeze" ? "it squeezes every size-1 dimension, the batch's too" : "no axes";
                return r is { } rr && axes.All(a => (a < 0 ? a + rr : a) != 0) ? null : "it inserts or removes dimension 0";
            }
            case "Slice":
            {
                if (node.Input(1)?.Constant is not { } starts || node.Input(2)?.Constant is not { } ends) return "run-time slice bounds";
                var axes = node.Input(3)?.Constant?.ToInt64s() ?? [.. Enumerable.Range(0, (int)starts.ElementCount).Select(i => (long)i)];
                var st = starts.ToInt64s();
                var en = ends.ToInt64s();
                for (var i = 0; i < axes.Length; i++)
                    if ((axes[i] < 0 ? axes[i] + rank : axes[i]) == 0 && !(st[i] == 0 && en[i] >= int.MaxValue))
                        return "it slices dimension 0";
                return null;
            }
            case "Gather":
            {
                var axis = Axis(node, x, 0);
                if (Batched(x) && !Batched(node.Input(1))) return axis >= 1 ? null : "it gathers along dimension 0";
                if (!Batched(x) && Batched(node.Input(1)) && node.Input(1)!.Shape is { Rank: > 0 }) return axis == 0 ? null : "the indices' batch lands inside";
                return "both the data and the indices carry the batch";
            }
            case "Concat" or "Split":
            {
                var axis = Axis(node, x, 0);
                if (axis < 1) return "it works along dimension 0";
                return op == "Concat" && node.Inputs.Any(v => v is not null && !Batched(v))
                    ? "it joins an operand fixed at batch 1 (a folded constant) to the items" : null;
            }
            case "ReduceMean" or "ReduceSum" or "ReduceMax" or "ReduceMin" or "ReduceProd" or "ReduceL1" or "ReduceL2"
                or "ReduceSumSquare" or "ReduceLogSumExp" or "ArgMax" or "ArgMin":
            {
                var r = x!.Shape?.Rank ?? 0;
                var axes = op.StartsWith("Arg", StringComparison.Ordinal) ? [node.GetInt("axis", 0)] : Axes(node, 1);
                return axes is { Length: > 0 } && axes.All(a => (a < 0 ? a + r : a) != 0) ? null : "it reduces dimension 0";
            }
            case "Pad":
            {
                var pads = node.Input(1)?.Constant?.ToInt64s() ?? node.GetInts("pads")?.ToArray();
                var r = x!.Shape?.Rank ?? 0;
                if (node.Input(3) is not null || node.Inputs.Skip(1).Any(Batched)) return "run-time pads or axes";
                return pads is { } p && p.Length == 2 * r && p[0] == 0 && p[r] == 0 ? null : "it pads dimension 0";
            }
            case "Expand":
            {
                if (node.Input(1)?.Constant is not { } c || !Batched(x)) return "run-time shape";
                var s = c.ToInt64s();
                return s.Length < rank || s[0] == 1 ? null : "it expands dimension 0";
            }
            case "Tile":
                return node.Input(1)?.Constant is { } rep && rep.ToInt64s() is [1, ..] && Batched(x) ? null : "it repeats dimension 0";
            default:
                return "it is not known to keep items apart";
        }
    }

    private static long Axis(Node node, Value? x, long fallback)
    {
        var axis = node.GetInt("axis", fallback);
        var r = x?.Shape?.Rank ?? 0;
        return axis < 0 ? axis + r : axis;
    }

    private static long[]? Axes(Node node, int inputIndex) =>
        node.GetInts("axes")?.ToArray() ?? node.Input(inputIndex)?.Constant?.ToInt64s();
}

/// <summary>A graph made to run stacked items for training (see <see cref="BatchBinding.Unbind"/>); disposing restores it.</summary>
public sealed class BatchedForm(Graph graph) : IDisposable
{
    private readonly List<(Node Node, int Index, Value? Original)> _rewired = [];

    /// <summary>Nodes outside the graph that the form runs just before a node of the graph.</summary>
    internal Dictionary<Node, List<Node>> Added { get; } = [];

    /// <summary>The nodes to run, in order: the graph's, with the form's expansions before their readers.</summary>
    public IEnumerable<Node> Nodes => graph.Nodes.SelectMany(n => Added.TryGetValue(n, out var before) ? [.. before, n] : new[] { n });

    internal bool Fix(Node node, HashSet<Value> batched)
    {
        if (node.OpType == "Reshape" && node.GetInt("allowzero", 0) == 0 && node.Input(1)?.Constant is { } c && c.ToInt64s() is [1, .. var rest]
            && node.Input(0)?.Shape is { IsStatic: true } x && x.Rank > 0 && x[0].Value == 1 && batched.Contains(node.Input(0)!)
            && node.Outputs[0].Shape is { IsStatic: true } y && y[0].Value == 1 && x.ElementCount == y.ElementCount)
        {
            long[] copy = [0, .. rest];
            Rewire(node, 1, new Value(node.Input(1)!.Name + "_batched", null, TensorData.FromInt64s([copy.Length], copy)));
            return true;
        }
        if (node.OpType == "Concat" && node.Outputs[0].Shape is { Rank: > 0 } out_ && Axis(node, out_.Rank) >= 1
            && node.Inputs.FirstOrDefault(v => v is not null && batched.Contains(v)) is { } items)
        {
            for (var i = 0; i < node.Inputs.Count; i++)
            {
                var v = node.Inputs[i];
                if (v is null || batched.Contains(v)) continue;
                if (v.Shape is not { IsStatic: true } s || s.Rank != out_.Rank || s[0].Value != 1) return false;
                // [N] from the items' shape, then the constant's own dimensions: Expand to [N, d1, d2, ...].
                var shape = new Value(v.Name + "_items_shape");
                var count = new Value(v.Name + "_items");
                var full = new Value(v.Name + "_expanded_shape");
                var expanded = new Value(v.Name + "_expanded");
                long[] dims = [.. s.Dims.Skip(1).Select(d => d.Value!.Value)];
                Added.TryAdd(node, []);
                Added[node].AddRange(
                [
                    new Node("Shape", [items], [shape], null, shape.Name),
                    new Node("Slice", [shape, Ints([0]), Ints([1]), Ints([0])], [count], null, count.Name),
                    new Node("Concat", [count, Ints(dims)], [full], [ArchNet.IR.Attribute.Int("axis", 0)], full.Name),
                    new Node("Expand", [v, full], [expanded], null, expanded.Name),
                ]);
                Rewire(node, i, expanded);
            }
            return true;
        }
        return false;
    }

    private static long Axis(Node node, int rank) => node.GetInt("axis", 0) is var a && a < 0 ? a + rank : a;

    private Value Ints(long[] values) => new($"batched_form_ints_{_constants++}", null, TensorData.FromInt64s([values.Length], values));

    private int _constants;

    private void Rewire(Node node, int index, Value value)
    {
        _rewired.Add((node, index, node.Input(index)));
        node.SetInput(index, value);
    }

    public void Dispose()
    {
        for (var i = _rewired.Count - 1; i >= 0; i--) _rewired[i].Node.SetInput(_rewired[i].Index, _rewired[i].Original);
        _rewired.Clear();
        // The expansion nodes read graph values (the items, the constant): drop those uses.
        foreach (var n in Added.Values.SelectMany(l => l))
            for (var i = 0; i < n.Inputs.Count; i++) n.SetInput(i, null);
        Added.Clear();
    }
}
