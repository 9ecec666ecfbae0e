using ArchNet.IR;

namespace ArchNet.Passes;

/// <summary>
/// Where the items sit in a value when a graph written for one item runs N of them: inside dimension
/// <see cref="Dim"/>, whose size at N items is outer x N x <see cref="Inner"/> (its size at one item is outer x Inner).
/// A batch-first tensor [1,17,64] has (0, 1); sequence-first attention's [17, 1*4, 16] (heads after the item) has
/// (1, 4); the rows of [17*1, 64] have (0, 1) with outer 17.
/// </summary>
public readonly record struct ItemAxis(int Dim, long Inner)
{
    /// <summary>The items lead the value: stacking N of them along dimension 0 is the same as concatenating N results.</summary>
    public bool Leads(Shape shape) => Dim == 0 && shape.Rank > 0 && shape[0].Value == Inner;

    public override string ToString() => Inner == 1 ? $"dim {Dim}" : $"dim {Dim} (inner {Inner})";
}

/// <summary>Why a graph bound to one item cannot run several items at once (the first node that ties them).</summary>
public sealed record BatchBound(string Node, string OpType, string Reason)
{
    public override string ToString() => $"{Node} ({OpType}): {Reason}";
}

/// <summary>
/// Which values of a graph written for one item (every non-constant input has a static leading 1) carry the items when
/// that 1 is widened to N, and where (<see cref="ItemAxis"/>), found by following the item dimension from the inputs
/// node by node: a Transpose moves it, a Reshape folds it into a dimension as a factor (or splits it out again), an op
/// that mixes items (a reduction or softmax over it, a MatMul contracting it, Shape reading it, an op not known here)
/// ties the graph to one item. Running N stacked items is then exactly N runs of one. Shape constants folded at batch
/// 1 (a Reshape to [17,4,16]) need the item count where the item dimension lands: <see cref="ReshapeTargets"/> gives
/// targets that take it; a constant concatenated to the items (a class token) needs expanding: <see cref="Expansions"/>.
/// One item's shape often allows several placements after a Reshape ([17,4,16] -> [17,64]: rows or columns); the
/// analysis tries them in order and keeps the first under which every node keeps items apart.
/// Used by calibration (many items per ONNX Runtime run), the emulator and distillation's training form.
/// </summary>
public sealed class ItemAxes
{
    private static readonly HashSet<string> Elementwise =
    [
        "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mean", "Sum", "Where", "Equal", "Less", "LessOrEqual", "Greater",
        "GreaterOrEqual", "And", "Or", "Xor", "Not", "Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Sigmoid",
        "HardSigmoid", "HardSwish", "Tanh", "Erf", "Exp", "Log", "Sqrt", "Reciprocal", "Neg", "Abs", "Cast", "CastLike",
        "Clip", "Gelu", "Softplus", "Softsign", "Identity", "Dropout", "Floor", "Ceil", "Round", "Sign", "Mod", "IsNaN",
        "IsInf", "Sin", "Cos", "Mish", "BitShift", "QuantizeLinear", "DequantizeLinear",
    ];

    /// <summary>Ops that work on each slice of input 0's dimension 0 alone (their other inputs are parameters).</summary>
    private static readonly HashSet<string> PerRow =
    [
        "Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool",
        "BatchNormalization", "InstanceNormalization", "GroupNormalization", "LRN", "DepthToSpace", "SpaceToDepth",
    ];

    private static readonly HashSet<string> Reductions =
    [
        "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
        "ReduceLogSumExp", "ReduceSumSquare",
    ];

    /// <summary>Bounds the search over Reshape placements (tries per node of the graph).</summary>
    private const int TriesPerNode = 64;

    /// <summary>Searches again after each node found binding, up to this many named.</summary>
    private const int MaxBoundNamed = 8;

