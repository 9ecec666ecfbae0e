using ArchNet.IR;
using ArchNet.Passes.Canonicalization;
using ArchNet.Passes.Rewriting;
using static ArchNet.Passes.Rewriting.Patterns;

namespace ArchNet.Passes.Rules;

/// <summary>Gemm with a constant weight -> MatMul and, when there is a bias, Add.</summary>
public sealed class GemmToMatMulAdd : RewriteRule
{
    public override string Name => "GemmToMatMulAdd";
    public override string Summary => "Gemm(x, W, c) -> Add(MatMul(x, alpha*W^T?), beta*c)";
    public override IReadOnlyList<string> RootOps { get; } = ["Gemm"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (root.GetInt("transA", 0) != 0 || !IsFloat(root.Input(0)) || GemmWeights.Of(root) is not { } g) return null;
        return RewriteMatch.Of(root, b =>
        {
            var y = b.Op("MatMul", root.Input(0), b.Floats("W", [g.K, g.N], g.W));
            if (root.Input(2) is not null) y = b.Op("Add", y, b.Floats("bias", [g.N], g.Bias));
            b.Replace(root.Outputs[0], y);
        });
    }
}

/// <summary>MatMul of a matrix by a constant weight, plus a constant per-output bias -> one Gemm.</summary>
public sealed class MatMulAddToGemm : RewriteRule
{
    public override string Name => "MatMulAddToGemm";
    public override string Summary => "Add(MatMul(x[M,K], W), b[N]) -> Gemm(x, W, b)";
    public override IReadOnlyList<string> RootOps { get; } = ["Add"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        var (mmValue, biasValue) = root.Input(0)?.Producer?.OpType == "MatMul" ? (root.Input(0)!, root.Input(1)) : (root.Input(1)!, root.Input(0));
        if (Producer(mmValue, "MatMul") is not { } mm || !OnlyUsedBy(mmValue, root)) return null;
        if (mm.Input(0)?.Shape is not { Rank: 2 } || !IsFloat(mm.Input(0)) || mm.Input(1)?.Constant is not { ElementType: ElementType.Float, Dims.Length: 2 } w) return null;
        if (biasValue?.Constant is not { ElementType: ElementType.Float } bias || bias.ElementCount != w.Dims[1] || bias.Dims.Length > 2
            || (bias.Dims.Length == 2 && bias.Dims[0] != 1)) return null;
        return new RewriteMatch([mm, root], b =>
            b.Replace(root.Outputs[0], b.Op("Gemm", mm.Input(0), mm.Input(1), b.Floats("bias", [w.Dims[1]], bias.ToFloats()))));
    }
}

/// <summary>Gemm with a constant weight on an [N,K] input -> 1x1 Conv on [N,K,1,1].</summary>
public sealed class GemmToConv1x1 : RewriteRule
{
    public override string Name => "GemmToConv1x1";
    public override string Summary => "Gemm(x[N,K], W, c) -> Reshape(Conv1x1(Reshape(x,[N,K,1,1])), [N,M])";
    public override IReadOnlyList<string> RootOps { get; } = ["Gemm"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (root.GetInt("transA", 0) != 0 || StaticShape(root.Input(0)) is not [var n, var k] || !IsFloat(root.Input(0))) return null;
        if (GemmWeights.Of(root) is not { } g || g.K != k) return null;
        var w = new float[g.N * g.K];
        for (var o = 0; o < g.N; o++)
            for (var i = 0; i < g.K; i++) w[o * g.K + i] = g.W[i * g.N + o];
        return RewriteMatch.Of(root, b =>
        {
            var x4 = Emit.Reshape(b, root.Input(0)!, [n, k, 1, 1]);
            var y4 = Emit.Conv(b, x4, w, [g.N, g.K, 1, 1], g.Bias, [1, 1], [0, 0, 0, 0]);
            b.Replace(root.Outputs[0], Emit.Reshape(b, y4, [n, g.N]));
        });
    }
}

