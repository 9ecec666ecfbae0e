using ArchNet.IR;
using ArchNet.Passes.Rewriting;
using static ArchNet.Passes.Rewriting.Patterns;

namespace ArchNet.Passes.Rules;

/// <summary>
/// A linear layer with a constant weight as attention blocks spell it: MatMul(x, W[K,N]) optionally followed by an
/// Add of a constant bias broadcast along the last axis (either operand order). Shared by the attention rules.
/// </summary>
internal sealed record LinearLayer(Node MatMul, Node? BiasAdd, Value X, float[] W, long K, long N, float[] Bias)
{
    public Value Output => (BiasAdd ?? MatMul).Outputs[0];

    public IReadOnlyList<Node> Nodes => BiasAdd is null ? [MatMul] : [MatMul, BiasAdd];

    /// <summary>The linear layer producing <paramref name="v"/>, or null.</summary>
    public static LinearLayer? Producing(Value? v)
    {
        if (v?.Producer is not { IsDefaultDomain: true } p) return null;
        if (p.OpType == "MatMul") return FromMatMul(p, null, null);
        if (p.OpType != "Add") return null;
        foreach (var (mmSide, biasSide) in new[] { (0, 1), (1, 0) })
            if (Producer(p.Input(mmSide), "MatMul") is { } mm && OnlyUsedBy(p.Input(mmSide)!, p) && p.Input(biasSide)?.Constant is { } c)
                return FromMatMul(mm, p, c);
        return null;
    }

    private static LinearLayer? FromMatMul(Node mm, Node? add, TensorData? bias)
    {
        if (mm.Input(0) is not { IsConstant: false } x || !IsFloat(x) || x.Shape?.Rank is not >= 2) return null;
        if (mm.Input(1)?.Constant is not { ElementType: ElementType.Float, Dims.Length: 2 } w) return null;
        var (k, n) = (w.Dims[0], w.Dims[1]);
        var b = new float[n];
        if (bias is not null)
        {
            // Only a bias along the last axis (shape [N], [1,N], [1,1,N]...): anything else is not a per-output bias.
            if (bias.ElementType != ElementType.Float || bias.ElementCount != n || bias.Dims.Length == 0 || bias.Dims[^1] != n) return null;
            if (add!.Outputs[0].Shape?.Rank is not { } rank || bias.Dims.Length > rank) return null;
            b = bias.ToFloats();
        }
        return new LinearLayer(mm, add, x, w.ToFloats(), k, n, b);
    }

    /// <summary>Emits MatMul(x, W') (+ Add(b') when the original had a bias or <paramref name="bias"/> is nonzero).</summary>
    public static Value Emit(RewriteBuilder b, Value x, float[] w, long k, long n, float[] bias, bool withBias)
    {
        var y = b.Op("MatMul", x, b.Floats("W", [k, n], w));
        return withBias ? b.Op("Add", y, b.Floats("bias", [n], bias)) : y;
    }
}

/// <summary>
/// A slice along the last axis of a linear layer's output (the q/k/v split of a fused attention in-projection) is the
/// same layer with only the sliced columns of its weight and bias: exact, and it saves computing the other columns.
/// The original layer stays for its other readers and goes as dead code once every slice of it is rewritten.
/// </summary>
public sealed class SliceOfLinearToSlicedWeights : RewriteRule
{
    public override string Name => "SliceOfLinearToSlicedWeights";
    public override string Summary => "Slice(MatMul(x, W) + b, last axis, s:e) -> MatMul(x, W[:, s:e]) + b[s:e]";
    public override IReadOnlyList<string> RootOps { get; } = ["Slice"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (LinearLayer.Producing(root.Input(0)) is not { } lin || root.Input(0)!.Shape?.Rank is not { } rank) return null;
        if (LastAxisRange(root, rank, lin.N) is not var (s, e) || e <= s) return null;
        var width = e - s;
        var w = new float[lin.K * width];
        for (long r = 0; r < lin.K; r++) Array.Copy(lin.W, r * lin.N + s, w, r * width, width);
        var bias = lin.Bias[(int)s..(int)e];
        return RewriteMatch.Of(root, b =>
            b.Replace(root.Outputs[0], LinearLayer.Emit(b, lin.X, w, lin.K, width, bias, lin.BiasAdd is not null)));
    }

