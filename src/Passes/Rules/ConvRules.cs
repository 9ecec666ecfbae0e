using ArchNet.IR;
using ArchNet.Passes.Rewriting;
using static ArchNet.Passes.Rewriting.Patterns;

namespace ArchNet.Passes.Rules;

/// <summary>A 1x1 Conv (no padding) equals a 3x3 Conv with pad 1 whose weights are zero except the centre.</summary>
public sealed class Conv1x1To3x3 : RewriteRule
{
    public override string Name => "Conv1x1To3x3";
    public override string Summary => "Conv1x1(pad 0) -> Conv3x3(pad 1) with the weights at the centre tap";
    public override IReadOnlyList<string> RootOps { get; } = ["Conv"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (Conv2d.Of(root) is not { KH: 1, KW: 1 } c || c.Pads.Any(p => p != 0) || c.Dilated) return null;
        var w = ConvWeights.CentreTap(c.W.AsSpan(0, c.M * c.CPerGroup));
        return RewriteMatch.Of(root, b => b.Replace(root.Outputs[0],
            Emit.Conv(b, c.X, w, [c.M, c.CPerGroup, 3, 3], c.HasBias ? c.Bias : null, c.Strides, [1, 1, 1, 1], c.Group)));
    }
}

/// <summary>
/// A KxK Conv (odd K > 3, pad K/2) as (K-1)/2 stacked 3x3 Convs: the first ones copy shifted inputs into
/// channels (one-hot kernels), the last one applies the original taps to the shifted copies, with the stride.
/// Exact with zero padding because each tap is reached through a shift of the same sign and no larger size.
/// </summary>
public sealed class ConvKxKTo3x3Stack : RewriteRule
{
    public override string Name => "ConvKxKTo3x3Stack";
    public override string Summary => "ConvKxK(pad K/2, odd K>3) -> (K-1)/2 stacked Conv3x3(pad 1): shift copies, then the taps";
    public override IReadOnlyList<string> RootOps { get; } = ["Conv"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (Conv2d.Of(root) is not { Group: 1 } c || c.Dilated || c.KH != c.KW || c.KH <= 3 || c.KH % 2 == 0) return null;
        var r = c.KH / 2;
        if (!c.PadsEquivalentTo(r)) return null;
        return RewriteMatch.Of(root, b =>
        {
            // Layer j (1-based, j < r) outputs Cin*(2j+1)^2 channels: x shifted by every (u,v) in [-j,j]^2.
            var x = c.X;
            for (var j = 1; j < r; j++)
            {
                int prevSide = 2 * j - 1, side = 2 * j + 1;
                var outC = c.Cin * side * side;
                var inC = c.Cin * prevSide * prevSide;
                var w = new float[outC * inC * 9];
                for (var ch = 0; ch < c.Cin; ch++)
                    for (var u = -j; u <= j; u++)
                        for (var v = -j; v <= j; v++)
                        {
                            var (a, du) = Split(u, j - 1);
                            var (bb, dv) = Split(v, j - 1);
                            var o = (ch * side + (u + j)) * side + (v + j);
                            var i = (ch * prevSide + (a + j - 1)) * prevSide + (bb + j - 1);
                            w[((o * inC + i) * 3 + (du + 1)) * 3 + (dv + 1)] = 1;
                        }
                x = Emit.Conv(b, x, w, [outC, inC, 3, 3], null, [1, 1], [1, 1, 1, 1], suffix: $"shift{j}");
            }
            {
                var prev = r - 1;
                var prevSide = 2 * prev + 1;
                var inC = c.Cin * prevSide * prevSide;
                var w = new float[c.M * inC * 9];
                for (var o = 0; o < c.M; o++)
                    for (var ch = 0; ch < c.Cin; ch++)
                        for (var u = -r; u <= r; u++)
                            for (var v = -r; v <= r; v++)
                            {
                                var (a, du) = Split(u, prev);
                                var (bb, dv) = Split(v, prev);
                                var i = (ch * prevSide + (a + prev)) * prevSide + (bb + prev);
                                w[((o * inC + i) * 3 + (du + 1)) * 3 + (dv + 1)] += c.Weight(o, ch, u + r, v + r);
                            }
                b.Replace(root.Outputs[0], Emit.Conv(b, x, w, [c.M, inC, 3, 3], c.HasBias ? c.Bias : null, c.Strides, [1, 1, 1, 1]));
            }
        });
    }

