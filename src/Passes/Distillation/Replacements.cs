using ArchNet.Capabilities;
using ArchNet.IR;
using IRAttribute = ArchNet.IR.Attribute;

namespace ArchNet.Passes.Distillation;

/// <summary>One replacement made in the student: the teacher's node, its op, what replaced it, and the value it reproduces.</summary>
public sealed record ReplacementRecord(string Node, string OpType, string Replacement, string Output);

/// <summary>
/// An Arch-Net replacement: rewrites one node the chip rejects into ops it runs, initialised from the teacher
/// so that the student starts at (or near) the teacher's function. The replacement's last node writes the
/// teacher node's own output value, so blocks and reports can name the tensor the student must reproduce.
/// <see cref="CanReplace"/> is the same precondition the audit's remedy uses.
/// </summary>
public abstract class Replacement
{
    public abstract string Name { get; }
    public abstract string Summary { get; }
    public abstract string OpType { get; }
    public abstract bool CanReplace(Node node, Capability capability);
    /// <summary>Rewrites <paramref name="node"/> in its graph; returns the new nodes (in order).</summary>
    public abstract IReadOnlyList<Node> Replace(Node node, Capability capability);

    // --- shared builders ---------------------------------------------------------------------------------

    // Unknown dims (a symbolic batch) read as -1: the replacements only look at channels and spatial sizes.
    protected static long[]? Dims(Value? v) => v?.Shape is { } s ? [.. s.Dims.Select(d => d.Value ?? -1)] : null;

    protected static Node Conv3x3(Graph g, Node anchor, Value x, float[] weight, long outCh, long inCh, float[]? bias, long stride,
        Value? output, string hint)
    {
        var w = g.AddConstant(hint + "_w", TensorData.FromFloats([outCh, inCh, 3, 3], weight));
        var b = g.AddConstant(hint + "_b", TensorData.FromFloats([outCh], bias ?? new float[outCh]));
        var y = output ?? new Value(g.FreshName(hint + "_y"));
        var conv = new Node("Conv", [x, w, b], [y],
        [
            IRAttribute.Ints("kernel_shape", 3, 3), IRAttribute.Ints("strides", stride, stride),
            IRAttribute.Ints("pads", 1, 1, 1, 1), IRAttribute.Ints("dilations", 1, 1), IRAttribute.Int("group", 1),
        ], g.FreshName(hint));
        g.InsertBefore(anchor, conv);
        return conv;
    }

    protected static Node Relu(Graph g, Node anchor, Value x, string hint)
    {
        var y = new Value(g.FreshName(hint + "_relu"));
        var n = new Node("Relu", [x], [y], null, g.FreshName(hint + "_relu"));
        g.InsertBefore(anchor, n);
        return n;
    }

    /// <summary>Identity on the first min(out, in) channels at the centre tap (a Dirac kernel).</summary>
    protected static float[] Dirac(long outCh, long inCh)
    {
        var w = new float[outCh * inCh * 9];
        for (long o = 0; o < Math.Min(outCh, inCh); o++) w[(o * inCh + o) * 9 + 4] = 1;
        return w;
    }

    /// <summary>Detaches the replaced node after its replacement took over its output value.</summary>
    protected static void Retire(Graph g, Node node, Value replacement)
    {
        // The replacement's output takes over the teacher value's uses and its name (blocks match tensors by name).
        var old = node.Outputs[0];
        g.ReplaceAllUses(old, replacement);
        var name = old.Name;
        old.Name = g.FreshName(name + "_retired");
        replacement.Name = name;
        g.Remove(node);
    }

    protected static bool IsConv2d(Node n, out long[] w) =>
        (w = n.OpType == "Conv" && n.Input(1) is { Constant: { } c } && c.Dims.Length == 4 ? [.. c.Dims] : []).Length == 4
        && (n.GetString("auto_pad", "NOTSET") is "NOTSET");
}

/// <summary>Depthwise or grouped conv -> a regular conv with block-diagonal weights (exact); its kernel is then handled as any conv.</summary>
public sealed class GroupedToRegularConv : Replacement
{
    public override string Name => "grouped-to-regular";
    public override string Summary => "grouped/depthwise conv -> regular conv with block-diagonal weights";
    public override string OpType => "Conv";