/// <summary>MatMul by a constant [K,N] weight on a static input -> 1x1 Conv over the rows as a batch.</summary>
public sealed class MatMulToConv1x1 : RewriteRule
{
    public override string Name => "MatMulToConv1x1";
    public override string Summary => "MatMul(x[...,K], W[K,N]) -> Reshape(Conv1x1(Reshape(x,[rows,K,1,1])), [...,N])";
    public override IReadOnlyList<string> RootOps { get; } = ["MatMul"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (StaticShape(root.Input(0)) is not { Length: >= 2 } xs || !IsFloat(root.Input(0))) return null;
        if (root.Input(1)?.Constant is not { ElementType: ElementType.Float, Dims.Length: 2 } wt || wt.Dims[0] != xs[^1]) return null;
        long k = wt.Dims[0], n = wt.Dims[1];
        var rows = xs[..^1].Aggregate(1L, (a, d) => a * d);
        var raw = wt.ToFloats();
        var w = new float[n * k];
        for (var o = 0; o < n; o++)
            for (var i = 0; i < k; i++) w[o * k + i] = raw[i * n + o];
        return RewriteMatch.Of(root, b =>
        {
            var x4 = Emit.Reshape(b, root.Input(0)!, [rows, k, 1, 1]);
            var y4 = Emit.Conv(b, x4, w, [n, k, 1, 1], null, [1, 1], [0, 0, 0, 0]);
            b.Replace(root.Outputs[0], Emit.Reshape(b, y4, [.. xs[..^1], n]));
        });
    }
}

/// <summary>
/// A channels-last Linear between two Transposes, as ConvNeXt, Swin and MLP-Mixer blocks export nn.Linear on an NCHW
/// map: Transpose(NCHW -> NHWC), then MatMul by a constant [K,N] (with its bias Add), pointwise activations and more
/// such Linears, then Transpose(NHWC -> NCHW). On NCHW that is 1x1 Convs with bias (W^T) and the same activations, and
/// both Transposes go. Exact: every op in between maps each position's channel vector on its own.
/// </summary>
public sealed class ChannelsLastLinearToConv1x1 : RewriteRule
{
    private static readonly long[] ToNhwc = [0, 2, 3, 1], ToNchw = [0, 3, 1, 2];

    /// <summary>Position-wise ops that keep their meaning when the channel axis moves: unary, attributes not axis-bound.</summary>
    private static readonly HashSet<string> Pointwise =
        ["Relu", "Gelu", "Sigmoid", "Tanh", "Erf", "HardSigmoid", "HardSwish", "LeakyRelu", "Elu", "Selu", "Softplus", "Clip", "Identity", "Neg", "Abs"];

    public override string Name => "ChannelsLastLinearToConv1x1";
    public override string Summary => "Transpose(NCHW->NHWC) -> MatMul(W)+b [-> activation -> MatMul+b ...] -> Transpose(back) => Conv1x1(W^T, b) [-> activation -> ...] on NCHW";
    public override IReadOnlyList<string> RootOps { get; } = ["Transpose"];

    /// <summary>The nodes between the two Transposes, in graph order, and the first Transpose (or null when it is not
    /// a channels-last Linear chain).</summary>
    internal static (List<Node> Chain, Node Start)? Chain(Node end)
    {
        if (end.GetInts("perm")?.ToArray() is not { } q || !q.SequenceEqual(ToNchw)) return null;
        var chain = new List<Node>();
        var reader = end;
        var v = end.Input(0);
        while (v?.Producer is { IsDefaultDomain: true } p && OnlyUsedBy(v, reader) && p.Outputs.Count == 1)
        {
            if (p.OpType == "Transpose")
            {
                if (p.GetInts("perm")?.ToArray() is not { } perm || !perm.SequenceEqual(ToNhwc) || Nchw(p.Input(0)) is null) return null;
                chain.Reverse();
                return chain.Any(n => n.OpType == "MatMul") ? (chain, p) : null;
            }
            var n = Dims(v)?[^1];
            Value? next = p.OpType switch
            {
                "MatMul" when p.Input(1)?.Constant is { ElementType: ElementType.Float, Dims: [_, var cols] } && cols == n => p.Input(0),
                "Add" when Bias(p) is var (x, _) => x,
                _ when Pointwise.Contains(p.OpType) && p.Inputs.Skip(1).All(i => i is null || i.IsAbsent || i.IsConstant) => p.Input(0),
                _ => null,
            };
            if (next is null || !IsFloat(next)) return null;
            chain.Add(p);
            (reader, v) = (p, next);
        }
        return null;
    }