    /// <summary>Splits offset u into a part within [-limit, limit] (taken by earlier layers) and a step in [-1,1],
    /// both with u's sign, so that a padded position is never read through an in-range intermediate.</summary>
    private static (int Earlier, int Step) Split(int u, int limit)
    {
        var step = Math.Sign(u) * Math.Min(Math.Abs(u), 1);
        var earlier = u - step;
        if (Math.Abs(earlier) > limit) { earlier = Math.Sign(u) * limit; step = u - earlier; }
        return (earlier, step);
    }
}

/// <summary>A stride-2 Conv on an even-sized input equals SpaceToDepth(2) followed by a stride-1 Conv over the blocks.</summary>
public sealed class StridedConvToSpaceToDepth : RewriteRule
{
    public override string Name => "StridedConvToSpaceToDepth";
    public override string Summary => "Conv(stride 2) on even H,W -> SpaceToDepth(2) + Conv(stride 1) with remapped weights";
    public override IReadOnlyList<string> RootOps { get; } = ["Conv"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (Conv2d.Of(root) is not { Group: 1 } c || c.Dilated || c.Strides.Any(s => s != 2) || c.XShape[2] % 2 != 0 || c.XShape[3] % 2 != 0) return null;
        if (root.Outputs[0].Shape?.ToArray() is not { } ys || ys[2] != c.XShape[2] / 2 || ys[3] != c.XShape[3] / 2) return null;
        int pt = (int)c.Pads[0], pl = (int)c.Pads[1];
        // Tap i reads input row 2*oy + i - pt = 2*(oy + by) + phase.
        int Block(int i, int p) => (int)Math.Floor((i - p) / 2.0);
        int bMinY = Block(0, pt), bMaxY = Block(c.KH - 1, pt), bMinX = Block(0, pl), bMaxX = Block(c.KW - 1, pl);
        int ry = Math.Max(-bMinY, bMaxY), rx = Math.Max(-bMinX, bMaxX);
        int kh = 2 * ry + 1, kw = 2 * rx + 1, inC = 4 * c.Cin;
        var w = new float[c.M * inC * kh * kw];
        for (var o = 0; o < c.M; o++)
            for (var ch = 0; ch < c.Cin; ch++)
                for (var i = 0; i < c.KH; i++)
                    for (var j = 0; j < c.KW; j++)
                    {
                        int by = Block(i, pt), phy = i - pt - 2 * by, bx = Block(j, pl), phx = j - pl - 2 * bx;
                        var s2dChannel = (phy * 2 + phx) * c.Cin + ch;
                        w[((o * inC + s2dChannel) * kh + by + ry) * kw + bx + rx] += c.Weight(o, ch, i, j);
                    }
        return RewriteMatch.Of(root, b =>
        {
            var s2d = b.Op("SpaceToDepth", [c.X], [Int("blocksize", 2)]);
            b.Replace(root.Outputs[0], Emit.Conv(b, s2d, w, [c.M, inC, kh, kw], c.HasBias ? c.Bias : null, [1, 1], [ry, rx, ry, rx]));
        });
    }
}

