using ArchNet.IR;
using ArchNet.Passes.Rewriting;
using static ArchNet.Passes.Rewriting.Patterns;

namespace ArchNet.Passes.Rules;

/// <summary>Recognizes all-zero tensors: zero constants and ConstantOfShape(value 0) of a constant shape.</summary>
internal static class Zeros
{
    public static bool Is(Value? v)
    {
        if (v?.Constant is { } c) return c.ElementType.IsFloatingPoint() && c.ToDoubles().All(d => d == 0);
        if (Producer(v, "ConstantOfShape") is { } cos && cos.Input(0)?.IsConstant == true)
            return cos.Attr("value")?.AsTensor() is not { } t || t.ToDoubles().All(d => d == 0);
        return false;
    }

    /// <summary>For Concat(axis 1) of one NCHW tensor and zero tensors: the tensor, its channel offset and the total channels.</summary>
    public static (Value X, int Offset, int Total, long[] XShape)? ChannelPadding(Node concat)
    {
        if (concat.OpType != "Concat" || concat.Outputs[0].Shape?.ToArray() is not [_, var total, _, _]) return null;
        var axis = concat.GetInt("axis", 0);
        if (axis != 1 && axis != -3) return null;
        Value? x = null;
        var offset = 0;
        var running = 0L;
        foreach (var input in concat.Inputs)
        {
            if (input?.Shape?.ToArray() is not [_, var c, _, _]) return null;
            if (!Is(input))
            {
                if (x is not null) return null;
                x = input;
                offset = (int)running;
            }
            running += c;
        }
        return x is not null && Nchw(x) is { } xs && xs[1] < total ? (x, offset, (int)total, xs) : null;
    }
}

/// <summary>Concatenating zero channels to x (ConstantOfShape + Concat) is a 1x1 Conv with identity weights padded by zero filters.</summary>
public sealed class ZeroChannelConcatToConv : RewriteRule
{
    public override string Name => "ZeroChannelConcatToConv";
    public override string Summary => "Concat(x, zeros) on channels -> Conv1x1 with identity weights padded with zero filters";
    public override IReadOnlyList<string> RootOps { get; } = ["Concat"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (Zeros.ChannelPadding(root) is not var (x, offset, total, xs)) return null;
        var c = (int)xs[1];
        var w = new float[total * c];
        for (var i = 0; i < c; i++) w[(offset + i) * c + i] = 1;
        return RewriteMatch.Of(root, b => b.Replace(root.Outputs[0], Emit.Conv(b, x, w, [total, c, 1, 1], null, [1, 1], [0, 0, 0, 0])));
    }
}

/// <summary>A Conv reading x padded with zero channels only needs the weights of x's channels.</summary>
public sealed class ZeroChannelConcatIntoConv : RewriteRule
{
    public override string Name => "ZeroChannelConcatIntoConv";
    public override string Summary => "Conv(Concat(x, zeros)) -> Conv(x) with the zero channels' weights dropped";
    public override IReadOnlyList<string> RootOps { get; } = ["Conv"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (Producer(root.Input(0), "Concat") is not { } concat || !OnlyUsedBy(concat.Outputs[0], root)) return null;
        if (Zeros.ChannelPadding(concat) is not var (x, offset, total, xs) || Conv2d.Of(root) is not { Group: 1 } c) return null;
        var cin = (int)xs[1];
        var k = c.KH * c.KW;
        var w = new float[c.M * cin * k];
        for (var o = 0; o < c.M; o++) Array.Copy(c.W, (o * total + offset) * k, w, o * cin * k, cin * k);
        return new RewriteMatch([concat, root], b =>
        {
            List<Value?> inputs = [x, b.Floats("W", [c.M, cin, c.KH, c.KW], w)];
            if (c.HasBias) inputs.Add(root.Input(2));
            b.Replace(root.Outputs[0], b.Op("Conv", inputs, root.Attributes.Values));
        });
    }
}