    private ItemAxes(Dictionary<Value, ItemAxis> positions, List<BatchBound> bound, Dictionary<Node, long[]> reshapes,
        List<(Node Node, int Input)> expansions)
    {
        Positions = positions;
        Bound = bound;
        ReshapeTargets = reshapes;
        Expansions = expansions;
    }

    /// <summary>The values that carry the items, and where.</summary>
    public IReadOnlyDictionary<Value, ItemAxis> Positions { get; }

    /// <summary>Nodes that tie the graph to one item, in graph order (empty when N items run stacked).</summary>
    public IReadOnlyList<BatchBound> Bound { get; }

    /// <summary>Reshapes whose constant target must change to take N items, with the target that does.</summary>
    public IReadOnlyDictionary<Node, long[]> ReshapeTargets { get; }

    /// <summary>Concat inputs fixed at one item (a folded class token) that must be expanded to the items' count.</summary>
    public IReadOnlyList<(Node Node, int Input)> Expansions { get; }

    /// <summary>
    /// The item axes of <paramref name="graph"/>, or null when its inputs do not start with a static 1 (a symbolic
    /// batch is the model's own contract and not this analysis's case).
    /// </summary>
    /// <param name="leading">Values whose items must lead (<see cref="ItemAxis.Leads"/>): results compared item by item.
    /// The graph's outputs always must.</param>
    /// <param name="everyValueLeads">Every value that carries the items must have them as its whole dimension 0 (the
    /// widened graph then only changes dimension 0 of its value shapes: ONNX Runtime's calibration runs).</param>
    public static ItemAxes? Of(Graph graph, long opset, IEnumerable<Value>? leading = null, bool everyValueLeads = false)
    {
        var inputs = graph.Inputs.Where(v => !v.IsConstant).ToList();
        if (inputs.Count == 0 || inputs.Any(v => v.Shape is not { Rank: > 0 } s || s[0].Value != 1)) return null;
        var walk = new Walk(graph, opset, [.. graph.Outputs, .. leading ?? []], everyValueLeads);
        foreach (var v in inputs) walk.Positions[v] = new ItemAxis(0, 1);
        if (walk.Search()) return walk.Result([]);
        // No placement keeps every item apart. To name the nodes that bind (not those a wrong placement upstream would
        // add), take the node the search got furthest to as bound, let the items through it, and search again.
        var bound = new List<BatchBound>();
        // Calibration only asks whether: one is enough.
        for (var round = 0; round < (everyValueLeads ? 1 : MaxBoundNamed); round++)
        {
            if (walk.Furthest() is not var (node, reason)) break;
            bound.Add(new BatchBound(node.DisplayName, node.OpType, reason));
            walk.Forced.Add(node);
            walk.Positions.Clear();
            foreach (var v in inputs) walk.Positions[v] = new ItemAxis(0, 1);
            if (walk.Search()) break;
        }
        var order = graph.Nodes.Select((n, i) => (n.DisplayName, i)).GroupBy(p => p.DisplayName).ToDictionary(g => g.Key, g => g.First().i);
        return walk.Result([.. bound.OrderBy(b => order[b.Node])]);
    }

    /// <summary>One step of a node: the placements of its outputs it allows (best first), with the fixes each needs.</summary>
    private sealed record Choice(ItemAxis?[] Outputs, long[]? Reshape = null, int[]? Expand = null);

    private sealed class Walk(Graph graph, long opset, HashSet<Value> leading, bool everyValueLeads)
    {
        public readonly Dictionary<Value, ItemAxis> Positions = [];
        private readonly Dictionary<Node, long[]> _reshapes = [];
        private readonly Dictionary<Node, int[]> _expansions = [];
        private readonly IReadOnlyList<Node> _nodes = graph.Nodes;
        private int _furthest = -1;
        private string? _furthestReason;

