using ArchNet.IR;
using ArchNet.Passes.Rewriting;
using static ArchNet.Passes.Rewriting.Patterns;

namespace ArchNet.Passes.Canonicalization;

/// <summary>Evaluates nodes whose inputs are all constant (the shape arithmetic exporters emit), and Shape/Size of static shapes.</summary>
public sealed class FoldConstants : RewriteRule
{
    /// <summary>Results larger than this stay computed: folding is for small shape subgraphs, not for weights.</summary>
    public const long MaxElements = 1 << 16;

    public override string Name => "FoldConstants";
    public override string Summary => "a node whose inputs are constant (or whose input shape is static, for Shape/Size) -> a constant";
    public override IReadOnlyList<string> RootOps { get; } = [.. ConstantEvaluator.Supported];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (root.Outputs.Count != 1 && root.OpType != "Dropout") return null;
        NdArray[]? result;
        if (root.OpType is "Shape" or "Size")
        {
            if (StaticShape(root.Input(0)) is not { } s) return null;
            if (root.OpType == "Size") result = [new NdArray(ElementType.Int64, [], [s.Aggregate(1L, (a, d) => a * d)])];
            else
            {
                var start = (int)root.GetInt("start", 0);
                var end = (int)root.GetInt("end", s.Length);
                if (start < 0) start += s.Length;
                if (end < 0) end += s.Length;
                start = Math.Clamp(start, 0, s.Length);
                end = Math.Clamp(end, start, s.Length);
                result = [new NdArray(ElementType.Int64, [end - start], [.. s[start..end].Select(d => (double)d)])];
            }
        }
        else
        {
            if (root.Inputs.Any(i => i is not null && !i.IsAbsent && !i.IsConstant)) return null;
            if (root.OpType != "Constant" && root.Inputs.All(i => i is null || i.IsAbsent)) return null;
            if (root.Inputs.Any(i => i?.Constant is { ElementCount: > MaxElements })) return null;
            result = ConstantEvaluator.Evaluate(root, [.. root.Inputs.Select(i => i?.Constant is { } c ? NdArray.From(c) : null)]);
        }
        if (result is null || result[0].Count > MaxElements) return null;
        TensorData data;
        try { data = result[0].ToTensor(); }
        catch (NotSupportedException) { return null; }
        if (root.Outputs[0].TensorType is { ElementType: var et } && et != ElementType.Undefined && et != data.ElementType) return null;
        return RewriteMatch.Of(root, b => b.Replace(root.Outputs[0], b.Constant("folded", data)));
    }
}

/// <summary>Identity forwards its input.</summary>
public sealed class RemoveIdentity : RewriteRule
{
    public override string Name => "RemoveIdentity";
    public override string Summary => "Identity(x) -> x";
    public override IReadOnlyList<string> RootOps { get; } = ["Identity"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (root.Input(0) is not { } x || !CanForward(root, x)) return null;
        return RewriteMatch.Of(root, b => b.Replace(root.Outputs[0], x));
    }

    /// <summary>A graph output keeps its own name, so it can only be forwarded from a value a node computes.</summary>
    internal static bool CanForward(Node root, Value x)
    {
        if (root.Graph is not { } g || !g.Outputs.Contains(root.Outputs[0])) return true;
        return x.Producer is not null && !g.Outputs.Contains(x);
    }
}

/// <summary>Dropout does nothing at inference (no training_mode, mask unused).</summary>
public sealed class RemoveDropout : RewriteRule
{
    public override string Name => "RemoveDropout";
    public override string Summary => "Dropout(x) at inference -> x";
    public override IReadOnlyList<string> RootOps { get; } = ["Dropout"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (root.Input(0) is not { } x || !RemoveIdentity.CanForward(root, x)) return null;
        if (root.Outputs.Count > 1 && !root.Outputs[1].IsAbsent && root.Outputs[1].Uses.Count > 0) return null;
        if (root.Outputs.Count > 1 && root.Graph?.Outputs.Contains(root.Outputs[1]) == true) return null;
        if (root.Input(2) is { } training && (training.Constant is null || training.Constant.ToDoubles()[0] != 0)) return null;
        return RewriteMatch.Of(root, b => b.Replace(root.Outputs[0], x));
    }
}

/// <summary>Per-channel affine form of an inference BatchNormalization: y = x * Scale + Shift.</summary>
internal sealed record BatchNormAffine(float[] Scale, float[] Shift)
{
    public static BatchNormAffine? Of(Node bn)
    {
        if (bn.OpType != "BatchNormalization" || bn.Outputs.Count(o => !o.IsAbsent) != 1 || bn.GetInt("training_mode", 0) != 0) return null;
        if (ConstFloats(bn.Input(1)) is not { } gamma || ConstFloats(bn.Input(2)) is not { } beta
            || ConstFloats(bn.Input(3)) is not { } mean || ConstFloats(bn.Input(4)) is not { } variance) return null;
        var c = gamma.Length;
        if (beta.Length != c || mean.Length != c || variance.Length != c) return null;
        var eps = bn.GetFloat("epsilon", 1e-5f);
        var scale = new float[c];
        var shift = new float[c];
        for (var i = 0; i < c; i++)
        {
            // Computed in double so the folded weights stay within float rounding of the two-step result.
            var s = gamma[i] / Math.Sqrt((double)variance[i] + eps);
            scale[i] = (float)s;
            shift[i] = (float)(beta[i] - mean[i] * s);
        }
        return new BatchNormAffine(scale, shift);
    }
}