/// <summary>A Slice of a channel range (step 1) is a 1x1 Conv whose weights select those channels.</summary>
public sealed class ChannelSliceToConv : RewriteRule
{
    public override string Name => "ChannelSliceToConv";
    public override string Summary => "Slice(x[N,C,H,W], channels a:b) -> Conv1x1 with selection weights";
    public override IReadOnlyList<string> RootOps { get; } = ["Slice"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (Nchw(root.Input(0)) is not { } xs || Nchw(root.Outputs[0]) is not { } ys) return null;
        // Only the channel axis may change: then the output is channels [start, start+count) of the input.
        if (ys[0] != xs[0] || ys[2] != xs[2] || ys[3] != xs[3] || ys[1] >= xs[1]) return null;
        long[]? starts = root.GetInts("starts")?.ToArray() ?? ConstInts(root.Input(1));
        long[]? axes = root.GetInts("axes")?.ToArray() ?? (root.Input(3) is null ? null : ConstInts(root.Input(3)));
        var steps = root.Input(4) is null ? null : ConstInts(root.Input(4));
        if (starts is null || (root.Input(3) is not null && axes is null) || (root.Input(4) is not null && steps is null)) return null;
        axes ??= [.. Enumerable.Range(0, starts.Length).Select(i => (long)i)];
        var channel = Array.FindIndex(axes, a => a == 1 || a == -3);
        if (channel < 0 || steps is not null && steps[channel] != 1) return null;
        var start = starts[channel] < 0 ? starts[channel] + xs[1] : starts[channel];
        start = Math.Clamp(start, 0, xs[1]);
        int c = (int)xs[1], count = (int)ys[1];
        var w = new float[count * c];
        for (var i = 0; i < count; i++) w[i * c + start + i] = 1;
        return RewriteMatch.Of(root, b => b.Replace(root.Outputs[0], Emit.Conv(b, root.Input(0)!, w, [count, c, 1, 1], null, [1, 1], [0, 0, 0, 0])));
    }
}

/// <summary>Splitting channels is one selection Conv per part.</summary>
public sealed class ChannelSplitToConvs : RewriteRule
{
    public override string Name => "ChannelSplitToConvs";
    public override string Summary => "Split(x[N,C,H,W], channels) -> one Conv1x1 with selection weights per output";
    public override IReadOnlyList<string> RootOps { get; } = ["Split"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (Nchw(root.Input(0)) is not { } xs || root.GetInt("axis", 0) is not (1 or -3)) return null;
        var sizes = root.Outputs.Select(o => Nchw(o)?[1]).ToList();
        if (sizes.Any(s => s is null) || sizes.Sum() != xs[1]) return null;
        var c = (int)xs[1];
        return RewriteMatch.Of(root, b =>
        {
            var offset = 0;
            for (var p = 0; p < root.Outputs.Count; p++)
            {
                var count = (int)sizes[p]!.Value;
                var w = new float[count * c];
                for (var i = 0; i < count; i++) w[i * c + offset + i] = 1;
                offset += count;
                if (!root.Outputs[p].IsAbsent)
                    b.Replace(root.Outputs[p], Emit.Conv(b, root.Input(0)!, w, [count, c, 1, 1], null, [1, 1], [0, 0, 0, 0], suffix: $"W{p}"));
            }
        });
    }
}

/// <summary>Nearest-neighbour 2x upsampling whose coordinates map output i to input i/2 (floor).</summary>
internal static class NearestUpsample2x
{
    public static long[]? Of(Node resize, RewriteContext context)
    {
        if (resize.OpType != "Resize" || Nchw(resize.Input(0)) is not { } xs || Nchw(resize.Outputs[0]) is not { } ys) return null;
        if (ys[0] != xs[0] || ys[1] != xs[1] || ys[2] != 2 * xs[2] || ys[3] != 2 * xs[3]) return null;
        if (resize.GetString("mode", "nearest") != "nearest") return null;
        var coord = resize.GetString("coordinate_transformation_mode", context.Opset >= 11 ? "half_pixel" : "asymmetric");
        var rounding = resize.GetString("nearest_mode", "round_prefer_floor");
        if (context.Opset < 11) rounding = "floor";
        var ok = coord switch
        {
            "asymmetric" => rounding is "floor" or "round_prefer_floor",
            "half_pixel" or "pytorch_half_pixel" => rounding is "round_prefer_floor" or "round_prefer_ceil",
            _ => false,
        };
        if (!ok || resize.GetInt("antialias", 0) != 0 || resize.HasAttr("axes")) return null;
        return xs;
    }
}

/// <summary>Nearest 2x upsampling is a depthwise ConvTranspose with 2x2 kernels of ones and stride 2.</summary>
public sealed class ResizeNearest2xToConvTranspose : RewriteRule
{
    public override string Name => "ResizeNearest2xToConvTranspose";
    public override string Summary => "Resize(nearest, x2) -> depthwise ConvTranspose(2x2 ones, stride 2)";
    public override IReadOnlyList<string> RootOps { get; } = ["Resize"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (NearestUpsample2x.Of(root, context) is not { } xs) return null;
        var c = xs[1];
        return RewriteMatch.Of(root, b => b.Replace(root.Outputs[0], b.Op("ConvTranspose",
            [root.Input(0), b.Floats("W", [c, 1, 2, 2], Enumerable.Repeat(1f, (int)(c * 4)).ToArray())],
            [Ints("kernel_shape", 2, 2), Ints("strides", 2, 2), Int("group", c)])));
    }
}