        public bool Search()
        {
            var budget = TriesPerNode * Math.Max(1, _nodes.Count);
            _furthest = -1;
            // Depth-first over the nodes' choices; a node with none sends the walk back to the last node that had another.
            var stack = new List<(int Node, List<Choice> Choices, int Next)>();
            var i = 0;
            while (true)
            {
                if (--budget < 0) return false;
                if (i == _nodes.Count) return true;
                var node = _nodes[i];
                if (!node.Inputs.Any(v => v is not null && Positions.ContainsKey(v))) { i++; continue; }
                string? why = null;
                var choices = Forced.Contains(node) ? PassThrough(node) : Choices(node, out why);
                if (choices.Count > 0)
                {
                    Apply(node, choices[0]);
                    stack.Add((i, choices, 1));
                    i++;
                    continue;
                }
                // The placements that got furthest name the binding nodes if no placement gets through.
                if (i > _furthest)
                {
                    _furthest = i;
                    _furthestReason = why;
                }
                // Back to the latest node with an untried choice, undoing the ones after it.
                while (true)
                {
                    if (stack.Count == 0) return false;
                    var (at, options, next) = stack[^1];
                    Undo(_nodes[at]);
                    if (next < options.Count)
                    {
                        Apply(_nodes[at], options[next]);
                        stack[^1] = (at, options, next + 1);
                        i = at + 1;
                        break;
                    }
                    stack.RemoveAt(stack.Count - 1);
                }
            }
        }

        /// <summary>Nodes taken as bound (the items pass through them as through an elementwise op).</summary>
        public readonly HashSet<Node> Forced = [];

        /// <summary>The node the last failed search got furthest to, and why it binds.</summary>
        public (Node Node, string Reason)? Furthest() =>
            _furthest < 0 || Forced.Contains(_nodes[_furthest]) ? null : (_nodes[_furthest], _furthestReason ?? "it is not known to keep items apart");

        public ItemAxes Result(List<BatchBound> bound) => new(new(Positions), bound, new(_reshapes),
            [.. _expansions.SelectMany(kv => kv.Value.Select(i => (kv.Key, i)))]);

        private void Apply(Node node, Choice c)
        {
            for (var k = 0; k < node.Outputs.Count; k++)
                if (c.Outputs[k] is { } p) Positions[node.Outputs[k]] = p;
            if (c.Reshape is not null) _reshapes[node] = c.Reshape;
            if (c.Expand is not null) _expansions[node] = c.Expand;
        }

        private void Undo(Node node)
        {
            foreach (var o in node.Outputs) Positions.Remove(o);
            _reshapes.Remove(node);
            _expansions.Remove(node);
        }

        private List<Choice> PassThrough(Node node)
        {
            var p = node.Inputs.Where(v => v is not null).Select(At).First(q => q is not null)!.Value;
            var rank = node.Inputs.First(v => v is not null && At(v) is not null)!.Shape?.Rank;
            return [new([.. node.Outputs.Select(o => (ItemAxis?)(o.Shape?.Rank == rank ? p : new ItemAxis(0, 1)))])];
        }

        private List<Choice> Choices(Node node, out string? reason)
        {
            reason = null;
            var all = Candidates(node, out reason);
            if (all.Count == 0) return all;
            var kept = all.Where(c => Allowed(node, c)).ToList();
            if (kept.Count == 0) reason = everyValueLeads ? "the items would not stay dimension 0" : "an output compared item by item would not start with the items";
            return kept;
        }

        private bool Allowed(Node node, Choice c)
        {
            for (var k = 0; k < node.Outputs.Count; k++)
            {
                var o = node.Outputs[k];
                if (c.Outputs[k] is not { } p || o.IsAbsent) continue;
                if (o.Shape is not { } s) return false;
                if (everyValueLeads && !(p.Dim == 0 && p.Inner == 1 && s[0].Value == 1)) return false;
                if (leading.Contains(o) && !p.Leads(s)) return false;
            }
            return true;
        }

        private ItemAxis? At(Value? v) => v is not null && Positions.TryGetValue(v, out var p) ? p : null;

