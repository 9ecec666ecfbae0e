using ArchNet.IR;
using ArchNet.Passes.Rewriting;
using static ArchNet.Passes.Rewriting.Patterns;

namespace ArchNet.Passes.Rules;

/// <summary>Clip bounds from inputs (opset 11+) or attributes (before): null when a bound is present but not constant.</summary>
internal static class ClipBounds
{
    public static (float Min, float Max)? Of(Node clip)
    {
        if (clip.OpType != "Clip" || !IsFloat(clip.Input(0))) return null;
        float? min = float.NegativeInfinity, max = float.PositiveInfinity;
        if (clip.HasAttr("min")) min = clip.GetFloat("min", 0);
        if (clip.HasAttr("max")) max = clip.GetFloat("max", 0);
        if (clip.Input(1) is { IsAbsent: false } lo) min = ScalarFloat(lo);
        if (clip.Input(2) is { IsAbsent: false } hi) max = ScalarFloat(hi);
        return min is null || max is null ? null : (min.Value, max.Value);
    }
}

/// <summary>Clip(x, 0, no upper bound) is Relu.</summary>
public sealed class ClipToRelu : RewriteRule
{
    public override string Name => "ClipToRelu";
    public override string Summary => "Clip(x, 0, +inf) -> Relu(x)";
    public override IReadOnlyList<string> RootOps { get; } = ["Clip"];

    public override RewriteMatch? Match(Node root, RewriteContext context) =>
        ClipBounds.Of(root) is (0, float.PositiveInfinity) || ClipBounds.Of(root) is (0, >= float.MaxValue)
            ? RewriteMatch.Of(root, b => b.Replace(root.Outputs[0], b.Op("Relu", root.Input(0))))
            : null;
}

/// <summary>Clip(x, 0, c) as two Relus: Relu(x) - Relu(x - c).</summary>
public sealed class ClipToReluDifference : RewriteRule
{
    public override string Name => "ClipToReluDifference";
    public override string Summary => "Clip(x, 0, c) -> Relu(x) - Relu(x - c)";
    public override IReadOnlyList<string> RootOps { get; } = ["Clip"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (ClipBounds.Of(root) is not (0, var c) || float.IsInfinity(c) || c <= 0) return null;
        return RewriteMatch.Of(root, b =>
        {
            var x = root.Input(0)!;
            var shifted = b.Op("Add", x, b.Scalar("neg_max", -c));
            b.Replace(root.Outputs[0], b.Op("Sub", b.Op("Relu", x), b.Op("Relu", shifted)));
        });
    }
}

/// <summary>HardSigmoid(x) = clip(alpha*x + beta, 0, 1) as Relu(t) - Relu(t - 1).</summary>
public sealed class HardSigmoidToRelu : RewriteRule
{
    public override string Name => "HardSigmoidToRelu";
    public override string Summary => "HardSigmoid(x) -> Relu(a*x+b) - Relu(a*x+b-1)";
    public override IReadOnlyList<string> RootOps { get; } = ["HardSigmoid"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (!IsFloat(root.Input(0)) || !OnlyAttributes(root, "alpha", "beta")) return null;
        float alpha = root.GetFloat("alpha", 0.2f), beta = root.GetFloat("beta", 0.5f);
        return RewriteMatch.Of(root, b =>
        {
            var t = b.Op("Add", b.Op("Mul", root.Input(0), b.Scalar("alpha", alpha)), b.Scalar("beta", beta));
            var t1 = b.Op("Add", t, b.Scalar("minus_one", -1f));
            b.Replace(root.Outputs[0], b.Op("Sub", b.Op("Relu", t), b.Op("Relu", t1)));
        });
    }
}

/// <summary>HardSwish(x) = x * HardSigmoid(x; 1/6, 1/2).</summary>
public sealed class HardSwishToHardSigmoidMul : RewriteRule
{
    public override string Name => "HardSwishToHardSigmoidMul";
    public override string Summary => "HardSwish(x) -> x * HardSigmoid(x, alpha=1/6, beta=0.5)";
    public override IReadOnlyList<string> RootOps { get; } = ["HardSwish"];

    public override RewriteMatch? Match(Node root, RewriteContext context) =>
        IsFloat(root.Input(0)) && root.Attributes.Count == 0
            ? RewriteMatch.Of(root, b => b.Replace(root.Outputs[0],
                b.Op("Mul", root.Input(0), b.Op("HardSigmoid", [root.Input(0)], [Float("alpha", 1 / 6f), Float("beta", 0.5f)]))))
            : null;
}