    public override bool CanReplace(Node node, Capability capability) =>
        IsConv2d(node, out _) && node.GetInt("group", 1) > 1 && LargeKernelToStacked3x3.Dilation1(node);

    public override IReadOnlyList<Node> Replace(Node node, Capability capability)
    {
        IsConv2d(node, out var d);
        var groups = node.GetInt("group", 1);
        var (outCh, cg, kh, kw) = (d[0], d[1], d[2], d[3]);
        var inCh = cg * groups;
        var src = node.Input(1)!.Constant!.ToFloats();
        var dst = new float[outCh * inCh * kh * kw];
        var perGroup = outCh / groups;
        for (long o = 0; o < outCh; o++)
        {
            var g0 = o / perGroup * cg;
            for (long i = 0; i < cg; i++)
                Array.Copy(src, (o * cg + i) * kh * kw, dst, (o * inCh + g0 + i) * kh * kw, kh * kw);
        }
        var g = node.Graph!;
        node.SetInput(1, g.AddConstant(node.Input(1)!.Name + "_dense", TensorData.FromFloats([outCh, inCh, kh, kw], dst)));
        node.Attributes["group"] = IRAttribute.Int("group", 1);
        return [node];
    }
}

/// <summary>
/// A k x k conv (k odd, 1 &lt; k, k != 3) -> (k-1)/2 stacked 3x3 convs with ReLU between, the stride on the last
/// (Arch-Net: 7x7 -> three 3x3). The first ones start as identities (Dirac) on the first channels, the last
/// takes the teacher's centre 3x3; the student is trained to recover the rest of the receptive field.
/// </summary>
public sealed class LargeKernelToStacked3x3 : Replacement
{
    public override string Name => "stacked-3x3";
    public override string Summary => "k x k conv -> (k-1)/2 stacked 3x3 convs with ReLU between, stride on the last";
    public override string OpType => "Conv";

    public override bool CanReplace(Node node, Capability capability) =>
        IsConv2d(node, out var d) && node.GetInt("group", 1) == 1 && d[2] == d[3] && d[2] > 3 && d[2] % 2 == 1
        && Pads(node).All(p => p == d[2] / 2) && Dilation1(node) && Dims(node.Input(0)) is { Length: 4 };

    internal static long[] Pads(Node n) => n.GetInts("pads") is { Length: > 0 } p ? [.. p] : [0, 0, 0, 0];
    internal static bool Dilation1(Node n) => n.GetInts("dilations") is null or { Length: 0 } || n.GetInts("dilations")!.Value.All(x => x == 1);
    internal static long Stride(Node n) => n.GetInts("strides") is { Length: > 0 } s ? s[0] : 1;

    public override IReadOnlyList<Node> Replace(Node node, Capability capability)
    {
        IsConv2d(node, out var d);
        var g = node.Graph!;
        var (outCh, inCh, k) = (d[0], d[1], d[2]);
        var stages = (int)((k - 1) / 2);
        var src = node.Input(1)!.Constant!.ToFloats();
        var bias = node.Input(2)?.Constant?.ToFloats();
        var hint = node.Name.Length > 0 ? node.Name : "conv";
        var made = new List<Node>();
        var x = node.Input(0)!;
        var ch = inCh;
        for (var s = 0; s < stages - 1; s++)
        {
            var mid = Math.Max(outCh, inCh);
            // Identity on the first channels (the teacher's function at the start), small noise elsewhere so the
            // other channels can learn (all-zero weights on both sides of a channel get no gradient).
            var init = Dirac(mid, ch);
            var noise = new Random(s + 17 * (int)k);
            for (var i = 0; i < init.Length; i++) if (init[i] == 0) init[i] = (float)((noise.NextDouble() - 0.5) * 0.02);
            var conv = Conv3x3(g, node, x, init, mid, ch, null, 1, null, $"{hint}_s{s}");
            var relu = Relu(g, node, conv.Outputs[0], $"{hint}_s{s}");
            made.Add(conv);
            made.Add(relu);
            x = relu.Outputs[0];
            ch = mid;
        }
        var last = new float[outCh * ch * 9];
        var c = k / 2;
        for (long o = 0; o < outCh; o++)
            for (long i = 0; i < inCh; i++)
                for (var dy = -1; dy <= 1; dy++)
                    for (var dx = -1; dx <= 1; dx++)
                        last[(o * ch + i) * 9 + (dy + 1) * 3 + dx + 1] = src[((o * inCh + i) * k + c + dy) * k + c + dx];
        var final = Conv3x3(g, node, x, last, outCh, ch, bias, Stride(node), null, $"{hint}_s{stages - 1}");
        made.Add(final);
        Retire(g, node, final.Outputs[0]);
        return made;
    }

}