        private static long Size(Value v, int dim) => v.Shape![dim].Value ?? -1;

        private static List<Choice> One(Node node, ItemAxis p) => [new([.. node.Outputs.Select(_ => (ItemAxis?)p)])];

        private static List<Choice> None(out string reason, string why)
        {
            reason = why;
            return [];
        }

        private static int Normalize(long axis, int rank) => (int)(axis < 0 ? axis + rank : axis);

        private List<Choice> Candidates(Node node, out string? reason)
        {
            reason = null;
            if (!node.IsDefaultDomain) return None(out reason, $"op of domain '{node.Domain}' is not known to keep items apart");
            if (node.Subgraphs.Any()) return None(out reason, "it has subgraphs");
            var outputs = node.Outputs.Where(o => !o.IsAbsent).ToList();
            if (outputs.Count == 0 || outputs.Any(o => o.Shape is not { Rank: > 0 })) return None(out reason, "an output of unknown or zero rank");
            var op = node.OpType;
            var x = node.Input(0);
            var rank = outputs[0].Shape!.Rank;
            bool Batched(int i) => At(node.Input(i)) is not null;
            bool OnlyFirst() => Enumerable.Range(1, Math.Max(0, node.Inputs.Count - 1)).All(i => !Batched(i));
            int InputRank(int i) => node.Input(i)?.Shape?.Rank ?? -1;

            if (Elementwise.Contains(op)) return Broadcast(node, rank, out reason);
            if (PerRow.Contains(op))
            {
                if (!Batched(0) || !OnlyFirst()) return None(out reason, "the items are not (only) in the data input");
                if (At(x)!.Value.Dim != 0) return None(out reason, "the items are not in dimension 0");
                if (op == "MaxPool" && node.Outputs.Count > 1 && !node.Outputs[1].IsAbsent) return None(out reason, "its indices count across items");
                return One(node, At(x)!.Value);
            }
            if (Reductions.Contains(op) || op is "ArgMax" or "ArgMin")
            {
                if (!OnlyFirst()) return None(out reason, "a parameter input depends on the items");
                var p = At(x)!.Value;
                var r = InputRank(0);
                var axes = op.StartsWith("Arg", StringComparison.Ordinal) ? [node.GetInt("axis", 0)]
                    : node.GetInts("axes")?.ToArray() ?? node.Input(1)?.Constant?.ToInt64s();
                if (axes is not { Length: > 0 }) return None(out reason, "it reduces every dimension, the items' too");
                var norm = axes.Select(a => Normalize(a, r)).ToList();
                if (norm.Contains(p.Dim)) return None(out reason, "it reduces the items' dimension");
                var keep = node.GetInt("keepdims", 1) != 0;
                return One(node, p with { Dim = keep ? p.Dim : p.Dim - norm.Count(a => a < p.Dim) });
            }
            switch (op)
            {
                case "Softmax" or "LogSoftmax" or "Hardmax":
                {
                    var p = At(x)!.Value;
                    var axis = Normalize(node.GetInt("axis", opset < 13 ? 1 : -1), rank);
                    // Before opset 13 the input is coerced to 2-D at `axis`: per item only when the items are before it.
                    var ok = opset < 13 ? p.Dim < axis : p.Dim != axis;
                    return ok ? One(node, p) : None(out reason, "it works across the items' dimension");
                }
                case "LayerNormalization":
                {
                    var p = At(x)!.Value;
                    if (!OnlyFirst()) return None(out reason, "a parameter input depends on the items");
                    return p.Dim < Normalize(node.GetInt("axis", -1), rank) ? One(node, p) : None(out reason, "it normalizes across the items");
                }
                case "Flatten":
                {
                    var p = At(x)!.Value;
                    var s = x!.Shape!.ToArray();
                    if (s is null) return None(out reason, "input of unknown shape");
                    var axis = Normalize(node.GetInt("axis", 1), s.Length);
                    var inner = p.Inner * Product(s, p.Dim + 1, p.Dim < axis ? axis : s.Length);
                    return One(node, new ItemAxis(p.Dim < axis ? 0 : 1, inner));
                }
                case "Transpose":
                {
                    var p = At(x)!.Value;
                    var perm = node.GetInts("perm")?.ToArray() ?? [.. Enumerable.Range(0, rank).Reverse().Select(i => (long)i)];
                    var to = Array.IndexOf(perm, (long)p.Dim);
                    return to < 0 ? None(out reason, "bad perm") : One(node, p with { Dim = to });
                }
                case "Reshape":
                    return OnlyFirst() ? Reshape(node, out reason) : None(out reason, "its shape depends on the items");
                case "Squeeze" or "Unsqueeze":
                {
                    if (!OnlyFirst()) return None(out reason, "its axes depend on the items");
                    var p = At(x)!.Value;
                    var axes = node.GetInts("axes")?.ToArray() ?? node.Input(1)?.Constant?.ToInt64s();
                    if (op == "Squeeze")
                    {
                        var r = InputRank(0);
                        if (axes is null) return None(out reason, "it squeezes every size-1 dimension, the items' too");
                        var norm = axes.Select(a => Normalize(a, r)).ToList();
                        if (norm.Contains(p.Dim)) return None(out reason, "it removes the items' dimension");
                        return One(node, p with { Dim = p.Dim - norm.Count(a => a < p.Dim) });
                    }
                    if (axes is null) return None(out reason, "no axes");
                    var inserted = axes.Select(a => Normalize(a, rank)).ToHashSet();
                    // The input's dimensions fill the output's non-inserted positions in order.
                    var at = Enumerable.Range(0, rank).Where(d => !inserted.Contains(d)).ElementAt(p.Dim);
                    return One(node, p with { Dim = at });
                }
                case "Slice":
                {
                    if (!OnlyFirst()) return None(out reason, "run-time slice bounds");
                    var p = At(x)!.Value;
                    long[]? starts, ends, axes, steps = null;
                    if (opset < 10)
                        (starts, ends, axes) = (node.GetInts("starts")?.ToArray(), node.GetInts("ends")?.ToArray(), node.GetInts("axes")?.ToArray());
                    else
                    {
                        if (node.Inputs.Skip(1).Any(v => v is not null && !v.IsAbsent && !v.IsConstant)) return None(out reason, "run-time slice bounds");
                        (starts, ends) = (node.Input(1)?.Constant?.ToInt64s(), node.Input(2)?.Constant?.ToInt64s());
                        axes = node.Input(3)?.Constant?.ToInt64s();
                        steps = node.Input(4)?.Constant?.ToInt64s();
                    }
                    if (starts is null || ends is null) return None(out reason, "run-time slice bounds");
                    axes ??= [.. Enumerable.Range(0, starts.Length).Select(i => (long)i)];
                    for (var k = 0; k < axes.Length; k++)
                        if (Normalize(axes[k], rank) == p.Dim
                            && (k >= starts.Length || starts[k] != 0 || ends[k] < int.MaxValue || (steps is not null && steps[k] != 1)))
                            return None(out reason, "it slices the items' dimension");
                    return One(node, p);
                }
                case "Gather":
                {
                    var r = InputRank(0);
                    var axis = Normalize(node.GetInt("axis", 0), r);
                    if (Batched(0) && !Batched(1))
                    {
                        var p = At(x)!.Value;
                        if (axis == p.Dim) return None(out reason, "it gathers along the items' dimension");
                        var indexRank = InputRank(1);
                        return One(node, p with { Dim = p.Dim < axis ? p.Dim : p.Dim - 1 + indexRank });
                    }
                    if (!Batched(0) && Batched(1))
                    {
                        var q = At(node.Input(1))!.Value;
                        return One(node, q with { Dim = axis + q.Dim });
                    }
                    return None(out reason, "both the data and the indices carry the items");
                }
                case "Concat":
                    return Concat(node, rank, out reason);
                case "Split":
                {
                    if (!OnlyFirst()) return None(out reason, "its split sizes depend on the items");
                    var p = At(x)!.Value;
                    return Normalize(node.GetInt("axis", 0), InputRank(0)) != p.Dim ? One(node, p) : None(out reason, "it splits the items' dimension");
                }
                case "MatMul":
                    return MatMul(node, out reason);
                case "Gemm":
                {
                    if (!Batched(0) || !OnlyFirst() || node.GetInt("transA", 0) != 0 || At(x)!.Value.Dim != 0)
                        return None(out reason, "the items are not the rows of A");
                    // A bias with rows would add row by row across the items.
                    if (node.Input(2) is { IsAbsent: false, Shape: { Rank: 2 } c } && c[0].Value != 1) return None(out reason, "its bias has rows");
                    return One(node, At(x)!.Value);
                }
                case "Pad":
                {
                    if (!OnlyFirst() || node.Input(3) is { IsAbsent: false }) return None(out reason, "run-time pads or axes");
                    var p = At(x)!.Value;
                    var pads = opset < 11 ? node.GetInts("pads")?.ToArray() : node.Input(1)?.Constant?.ToInt64s();
                    var r = InputRank(0);
                    return pads is { } pp && pp.Length == 2 * r && pp[p.Dim] == 0 && pp[r + p.Dim] == 0
                        ? One(node, p) : None(out reason, "it pads the items' dimension");
                }
                case "Expand":
                {
                    if (!OnlyFirst() || node.Input(1)?.Constant is not { } c) return None(out reason, "run-time shape");
                    var p = At(x)!.Value;
                    var s = c.ToInt64s();
                    var at = p.Dim + (rank - InputRank(0));
                    var target = at - (rank - s.Length);
                    return target < 0 || s[target] == 1 ? One(node, p with { Dim = at }) : None(out reason, "it expands the items' dimension");
                }
                case "Tile":
                {
                    var p = At(x)!.Value;
                    return OnlyFirst() && node.Input(1)?.Constant?.ToInt64s() is { } rep && rep.Length > p.Dim && rep[p.Dim] == 1
                        ? One(node, p) : None(out reason, "it repeats the items' dimension");
                }
                case "TopK":
                {
                    var p = At(x)!.Value;
                    return OnlyFirst() && Normalize(node.GetInt("axis", -1), InputRank(0)) != p.Dim ? One(node, p) : None(out reason, "it ranks across the items");
                }
                case "Resize":
                {
                    // By constant scales (opset 11+: X, roi, scales): a scale of 1 on the items' dimension resizes each
                    // item alone (every coordinate transformation maps index o to o there). Sizes name the one item's
                    // count, which N items would change.
                    var p = At(x)!.Value;
                    return opset >= 11 && OnlyFirst() && node.Input(3) is null or { IsAbsent: true }
                        && node.Input(2)?.Constant?.ToFloats() is { } scales && scales.Length > p.Dim && scales[p.Dim] == 1
                        ? One(node, p) : None(out reason, "it is not resized by constant scales of 1 along the items' dimension");
                }
                case "CumSum":
                {
                    var p = At(x)!.Value;
                    return OnlyFirst() && node.Input(1)?.Constant?.ToInt64s() is [var a] && Normalize(a, rank) != p.Dim
                        ? One(node, p) : None(out reason, "it sums across the items");
                }
                default:
                    return None(out reason, "it is not known to keep items apart");
            }
        }

