using System.Runtime.CompilerServices;
using ArchNet.IR;
using ArchNet.Passes.Rewriting;
using static ArchNet.Passes.Rewriting.Patterns;

namespace ArchNet.Passes.Rules;

/// <summary>A 2-D Conv with constant float weights and static NCHW input, its attributes made explicit.</summary>
internal sealed record Conv2d(Node Node, Value X, long[] XShape, float[] W, int M, int CPerGroup, int KH, int KW, float[] Bias,
    long[] Strides, long[] Pads, long[] Dilations, int Group)
{
    public static Conv2d? Of(Node n)
    {
        if (n.OpType != "Conv" || !n.IsDefaultDomain || !OnlyAttributes(n, "kernel_shape", "strides", "pads", "dilations", "group", "auto_pad")) return null;
        if (n.GetString("auto_pad", "NOTSET") != "NOTSET") return null;
        if (Nchw(n.Input(0)) is not { } xs || n.Input(1)?.Constant is not { ElementType: ElementType.Float, Dims.Length: 4 } wt) return null;
        var m = (int)wt.Dims[0];
        var bias = n.Input(2) is null ? new float[m] : ConstFloats(n.Input(2));
        if (bias is null || bias.Length != m) return null;
        // Channels, groups and filters agree: the verifier refuses a conv whose do not before any rule runs. What it
        // does not judge, attribute counts and sizes, a rule that rebuilds the conv checks here.
        var group = n.GetInt("group", 1);
        var (strides, pads, dilations) = (Ints(n, "strides", 2, 1), Ints(n, "pads", 4, 0), Ints(n, "dilations", 2, 1));
        if (n.GetInts("kernel_shape") is { } kernel && !kernel.SequenceEqual(wt.Dims[2..])) return null;
        if (strides.Length != 2 || pads.Length != 4 || dilations.Length != 2) return null;
        if (strides.Any(v => v is < 1 or > MaxGeometry) || dilations.Any(v => v is < 1 or > MaxGeometry) || pads.Any(v => v is < 0 or > MaxGeometry))
            return null;
        return new Conv2d(n, n.Input(0)!, xs, Floats.GetValue(wt, t => t.ToFloats()), m, (int)wt.Dims[1], (int)wt.Dims[2], (int)wt.Dims[3], bias,
            strides, pads, dilations, (int)group);
    }

    // The weights as floats, once per tensor: legalization asks every Conv rule at every node of every trial, and each
    // asked for its own copy of the same (immutable) tensor. Rules only read W; the tensors they build copy it.
    private static readonly ConditionalWeakTable<TensorData, float[]> Floats = [];

    /// <summary>Strides, pads and dilations past this are malformed, not a conv a rule should rebuild.</summary>
    private const long MaxGeometry = 1 << 16;

    public int Cin => (int)XShape[1];

    /// <summary>
    /// True when the conv computes what it would with <paramref name="r"/> on every side: the leading pads are r and
    /// the trailing ones at most r with the same output size, so the padding the trailing side lacks is never read
    /// (exporters write [3,3,2,2] for a 7x7 stride-2 conv on an even input).
    /// </summary>
    public bool PadsEquivalentTo(long r)
    {
        if (Pads[0] != r || Pads[1] != r || Pads[2] > r || Pads[3] > r || Node.Outputs[0].Shape?.ToArray() is not { } ys) return false;
        return ys[2] == (XShape[2] + 2 * r - ((KH - 1) * Dilations[0] + 1)) / Strides[0] + 1
               && ys[3] == (XShape[3] + 2 * r - ((KW - 1) * Dilations[1] + 1)) / Strides[1] + 1;
    }
    public bool Dilated => Dilations.Any(d => d != 1);
    public bool HasBias => Node.Input(2) is not null;

    public float Weight(int o, int c, int i, int j) => W[((o * CPerGroup + c) * KH + i) * KW + j];
}

/// <summary>Building blocks rules emit.</summary>
internal static class Emit
{
    public static Value Conv(RewriteBuilder b, Value x, float[] w, long[] wDims, float[]? bias,
        long[] strides, long[] pads, long group = 1, string suffix = "W")
    {
        List<Value?> inputs = [x, b.Floats(suffix, wDims, w)];
        if (bias is not null) inputs.Add(b.Floats(suffix + "_bias", [wDims[0]], bias));
        List<IR.Attribute> attrs = [Ints("kernel_shape", wDims[2], wDims[3]), Ints("strides", strides), Ints("pads", pads)];
        if (group != 1) attrs.Add(Int("group", group));
        return b.Op("Conv", inputs, attrs);
    }

    /// <summary>A Reduce* node in the form the model's opset expects (axes as attribute before 13/18, as input after).</summary>
    public static Value Reduce(RewriteBuilder b, RewriteContext ctx, string op, Value x, long[] axes, bool keepDims = true)
    {
        var asInput = op == "ReduceSum" ? ctx.Opset >= 13 : ctx.Opset >= 18;
        var keep = Int("keepdims", keepDims ? 1 : 0);
        return asInput ? b.Op(op, [x, b.Int64s("axes", axes)], [keep]) : b.Op(op, [x], [keep, Ints("axes", axes)]);
    }

    public static Value Reshape(RewriteBuilder b, Value x, long[] shape) =>
        b.Op("Reshape", [x, b.Int64s("shape", shape)], type: new TensorType(x.ElementType, Shape.Of(shape)));

    /// <summary>A Slice along one axis with constant inputs (opset 10 form; rules emitting it check <see cref="RewriteContext.CanUseOpset"/>(10)).</summary>
    public static Value Slice(RewriteBuilder b, RewriteContext ctx, Value x, long axis, long start, long end)
    {
        b.RequireOpset(10);
        return b.Op("Slice", x, b.Int64s("starts", start), b.Int64s("ends", end), b.Int64s("axes", axis));
    }
}