/// <summary>HardSwish(x) = x * (Relu(x + 3) - Relu(x - 3)) / 6, for chips with Relu and elementwise ops only.</summary>
public sealed class HardSwishToRelu : RewriteRule
{
    public override string Name => "HardSwishToRelu";
    public override string Summary => "HardSwish(x) -> x * (Relu(x+3) - Relu(x-3)) * (1/6)";
    public override IReadOnlyList<string> RootOps { get; } = ["HardSwish"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (!IsFloat(root.Input(0)) || root.Attributes.Count != 0) return null;
        return RewriteMatch.Of(root, b =>
        {
            var x = root.Input(0)!;
            var gate = b.Op("Sub", b.Op("Relu", b.Op("Add", x, b.Scalar("three", 3))), b.Op("Relu", b.Op("Add", x, b.Scalar("minus_three", -3))));
            b.Replace(root.Outputs[0], b.Op("Mul", x, b.Op("Mul", gate, b.Scalar("sixth", 1 / 6f))));
        });
    }
}

/// <summary>LeakyRelu(x) = Relu(x) - alpha * Relu(-x), exact in both halves.</summary>
public sealed class LeakyReluToRelu : RewriteRule
{
    public override string Name => "LeakyReluToRelu";
    public override string Summary => "LeakyRelu(x) -> Relu(x) - alpha*Relu(-x)";
    public override IReadOnlyList<string> RootOps { get; } = ["LeakyRelu"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (!IsFloat(root.Input(0)) || !OnlyAttributes(root, "alpha")) return null;
        var alpha = root.GetFloat("alpha", 0.01f);
        return RewriteMatch.Of(root, b =>
        {
            var x = root.Input(0)!;
            var negative = b.Op("Mul", b.Op("Relu", b.Op("Neg", x)), b.Scalar("alpha", alpha));
            b.Replace(root.Outputs[0], b.Op("Sub", b.Op("Relu", x), negative));
        });
    }
}

/// <summary>LeakyRelu is PRelu with one constant slope.</summary>
public sealed class LeakyReluToPRelu : RewriteRule
{
    public override string Name => "LeakyReluToPRelu";
    public override string Summary => "LeakyRelu(x, alpha) -> PRelu(x, [alpha])";
    public override IReadOnlyList<string> RootOps { get; } = ["LeakyRelu"];

    public override RewriteMatch? Match(Node root, RewriteContext context) =>
        IsFloat(root.Input(0)) && OnlyAttributes(root, "alpha")
            ? RewriteMatch.Of(root, b => b.Replace(root.Outputs[0], b.Op("PRelu", root.Input(0), b.Floats("slope", [1], [root.GetFloat("alpha", 0.01f)]))))
            : null;
}

/// <summary>SiLU x*sigmoid(x) written out -> one named op the audit can name (com.microsoft QuickGelu, alpha 1: x*sigmoid(1*x)).</summary>
public sealed class RecognizeSilu : RewriteRule
{
    public const string Domain = "com.microsoft";

    public override string Name => "RecognizeSilu";
    public override string Summary => "x * Sigmoid(x) -> SiLU (com.microsoft QuickGelu alpha=1, which ONNX Runtime runs)";
    public override IReadOnlyList<string> RootOps { get; } = ["Mul"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (root.Inputs.Count != 2) return null;
        foreach (var (x, s) in new[] { (root.Input(0)!, root.Input(1)!), (root.Input(1)!, root.Input(0)!) })
            if (Producer(s, "Sigmoid") is { } sig && sig.Input(0) == x && OnlyUsedBy(s, root) && IsFloat(x))
                return new RewriteMatch([sig, root], b =>
                {
                    b.RequireOpset(1, Domain);
                    b.Replace(root.Outputs[0], b.Op("QuickGelu", [x], [Float("alpha", 1f)], Domain));
                });
        return null;
    }
}

/// <summary>SiLU back to its primitives, for chips with Sigmoid and Mul.</summary>
public sealed class SiluToSigmoidMul : RewriteRule
{
    public override string Name => "SiluToSigmoidMul";
    public override string Summary => "SiLU (QuickGelu alpha=1) -> x * Sigmoid(x)";
    public override IReadOnlyList<string> RootOps { get; } = [RecognizeSilu.Domain + ":QuickGelu"];

    public override RewriteMatch? Match(Node root, RewriteContext context) =>
        root.Domain == RecognizeSilu.Domain && root.GetFloat("alpha", 1.702f) == 1f && IsFloat(root.Input(0))
            ? RewriteMatch.Of(root, b => b.Replace(root.Outputs[0], b.Op("Mul", root.Input(0), b.Op("Sigmoid", root.Input(0)))))
            : null;
}