        private static long Product(long[] s, int from, int to)
        {
            var p = 1L;
            for (var i = from; i < to; i++) p *= s[i];
            return p;
        }

        /// <summary>
        /// Elementwise with broadcasting: every operand with the items has them at the same place and the result's rank;
        /// an operand without them has size 1 there (or does not reach that dimension), else it would pair with items.
        /// </summary>
        private List<Choice> Broadcast(Node node, int rank, out string? reason)
        {
            reason = null;
            ItemAxis? p = null;
            foreach (var v in node.Inputs)
            {
                if (v is null || v.IsAbsent || At(v) is not { } q) continue;
                if (v.Shape?.Rank != rank) return None(out reason, "an operand with the items broadcasts them into another dimension");
                if (p is { } pp && pp != q) return None(out reason, "its operands hold the items in different places");
                p = q;
            }
            var at = p!.Value;
            foreach (var v in node.Inputs)
            {
                if (v is null || v.IsAbsent || At(v) is not null) continue;
                if (v.Shape is not { } s) return None(out reason, "an operand of unknown shape");
                var d = at.Dim - (rank - s.Rank);
                if (d >= 0 && s[d].Value != 1) return None(out reason, "an operand without the items spans their dimension");
            }
            return One(node, at);
        }

        private List<Choice> Concat(Node node, int rank, out string? reason)
        {
            reason = null;
            ItemAxis? p = null;
            var fixedOperands = new List<int>();
            for (var i = 0; i < node.Inputs.Count; i++)
            {
                var v = node.Inputs[i];
                if (v is null || v.IsAbsent) continue;
                if (At(v) is not { } q) { fixedOperands.Add(i); continue; }
                if (p is { } pp && pp != q) return None(out reason, "its operands hold the items in different places");
                p = q;
            }
            var at = p!.Value;
            if (Normalize(node.GetInt("axis", 0), rank) == at.Dim) return None(out reason, "it joins along the items' dimension");
            if (fixedOperands.Count == 0) return One(node, at);
            // A constant fixed at one item (a folded class token) joins each item once it is expanded to their count.
            if (everyValueLeads) return None(out reason, "it joins an operand fixed at one item (a folded constant) to the items");
            foreach (var i in fixedOperands)
                if (node.Inputs[i]!.Shape is not { IsStatic: true } s || s.Rank != rank || s[at.Dim].Value != 1 || at.Inner != 1
                    || node.Outputs[0].Shape![at.Dim].Value != 1)
                    return None(out reason, "it joins an operand without the items that cannot be expanded to them");
            return [new([at], Expand: [.. fixedOperands])];
        }