/// <summary>Nearest 2x upsampling is a 1x1 Conv making four copies of every channel, then DepthToSpace(2).</summary>
public sealed class ResizeNearest2xToDepthToSpace : RewriteRule
{
    public override string Name => "ResizeNearest2xToDepthToSpace";
    public override string Summary => "Resize(nearest, x2) -> Conv1x1 (4 copies per channel) + DepthToSpace(2, DCR)";
    public override IReadOnlyList<string> RootOps { get; } = ["Resize"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (NearestUpsample2x.Of(root, context) is not { } xs) return null;
        var c = (int)xs[1];
        // DCR: output channel ch at block position k reads input channel k*C + ch.
        var w = new float[4 * c * c];
        for (var k = 0; k < 4; k++)
            for (var ch = 0; ch < c; ch++) w[(k * c + ch) * c + ch] = 1;
        return RewriteMatch.Of(root, b =>
        {
            var copies = Emit.Conv(b, root.Input(0)!, w, [4 * c, c, 1, 1], null, [1, 1], [0, 0, 0, 0]);
            b.Replace(root.Outputs[0], b.Op("DepthToSpace", [copies], [Int("blocksize", 2), IR.Attribute.String("mode", "DCR")]));
        });
    }
}

/// <summary>
/// Adding two NCHW tensors is concatenating them and applying a 1x1 Conv with weights [I I] (for chips without Add).
/// On a chip whose activations cannot be negative, the concatenated tensor would clip a signed operand at 0; there a
/// signed operand a produced by a linear conv enters as its two non-negative parts, Relu(a) and Relu(-a) (the
/// negated conv computes -a), with weights [I -I]: Relu(a) - Relu(-a) = a, exact in float and in every unsigned
/// integer format, at the price of the mirrored conv. Operands known to be non-negative (after a ReLU) enter once.
/// </summary>
public sealed class ResidualAddToConcatConv : RewriteRule
{
    public override string Name => "ResidualAddToConcatConv";
    public override string Summary => "Add(a, b) on NCHW -> Conv1x1(Concat(a, b)) with weights [I I]; on unsigned-only chips a signed a enters as Relu(a), Relu(-a) with [I -I]";
    public override IReadOnlyList<string> RootOps { get; } = ["Add"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (root.Input(0) is not { IsConstant: false } a || root.Input(1) is not { IsConstant: false } bb) return null;
        if (Nchw(a) is not { } sa || Nchw(bb) is not { } sb || !sa.SequenceEqual(sb)) return null;
        var operands = new List<(Value Value, Func<RewriteBuilder, Value>? Negated)>();
        foreach (var v in new[] { a, bb })
        {
            if (!context.NonNegativeActivations || Signs.NonNegative(v)) { operands.Add((v, null)); continue; }
            if (Signs.Negation(v) is not { } negated) return null;
            operands.Add((v, negated));
        }
        var c = (int)sa[1];
        int[] signs = [.. operands.SelectMany(o => o.Negated is null ? new[] { 1 } : [1, -1])];
        var w = ConvWeights.SumOfParts(c, signs);
        return RewriteMatch.Of(root, b =>
        {
            var inputs = new List<Value?>();
            foreach (var (v, negated) in operands)
            {
                if (negated is null) { inputs.Add(v); continue; }
                inputs.Add(b.Op("Relu", v));
                inputs.Add(b.Op("Relu", negated(b)));
            }
            var cat = b.Op("Concat", inputs, [Int("axis", 1)]);
            b.Replace(root.Outputs[0], Emit.Conv(b, cat, w, [c, signs.Length * c, 1, 1], null, [1, 1], [0, 0, 0, 0]));
        });
    }
}

/// <summary>What rules can prove about the sign of a value, and how to compute its negation with the chip's own ops.</summary>
internal static class Signs
{
    private static readonly HashSet<string> SignPreserving =
        ["MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Slice", "Reshape", "Flatten", "Transpose",
         "Squeeze", "Unsqueeze", "Identity", "Resize", "Split", "Gather", "Pad"];

    /// <summary>True when every element of <paramref name="v"/> is >= 0 whatever the input (ReLU family, Sigmoid,
    /// Softmax, and data movement, pooling or concatenation of such values).</summary>
    public static bool NonNegative(Value? v, int depth = 0)
    {
        if (v?.Producer is not { IsDefaultDomain: true } p || depth > 16) return false;
        return p.OpType switch
        {
            "Relu" or "Sigmoid" or "Softmax" or "Abs" => true,
            "Clip" => ScalarFloat(p.Input(1)) is >= 0f,
            "Concat" => p.Inputs.All(i => i is not null && NonNegative(i, depth + 1)),
            "Pad" => (p.Input(2) is null || ScalarFloat(p.Input(2)) is >= 0f) && NonNegative(p.Input(0), depth + 1),
            _ when SignPreserving.Contains(p.OpType) => NonNegative(p.Input(0), depth + 1),
            _ => false,
        };
    }

