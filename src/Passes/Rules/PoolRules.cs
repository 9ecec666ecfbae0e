using ArchNet.IR;
using ArchNet.Passes.Rewriting;
using static ArchNet.Passes.Rewriting.Patterns;

namespace ArchNet.Passes.Rules;

/// <summary>AveragePool (padding counted, or none) is a depthwise Conv whose weights are 1/(kh*kw).</summary>
public sealed class AveragePoolToDepthwiseConv : RewriteRule
{
    public override string Name => "AveragePoolToDepthwiseConv";
    public override string Summary => "AveragePool(k) -> depthwise Conv(k) with weights 1/(kh*kw)";
    public override IReadOnlyList<string> RootOps { get; } = ["AveragePool"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (Nchw(root.Input(0)) is not { } xs || root.GetInts("kernel_shape")?.ToArray() is not [var kh, var kw]) return null;
        if (!OnlyAttributes(root, "kernel_shape", "strides", "pads", "count_include_pad", "ceil_mode", "auto_pad")) return null;
        if (root.GetString("auto_pad", "NOTSET") != "NOTSET" || root.GetInt("ceil_mode", 0) != 0) return null;
        var pads = Ints(root, "pads", 4, 0);
        if (pads.Any(p => p != 0) && root.GetInt("count_include_pad", 0) == 0) return null;
        var c = xs[1];
        var w = Enumerable.Repeat(1f / (kh * kw), (int)(c * kh * kw)).ToArray();
        return RewriteMatch.Of(root, b => b.Replace(root.Outputs[0],
            Emit.Conv(b, root.Input(0)!, w, [c, 1, kh, kw], null, Ints(root, "strides", 2, 1), pads, c)));
    }
}

/// <summary>GlobalAveragePool over a static HxW is a depthwise HxW Conv with weights 1/(H*W).</summary>
public sealed class GlobalAveragePoolToDepthwiseConv : RewriteRule
{
    public override string Name => "GlobalAveragePoolToDepthwiseConv";
    public override string Summary => "GlobalAveragePool(x[N,C,H,W]) -> depthwise Conv(HxW) with weights 1/(H*W)";
    public override IReadOnlyList<string> RootOps { get; } = ["GlobalAveragePool"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (Nchw(root.Input(0)) is not [_, var c, var h, var w]) return null;
        var weights = Enumerable.Repeat(1f / (h * w), (int)(c * h * w)).ToArray();
        return RewriteMatch.Of(root, b => b.Replace(root.Outputs[0],
            Emit.Conv(b, root.Input(0)!, weights, [c, 1, h, w], null, [1, 1], [0, 0, 0, 0], c)));
    }
}

/// <summary>ReduceMean over H and W of an NCHW tensor, keeping dims, is GlobalAveragePool.</summary>
public sealed class ReduceMeanToGlobalAveragePool : RewriteRule
{
    public override string Name => "ReduceMeanToGlobalAveragePool";
    public override string Summary => "ReduceMean(x[N,C,H,W], axes [2,3], keepdims) -> GlobalAveragePool";
    public override IReadOnlyList<string> RootOps { get; } = ["ReduceMean"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (root.Input(0)?.Shape is not { Rank: 4 } || !IsFloat(root.Input(0)) || ReduceAxes(root) is not [2, 3] || root.GetInt("keepdims", 1) == 0) return null;
        return RewriteMatch.Of(root, b => b.Replace(root.Outputs[0], b.Op("GlobalAveragePool", root.Input(0))));
    }
}

/// <summary>GlobalMaxPool over a static HxW is a MaxPool with an HxW window.</summary>
public sealed class GlobalMaxPoolToMaxPool : RewriteRule
{
    public override string Name => "GlobalMaxPoolToMaxPool";
    public override string Summary => "GlobalMaxPool(x[N,C,H,W]) -> MaxPool(kernel HxW)";
    public override IReadOnlyList<string> RootOps { get; } = ["GlobalMaxPool"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (Nchw(root.Input(0)) is not [_, _, var h, var w]) return null;
        return RewriteMatch.Of(root, b => b.Replace(root.Outputs[0], b.Op("MaxPool", [root.Input(0)], [Ints("kernel_shape", h, w)])));
    }
}

/// <summary>An AveragePool whose window covers the whole (unpadded) input is GlobalAveragePool.</summary>
public sealed class AveragePoolToGlobalAveragePool : RewriteRule
{
    public override string Name => "AveragePoolToGlobalAveragePool";
    public override string Summary => "AveragePool(kernel = H x W, no padding) -> GlobalAveragePool";
    public override IReadOnlyList<string> RootOps { get; } = ["AveragePool"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (Nchw(root.Input(0)) is not [_, _, var h, var w] || root.GetInts("kernel_shape")?.ToArray() is not [var kh, var kw] || kh != h || kw != w) return null;
        if (Ints(root, "pads", 4, 0).Any(p => p != 0) || root.GetString("auto_pad", "NOTSET") is not ("NOTSET" or "VALID")) return null;
        if (!OnlyAttributes(root, "kernel_shape", "strides", "pads", "count_include_pad", "ceil_mode", "auto_pad")) return null;
        return RewriteMatch.Of(root, b => b.Replace(root.Outputs[0], b.Op("GlobalAveragePool", root.Input(0))));
    }
}
