using ArchNet.IR;

namespace ArchNet.Passes.Rewriting;

/// <summary>
/// Raises a model's default-domain opset when a rewrite emits an op that only exists at a later opset
/// (LayerNormalization 17, Gelu 20, HardSwish 14). Every node whose meaning would change is rewritten to
/// its new form (attributes that became inputs); when some node cannot be carried over exactly
/// (Upsample, Resize-10, coerced-2D Softmax on a non-last axis, ...), the upgrade is refused as a whole.
/// </summary>
public static class OpsetUpgrade
{
    private static readonly HashSet<string> ReducesAt18 =
        ["ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"];

    /// <summary>Highest opset upgrades go to: what the bundled ONNX Runtime is known to run.</summary>
    public const long MaxTarget = 21;

    public static bool CanUpgrade(Model model, long target)
    {
        var from = model.Opset("");
        if (from >= target) return true;
        if (target > MaxTarget || from < 7) return false;
        return model.Graph.SelfAndSubgraphs().SelectMany(g => g.Nodes).Where(n => n.IsDefaultDomain).All(n => Convertible(n, from, target));
    }

    /// <summary>Raises the opset to <paramref name="target"/>; throws when <see cref="CanUpgrade"/> is false (a bug in the caller).</summary>
    public static void Upgrade(Model model, long target)
    {
        var from = model.Opset("");
        if (from >= target) return;
        if (!CanUpgrade(model, target))
            throw new InvalidOperationException($"opset {from} model cannot be raised to opset {target}");
        foreach (var graph in model.Graph.SelfAndSubgraphs().ToList())
        {
            var names = new NameScope(graph);
            foreach (var node in graph.Nodes.Where(n => n.IsDefaultDomain).ToList())
                Convert(graph, names, node, from, target);
        }
        model.SetOpset("", target);
        // ONNX ties opsets to IR versions: opset 19-20 need IR 9, opset 21 IR 10.
        var ir = target >= 21 ? 10 : target >= 19 ? 9 : 8;
        if (model.IrVersion < ir) model.IrVersion = ir;
    }

    private static bool Crosses(long from, long target, long at) => from < at && target >= at;

    private static bool Convertible(Node n, long from, long target)
    {
        switch (n.OpType)
        {
            case "Upsample" or "Scatter":
                return false;
            case "Resize":
                return from >= 11;
            case "Softmax" or "LogSoftmax" or "Hardmax" when Crosses(from, target, 13):
                // Before 13 these flatten to 2D at `axis`; equal to the new meaning only when axis is the last one.
                return n.Input(0)?.Shape is { } s && Norm(n.GetInt("axis", 1), s.Rank) == s.Rank - 1;
            case "BatchNormalization":
                return n.GetInt("spatial", 1) == 1 && !n.HasAttr("consumed_inputs");
            case "TopK" when from < 10:
                return false;
            // Attributes that early versions require and the upgrade moves to inputs; a model without them is
            // malformed, and is left for ONNX Runtime to refuse with its reason.
            case "Pad" when from < 11:
                return n.HasAttr("pads");
            case "Slice" when from < 10:
                return n.HasAttr("starts") && n.HasAttr("ends");
            case "Cast" when n.Attr("to")?.Kind == AttributeKind.String:
                return false;
            default:
                return !n.HasAttr("broadcast") && !n.HasAttr("consumed_inputs");
        }
    }

    private static void Convert(Graph graph, NameScope names, Node n, long from, long target)
    {
        Value Ints(string hint, IEnumerable<long> values)
        {
            long[] v = [.. values];
            var c = new Value(names.Fresh($"{n.Outputs[0].Name}/{hint}"), null, TensorData.FromInt64s([v.Length], v));
            graph.Constants.Add(c);
            return c;
        }
        Value Float(string hint, float value)
        {
            var c = new Value(names.Fresh($"{n.Outputs[0].Name}/{hint}"), null, TensorData.Scalar(value));
            graph.Constants.Add(c);
            return c;
        }
        void AttrToInput(string attr, int index, Func<Value> make)
        {
            if (!n.HasAttr(attr)) return;
            var v = make();
            n.Attributes.Remove(attr);
            while (n.Inputs.Count < index) n.AppendInput(null);
            if (n.Inputs.Count == index) n.AppendInput(v);
            else n.SetInput(index, v);
        }

        switch (n.OpType)
        {
            case "Squeeze" or "Unsqueeze" when Crosses(from, target, 13):
                AttrToInput("axes", 1, () => Ints("axes", n.GetInts("axes")!.Value));
                break;
            case "ReduceSum" when Crosses(from, target, 13):
            case var op when ReducesAt18.Contains(op) && Crosses(from, target, 18):
                AttrToInput("axes", 1, () => Ints("axes", n.GetInts("axes")!.Value));
                break;
            case "Split":
                if (Crosses(from, target, 13)) AttrToInput("split", 1, () => Ints("split", n.GetInts("split")!.Value));
                if (Crosses(from, target, 18) && n.Input(1) is null) n.SetAttr(IR.Attribute.Int("num_outputs", n.Outputs.Count));
                break;
            case "Softmax" or "LogSoftmax" or "Hardmax" when Crosses(from, target, 13):
                n.SetAttr(IR.Attribute.Int("axis", -1));
                break;
            case "Clip" when from < 11:
                {
                    var min = n.HasAttr("min") ? Float("min", n.GetFloat("min", 0)) : null;
                    var max = n.HasAttr("max") ? Float("max", n.GetFloat("max", 0)) : null;
                    n.Attributes.Remove("min");
                    n.Attributes.Remove("max");
                    if (min is not null || max is not null) { n.AppendInput(min); n.AppendInput(max); }
                    break;
                }
            case "Pad" when from < 11:
                {
                    var pads = n.GetInts("pads")!.Value;
                    var value = n.GetFloat("value", 0);
                    n.Attributes.Remove("pads");
                    n.Attributes.Remove("value");
                    n.AppendInput(Ints("pads", pads));
                    n.AppendInput(Float("value", value));
                    break;
                }
            case "Slice" when from < 10:
                {
                    var starts = n.GetInts("starts")!.Value;
                    var ends = n.GetInts("ends")!.Value;
                    var axes = n.GetInts("axes");
                    foreach (var a in new[] { "starts", "ends", "axes" }) n.Attributes.Remove(a);
                    n.AppendInput(Ints("starts", starts));
                    n.AppendInput(Ints("ends", ends));
                    if (axes is { } ax) n.AppendInput(Ints("axes", ax));
                    break;
                }
            case "Dropout" when from < 12:
                AttrToInput("ratio", 1, () => Float("ratio", n.GetFloat("ratio", 0.5f)));
                n.Attributes.Remove("is_test");
                break;
            case "BatchNormalization":
                n.Attributes.Remove("spatial");
                n.Attributes.Remove("is_test");
                break;
        }
    }

    private static int Norm(long axis, int rank) => (int)(axis < 0 ? axis + rank : axis);
}