        private List<Choice> MatMul(Node node, out string? reason)
        {
            reason = null;
            var (a, b) = (node.Input(0)!, node.Input(1)!);
            if (a.Shape is not { } sa || b.Shape is not { } sb || node.Outputs[0].Shape is not { } so) return None(out reason, "an input of unknown shape");
            var (ra, rb, r) = (sa.Rank, sb.Rank, so.Rank);
            var (pa, pb) = (At(a), At(b));
            // [.., M, K] x [K]: the rows stay apart (a vector A would contract the items).
            if (rb == 1 && ra >= 2 && pb is null && pa is { } rows && rows.Dim <= ra - 2) return One(node, rows);
            if (ra < 2 || rb < 2) return None(out reason, "a vector operand");
            ItemAxis? result = null;
            // Items in a batch dimension of an operand: the other operand must not span it (or hold the items there too).
            ItemAxis? Batch(ItemAxis p, int ownRank, Shape other, ItemAxis? otherAt, int otherRank)
            {
                var outDim = p.Dim + (r - ownRank);
                var otherDim = outDim - (r - otherRank);
                if (otherAt is { } q) return q.Dim == otherDim && q.Inner == p.Inner ? p with { Dim = outDim } : null;
                return otherDim < 0 || other[otherDim].Value == 1 ? p with { Dim = outDim } : null;
            }
            if (pa is { } qa)
            {
                if (qa.Dim < ra - 2) result = Batch(qa, ra, sb, pb, rb);
                else if (qa.Dim == ra - 2 && pb is null) result = qa with { Dim = r - 2 };
                if (result is null) return None(out reason, "it contracts or pairs the items of A");
                return One(node, result.Value);
            }
            var qb = pb!.Value;
            if (qb.Dim < rb - 2) result = Batch(qb, rb, sa, null, ra);
            else if (qb.Dim == rb - 1) result = qb with { Dim = r - 1 };
            return result is { } res ? One(node, res) : None(out reason, "it contracts the items of B");
        }

