using ArchNet.IR;

namespace ArchNet.Passes.Quantization;

/// <summary>
/// Whether a graph written for one item (every non-constant input has leading dimension 1) computes each item of a
/// batch on its own when that leading dimension is widened, so that calibration can run many items in one inference
/// (ONNX Runtime is markedly faster per item on a batch). Found by following the item axis (axis 0) from the inputs
/// through every node: a node that reads, moves or mixes that axis (Shape, a reduction or softmax over axis 0, a
/// Reshape folding it into another axis, a Concat with an unbatched operand, any op not known here) makes the graph
/// unbatchable, and calibration then runs item by item. A Reshape whose constant target spells the item axis as 1
/// must copy it instead: <see cref="Reshapes"/> gives those targets with a 0 (or -1) there.
/// </summary>
/// <param name="Batched">Values whose axis 0 is the item axis once the inputs are widened.</param>
/// <param name="Reshapes">Reshape nodes whose constant target must change, with the target that keeps the item axis.</param>
public sealed record CalibrationBatch(IReadOnlySet<Value> Batched, IReadOnlyDictionary<Node, long[]> Reshapes)
{
    private static readonly HashSet<string> Elementwise =
        ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mean", "Sum", "Where", "Equal", "Less", "LessOrEqual", "Greater",
         "GreaterOrEqual", "And", "Or", "Xor", "Not", "Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Sigmoid",
         "HardSigmoid", "HardSwish", "Tanh", "Erf", "Exp", "Log", "Sqrt", "Reciprocal", "Neg", "Abs", "Cast", "CastLike",
         "Clip", "Gelu", "Softplus", "Softsign", "Identity", "Dropout", "Floor", "Ceil", "Round", "Sign", "Mod", "IsNaN",
         "IsInf", "Sin", "Cos", "Mish", "BitShift"];

    /// <summary>Ops that work on each item of input 0 alone (their other inputs are parameters).</summary>
    private static readonly HashSet<string> PerItem =
        ["Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool",
         "BatchNormalization", "InstanceNormalization", "GroupNormalization", "LRN", "DepthToSpace", "SpaceToDepth"];

    private static readonly HashSet<string> Reductions =
        ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
         "ReduceLogSumExp", "ReduceSumSquare"];

    /// <summary>The batching of <paramref name="model"/>'s graph, or null when it must run item by item.</summary>
    public static CalibrationBatch? Of(Model model)
    {
        var graph = model.Graph;
        var opset = model.Opset("");
        var batched = new HashSet<Value>();
        foreach (var input in graph.Inputs.Where(i => !i.IsConstant))
        {
            if (input.Shape is not { Rank: > 0 } s || s[0].Value != 1) return null;
            batched.Add(input);
        }
        if (batched.Count == 0) return null;
        var reshapes = new Dictionary<Node, long[]>();
        foreach (var node in graph.Nodes)
        {
            var inputs = node.Inputs;
            if (!inputs.Any(i => i is not null && batched.Contains(i))) continue;
            if (!node.IsDefaultDomain || node.Subgraphs.Any()) return null;
            var outputs = node.Outputs.Where(o => !o.IsAbsent).ToList();
            // Every batched result keeps the item axis first: a one-item graph has 1 there.
            if (outputs.Any(o => o.Shape is not { Rank: > 0 } s || s[0].Value != 1)) return null;
            if (!Keeps(node, opset, batched, reshapes)) return null;
            batched.UnionWith(outputs);
        }
        return new CalibrationBatch(batched, reshapes);
    }

    private static bool Keeps(Node node, long opset, HashSet<Value> batched, Dictionary<Node, long[]> reshapes)
    {
        bool IsBatched(int i) => node.Input(i) is { } v && batched.Contains(v);
        var rank = node.Outputs[0].Shape!.Rank;
        int InputRank(int i) => node.Input(i)?.Shape?.Rank ?? -1;
        bool OnlyFirstBatched() => Enumerable.Range(1, Math.Max(0, node.Inputs.Count - 1)).All(i => !IsBatched(i));
        // An axis attribute (or input) normalized against `r`: the item axis is 0.
        bool AvoidsItemAxis(long axis, int r) => (axis < 0 ? axis + r : axis) is > 0;
        var op = node.OpType;

        if (Elementwise.Contains(op))
            // A batched operand of lower rank than the result would put its axis 0 elsewhere after broadcasting.
            return Enumerable.Range(0, node.Inputs.Count).Where(IsBatched).All(i => InputRank(i) == rank)
                && node.Outputs.All(o => o.IsAbsent || o.Shape?.Rank == rank);
        if (PerItem.Contains(op))
            return OnlyFirstBatched() && (op != "MaxPool" || node.Outputs.Count < 2 || node.Outputs[1].IsAbsent);
        switch (op)
        {
            case "Softmax" or "LogSoftmax" or "Hardmax":
                // Before opset 13 the input is coerced to 2-D at `axis`: still per item for axis >= 1.
                return AvoidsItemAxis(node.GetInt("axis", opset < 13 ? 1 : -1), rank);
            case "LayerNormalization":
                return OnlyFirstBatched() && AvoidsItemAxis(node.GetInt("axis", -1), rank);
            case "Flatten":
                // Axis 1 keeps [N, rest]; a later axis would fold the items into the rows.
                return node.GetInt("axis", 1) is var f && (f < 0 ? f + InputRank(0) : f) == 1;
            case "Transpose":
                return node.GetInts("perm") is { } perm ? perm.Length > 0 && perm[0] == 0 : rank == 1;
            case "Concat":
                return node.Inputs.All(i => i is not null && batched.Contains(i)) && AvoidsItemAxis(node.GetInt("axis", 0), rank);
            case "Split":
                return OnlyFirstBatched() && AvoidsItemAxis(node.GetInt("axis", 0), InputRank(0));
            case "Gather":
            {
                var axis = node.GetInt("axis", 0);
                if (IsBatched(0) && !IsBatched(1)) return AvoidsItemAxis(axis, InputRank(0));
                // A table looked up by batched indices: the result starts with the indices' shape.
                return !IsBatched(0) && IsBatched(1) && (axis == 0 || axis == -InputRank(0));
            }
            case "MatMul":
            {
                // [N, ..., M, K] x [K, P] (or a batched operand of rank >= 3 on either side, same rank as the result);
                // a rank-2 batched B would put the items on the contracted axis.
                if (IsBatched(1) && InputRank(1) < 3) return false;
                return Enumerable.Range(0, 2).Where(IsBatched).All(i => InputRank(i) == rank) && InputRank(0) >= 2;
            }
            case "Gemm":
                return IsBatched(0) && OnlyFirstBatched() && node.GetInt("transA", 0) == 0;
            case "Reshape":
                return OnlyFirstBatched() && ReshapeTarget(node) is { } target && Batch(node, target, reshapes);
            case "Squeeze" or "Unsqueeze":
            {
                var axes = node.GetInts("axes")?.ToArray() ?? node.Input(1)?.Constant?.ToInt64s();
                var r = op == "Squeeze" ? InputRank(0) : rank;
                return OnlyFirstBatched() && axes is { Length: > 0 } && axes.All(a => AvoidsItemAxis(a, r));
            }
            case "Slice":
            {
                if (!OnlyFirstBatched()) return false;
                long[]? starts, ends, axes, steps = null;
                if (opset < 10)
                    (starts, ends, axes) = (node.GetInts("starts")?.ToArray(), node.GetInts("ends")?.ToArray(), node.GetInts("axes")?.ToArray());
                else
                {
                    if (node.Inputs.Skip(1).Any(i => i is not null && !i.IsConstant)) return false;
                    (starts, ends) = (node.Input(1)?.Constant?.ToInt64s(), node.Input(2)?.Constant?.ToInt64s());
                    axes = node.Input(3)?.Constant?.ToInt64s();
                    steps = node.Input(4)?.Constant?.ToInt64s();
                }
                if (starts is null || ends is null) return false;
                axes ??= [.. Enumerable.Range(0, starts.Length).Select(i => (long)i)];
                for (var k = 0; k < axes.Length; k++)
                    if (!AvoidsItemAxis(axes[k], rank))
                    {
                        // The whole item axis, in order, is still per item.
                        if (k >= starts.Length || starts[k] != 0 || ends[k] < int.MaxValue || (steps is not null && steps[k] != 1))
                            return false;
                    }
                return true;
            }
            case "Expand":
                return OnlyFirstBatched() && node.Input(1)?.Constant is { } shape && shape.ElementCount == InputRank(0);
            case "Tile":
                return OnlyFirstBatched() && node.Input(1)?.Constant?.ToInt64s() is { Length: > 0 } repeats && repeats[0] == 1;
            case "Pad":
            {
                if (!OnlyFirstBatched() || node.Input(3) is not null) return false;
                var pads = opset < 11 ? node.GetInts("pads")?.ToArray() : node.Input(1)?.Constant?.ToInt64s();
                var r = InputRank(0);
                return pads is not null && pads.Length == 2 * r && pads[0] == 0 && pads[r] == 0;
            }
            case "ArgMax" or "ArgMin":
                return AvoidsItemAxis(node.GetInt("axis", 0), InputRank(0));
            case "TopK":
                return OnlyFirstBatched() && AvoidsItemAxis(node.GetInt("axis", -1), InputRank(0));
            case "CumSum":
                return OnlyFirstBatched() && node.Input(1)?.Constant?.ToInt64s() is [var sumAxis] && AvoidsItemAxis(sumAxis, rank);
            default:
                if (Reductions.Contains(op))
                {
                    if (!OnlyFirstBatched()) return false;
                    // Axes as an input from opset 13 (ReduceSum) or 18 (the others); no axes reduces everything.
                    var axes = node.GetInts("axes")?.ToArray() ?? node.Input(1)?.Constant?.ToInt64s();
                    return axes is { Length: > 0 } && axes.All(a => AvoidsItemAxis(a, InputRank(0)));
                }
                return false;
        }
    }

    /// <summary>The Reshape's constant target, or null when it is computed (or reads the data's shape).</summary>
    private static long[]? ReshapeTarget(Node node) =>
        node.Input(1) is { Constant: { } c } && c.ElementType == ElementType.Int64 ? c.ToInt64s() : null;

    /// <summary>
    /// A one-item Reshape keeps items apart when the item axis stays axis 0 (its result starts with 1, checked by the
    /// caller): each item's elements are one contiguous run before and after. A target spelling that 1 literally is
    /// recorded with 0 (copy the input's dimension) or, when zeros are literal (allowzero), -1.
    /// </summary>
    private static bool Batch(Node node, long[] target, Dictionary<Node, long[]> reshapes)
    {
        if (target.Length == 0) return false;
        if (target[0] == -1 || (target[0] == 0 && node.GetInt("allowzero", 0) == 0)) return true;
        if (target[0] != 1) return false;
        var widened = (long[])target.Clone();
        if (node.GetInt("allowzero", 0) == 0) widened[0] = 0;
        else if (!target.Contains(-1)) widened[0] = -1;
        else return false;
        reshapes[node] = widened;
        return true;
    }
}
