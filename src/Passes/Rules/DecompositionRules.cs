using ArchNet.IR;
using ArchNet.Passes.Rewriting;
using static ArchNet.Passes.Rewriting.Patterns;

namespace ArchNet.Passes.Rules;

/// <summary>LayerNormalization in primitives, for chips that have reductions and elementwise ops but no LayerNorm.</summary>
public sealed class LayerNormalizationDecompose : RewriteRule
{
    public override string Name => "LayerNormalizationDecompose";
    public override string Summary => "LayerNormalization -> ReduceMean, Sub, Mul, ReduceMean, Add, Sqrt, Div, Mul, Add";
    public override IReadOnlyList<string> RootOps { get; } = ["LayerNormalization"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (root.Input(0) is not { Shape: { } s } x || !IsFloat(x) || root.Outputs.Skip(1).Any(o => !o.IsAbsent && o.Uses.Count > 0)) return null;
        if (root.GetInt("stash_type", 1) != 1) return null;
        var axis = root.GetInt("axis", -1);
        if (axis < 0) axis += s.Rank;
        long[] axes = [.. Enumerable.Range((int)axis, s.Rank - (int)axis).Select(i => (long)i)];
        var eps = root.GetFloat("epsilon", 1e-5f);
        return RewriteMatch.Of(root, b =>
        {
            var mean = Emit.Reduce(b, context, "ReduceMean", x, axes);
            var d = b.Op("Sub", x, mean);
            var variance = Emit.Reduce(b, context, "ReduceMean", b.Op("Mul", d, d), axes);
            var norm = b.Op("Div", d, b.Op("Sqrt", b.Op("Add", variance, b.Scalar("epsilon", eps))));
            var y = b.Op("Mul", norm, root.Input(1));
            if (root.Input(2) is { IsAbsent: false } bias) y = b.Op("Add", y, bias);
            b.Replace(root.Outputs[0], y);
        });
    }
}

/// <summary>Softmax in primitives, stabilized by the maximum as ONNX Runtime does.</summary>
public sealed class SoftmaxDecompose : RewriteRule
{
    public override string Name => "SoftmaxDecompose";
    public override string Summary => "Softmax(x, axis) -> Exp(x - ReduceMax(x)) / ReduceSum(Exp(...))";
    public override IReadOnlyList<string> RootOps { get; } = ["Softmax"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (root.Input(0) is not { Shape: { } s } x || !IsFloat(x)) return null;
        var axis = root.GetInt("axis", context.Opset >= 13 ? -1 : 1);
        if (axis < 0) axis += s.Rank;
        if (context.Opset < 13 && axis != s.Rank - 1) return null;
        return RewriteMatch.Of(root, b =>
        {
            var e = b.Op("Exp", b.Op("Sub", x, Emit.Reduce(b, context, "ReduceMax", x, [axis])));
            b.Replace(root.Outputs[0], b.Op("Div", e, Emit.Reduce(b, context, "ReduceSum", e, [axis])));
        });
    }
}

/// <summary>GELU in primitives: 0.5*x*(1+erf(x/sqrt 2)), or the tanh form when approximate="tanh".</summary>
public sealed class GeluDecompose : RewriteRule
{
    public override string Name => "GeluDecompose";
    public override string Summary => "Gelu(x) -> 0.5*x*(1+Erf(x/sqrt2)) (or the tanh form)";
    public override IReadOnlyList<string> RootOps { get; } = ["Gelu"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (root.Input(0) is not { } x || !IsFloat(x)) return null;
        var tanh = root.GetString("approximate", "none") == "tanh";
        return RewriteMatch.Of(root, b =>
        {
            Value inner;
            if (tanh)
            {
                var cube = b.Op("Mul", b.Op("Mul", x, x), x);
                var poly = b.Op("Add", x, b.Op("Mul", cube, b.Scalar("c", 0.044715f)));
                inner = b.Op("Tanh", b.Op("Mul", poly, b.Scalar("sqrt_2_over_pi", (float)Math.Sqrt(2 / Math.PI))));
            }
            else inner = b.Op("Erf", b.Op("Mul", x, b.Scalar("inv_sqrt2", (float)(1 / Math.Sqrt(2)))));
            var gate = b.Op("Add", inner, b.Scalar("one", 1));
            b.Replace(root.Outputs[0], b.Op("Mul", b.Op("Mul", x, b.Scalar("half", 0.5f)), gate));
        });
    }
}