    private static long[]? Dims(Value? v) => StaticShape(v) is { Length: 4 } s ? s : null;

    /// <summary>Add(x, b) with b a constant over the last axis only ([N] or [1,...,1,N]): x and b's values.</summary>
    internal static (Value X, float[] B)? Bias(Node add)
    {
        if (add.OpType != "Add" || add.Outputs[0].Shape?.ToArray() is not { Length: > 0 } ys) return null;
        var (x, c) = add.Input(1)?.IsConstant == true ? (add.Input(0), add.Input(1)) : (add.Input(1), add.Input(0));
        if (x is null || c is null || x.IsConstant || c.Constant is not { ElementType: ElementType.Float } t || t.ElementCount != ys[^1]) return null;
        if (t.Dims.Length > 0 && (t.Dims[^1] != ys[^1] || t.Dims[..^1].Any(d => d != 1))) return null;
        return (x, t.ToFloats());
    }

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (Chain(root) is not var (chain, start)) return null;
        List<Node> matched = [start, .. chain, root];
        return new RewriteMatch(matched, b =>
        {
            var x = start.Input(0)!;
            for (var i = 0; i < chain.Count; i++)
            {
                var n = chain[i];
                if (n.OpType == "MatMul")
                {
                    var wt = n.Input(1)!.Constant!;
                    long k = wt.Dims[0], m = wt.Dims[1];
                    var raw = wt.ToFloats();
                    var w = new float[m * k];
                    for (var o = 0; o < m; o++)
                        for (var j = 0; j < k; j++) w[o * k + j] = raw[j * m + o];
                    // The bias Add that follows folds into the conv's bias.
                    float[]? bias = null;
                    if (i + 1 < chain.Count && chain[i + 1].OpType == "Add") bias = Bias(chain[++i])!.Value.B;
                    x = Emit.Conv(b, x, w, [m, k, 1, 1], bias, [1, 1], [0, 0, 0, 0]);
                }
                else if (n.OpType == "Add")
                {
                    var bias = Bias(n)!.Value.B;
                    x = b.Op("Add", x, b.Floats("bias", [bias.Length, 1, 1], bias));
                }
                else
                    x = b.Op(n.OpType, [x, .. n.Inputs.Skip(1)], n.Attributes.Values);
            }
            b.Replace(root.Outputs[0], x);
        });
    }
}

/// <summary>A 1x1 Conv on a [N,C,1,1] input is a fully connected layer.</summary>
public sealed class Conv1x1ToGemm : RewriteRule
{
    public override string Name => "Conv1x1ToGemm";
    public override string Summary => "Conv1x1(x[N,C,1,1]) -> Reshape(Gemm(Flatten(x), W^T, b), [N,M,1,1])";
    public override IReadOnlyList<string> RootOps { get; } = ["Conv"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (Conv2d.Of(root) is not { KH: 1, KW: 1, Group: 1 } c || c.XShape[2] != 1 || c.XShape[3] != 1 || c.Pads.Any(p => p != 0)) return null;
        return RewriteMatch.Of(root, b =>
        {
            var x2 = b.Op("Flatten", [c.X], [Int("axis", 1)]);
            var y = b.Op("Gemm", [x2, b.Floats("W", [c.M, c.Cin], c.W), b.Floats("bias", [c.M], c.Bias)], [Int("transB", 1)]);
            b.Replace(root.Outputs[0], Emit.Reshape(b, y, [c.XShape[0], c.M, 1, 1]));
        });
    }
}