    /// <summary>
    /// A builder of -v when v is a linear conv's output or a channel slice of one: the same conv with negated weights
    /// and bias (sliced to the slice's channels). Null when v has no such producer.
    /// </summary>
    public static Func<RewriteBuilder, Value>? Negation(Value v)
    {
        var (producer, first, count) = (v.Producer, 0, -1);
        if (producer?.OpType == "Slice" && producer.IsDefaultDomain)
        {
            if (ConstInts(producer.Input(1)) is not [var start] || ConstInts(producer.Input(2)) is not [var end]
                || ConstInts(producer.Input(3)) is not [1 or -3] || (producer.Input(4) is { } steps && ConstInts(steps) is not [1]))
                return null;
            if (Nchw(producer.Input(0)) is not { } xs || start < 0 || end > xs[1] || end <= start) return null;
            (first, count) = ((int)start, (int)(end - start));
            producer = producer.Input(0)!.Producer;
        }
        if (producer is null || Conv2d.Of(producer) is not { } conv || conv.Dilated) return null;
        if (count < 0) count = conv.M;
        if (conv.Group != 1 && count != conv.M) return null;
        var per = conv.CPerGroup * conv.KH * conv.KW;
        var w = new float[count * per];
        var bias = new float[count];
        for (var o = 0; o < count; o++)
        {
            bias[o] = -conv.Bias[first + o];
            for (var i = 0; i < per; i++) w[o * per + i] = -conv.W[(first + o) * per + i];
        }
        return b => Emit.Conv(b, conv.X, w, [count, conv.CPerGroup, conv.KH, conv.KW], bias, conv.Strides, conv.Pads, conv.Group, "Wneg");
    }
}

/// <summary>Flatten with a static input is a Reshape.</summary>
public sealed class FlattenToReshape : RewriteRule
{
    public override string Name => "FlattenToReshape";
    public override string Summary => "Flatten(x) -> Reshape(x, [a, b])";
    public override IReadOnlyList<string> RootOps { get; } = ["Flatten"];

    public override RewriteMatch? Match(Node root, RewriteContext context) =>
        StaticShape(root.Outputs[0]) is [var a, var c] && StaticShape(root.Input(0)) is not null
            ? RewriteMatch.Of(root, b => b.Replace(root.Outputs[0], Emit.Reshape(b, root.Input(0)!, [a, c])))
            : null;
}

/// <summary>A Reshape of NCHW (or any static tensor) to [N, rest] is a Flatten at axis 1.</summary>
public sealed class ReshapeToFlatten : RewriteRule
{
    public override string Name => "ReshapeToFlatten";
    public override string Summary => "Reshape(x[N,...], [N, rest]) -> Flatten(x, axis 1)";
    public override IReadOnlyList<string> RootOps { get; } = ["Reshape"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (StaticShape(root.Input(0)) is not { Length: > 2 } xs || StaticShape(root.Outputs[0]) is not [var n, var rest]) return null;
        if (n != xs[0] || rest != xs[1..].Aggregate(1L, (p, d) => p * d)) return null;
        return RewriteMatch.Of(root, b => b.Replace(root.Outputs[0], b.Op("Flatten", [root.Input(0)], [Int("axis", 1)])));
    }
}

/// <summary>An elementwise Add of NCHW tensors as two Adds over channel halves, concatenated (each half then fits channel limits).</summary>
public sealed class SplitAddChannels : RewriteRule
{
    public override string Name => "SplitAddChannels";
    public override string Summary => "Add(a, b) on NCHW -> Concat(Add(a[:C/2], b[:C/2]), Add(a[C/2:], b[C/2:])) with channel Slices";
    public override IReadOnlyList<string> RootOps { get; } = ["Add"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (root.Input(0) is not { IsConstant: false } a || root.Input(1) is not { IsConstant: false } bb || !context.CanUseOpset(10)) return null;
        if (Nchw(a) is not { } sa || Nchw(bb) is not { } sb || !sa.SequenceEqual(sb) || sa[1] < 2) return null;
        var half = (sa[1] + 1) / 2;
        return RewriteMatch.Of(root, b =>
        {
            var lo = b.Op("Add", Emit.Slice(b, context, a, 1, 0, half), Emit.Slice(b, context, bb, 1, 0, half));
            var hi = b.Op("Add", Emit.Slice(b, context, a, 1, half, sa[1]), Emit.Slice(b, context, bb, 1, half, sa[1]));
            b.Replace(root.Outputs[0], b.Op("Concat", [lo, hi], [Int("axis", 1)]));
        });
    }
}