        /// <summary>
        /// A Reshape (static shapes, constant target) keeps the items when the element run they form (one item's elements
        /// repeat with period `outer`) lines up with a factor of one output dimension. Placements are tried from the
        /// outermost dimension in; each records the target that takes N items there (none if the target already does).
        /// </summary>
        private List<Choice> Reshape(Node node, out string? reason)
        {
            reason = null;
            var x = node.Input(0)!;
            if (node.Input(1)?.Constant is not { } c) return None(out reason, "its shape is computed at run time");
            var target = c.ToInt64s();
            if (x.Shape?.ToArray() is not { } s || node.Outputs[0].Shape?.ToArray() is not { } t || s.Contains(0) || t.Contains(0))
                return None(out reason, "its shapes are not static");
            var p = At(x)!.Value;
            var allowZero = node.GetInt("allowzero", 0) != 0;
            // Elements of one item: `before` runs of `after` contiguous elements each.
            var before = Product(s, 0, p.Dim) * (s[p.Dim] / p.Inner);
            var after = p.Inner * Product(s, p.Dim + 1, s.Length);
            var choices = new List<Choice>();
            for (var j = 0; j < t.Length; j++)
            {
                var tail = Product(t, j + 1, t.Length);
                if (after % tail != 0) continue;
                var inner = after / tail;
                if (t[j] % inner != 0 || Product(t, 0, j) * (t[j] / inner) != before) continue;
                var spelled = Widened(target, s, p, t, j, allowZero);
                if (spelled is null) continue;
                choices.Add(new([new ItemAxis(j, inner)], spelled.Length == 0 ? null : spelled));
            }
            if (choices.Count == 0)
                reason = $"its shape constant [{string.Join(",", target)}] cannot hold the items apart";
            return choices;
        }