    /// <summary>[start, end) of a unit-step Slice whose only axis is the last one, clamped to the axis; null otherwise.</summary>
    internal static (long Start, long End)? LastAxisRange(Node slice, int rank, long size)
    {
        if (slice.Inputs.Count < 4 || ConstInts(slice.Input(1)) is not [var start] || ConstInts(slice.Input(2)) is not [var end]) return null;
        if (ConstInts(slice.Input(3)) is not [var axis] || (axis < 0 ? axis + rank : axis) != rank - 1) return null;
        if (slice.Inputs.Count > 4 && slice.Input(4) is { IsAbsent: false } steps && ConstInts(steps) is not [1]) return null;
        static long Clamp(long v, long n) => Math.Clamp(v < 0 ? v + n : v, 0, n);
        return (Clamp(start, size), Clamp(end, size));
    }
}

/// <summary>
/// Division by a constant scalar of a tensor that a linear layer produced through data movement only (Reshape,
/// Transpose: attention's q / sqrt(d) after splitting heads) -> the same layer with W/c and b/c. Exact up to float
/// rounding: scaling commutes with moving data. Every node on the way must have this path as its only reader.
/// </summary>
public sealed class DivConstantIntoLinear : RewriteRule
{
    private static readonly HashSet<string> Movement = ["Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze"];

    public override string Name => "DivConstantIntoLinear";
    public override string Summary => "Div(move(MatMul(x, W) + b), c) -> move(MatMul(x, W/c) + b/c)";
    public override IReadOnlyList<string> RootOps { get; } = ["Div"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (ScalarFloat(root.Input(1)) is not { } c || c == 0 || !float.IsFinite(c) || root.Input(0) is not { IsConstant: false } y) return null;
        if (root.Outputs[0].Shape?.ToArray() is not { } outShape || y.Shape?.ToArray() is not { } inShape || !outShape.SequenceEqual(inShape)) return null;
        // Walk back through single-reader data movement to the linear layer.
        var chain = new List<Node>();
        var v = y;
        var reader = root;
        while (v.Producer is { IsDefaultDomain: true } p && Movement.Contains(p.OpType) && OnlyUsedBy(v, reader))
        {
            chain.Insert(0, p);
            reader = p;
            v = p.Input(0)!;
        }
        if (!OnlyUsedBy(v, reader) || LinearLayer.Producing(v) is not { } lin) return null;
        var inv = 1 / c;
        var w = lin.W.Select(x => x * inv).ToArray();
        var bias = lin.Bias.Select(x => x * inv).ToArray();
        return new RewriteMatch([.. lin.Nodes, .. chain, root], b =>
        {
            var x = LinearLayer.Emit(b, lin.X, w, lin.K, lin.N, bias, lin.BiasAdd is not null);
            foreach (var m in chain)
                x = b.Op(m.OpType, [x, .. m.Inputs.Skip(1)], m.Attributes.Values, type: m.Outputs[0].TensorType);
            b.Replace(root.Outputs[0], x);
        });
    }
}