/// <summary>
/// A patchify Conv (kernel = stride = k, k even and at least 4, no padding) on sides that k divides equals a 2x2
/// stride-2 Conv that only moves pixels (space-to-depth written as one-hot kernels: each output channel copies one
/// tap of one input channel) followed by a (k/2)x(k/2) stride-k/2 Conv over those copies with the taps remapped. Both
/// are kernel = stride convs again, so a 4x4/s4 stem becomes two 2x2/s2 convs (which <see cref="CentreConvKernel"/>
/// makes 3x3/s2), for chips without SpaceToDepth or MatMul. On chips whose activations cannot be negative a signed
/// input is copied as Relu(x) and Relu(-x), read back with weights W and -W: exact there too.
/// </summary>
public sealed class PatchifyConvToStridedConvs : RewriteRule
{
    public override string Name => "PatchifyConvToStridedConvs";
    public override string Summary => "Conv(k x k, stride k, k even >= 4) -> Conv(2x2/s2 one-hot copies) + Conv((k/2)x(k/2)/s(k/2)) with remapped taps";
    public override IReadOnlyList<string> RootOps { get; } = ["Conv"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (Conv2d.Of(root) is not { Group: 1 } c || c.Dilated || c.KH != c.KW || c.KH < 4 || c.KH % 2 != 0) return null;
        var k = c.KH;
        if (c.Strides.Any(s => s != k) || c.Pads.Any(p => p != 0) || c.XShape[2] % k != 0 || c.XShape[3] % k != 0) return null;
        var signed = context.NonNegativeActivations && !Signs.NonNegative(c.X);
        int parts = signed ? 2 : 1, copies = 4 * c.Cin * parts, half = k / 2;
        // Copy channel (part, phase a, phase b, input channel): x[ch, 2p + a, 2q + b], negated in the second part.
        int Copy(int part, int a, int bb, int ch) => ((part * 2 + a) * 2 + bb) * c.Cin + ch;
        var onehot = new float[copies * c.Cin * 4];
        for (var part = 0; part < parts; part++)
            for (var a = 0; a < 2; a++)
                for (var bb = 0; bb < 2; bb++)
                    for (var ch = 0; ch < c.Cin; ch++)
                        onehot[((Copy(part, a, bb, ch) * c.Cin + ch) * 2 + a) * 2 + bb] = part == 0 ? 1 : -1;
        var w = new float[c.M * copies * half * half];
        for (var o = 0; o < c.M; o++)
            for (var part = 0; part < parts; part++)
                for (var ch = 0; ch < c.Cin; ch++)
                    for (var i = 0; i < k; i++)
                        for (var j = 0; j < k; j++)
                            w[((o * copies + Copy(part, i % 2, j % 2, ch)) * half + i / 2) * half + j / 2] = (part == 0 ? 1 : -1) * c.Weight(o, ch, i, j);
        return RewriteMatch.Of(root, b =>
        {
            var moved = Emit.Conv(b, c.X, onehot, [copies, c.Cin, 2, 2], null, [2, 2], [0, 0, 0, 0], suffix: "copies");
            if (signed) moved = b.Op("Relu", moved);
            b.Replace(root.Outputs[0], Emit.Conv(b, moved, w, [c.M, copies, half, half], c.HasBias ? c.Bias : null, [half, half], [0, 0, 0, 0]));
        });
    }
}

/// <summary>A grouped (or depthwise) Conv equals a dense Conv whose weights are block diagonal.</summary>
public sealed class GroupedConvToDense : RewriteRule
{
    public override string Name => "GroupedConvToDense";
    public override string Summary => "Conv(group g>1) -> Conv(group 1) with block-diagonal weights";
    public override IReadOnlyList<string> RootOps { get; } = ["Conv"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (Conv2d.Of(root) is not { Group: > 1 } c || c.Dilated) return null;
        int g = c.Group, k = c.KH * c.KW;
        // Block-diagonal weights grow by the group count: past 2^26 values (256 MiB) the dense conv is no remedy.
        if ((long)c.M * c.Cin * k > 1 << 26) return null;
        var w = ConvWeights.BlockDiagonal(c.W, c.M, c.CPerGroup, g, k);
        return RewriteMatch.Of(root, b => b.Replace(root.Outputs[0],
            Emit.Conv(b, c.X, w, [c.M, c.Cin, c.KH, c.KW], c.HasBias ? c.Bias : null, c.Strides, c.Pads)));
    }
}

/// <summary>A Conv with many input channels as two Convs over channel halves, summed (for per-conv input-channel limits).</summary>
public sealed class SplitConvInputChannels : RewriteRule
{
    public override string Name => "SplitConvInputChannels";
    public override string Summary => "Conv(Cin) -> Add(Conv(Slice(x, :Cin/2)), Conv(Slice(x, Cin/2:)))";
    public override IReadOnlyList<string> RootOps { get; } = ["Conv"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (Conv2d.Of(root) is not { Group: 1 } c || c.Dilated || c.Cin < 2 || !context.CanUseOpset(10)) return null;
        var half = (c.Cin + 1) / 2;
        var k = c.KH * c.KW;
        float[] Part(int from, int count)
        {
            var w = new float[c.M * count * k];
            for (var o = 0; o < c.M; o++) Array.Copy(c.W, (o * c.Cin + from) * k, w, o * count * k, count * k);
            return w;
        }
        return RewriteMatch.Of(root, b =>
        {
            var lo = Emit.Slice(b, context, c.X, 1, 0, half);
            var hi = Emit.Slice(b, context, c.X, 1, half, c.Cin);
            var a = Emit.Conv(b, lo, Part(0, half), [c.M, half, c.KH, c.KW], c.HasBias ? c.Bias : null, c.Strides, c.Pads, suffix: "W_lo");
            var d = Emit.Conv(b, hi, Part(half, c.Cin - half), [c.M, c.Cin - half, c.KH, c.KW], null, c.Strides, c.Pads, suffix: "W_hi");
            b.Replace(root.Outputs[0], b.Op("Add", a, d));
        });
    }
}

