using ArchNet.IR;
using ArchNet.Passes.Rewriting;
using static ArchNet.Passes.Rewriting.Patterns;

namespace ArchNet.Passes.Canonicalization;

/// <summary>Shared matching of elementwise expressions: scalar operands of commutative ops, products of several factors.</summary>
internal static class Expr
{
    /// <summary>For a binary node with one scalar-constant operand (either side for Add/Mul): the other operand and the scalar.</summary>
    public static (Value Other, float C)? WithScalar(Node? n, string op, bool constantOnRightOnly = false)
    {
        if (n is null || n.OpType != op || !n.IsDefaultDomain || n.Inputs.Count != 2) return null;
        if (ScalarFloat(n.Input(1)) is { } c1 && n.Input(0) is { } a && !a.IsConstant) return (a, c1);
        if (!constantOnRightOnly && ScalarFloat(n.Input(0)) is { } c0 && n.Input(1) is { } b && !b.IsConstant) return (b, c0);
        return null;
    }

    /// <summary>Factors of a product tree of Mul nodes (inner Muls read only by the tree), with the Muls visited.</summary>
    public static (List<Value> Factors, List<Node> Muls) Product(Node root, int depth = 3)
    {
        var factors = new List<Value>();
        var muls = new List<Node>();
        void Walk(Value v, int d, bool isRoot)
        {
            if (v.Producer is { OpType: "Mul" } m && m.IsDefaultDomain && m.Inputs.Count == 2 && d > 0
                && (isRoot || OnlyUsedBy(v, v.Uses[0].Node) && v.Uses.Count == 1))
            {
                muls.Add(m);
                Walk(m.Input(0)!, d - 1, false);
                Walk(m.Input(1)!, d - 1, false);
            }
            else factors.Add(v);
        }
        Walk(root.Outputs[0], depth, true);
        muls.Reverse();
        return (factors, muls);
    }

    public static bool Near(float a, double b, double rel = 1e-4) => Math.Abs(a - b) <= rel * Math.Max(1, Math.Abs(b));
}