/// <summary>1x1 conv -> 3x3 conv with padding 1, the teacher's weight at the centre tap (exact).</summary>
public sealed class PointwiseTo3x3 : Replacement
{
    public override string Name => "1x1-to-3x3";
    public override string Summary => "1x1 conv -> 3x3 conv (pad 1) with the teacher's weight at the centre tap";
    public override string OpType => "Conv";

    public override bool CanReplace(Node node, Capability capability) =>
        IsConv2d(node, out var d) && d[2] == 1 && d[3] == 1 && node.GetInt("group", 1) == 1
        && LargeKernelToStacked3x3.Pads(node).All(p => p == 0) && LargeKernelToStacked3x3.Dilation1(node)
        && Dims(node.Input(0)) is { Length: 4 };

    public override IReadOnlyList<Node> Replace(Node node, Capability capability)
    {
        IsConv2d(node, out var d);
        var g = node.Graph!;
        var src = node.Input(1)!.Constant!.ToFloats();
        var w = new float[d[0] * d[1] * 9];
        for (long i = 0; i < d[0] * d[1]; i++) w[i * 9 + 4] = src[i];
        var hint = node.Name.Length > 0 ? node.Name : "conv1x1";
        var x = node.Input(0)!;
        var bias = node.Input(2)?.Constant?.ToFloats();
        var conv = Conv3x3(g, node, x, w, d[0], d[1], bias, LargeKernelToStacked3x3.Stride(node), null, hint + "_3x3");
        Retire(g, node, conv.Outputs[0]);
        return [conv];
    }
}

/// <summary>Residual Add of two feature maps -> Concat along channels + 3x3 conv that starts as the sum (exact at init).</summary>
public sealed class AddToConcatConv : Replacement
{
    public override string Name => "concat-conv";
    public override string Summary => "residual Add -> Concat + 3x3 conv initialised to the sum";
    public override string OpType => "Add";

    public override bool CanReplace(Node node, Capability capability) =>
        node.Input(0) is { IsConstant: false } a && node.Input(1) is { IsConstant: false } b
        && Dims(a) is { Length: 4 } da && Dims(b) is { } db && da.SequenceEqual(db);

    public override IReadOnlyList<Node> Replace(Node node, Capability capability)
    {
        var g = node.Graph!;
        var c = Dims(node.Input(0))![1];
        var hint = node.Name.Length > 0 ? node.Name : "add";
        var cat = new Node("Concat", [node.Input(0), node.Input(1)], [new Value(g.FreshName(hint + "_cat"))],
            [IRAttribute.Int("axis", 1)], g.FreshName(hint + "_cat"));
        g.InsertBefore(node, cat);
        var w = new float[c * 2 * c * 9];
        for (long o = 0; o < c; o++)
        {
            w[(o * 2 * c + o) * 9 + 4] = 1;
            w[(o * 2 * c + c + o) * 9 + 4] = 1;
        }
        var conv = Conv3x3(g, node, cat.Outputs[0], w, c, 2 * c, null, 1, null, hint + "_conv");
        Retire(g, node, conv.Outputs[0]);
        return [cat, conv];
    }
}

/// <summary>
/// A max-pool the chip rejects -> the 2x2 stride-2 max-pool it has when the output size is the same (the student's
/// earlier layers learn to put the maximum where the smaller window sees it), else a stride-2 3x3 conv starting as an average.
/// </summary>
public sealed class MaxPoolTo2x2 : Replacement
{
    public override string Name => "maxpool-2x2";
    public override string Summary => "k x k max-pool -> 2x2 stride-2 max-pool with the same output size";
    public override string OpType => "MaxPool";

    public override bool CanReplace(Node node, Capability capability) =>
        Dims(node.Input(0)) is { Length: 4 } x && Dims(node.Outputs[0]) is { Length: 4 } y
        && x[2] / 2 == y[2] && x[3] / 2 == y[3] && node.Outputs.Count(o => !o.IsAbsent) == 1;