/// <summary>BatchNormalization after a Conv with constant weights becomes the Conv's weights and bias.</summary>
public sealed class FoldBatchNormIntoConv : RewriteRule
{
    public override string Name => "FoldBatchNormIntoConv";
    public override string Summary => "BatchNormalization(Conv(x, W, b)) -> Conv(x, W*s, (b-mean)*s+beta)";
    public override IReadOnlyList<string> RootOps { get; } = ["BatchNormalization"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (Producer(root.Input(0), "Conv") is not { } conv || !OnlyUsedBy(conv.Outputs[0], root)) return null;
        if (BatchNormAffine.Of(root) is not { } bn || conv.Input(1)?.Constant is not { ElementType: ElementType.Float } weight) return null;
        var wShape = weight.Dims;
        var m = (int)wShape[0];
        if (m != bn.Scale.Length || conv.Outputs[0].Shape is not { Rank: >= 3 }) return null;
        var bias = conv.Input(2) is null ? new float[m] : ConstFloats(conv.Input(2));
        if (bias is null || bias.Length != m) return null;
        // The weights are read in place and scaled a row at a time (each product rounds as the scalar one does).
        var w = weight.Span<float>();
        var per = w.Length / m;
        var nw = new float[w.Length];
        var nb = new float[m];
        for (var o = 0; o < m; o++)
        {
            Scale(w.Slice(o * per, per), bn.Scale[o], nw.AsSpan(o * per, per));
            nb[o] = bias[o] * bn.Scale[o] + bn.Shift[o];
        }
        return new RewriteMatch([conv, root], b =>
        {
            var y = b.Op("Conv", [conv.Input(0), b.Constant("W", TensorData.OwnFloats([.. wShape], nw)), b.Floats("B", [m], nb)], conv.Attributes.Values);
            b.Replace(root.Outputs[0], y);
        });
    }

    /// <summary><paramref name="y"/> = <paramref name="x"/> * <paramref name="s"/>, element by element.</summary>
    private static void Scale(ReadOnlySpan<float> x, float s, Span<float> y)
    {
        var i = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            var vs = new System.Numerics.Vector<float>(s);
            for (; i + System.Numerics.Vector<float>.Count <= x.Length; i += System.Numerics.Vector<float>.Count)
                (new System.Numerics.Vector<float>(x[i..]) * vs).CopyTo(y[i..]);
        }
        for (; i < x.Length; i++) y[i] = x[i] * s;
    }
}

/// <summary>BatchNormalization over the features of a Gemm with constant weights becomes the Gemm's weights and bias.</summary>
public sealed class FoldBatchNormIntoGemm : RewriteRule
{
    public override string Name => "FoldBatchNormIntoGemm";
    public override string Summary => "BatchNormalization(Gemm(x, W, c)) -> Gemm(x, W*s, (c-mean)*s+beta)";
    public override IReadOnlyList<string> RootOps { get; } = ["BatchNormalization"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (Producer(root.Input(0), "Gemm") is not { } gemm || !OnlyUsedBy(gemm.Outputs[0], root)) return null;
        if (BatchNormAffine.Of(root) is not { } bn || GemmWeights.Of(gemm) is not { } g) return null;
        if (g.N != bn.Scale.Length) return null;
        var w = new float[g.K * g.N];
        var c = new float[g.N];
        for (var n = 0; n < g.N; n++)
        {
            for (var k = 0; k < g.K; k++) w[n * g.K + k] = g.W[k * g.N + n] * bn.Scale[n];
            c[n] = g.Bias[n] * bn.Scale[n] + bn.Shift[n];
        }
        return new RewriteMatch([gemm, root], b =>
        {
            var y = b.Op("Gemm", [gemm.Input(0), b.Floats("W", [g.N, g.K], w), b.Floats("C", [g.N], c)],
                [IR.Attribute.Int("transB", 1), .. gemm.Attributes.Values.Where(a => a.Name == "transA")]);
            b.Replace(root.Outputs[0], y);
        });
    }
}

/// <summary>A Gemm's constant weight as a K x N row-major matrix (transB applied, alpha folded) and its bias per output (beta folded).</summary>
internal sealed record GemmWeights(int K, int N, float[] W, float[] Bias)
{
    public static GemmWeights? Of(Node gemm)
    {
        if (gemm.OpType != "Gemm" || !OnlyAttributes(gemm, "alpha", "beta", "transA", "transB")) return null;
        if (gemm.Input(1)?.Constant is not { ElementType: ElementType.Float, Dims.Length: 2 } bt) return null;
        var alpha = gemm.GetFloat("alpha", 1);
        var beta = gemm.GetFloat("beta", 1);
        var transB = gemm.GetInt("transB", 0) != 0;
        var raw = bt.ToFloats();
        int rows = (int)bt.Dims[0], cols = (int)bt.Dims[1];
        var (k, n) = transB ? (cols, rows) : (rows, cols);
        var w = new float[k * n];
        for (var i = 0; i < k; i++)
            for (var j = 0; j < n; j++)
                w[i * n + j] = alpha * (transB ? raw[j * cols + i] : raw[i * cols + j]);
        var bias = new float[n];
        if (gemm.Input(2) is { } cv)
        {
            // Only a per-output bias ([N], [1,N], or a scalar) is a bias; a full [M,N] C is not.
            if (cv.Constant is not { ElementType: ElementType.Float } cdata) return null;
            var c = cdata.ToFloats();
            if (c.Length == 1) Array.Fill(bias, beta * c[0]);
            else if (c.Length == n && (cdata.Dims.Length == 1 || cdata.Dims[0] == 1)) for (var j = 0; j < n; j++) bias[j] = beta * c[j];
            else return null;
        }
        return new GemmWeights(k, n, w, bias);
    }
}