/// <summary>LayerNorm written out by exporters: ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add.</summary>
public sealed class RecognizeLayerNormalization : RewriteRule
{
    public override string Name => "RecognizeLayerNormalization";
    public override string Summary => "ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div[/Mul/Add] -> LayerNormalization (opset 17)";
    public override IReadOnlyList<string> RootOps { get; } = ["Add", "Mul", "Div"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (!context.CanUseOpset(17)) return null;
        // The largest match wins: a Div or Mul whose only reader is the scale Mul or bias Add is left to that reader.
        if (root.OpType is "Div" or "Mul" && root.Outputs[0].Uses is [var (reader, _)] && reader.OpType is "Mul" or "Add"
            && reader.Inputs.Count == 2 && reader.Inputs.Any(i => i is { IsConstant: true }) && root.Graph?.Outputs.Contains(root.Outputs[0]) != true)
            return null;
        var matched = new List<Node>();
        Value? beta = null, gamma = null;
        var cur = root;
        if (cur.OpType == "Add" && cur.Inputs.Count == 2)
        {
            var (other, c) = cur.Input(1)!.IsConstant ? (cur.Input(0)!, cur.Input(1)!) : (cur.Input(1)!, cur.Input(0)!);
            if (!c.IsConstant || ConstFloats(c) is null) return null;
            beta = c;
            matched.Insert(0, cur);
            if (other.Producer is not { } p || !OnlyUsedBy(other, cur)) return null;
            cur = p;
        }
        if (cur.OpType == "Mul" && cur.IsDefaultDomain && cur.Inputs.Count == 2)
        {
            var (other, c) = cur.Input(1)!.IsConstant ? (cur.Input(0)!, cur.Input(1)!) : (cur.Input(1)!, cur.Input(0)!);
            if (!c.IsConstant || ConstFloats(c) is null) return null;
            gamma = c;
            matched.Insert(0, cur);
            if (other.Producer is not { } p || !OnlyUsedBy(other, cur)) return null;
            cur = p;
        }
        if (cur.OpType != "Div" || !cur.IsDefaultDomain) return null;
        var div = cur;
        matched.Insert(0, div);
        if (Producer(div.Input(0), "Sub") is not { } sub || Producer(div.Input(1), "Sqrt") is not { } sqrt) return null;
        if (Expr.WithScalar(Producer(sqrt.Input(0), "Add"), "Add") is not { } epsAdd) return null;
        var addEps = sqrt.Input(0)!.Producer!;
        if (Producer(epsAdd.Other, "ReduceMean") is not { } varMean || Producer(sub.Input(1), "ReduceMean") is not { } mean) return null;
        var sq = varMean.Input(0)?.Producer;
        var isSquare = sq is { OpType: "Pow", IsDefaultDomain: true } && sq.Input(0) == sub.Outputs[0] && IsScalar(sq.Input(1), 2)
                       || sq is { OpType: "Mul", IsDefaultDomain: true } && sq.Input(0) == sub.Outputs[0] && sq.Input(1) == sub.Outputs[0];
        if (!isSquare || mean.Input(0) != sub.Input(0) || sub.Input(0) is not { Shape: { } xs } x || !IsFloat(x)) return null;
        var axes = ReduceAxes(mean);
        var axes2 = ReduceAxes(varMean);
        if (axes is null || axes2 is null || !axes.SequenceEqual(axes2) || mean.GetInt("keepdims", 1) == 0 || varMean.GetInt("keepdims", 1) == 0) return null;
        // LayerNormalization normalizes the trailing axes from `axis` on.
        var axis = axes[0];
        if (!axes.SequenceEqual(Enumerable.Range((int)axis, xs.Rank - (int)axis).Select(i => (long)i))) return null;
        if (xs.Dims.Skip((int)axis).Any(d => !d.IsKnown)) return null;
        long[] normShape = [.. xs.Dims.Skip((int)axis).Select(d => d.Value!.Value)];
        var normCount = (int)normShape.Aggregate(1L, (a, d) => a * d);
        var scale = ExpandTo(gamma, normShape, normCount, 1f);
        var bias = ExpandTo(beta, normShape, normCount, 0f);
        if (scale is null || bias is null) return null;
        // Intermediates must belong to the pattern; otherwise the decomposed form stays needed anyway.
        Node[] inner = [mean, sub, sq!, varMean, addEps, sqrt];
        var all = new HashSet<Node>([.. inner, .. matched]);
        if (inner.Any(n => !n.Outputs.All(o => OnlyUsedWithin(o, all)))) return null;
        matched.InsertRange(0, inner);
        return new RewriteMatch(matched, b =>
        {
            b.RequireOpset(17);
            var y = b.Op("LayerNormalization", [x, b.Floats("scale", normShape, scale), b.Floats("bias", normShape, bias)],
                [Int("axis", axis), Float("epsilon", epsAdd.C)]);
            b.Replace(root.Outputs[0], y);
        });
    }

    /// <summary>Scale/bias as the normalized shape: a constant broadcast along the normalized axes only.</summary>
    private static float[]? ExpandTo(Value? v, long[] normShape, int count, float fallback)
    {
        if (v is null) return Enumerable.Repeat(fallback, count).ToArray();
        var c = v.Constant!;
        var data = c.ToFloats();
        if (data.Length == 1) return Enumerable.Repeat(data[0], count).ToArray();
        var dims = c.Dims.SkipWhile(d => d == 1).ToArray();
        if (data.Length == count && (dims.Length <= normShape.Length) && dims.SequenceEqual(normShape.Skip(normShape.Length - dims.Length)) && dims.Length == normShape.SkipWhile(d => d == 1).Count())
            return data;
        return null;
    }
}