    public override IReadOnlyList<Node> Replace(Node node, Capability capability)
    {
        node.Attributes["kernel_shape"] = IRAttribute.Ints("kernel_shape", 2, 2);
        node.Attributes["strides"] = IRAttribute.Ints("strides", 2, 2);
        node.Attributes["pads"] = IRAttribute.Ints("pads", 0, 0, 0, 0);
        node.Attributes.Remove("ceil_mode");
        node.Attributes.Remove("auto_pad");
        node.Attributes.Remove("dilations");
        return [node];
    }
}

/// <summary>Smooth activations (GELU, Sigmoid, HardSwish, Tanh...) -> ReLU, as in Arch-Net's students.</summary>
public sealed class SmoothActivationToRelu(string opType) : Replacement
{
    public override string Name => opType.ToLowerInvariant() + "-to-relu";
    public override string Summary => opType + " -> ReLU";
    public override string OpType => opType;
    public override bool CanReplace(Node node, Capability capability) => node.Inputs.Count >= 1 && capability.Find("", "Relu") is not null;

    public override IReadOnlyList<Node> Replace(Node node, Capability capability)
    {
        node.OpType = "Relu";
        node.Attributes.Clear();
        node.TruncateInputs(1);
        return [node];
    }
}

/// <summary>The catalog, in the order tried; the first whose precondition holds replaces the node.</summary>
public static class ReplacementCatalog
{
    public static IReadOnlyList<Replacement> All { get; } =
    [
        new GroupedToRegularConv(),
        new LargeKernelToStacked3x3(),
        new PointwiseTo3x3(),
        new AddToConcatConv(),
        new MaxPoolTo2x2(),
        new SmoothActivationToRelu("Gelu"),
        new SmoothActivationToRelu("Sigmoid"),
        new SmoothActivationToRelu("HardSwish"),
        new SmoothActivationToRelu("HardSigmoid"),
        new SmoothActivationToRelu("Tanh"),
    ];

    /// <summary>The retrain remedies for the audit: one per replacement, with the same precondition.</summary>
    public sealed class Remedies : IRemedySource
    {
        public void RegisterRemedies(RemedyRegistry registry)
        {
            foreach (var r in All)
                registry.Register(r.OpType, Remedy.Retrain(r.Summary), canHandle: r.CanReplace);
        }
    }

    /// <summary>
    /// Replaces every node the capability rejects (or marked for retraining) until all are supported; nodes that
    /// no replacement handles are an error naming them, unless <paramref name="keepUnreplaced"/> (the caller then decides
    /// what happens to them, e.g. host fallback). Returns what was replaced, in graph order.
    /// </summary>
    public static List<ReplacementRecord> BuildStudent(Model student, Capability capability, Func<Node, bool>? marked = null,
        bool keepUnreplaced = false)
    {
        var graph = student.Graph;
        var records = new List<ReplacementRecord>();
        for (var round = 0; round < 4; round++)
        {
            ShapeInference.Run(graph);
            var pending = graph.Nodes.Where(n => !(n.OpType == "Constant" && n.IsDefaultDomain)
                && (!capability.Check(n).IsSupported || (round == 0 && marked?.Invoke(n) == true))).ToList();
            if (pending.Count == 0) break;
            foreach (var node in pending)
            {
                var r = All.FirstOrDefault(r => r.OpType == node.OpType && r.CanReplace(node, capability));
                if (r is null) continue;
                var (name, op, output) = (node.DisplayName, node.OpType, node.Outputs[0].Name);
                r.Replace(node, capability);
                records.Add(new ReplacementRecord(name, op, r.Summary, output));
            }
        }
        graph.SortTopologically();
        ShapeInference.Run(graph);
        var left = graph.Nodes.Where(n => !(n.OpType == "Constant" && n.IsDefaultDomain))
            .Select(n => (n, c: capability.Check(n))).Where(p => !p.c.IsSupported).ToList();
        if (left.Count > 0 && !keepUnreplaced)
            throw new ArchNetException($"distillation has no replacement for {left.Count} node(s) on {capability.Name}: "
                + string.Join("; ", left.Take(5).Select(p => $"{p.n.DisplayName} ({p.n.OpType}): {p.c}")));
        return records;
    }
}