/// <summary>A Conv with many output channels as two Convs over halves of the filters, concatenated.</summary>
public sealed class SplitConvOutputChannels : RewriteRule
{
    public override string Name => "SplitConvOutputChannels";
    public override string Summary => "Conv(M filters) -> Concat(Conv(filters :M/2), Conv(filters M/2:)) on channels";
    public override IReadOnlyList<string> RootOps { get; } = ["Conv"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (Conv2d.Of(root) is not { } c || c.Dilated || c.M < 2) return null;
        if (c.Group != 1) return null;
        var half = (c.M + 1) / 2;
        var per = c.CPerGroup * c.KH * c.KW;
        return RewriteMatch.Of(root, b =>
        {
            var a = Emit.Conv(b, c.X, c.W[..(half * per)], [half, c.CPerGroup, c.KH, c.KW], c.Bias[..half], c.Strides, c.Pads, suffix: "W_lo");
            var d = Emit.Conv(b, c.X, c.W[(half * per)..], [c.M - half, c.CPerGroup, c.KH, c.KW], c.Bias[half..], c.Strides, c.Pads, suffix: "W_hi");
            b.Replace(root.Outputs[0], b.Op("Concat", [a, d], [Int("axis", 1)]));
        });
    }
}

/// <summary>A zero-valued constant Pad of the spatial axes before a Conv becomes the Conv's own padding.</summary>
public sealed class FoldPadIntoConv : RewriteRule
{
    public override string Name => "FoldPadIntoConv";
    public override string Summary => "Conv/AveragePool(count_include_pad)(Pad(x, spatial zeros)) -> the same op with the pads added";
    public override IReadOnlyList<string> RootOps { get; } = ["Conv", "AveragePool"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (Producer(root.Input(0), "Pad") is not { } pad || !OnlyUsedBy(pad.Outputs[0], root) || SpatialZeroPads(pad) is not { } extra) return null;
        if (root.GetString("auto_pad", "NOTSET") != "NOTSET") return null;
        if (root.OpType == "Conv" && Conv2d.Of(root) is null) return null;
        if (root.OpType == "AveragePool" && (root.GetInt("count_include_pad", 0) == 0 || root.GetInt("ceil_mode", 0) != 0
            || Nchw(pad.Input(0)) is null || !OnlyAttributes(root, "kernel_shape", "strides", "pads", "count_include_pad", "ceil_mode", "auto_pad"))) return null;
        var pads = Ints(root, "pads", 4, 0).Zip(extra, (a, e) => a + e).ToArray();
        return new RewriteMatch([pad, root], b =>
        {
            var attrs = root.Attributes.Values.Where(a => a.Name != "pads").Append(Ints("pads", pads));
            b.Replace(root.Outputs[0], b.Op(root.OpType, [pad.Input(0), .. root.Inputs.Skip(1)], attrs));
        });
    }

    /// <summary>[top, left, bottom, right] of a constant-zero Pad that pads only H and W of an NCHW tensor.</summary>
    internal static long[]? SpatialZeroPads(Node pad)
    {
        if (pad.GetString("mode", "constant") != "constant" || Nchw(pad.Input(0)) is null) return null;
        var pads = pad.GetInts("pads")?.ToArray() ?? ConstInts(pad.Input(1));
        var value = pad.HasAttr("value") ? pad.GetFloat("value", 0) : pad.Input(2) is { } v ? ScalarFloat(v) : 0f;
        if (pads is not { Length: 8 } || value != 0 || (pad.Input(3) is not null)) return null;
        if (pads[0] != 0 || pads[1] != 0 || pads[4] != 0 || pads[5] != 0 || pads.Any(p => p < 0)) return null;
        return [pads[2], pads[3], pads[6], pads[7]];
    }
}