/// <summary>GELU with the error function: 0.5 * x * (1 + erf(x / sqrt 2)), in any association of the product.</summary>
public sealed class RecognizeGeluErf : RewriteRule
{
    public override string Name => "RecognizeGeluErf";
    public override string Summary => "0.5*x*(1+Erf(x/sqrt(2))) -> Gelu (opset 20)";
    public override IReadOnlyList<string> RootOps { get; } = ["Mul"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (!context.CanUseOpset(20)) return null;
        var (factors, muls) = Expr.Product(root);
        if (factors.Count != 3) return null;
        var half = factors.FindIndex(f => IsScalar(f, 0.5f));
        if (half < 0) return null;
        factors.RemoveAt(half);
        foreach (var (x, onePlus) in new[] { (factors[0], factors[1]), (factors[1], factors[0]) })
        {
            if (Expr.WithScalar(Producer(onePlus, "Add"), "Add") is not { } add || !Expr.Near(add.C, 1)) continue;
            if (Producer(add.Other, "Erf") is not { } erf || erf.Input(0) is not { } z) continue;
            var scaled = Expr.WithScalar(Producer(z, "Div"), "Div", constantOnRightOnly: true) is { } d && Expr.Near(d.C, Math.Sqrt(2)) ? d.Other
                : Expr.WithScalar(Producer(z, "Mul"), "Mul") is { } m && Expr.Near(m.C, 1 / Math.Sqrt(2)) ? m.Other : null;
            if (scaled != x || !IsFloat(x)) continue;
            var inner = new[] { z.Producer!, erf, onePlus.Producer! };
            var all = new HashSet<Node>([.. inner, .. muls]);
            if (inner.Any(n => !OnlyUsedWithin(n.Outputs[0], all))) return null;
            return new RewriteMatch([.. inner, .. muls], b =>
            {
                b.RequireOpset(20);
                b.Replace(root.Outputs[0], b.Op("Gelu", [x], [IR.Attribute.String("approximate", "none")]));
            });
        }
        return null;
    }
}

/// <summary>GELU with tanh: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))).</summary>
public sealed class RecognizeGeluTanh : RewriteRule
{
    public override string Name => "RecognizeGeluTanh";
    public override string Summary => "0.5*x*(1+Tanh(sqrt(2/pi)*(x+0.044715*x^3))) -> Gelu approximate=tanh (opset 20)";
    public override IReadOnlyList<string> RootOps { get; } = ["Mul"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (!context.CanUseOpset(20)) return null;
        var (factors, muls) = Expr.Product(root);
        if (factors.Count != 3) return null;
        var half = factors.FindIndex(f => IsScalar(f, 0.5f));
        if (half < 0) return null;
        factors.RemoveAt(half);
        foreach (var (x, onePlus) in new[] { (factors[0], factors[1]), (factors[1], factors[0]) })
        {
            if (Expr.WithScalar(Producer(onePlus, "Add"), "Add") is not { } add || !Expr.Near(add.C, 1)) continue;
            if (Producer(add.Other, "Tanh") is not { } tanh || tanh.Input(0) is not { } t) continue;
            if (Expr.WithScalar(Producer(t, "Mul"), "Mul") is not { } outer || !Expr.Near(outer.C, Math.Sqrt(2 / Math.PI))) continue;
            if (Producer(outer.Other, "Add") is not { } sum || sum.Inputs.Count != 2) continue;
            var cubicTerm = sum.Input(0) == x ? sum.Input(1) : sum.Input(1) == x ? sum.Input(0) : null;
            if (Expr.WithScalar(cubicTerm?.Producer, "Mul") is not { } cubic || !Expr.Near(cubic.C, 0.044715)) continue;
            if (Producer(cubic.Other, "Pow") is not { } pow || pow.Input(0) != x || !IsScalar(pow.Input(1), 3) || !IsFloat(x)) continue;
            var inner = new[] { pow, cubicTerm!.Producer!, sum, t.Producer!, tanh, onePlus.Producer! };
            var all = new HashSet<Node>([.. inner, .. muls]);
            if (inner.Any(n => !OnlyUsedWithin(n.Outputs[0], all))) return null;
            return new RewriteMatch([.. inner, .. muls], b =>
            {
                b.RequireOpset(20);
                b.Replace(root.Outputs[0], b.Op("Gelu", [x], [IR.Attribute.String("approximate", "tanh")]));
            });
        }
        return null;
    }
}

