using ArchNet.IR;
using ArchNet.Passes.Canonicalization;
using ArchNet.Passes.Rewriting;
using static ArchNet.Passes.Rewriting.Patterns;

namespace ArchNet.Passes.Rules;

/// <summary>Subtracting a constant is adding its negation.</summary>
public sealed class SubConstantToAdd : RewriteRule
{
    public override string Name => "SubConstantToAdd";
    public override string Summary => "Sub(x, c) -> Add(x, -c)";
    public override IReadOnlyList<string> RootOps { get; } = ["Sub"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (root.Input(0) is not { IsConstant: false } x || !IsFloat(x) || root.Input(1)?.Constant is not { ElementType: ElementType.Float } c) return null;
        var neg = c.ToFloats().Select(v => -v).ToArray();
        return RewriteMatch.Of(root, b => b.Replace(root.Outputs[0], b.Op("Add", x, b.Floats("neg", [.. c.Dims], neg))));
    }
}

/// <summary>Dividing by a constant is multiplying by its reciprocal (within one float rounding).</summary>
public sealed class DivConstantToMul : RewriteRule
{
    public override string Name => "DivConstantToMul";
    public override string Summary => "Div(x, c) -> Mul(x, 1/c)";
    public override IReadOnlyList<string> RootOps { get; } = ["Div"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (root.Input(0) is not { IsConstant: false } x || !IsFloat(x) || root.Input(1)?.Constant is not { ElementType: ElementType.Float } c) return null;
        var values = c.ToFloats();
        if (values.Any(v => v == 0 || !float.IsFinite(v))) return null;
        return RewriteMatch.Of(root, b => b.Replace(root.Outputs[0], b.Op("Mul", x, b.Floats("reciprocal", [.. c.Dims], [.. values.Select(v => 1 / v)]))));
    }
}

/// <summary>Multiplying or adding a per-channel (or scalar) constant on NCHW is a depthwise 1x1 Conv.</summary>
public sealed class ChannelAffineToDepthwiseConv : RewriteRule
{
    public override string Name => "ChannelAffineToDepthwiseConv";
    public override string Summary => "Mul/Add(x[N,C,H,W], c per channel) -> depthwise Conv1x1 (scale as weight, shift as bias)";
    public override IReadOnlyList<string> RootOps { get; } = ["Mul", "Add"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        var (x, k) = root.Input(1)?.IsConstant == true ? (root.Input(0), root.Input(1)) : (root.Input(1), root.Input(0));
        if (Nchw(x) is not { } xs || x!.IsConstant || k?.Constant is not { ElementType: ElementType.Float } c) return null;
        if (root.Outputs[0].Shape?.ToArray() is not { } ys || !ys.SequenceEqual(xs)) return null;
        var channels = (int)xs[1];
        var per = PerChannel(c, channels);
        if (per is null) return null;
        var isMul = root.OpType == "Mul";
        var w = isMul ? per : Enumerable.Repeat(1f, channels).ToArray();
        var bias = isMul ? null : per;
        return RewriteMatch.Of(root, b => b.Replace(root.Outputs[0], Emit.Conv(b, x, w, [channels, 1, 1, 1], bias, [1, 1], [0, 0, 0, 0], channels)));
    }

    /// <summary>The constant as one value per channel, when it is a scalar or varies only along the channel axis of NCHW.</summary>
    internal static float[]? PerChannel(TensorData c, int channels)
    {
        var v = c.ToFloats();
        if (v.Length == 1) return Enumerable.Repeat(v[0], channels).ToArray();
        var dims = c.Dims.ToArray();
        if (v.Length != channels || dims.Length > 4 || dims.Length < 3) return null;
        // Aligned to NCHW from the right: [C,1,1] or [1,C,1,1].
        return dims[^3] == channels && dims[^2] == 1 && dims[^1] == 1 ? v : null;
    }
}

/// <summary>A standalone inference BatchNormalization is a depthwise 1x1 Conv.</summary>
public sealed class BatchNormToDepthwiseConv : RewriteRule
{
    public override string Name => "BatchNormToDepthwiseConv";
    public override string Summary => "BatchNormalization(x[N,C,H,W]) -> depthwise Conv1x1 with weight s and bias beta-mean*s";
    public override IReadOnlyList<string> RootOps { get; } = ["BatchNormalization"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (Nchw(root.Input(0)) is not { } xs || BatchNormAffine.Of(root) is not { } bn || bn.Scale.Length != xs[1]) return null;
        var c = xs[1];
        return RewriteMatch.Of(root, b => b.Replace(root.Outputs[0], Emit.Conv(b, root.Input(0)!, bn.Scale, [c, 1, 1, 1], bn.Shift, [1, 1], [0, 0, 0, 0], c)));
    }
}

/// <summary>An inference BatchNormalization as elementwise Mul and Add with per-channel constants.</summary>
public sealed class BatchNormToMulAdd : RewriteRule
{
    public override string Name => "BatchNormToMulAdd";
    public override string Summary => "BatchNormalization(x) -> x * s + (beta - mean*s), per channel";
    public override IReadOnlyList<string> RootOps { get; } = ["BatchNormalization"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (root.Input(0)?.Shape is not { Rank: >= 2 } s || !IsFloat(root.Input(0)) || BatchNormAffine.Of(root) is not { } bn) return null;
        long[] dims = [bn.Scale.Length, .. Enumerable.Repeat(1L, s.Rank - 2)];
        return RewriteMatch.Of(root, b => b.Replace(root.Outputs[0],
            b.Op("Add", b.Op("Mul", root.Input(0), b.Floats("scale", dims, bn.Scale)), b.Floats("shift", dims, bn.Shift))));
    }
}
