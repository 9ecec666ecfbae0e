using ArchNet.Capabilities;
using ArchNet.IR;
using ArchNet.Passes.Distillation.Lowering;
using ArchNet.Passes.Legalization;
using ArchNet.Passes.Rules;
using TorchSharp;
using IRAttribute = ArchNet.IR.Attribute;

namespace ArchNet.Passes.Distillation;

/// <summary>One replacement made in the student: the teacher's node, its op, what replaced it, and the value it reproduces.</summary>
public sealed record ReplacementRecord(string Node, string OpType, string Replacement, string Output)
{
    /// <summary>Every teacher node the replacement stands in for (more than <see cref="Node"/> for a synthesized region).</summary>
    public IReadOnlyList<string> Covers { get; init; } = [Node];
}

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

    protected internal static Node Conv3x3(Graph g, Node anchor, Value x, float[] weight, long outCh, long inCh, float[]? bias, long stride,
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
        var dst = ConvWeights.BlockDiagonal(node.Input(1)!.Constant!.ToFloats(), outCh, cg, groups, kh * kw);
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

/// <summary>
/// A patchify conv (kernel = stride = k, no padding: a ViT's patch embedding) -> n stride-2 3x3 convs (padding 1) with
/// ReLU between, n chosen so the output size is the same (28 -> 14 -> 7 -> 4 for 7x7 patches). The first n-1 convs
/// start as tap copies (each output channel copies one tap of one input channel, so nothing is lost on the way: 9x the
/// channels per stage), and the last gathers the teacher's k x k kernel from them at the offsets of the middle patch:
/// that patch is exact at the start, the others see the kernel shifted by the difference of the strides (2^n vs k)
/// and training recovers it. The copies go through ReLU, so they are exact for non-negative inputs (images).
/// </summary>
public sealed class PatchifyToStrided3x3 : Replacement
{
    /// <summary>Arch-Net's input-channel limit: the tap copies multiply channels by 9 per stage.</summary>
    private const long MaxChannels = 512;

    public override string Name => "patchify-to-strided-3x3";
    public override string Summary => "k x k stride-k patch conv -> n stride-2 3x3 convs with ReLU between (tap copies, then the teacher's kernel)";
    public override string OpType => "Conv";

    public override bool CanReplace(Node node, Capability capability) =>
        IsConv2d(node, out var d) && node.GetInt("group", 1) == 1 && d[2] == d[3] && d[2] > 3
        && LargeKernelToStacked3x3.Pads(node).All(p => p == 0) && LargeKernelToStacked3x3.Dilation1(node)
        && node.GetInts("strides") is { Length: 2 } st && st[0] == d[2] && st[1] == d[2]
        && Stages(node) is { } n && d[1] * Pow9(n - 1) <= MaxChannels;

    private static long Pow9(int e) => (long)Math.Pow(9, e);

    /// <summary>How many stride-2 pad-1 3x3 convs give the teacher's output size, or null.</summary>
    private static int? Stages(Node node)
    {
        if (Dims(node.Input(0)) is not [_, _, var h, var w] || Dims(node.Outputs[0]) is not [_, _, var oh, var ow] || h <= 0 || w <= 0) return null;
        for (var n = 1; n <= 5; n++)
        {
            long a = h, b = w;
            for (var i = 0; i < n; i++) (a, b) = ((a + 1) / 2, (b + 1) / 2);
            if (a == oh && b == ow) return n;
            if (a < oh || b < ow) return null;
        }
        return null;
    }

    /// <summary>Digits e_s in {-1, 0, 1} with sum 2^s e_s = offset (one stage's tap per digit), or null when out of reach.</summary>
    private static int[]? Digits(long offset, int n)
    {
        var e = new int[n];
        for (var code = 0; code < (int)Math.Pow(3, n); code++)
        {
            long sum = 0;
            for (int s = 0, c = code; s < n; s++, c /= 3) sum += (e[s] = c % 3 - 1) * (1L << s);
            if (sum == offset) return e;
        }
        return null;
    }

    public override IReadOnlyList<Node> Replace(Node node, Capability capability)
    {
        IsConv2d(node, out var d);
        var g = node.Graph!;
        var (outCh, inCh, k) = (d[0], d[1], d[2]);
        var n = Stages(node)!.Value;
        var outSize = Dims(node.Outputs[0])!;
        var src = node.Input(1)!.Constant!.ToFloats();
        var bias = node.Input(2)?.Constant?.ToFloats();
        var hint = node.Name.Length > 0 ? node.Name : "patch";
        var made = new List<Node>();
        var x = node.Input(0)!;
        var ch = inCh;
        for (var s = 0; s < n - 1; s++)
        {
            var copies = new float[ch * 9 * ch * 9];
            for (long c = 0; c < ch; c++)
                for (var tap = 0; tap < 9; tap++) copies[((c * 9 + tap) * ch + c) * 9 + tap] = 1;
            var conv = Conv3x3(g, node, x, copies, ch * 9, ch, null, 2, null, $"{hint}_s{s}");
            var relu = Relu(g, node, conv.Outputs[0], $"{hint}_s{s}");
            made.Add(conv);
            made.Add(relu);
            x = relu.Outputs[0];
            ch *= 9;
        }
        // Teacher tap p of patch i sits at offset p + (k - 2^n) i from the student's centre 2^n i; match the middle patch.
        int[]? Offset(long p, long size) => Digits(p + (k - (1L << n)) * ((size - 1) / 2), n);
        var last = new float[outCh * ch * 9];
        for (long py = 0; py < k; py++)
            for (long px = 0; px < k; px++)
            {
                if (Offset(py, outSize[2]) is not { } ey || Offset(px, outSize[3]) is not { } ex) continue;
                for (long i = 0; i < inCh; i++)
                {
                    var channel = i;
                    for (var s = 0; s < n - 1; s++) channel = channel * 9 + (ey[s] + 1) * 3 + ex[s] + 1;
                    var tap = (ey[n - 1] + 1) * 3 + ex[n - 1] + 1;
                    for (long o = 0; o < outCh; o++) last[(o * ch + channel) * 9 + tap] = src[((o * inCh + i) * k + py) * k + px];
                }
            }
        var final = Conv3x3(g, node, x, last, outCh, ch, bias, 2, null, $"{hint}_s{n - 1}");
        made.Add(final);
        Retire(g, node, final.Outputs[0]);
        return made;
    }
}

/// <summary>
/// LayerNorm over the last axis -> nothing of its own: its per-channel affine (gamma, beta) and its mean subtraction,
/// both linear, are folded into the constant weights of the linear layers that read it (through data movement that
/// keeps the last axis: Transpose, Reshape, Slice, Gather), W' = (I - 11^T/d) diag(gamma) W and b' = b + beta W.
/// This is Arch-Net's LayerNorm -> BatchNorm at inference time, where BN is a per-channel affine that folds away; a
/// chip without Mul or BN (archnet-transformer) then needs no op for it at all. What it costs: the division by each
/// token's standard deviation is gone (the statistics the student cannot compute), so the student starts off by a
/// per-token scale and distillation retrains the folded weights (and everything before) to recover it.
/// </summary>
public sealed class LayerNormToFoldedAffine : Replacement
{
    public override string Name => "layernorm-to-folded-affine";
    public override string Summary => "LayerNorm -> per-channel affine (BN-like) folded into the linear layers that read it";
    public override string OpType => "LayerNormalization";

    /// <summary>A linear layer reading the normalised value: its weight is [K, N] (or [N, K] when transposed) and its bias, if any, is a constant input.</summary>
    private sealed record Target(Node Layer, bool Transposed, Node? BiasAdd, int BiasIndex);

    public override bool CanReplace(Node node, Capability capability) =>
        Channels(node) is { } d && node.Input(1)?.Constant?.ElementCount == d
        && (node.Input(2) is null || node.Input(2)!.IsAbsent || node.Input(2)!.Constant?.ElementCount == d)
        && node.Outputs.Count(o => !o.IsAbsent) == 1 && Targets(node.Outputs[0], d) is { Count: > 0 };

    private static long? Channels(Node n) =>
        Dims(n.Input(0)) is { Length: >= 2 } x && x[^1] > 0 && n.GetInt("axis", -1) is var a && (a == -1 || a == x.Length - 1) ? x[^1] : null;

    /// <summary>The linear layers reached from <paramref name="v"/> through last-axis-preserving movement; null when any reader is something else.</summary>
    private static List<Target>? Targets(Value v, long d)
    {
        var found = new List<Target>();
        if (v.Producer?.Graph is { } g && g.Outputs.Contains(v)) return null;
        foreach (var (reader, index) in v.Uses)
        {
            var rank = Dims(v)?.Length ?? 0;
            switch (reader.OpType)
            {
                case "MatMul" when index == 0 && reader.Input(1)?.Constant is { Dims: [var k, _] } && k == d:
                {
                    var y = reader.Outputs[0];
                    var add = y.Uses.Count == 1 && y.Uses[0].Node is { OpType: "Add" } a && a.Outputs[0].Shape?.Rank == y.Shape?.Rank ? a : null;
                    var bi = add is null ? -1 : 1 - y.Uses[0].Index;
                    var n = reader.Input(1)!.Constant!.Dims[1];
                    if (add is not null && (add.Input(bi)?.Constant is not { } c || c.ElementCount != n || c.Dims.Length == 0 || c.Dims[^1] != n))
                        (add, bi) = (null, -1);
                    found.Add(new Target(reader, false, add, bi));
                    break;
                }
                case "Gemm" when index == 0 && reader.GetInt("transA", 0) == 0 && reader.GetFloat("alpha", 1) == 1 && reader.GetFloat("beta", 1) == 1
                    && reader.Input(1)?.Constant is { Dims.Length: 2 } w && w.Dims[reader.GetInt("transB", 0) != 0 ? 1 : 0] == d
                    && (reader.Input(2) is null || reader.Input(2)!.IsAbsent || reader.Input(2)!.Constant is { } cb && cb.ElementCount == w.Dims[reader.GetInt("transB", 0) != 0 ? 0 : 1]):
                    found.Add(new Target(reader, reader.GetInt("transB", 0) != 0, null, 2));
                    break;
                case "Transpose" when index == 0 && reader.GetInts("perm") is { } perm && perm.Length == rank && perm[^1] == rank - 1:
                case "Reshape" when index == 0 && Dims(reader.Outputs[0]) is { Length: > 0 } o && o[^1] == d:
                case "Slice" when index == 0 && reader.Input(3)?.Constant is { } axes && axes.ToInt64s().All(a => a != -1 && a != rank - 1):
                case "Gather" when index == 0 && reader.GetInt("axis", 0) is var ax && ax != -1 && ax != rank - 1 && Dims(reader.Outputs[0]) is { Length: > 0 } go && go[^1] == d:
                    if (Targets(reader.Outputs[0], d) is not { } more) return null;
                    found.AddRange(more);
                    break;
                default:
                    return null;
            }
        }
        return found;
    }

    public override IReadOnlyList<Node> Replace(Node node, Capability capability)
    {
        var g = node.Graph!;
        var d = (int)Channels(node)!.Value;
        var gamma = node.Input(1)!.Constant!.ToFloats();
        var beta = node.Input(2) is { Constant: { } bc } ? bc.ToFloats() : new float[d];
        var targets = Targets(node.Outputs[0], d)!;
        var made = new List<Node>();
        foreach (var t in targets)
        {
            var wc = t.Layer.Input(1)!.Constant!;
            var w = wc.ToFloats();
            var n = (int)(t.Transposed ? wc.Dims[0] : wc.Dims[1]);
            int At(int k, int j) => t.Transposed ? j * d + k : k * n + j;
            var folded = new float[w.Length];
            var shift = new float[n];
            for (var j = 0; j < n; j++)
            {
                double mean = 0, bw = 0;
                for (var k = 0; k < d; k++) { mean += gamma[k] * w[At(k, j)]; bw += beta[k] * w[At(k, j)]; }
                mean /= d;
                for (var k = 0; k < d; k++) folded[At(k, j)] = (float)(gamma[k] * w[At(k, j)] - mean);
                shift[j] = (float)bw;
            }
            var hint = t.Layer.Name.Length > 0 ? t.Layer.Name : "linear";
            t.Layer.SetInput(1, g.AddConstant(hint + "_ln_folded_w", TensorData.FromFloats([.. wc.Dims], folded)));
            if (t.Layer.OpType == "Gemm" || t.BiasAdd is not null)
            {
                var owner = t.BiasAdd ?? t.Layer;
                var old = owner.Input(t.BiasIndex)?.Constant;
                var b = old?.ToFloats() ?? new float[n];
                var nb = g.AddConstant(hint + "_ln_folded_b", TensorData.FromFloats(old is null ? [n] : [.. old.Dims], [.. b.Select((v, j) => v + shift[j])]));
                if (owner.Inputs.Count > t.BiasIndex) owner.SetInput(t.BiasIndex, nb); else owner.AppendInput(nb);
            }
            else
            {
                // A bare MatMul gets the shift as a new bias Add (Add is on every target that has attention).
                var y = t.Layer.Outputs[0];
                var sum = new Value(g.FreshName(y.Name + "_ln_shift"), y.Type);
                g.ReplaceAllUses(y, sum);
                var add = new Node("Add", [y, g.AddConstant(hint + "_ln_folded_b", TensorData.FromFloats([n], shift))], [sum], null, g.FreshName(hint + "_ln_shift"));
                g.InsertAfter(t.Layer, add);
                made.Add(add);
            }
            made.Insert(0, t.Layer);
        }
        g.ReplaceAllUses(node.Outputs[0], node.Input(0)!);
        g.Remove(node);
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
        var w = ConvWeights.CentreTap(node.Input(1)!.Constant!.ToFloats());
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
        var w = ConvWeights.CentreTap(ConvWeights.SumOfParts((int)c, [1, 1]));
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

/// <summary>
/// A bounded ReLU (ReLU6 exported as Clip(x, 0, c)) -> ReLU: the same function wherever x stays below c, which is where
/// calibration images mostly keep it; distillation retrains the rest as it does for the smooth activations.
/// </summary>
public sealed class BoundedReluToRelu : Replacement
{
    public override string Name => "bounded-relu-to-relu";
    public override string Summary => "Clip(x, 0, c) (ReLU6) -> ReLU (the same below c; retrained above)";
    public override string OpType => "Clip";

    public override bool CanReplace(Node node, Capability capability) =>
        capability.Find("", "Relu") is not null && Bound(node, 1, "min") == 0f && Bound(node, 2, "max") is > 0f;

    private static float? Bound(Node clip, int input, string attribute) =>
        clip.Input(input) is { IsAbsent: false } v ? (v.Constant is { ElementCount: 1 } t ? (float)t.ToDoubles()[0] : null)
        : clip.HasAttr(attribute) ? clip.GetFloat(attribute, 0) : null;

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
    /// <summary>How a record (and the audit) names an exact rewrite that only a replacement made possible.</summary>
    public const string AfterReplacement = "exact, once the replacements around it are made";

    public static IReadOnlyList<Replacement> All { get; } =
    [
        new GroupedToRegularConv(),
        new PatchifyToStrided3x3(),
        new LargeKernelToStacked3x3(),
        new PointwiseTo3x3(),
        new AddToConcatConv(),
        new MaxPoolTo2x2(),
        new LayerNormToFoldedAffine(),
        new SmoothActivationToRelu("Gelu"),
        new SmoothActivationToRelu("Sigmoid"),
        new SmoothActivationToRelu("HardSwish"),
        new SmoothActivationToRelu("HardSigmoid"),
        new SmoothActivationToRelu("Tanh"),
        new BoundedReluToRelu(),
    ];

    /// <summary>
    /// Divides gamma of each LayerNorm that <see cref="LayerNormToFoldedAffine"/> will fold by the mean per-token standard
    /// deviation of its input over (up to 64 of) the calibration items. The folded student then computes (x - mean) / s
    /// with one s per LayerNorm instead of each token's own: exact for tokens of average deviation, and training starts
    /// near the teacher rather than off by the residual stream's scale. The graph runs one item at a time (its shapes
    /// may be folded at batch 1).
    /// </summary>
    public static void ScaleLayerNormsByTokenDeviation(Model model, Capability capability, TensorData calibration)
    {
        var folding = new LayerNormToFoldedAffine();
        var norms = model.Graph.Nodes.Where(n => n.OpType == folding.OpType && !capability.Check(n).IsSupported && folding.CanReplace(n, capability)).ToList();
        var inputs = model.Graph.Inputs.Where(v => !v.IsConstant).ToList();
        if (norms.Count == 0 || inputs.Count != 1) return;
        var watched = norms.Select(n => n.Input(0)!).Distinct().ToList();
        var opset = model.Opset() == 0 ? GraphModule.DefaultOpset : model.Opset();
        var sums = new double[watched.Count];
        var count = 0;
        using (var module = new GraphModule(model.Graph.Nodes, inputs, watched, opset))
        using (var scope = torch.NewDisposeScope())
        using (var noGrad = torch.no_grad())
        {
            module.eval();
            var data = TorchTensors.FromData(calibration);
            var items = (int)Math.Min(64, data.shape[0]);
            for (var i = 0; i < items; i++, count++)
            {
                var outs = module.forward([data.narrow(0, i, 1)]);
                for (var j = 0; j < watched.Count; j++)
                    sums[j] += TorchTensors.ToScalar((outs[j] - outs[j].mean([-1L], true)).pow(2).mean([-1L]).sqrt().mean());
            }
        }
        if (count == 0) return;
        foreach (var norm in norms)
        {
            var deviation = sums[watched.IndexOf(norm.Input(0)!)] / count;
            if (!(deviation > 1e-6) || !double.IsFinite(deviation)) continue;
            var gamma = norm.Input(1)!.Constant!.ToFloats().Select(g => (float)(g / deviation)).ToArray();
            norm.SetInput(1, model.Graph.AddConstant(norm.Input(1)!.Name + "_per_deviation", TensorData.FromFloats([gamma.Length], gamma)));
        }
    }

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
    /// <param name="calibration">Optional calibration items of the model's single input (first dimension = items): with them,
    /// LayerNorms folded into their readers also take the average per-token deviation of their input (see
    /// <see cref="ScaleLayerNormsByTokenDeviation"/>), so the student starts at the teacher's scale.</param>
    public static List<ReplacementRecord> BuildStudent(Model student, Capability capability, Func<Node, bool>? marked = null,
        bool keepUnreplaced = false, TensorData? calibration = null)
    {
        var graph = student.Graph;
        var records = new List<ReplacementRecord>();
        if (calibration is not null)
        {
            ShapeInference.Run(graph);
            ScaleLayerNormsByTokenDeviation(student, capability, calibration);
        }
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
                var made = r.Replace(node, capability);
                // A replacement that folds the node away leaves no value of its own: name the first value it changed.
                if (!graph.Nodes.Any(n => n.Outputs.Any(o => o.Name == output)) && made.Count > 0) output = made[0].Outputs[0].Name;
                records.Add(new ReplacementRecord(name, op, r.Summary, output));
            }
            // What the replacements leave (a channels-last Linear whose LayerNorm and GELU are gone, a ReLU6 now a ReLU)
            // may have an exact rewrite now: the same legalizer as before distillation, on what is still rejected.
            ShapeInference.Run(graph);
            var existing = graph.Nodes.Select(n => n.DisplayName).ToHashSet(StringComparer.Ordinal);
            var after = new PassContext(SilentDiagnostics.Instance);
            new Legalizer(new CapabilityOracle(capability)).Run(student, after, "legalize after replacement");
            // Listed with the replacements that made them possible (the audit names them so too); the top rewrite of each plan.
            foreach (var rewrite in after.Rewrites.DistinctBy(r => r.Node).Where(r => existing.Contains(r.Node) && records.All(x => !x.Covers.Contains(r.Node))))
                records.Add(new ReplacementRecord(rewrite.Node, rewrite.OpType, $"{rewrite.Rule} ({AfterReplacement})", ""));
        }
        graph.SortTopologically();
        ShapeInference.Run(graph);
        // The generic student: what no rewrite or template reached, region by region (a region no student can stand in
        // for stays, and the refusal below names it with the reason).
        var rejected = graph.Nodes.Where(n => !(n.OpType == "Constant" && n.IsDefaultDomain) && !capability.Check(n).IsSupported).ToList();
        var refusals = new List<string>();
        foreach (var region in SynthesizedStudent.Regions(graph, rejected))
        {
            if (SynthesizedStudent.Refusal(region) is { } why) { refusals.Add(why); continue; }
            records.Add(SynthesizedStudent.Replace(student, region, capability, calibration));
            ShapeInference.Run(graph);
        }
        graph.SortTopologically();
        ShapeInference.Run(graph);
        var left = graph.Nodes.Where(n => !(n.OpType == "Constant" && n.IsDefaultDomain))
            .Select(n => (n, c: capability.Check(n))).Where(p => !p.c.IsSupported).ToList();
        // One node a line, as the refusal after legalization lists them; a model far from the chip names the first ones.
        const int Listed = 10;
        if (left.Count > 0 && !keepUnreplaced)
            throw new ArchNetException($"distillation has no replacement for {left.Count} node(s) on {capability.Name}:\n"
                + string.Join("\n", left.Take(Listed).Select(p => $"  {p.n.DisplayName} ({p.n.OpType}): {p.c}"))
                + (left.Count > Listed ? $"\n  ... and {left.Count - Listed} more" : "")
                + (refusals.Count > 0 ? "\nno synthesized student can stand in for them:\n" + string.Join("\n", refusals) : ""));
        return records;
    }
}