/// <summary>Softmax written out: Exp(x [- ReduceMax(x)]) / ReduceSum(that) over one axis.</summary>
public sealed class RecognizeSoftmax : RewriteRule
{
    public override string Name => "RecognizeSoftmax";
    public override string Summary => "Exp(x - ReduceMax(x)) / ReduceSum(...) over one axis -> Softmax";
    public override IReadOnlyList<string> RootOps { get; } = ["Div"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (Producer(root.Input(0), "Exp") is not { } exp || Producer(root.Input(1), "ReduceSum") is not { } sum) return null;
        if (sum.Input(0) != exp.Outputs[0] || sum.GetInt("keepdims", 1) == 0 || ReduceAxes(sum) is not [var axis]) return null;
        if (exp.Input(0) is not { Shape: { } s } e || !IsFloat(e)) return null;
        // Softmax before opset 13 flattens at `axis`; it means the same only on the last axis.
        if (context.Opset < 13 && axis != s.Rank - 1) return null;
        var x = e;
        var matched = new List<Node> { exp, sum, root };
        if (Producer(e, "Sub") is { } sub && Producer(sub.Input(1), "ReduceMax") is { } max && max.Input(0) == sub.Input(0)
            && ReduceAxes(max) is [var maxAxis] && maxAxis == axis && max.GetInt("keepdims", 1) != 0
            && OnlyUsedBy(e, exp) && OnlyUsedBy(max.Outputs[0], sub))
        {
            x = sub.Input(0)!;
            matched.InsertRange(0, [max, sub]);
        }
        if (!exp.Outputs[0].Uses.All(u => u.Node == sum || u.Node == root) || !OnlyUsedBy(sum.Outputs[0], root)) return null;
        return new RewriteMatch(matched, b => b.Replace(root.Outputs[0], b.Op("Softmax", [x], [Int("axis", axis)])));
    }
}

/// <summary>HardSwish written as x * HardSigmoid(x) (alpha 1/6, beta 0.5) or x * Clip(x + 3, 0, 6) / 6.</summary>
public sealed class RecognizeHardSwish : RewriteRule
{
    public override string Name => "RecognizeHardSwish";
    public override string Summary => "x*HardSigmoid(x) or x*Clip(x+3,0,6)/6 -> HardSwish (opset 14)";
    public override IReadOnlyList<string> RootOps { get; } = ["Mul", "Div"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (!context.CanUseOpset(14)) return null;
        if (root.OpType == "Mul")
        {
            var (factors, muls) = Expr.Product(root, 2);
            if (factors.Count == 2)
                foreach (var (x, hs) in new[] { (factors[0], factors[1]), (factors[1], factors[0]) })
                    if (Producer(hs, "HardSigmoid") is { } h && h.Input(0) == x && Expr.Near(h.GetFloat("alpha", 0.2f), 1 / 6.0)
                        && Expr.Near(h.GetFloat("beta", 0.5f), 0.5) && OnlyUsedBy(hs, muls[^1]) && IsFloat(x))
                        return Build([h, .. muls], x, root);
            if (factors.Count == 3 && factors.FindIndex(f => IsScalar(f, 1 / 6f, 1e-6f)) is var k and >= 0)
            {
                factors.RemoveAt(k);
                foreach (var (x, clip) in new[] { (factors[0], factors[1]), (factors[1], factors[0]) })
                    if (ClipOfXPlus3(clip, x) is { } inner && inner.All(n => OnlyUsedWithin(n.Outputs[0], [.. inner, .. muls])))
                        return Build([.. inner, .. muls], x, root);
            }
            return null;
        }
        // Div(Mul(x, Clip(x+3,0,6)), 6)
        if (!IsScalar(root.Input(1), 6) || Producer(root.Input(0), "Mul") is not { } mul || !OnlyUsedBy(mul.Outputs[0], root)) return null;
        foreach (var (x, clip) in new[] { (mul.Input(0)!, mul.Input(1)!), (mul.Input(1)!, mul.Input(0)!) })
            if (ClipOfXPlus3(clip, x) is { } inner && inner.All(n => OnlyUsedWithin(n.Outputs[0], [.. inner, mul])))
                return Build([.. inner, mul, root], x, root);
        return null;
    }

    private static List<Node>? ClipOfXPlus3(Value clip, Value x)
    {
        if (Producer(clip, "Clip") is not { } c || !IsFloat(x)) return null;
        var min = c.Input(1) is { } lo ? ScalarFloat(lo) : c.HasAttr("min") ? c.GetFloat("min", 0) : null;
        var max = c.Input(2) is { } hi ? ScalarFloat(hi) : c.HasAttr("max") ? c.GetFloat("max", 0) : null;
        if (min != 0 || max != 6) return null;
        if (Expr.WithScalar(Producer(c.Input(0), "Add"), "Add") is not { } add || add.Other != x || add.C != 3) return null;
        return [c.Input(0)!.Producer!, c];
    }

    private static RewriteMatch Build(List<Node> matched, Value x, Node root) => new(matched, b =>
    {
        b.RequireOpset(14);
        b.Replace(root.Outputs[0], b.Op("HardSwish", x));
    });
}