/// <summary>A grouped Conv as independent Convs over halves of its groups, concatenated (each half then fits channel limits).</summary>
public sealed class SplitGroupedConvChannels : RewriteRule
{
    public override string Name => "SplitGroupedConvChannels";
    public override string Summary => "Conv(group g) -> Concat(Conv over groups :g/2, Conv over groups g/2:) with channel Slices";
    public override IReadOnlyList<string> RootOps { get; } = ["Conv"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (Conv2d.Of(root) is not { Group: >= 2 } c || c.Dilated || !context.CanUseOpset(10)) return null;
        int g = c.Group, lowGroups = (g + 1) / 2, mPer = c.M / g, per = c.CPerGroup * c.KH * c.KW;
        return RewriteMatch.Of(root, b =>
        {
            Value Part(int firstGroup, int groups, string suffix)
            {
                var x = Emit.Slice(b, context, c.X, 1, firstGroup * c.CPerGroup, (firstGroup + groups) * c.CPerGroup);
                int m0 = firstGroup * mPer, m = groups * mPer;
                return Emit.Conv(b, x, c.W[(m0 * per)..((m0 + m) * per)], [m, c.CPerGroup, c.KH, c.KW],
                    c.HasBias ? c.Bias[m0..(m0 + m)] : null, c.Strides, c.Pads, groups, suffix);
            }
            var lo = Part(0, lowGroups, "W_lo");
            var hi = Part(lowGroups, g - lowGroups, "W_hi");
            b.Replace(root.Outputs[0], b.Op("Concat", [lo, hi], [Int("axis", 1)]));
        });
    }
}

/// <summary>
/// A Conv with asymmetric padding (TensorFlow's SAME at stride 2 gives [0,0,1,1] or [1,1,2,2]) or an even kernel (a
/// 2x2 stride-2 patchify or downsampling conv) equals a Conv whose kernel is embedded, off centre, in a larger odd
/// kernel padded equally on every side: the added taps are zero, and the output size is unchanged (a 2x2/s2 conv on
/// even sides is a 3x3/s2 pad-1 conv whose first row and column are zero).
/// </summary>
public sealed class CentreConvKernel : RewriteRule
{
    public override string Name => "CentreConvKernel";
    public override string Summary => "Conv(KxK, asymmetric pads or even K) -> Conv((2R+1)x(2R+1), pads R) with the taps placed off centre and zeros elsewhere";
    public override IReadOnlyList<string> RootOps { get; } = ["Conv"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (Conv2d.Of(root) is not { } c || c.Dilated || root.Outputs[0].Shape?.ToArray() is not { } ys) return null;
        long pt = c.Pads[0], pl = c.Pads[1];
        if (pt == c.Pads[2] && pl == c.Pads[3] && c.KH % 2 == 1 && c.KW % 2 == 1) return null; // already centred
        // Taps read rows s*o + i - pt, i in [0, KH): offsets from -pt to KH-1-pt.
        long ry = Math.Max(pt, c.KH - 1 - pt), rx = Math.Max(pl, c.KW - 1 - pl);
        long kh = 2 * ry + 1, kw = 2 * rx + 1;
        if (ys[2] != (c.XShape[2] + 2 * ry - kh) / c.Strides[0] + 1 || ys[3] != (c.XShape[3] + 2 * rx - kw) / c.Strides[1] + 1) return null;
        var w = new float[c.M * c.CPerGroup * kh * kw];
        for (var o = 0; o < c.M; o++)
            for (var ch = 0; ch < c.CPerGroup; ch++)
                for (var i = 0; i < c.KH; i++)
                    for (var j = 0; j < c.KW; j++)
                        w[((o * c.CPerGroup + ch) * kh + (i - pt + ry)) * kw + (j - pl + rx)] = c.Weight(o, ch, i, j);
        return RewriteMatch.Of(root, b => b.Replace(root.Outputs[0],
            Emit.Conv(b, c.X, w, [c.M, c.CPerGroup, kh, kw], c.HasBias ? c.Bias : null, c.Strides, [ry, rx, ry, rx], c.Group)));
    }
}