        /// <summary>
        /// The target that puts N items at output dimension <paramref name="j"/>: empty when <paramref name="target"/>
        /// already does (a 0 or -1 there); a leading 1 becomes 0 (copy) as calibration always spelled it; otherwise the
        /// output's one-item shape with -1 at <paramref name="j"/>. Null when no target can.
        /// </summary>
        private static long[]? Widened(long[] target, long[] s, ItemAxis p, long[] t, int j, bool allowZero)
        {
            if (target.Length != t.Length) return null;
            long[] Apply(long n)
            {
                var input = (long[])s.Clone();
                input[p.Dim] *= n;
                var total = input.Aggregate(1L, (acc, d) => acc * d);
                var r = new long[target.Length];
                var infer = -1;
                var known = 1L;
                for (var i = 0; i < r.Length; i++)
                {
                    r[i] = target[i] == 0 && !allowZero && i < input.Length ? input[i] : target[i];
                    if (r[i] == -1) infer = i; else known *= r[i];
                }
                if (infer >= 0 && known != 0) r[infer] = total / known;
                return r;
            }
            bool Takes(long n)
            {
                var r = Apply(n);
                for (var i = 0; i < t.Length; i++)
                    if (r[i] != (i == j ? t[i] * n : t[i])) return false;
                return true;
            }
            if (Takes(2) && Takes(3)) return [];
            if (j == 0 && target[0] == 1)
            {
                var widened = (long[])target.Clone();
                if (!allowZero && p.Dim == 0 && s[0] == p.Inner && p.Inner == t[0]) { widened[0] = 0; return widened; }
                if (!target.Contains(-1)) { widened[0] = -1; return widened; }
            }
            var spelled = (long[])t.Clone();
            spelled[j] = -1;
            return spelled;
        }
    }
}