/// <summary>
/// Gather of one constant index along an axis (a ViT's class token, x[:, 0]) -> a Slice of width one along that axis and
/// a Reshape that drops it. Exact: both only move data.
/// </summary>
public sealed class GatherScalarToSliceReshape : RewriteRule
{
    public override string Name => "GatherScalarToSliceReshape";
    public override string Summary => "Gather(x, i, axis a) with scalar i -> Reshape(Slice(x, i:i+1, axis a))";
    public override IReadOnlyList<string> RootOps { get; } = ["Gather"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (root.Input(0) is not { IsConstant: false } x || StaticShape(x) is not { } xs || StaticShape(root.Outputs[0]) is not { } ys) return null;
        if (root.Input(1)?.Constant is not { Dims.Length: 0 } idx || !idx.ElementType.IsInteger() || !context.CanUseOpset(10)) return null;
        var axis = root.GetInt("axis", 0);
        if (axis < 0) axis += xs.Length;
        if (axis < 0 || axis >= xs.Length) return null;
        var i = idx.ToInt64s()[0];
        if (i < 0) i += xs[axis];
        if (i < 0 || i >= xs[axis]) return null;
        return RewriteMatch.Of(root, b =>
            b.Replace(root.Outputs[0], Emit.Reshape(b, Emit.Slice(b, context, x, axis, i, i + 1), ys)));
    }
}

/// <summary>
/// A patchify conv (kernel = stride = k, no padding, image sides multiples of k: a ViT's patch embedding) on one item
/// -> data movement that gathers each patch into a row (Reshape, Transpose, all of rank at most 4) and one MatMul by
/// the kernel as a [C*k*k, M] weight, then back to [1, M, H/k, W/k]. Exact: the same products and sums. Dimension 0
/// stays the item's throughout, so the batch-1 shape constants can copy it (BatchBinding) and items stack.
/// </summary>
public sealed class PatchifyConvToMatMul : RewriteRule
{
    public override string Name => "PatchifyConvToMatMul";
    public override string Summary => "Conv(k x k, stride k, pad 0) on [1,C,H,W] -> Reshape/Transpose patches to rows, MatMul by the kernel, back to NCHW";
    public override IReadOnlyList<string> RootOps { get; } = ["Conv"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (Nchw(root.Input(0)) is not [1, var c, var h, var w] || root.Input(1)?.Constant is not { ElementType: ElementType.Float, Dims: [var m, var wc, var k, var k2] } wt) return null;
        if (wc != c || k != k2 || k < 2 || h % k != 0 || w % k != 0 || root.GetInt("group", 1) != 1 || root.GetString("auto_pad", "NOTSET") != "NOTSET") return null;
        if (!Ints(root, "strides", 2, 1).All(s => s == k) || !Ints(root, "pads", 4, 0).All(p => p == 0) || !Ints(root, "dilations", 2, 1).All(d => d == 1)) return null;
        var bias = root.Input(2) is { IsAbsent: false } bv ? ConstFloats(bv) : null;
        if (root.Input(2) is { IsAbsent: false } && bias?.Length != m) return null;
        var (p, q, kk) = (h / k, w / k, k * k);
        var src = wt.ToFloats();
        var rows = new float[c * kk * m];
        for (long o = 0; o < m; o++)
            for (long i = 0; i < c * kk; i++) rows[i * m + o] = src[o * c * kk + i];
        return RewriteMatch.Of(root, b =>
        {
            // Element order (c, h = p k + i, q, j): [1, C*H, Q, k] -> (q, c, p, i, j) [1, Q, C*H, k] = [1, Q*C, P, k*k]
            // -> (p, q, c, i, j) [1, P, Q*C, k*k] = [1, P*Q, C*k*k]: one row per patch, its pixels in the kernel's order.
            var x = Emit.Reshape(b, root.Input(0)!, [1, c * h, q, k]);
            x = Emit.Reshape(b, b.Op("Transpose", [x], [Ints("perm", 0, 2, 1, 3)]), [1, q * c, p, kk]);
            x = Emit.Reshape(b, b.Op("Transpose", [x], [Ints("perm", 0, 2, 1, 3)]), [1, p * q, c * kk]);
            var y = b.Op("MatMul", x, b.Floats("W", [c * kk, m], rows));
            if (bias is not null) y = b.Op("Add", y, b.Floats("bias", [m], bias));
            y = b.Op("Transpose", [y], [Ints("perm", 0, 2, 1)]);
            b.Replace(root.Outputs[0], Emit.Reshape(b, y, [1, m, p, q]));
        });
    }
}
