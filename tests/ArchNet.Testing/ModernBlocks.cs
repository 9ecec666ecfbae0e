using ArchNet.IR;
using static ArchNet.IR.Attribute;

namespace ArchNet.Testing;

/// <summary>
/// Small networks in the patterns modern CNNs and MLP models export (issue 22), each reading a Fashion-MNIST image
/// ([N,1,28,28]) so that the test data drives them as it is: a ConvNeXt block between 2x2 stride-2 patchify convs, a
/// MobileNet block (depthwise-separable with squeeze-excitation, ReLU6 as Clip(0,6), hard-swish and hard-sigmoid), an
/// MLP-Mixer token-mixing block, and a 4x4 stride-4 patchify stem. Weights are seeded and scaled so that activations
/// stay near unit range, as trained weights would.
/// </summary>
public static class ModernBlocks
{
    public static IReadOnlyList<string> Names { get; } = ["convnext", "mobilenet_se", "token_mixer", "patchify_stem"];

    /// <param name="items">The size of the items' dimension; null leaves it symbolic, as exporters write it (a compile binds it).</param>
    public static Model Build(string name, long? items = null) => name switch
    {
        "convnext" => ConvNeXt(items),
        "mobilenet_se" => MobileNetSe(items),
        "token_mixer" => TokenMixer(items),
        "patchify_stem" => PatchifyStem(items),
        _ => throw new ArgumentException($"no modern block named '{name}'"),
    };

    private static Value Image(GraphBuilder b, long? items)
    {
        var v = new Value("image", new TensorType(ElementType.Float, new Shape([items is { } n ? Dim.Of(n) : Dim.Sym("n"), Dim.Of(1), Dim.Of(28), Dim.Of(28)])));
        b.Graph.Inputs.Add(v);
        return v;
    }

    private static Value Conv(GraphBuilder b, Value x, long m, long c, long k, long stride, long pad, long group = 1) =>
        b.Op("Conv", [x, b.Random([m, c / group, k, k], -Scale(c / group * k * k), Scale(c / group * k * k)), b.Random([m], -0.1f, 0.1f)],
            Ints("kernel_shape", k, k), Ints("strides", stride, stride), Ints("pads", pad, pad, pad, pad), Int("group", group));

    // Uniform(-s, s) with s = sqrt(3 / fan_in): unit variance in, unit variance out.
    private static float Scale(long fanIn) => MathF.Sqrt(3f / fanIn);

    /// <summary>Channels-last Linear as PyTorch exports nn.Linear on a rank-4 tensor: MatMul by [K,N], then Add of the bias.</summary>
    private static Value Linear(GraphBuilder b, Value x, long k, long n) =>
        b.Op("Add", b.Op("MatMul", x, b.Random([k, n], -Scale(k), Scale(k))), b.Random([n], -0.1f, 0.1f));

    private static Value LayerNorm(GraphBuilder b, Value x, long c) =>
        b.Op("LayerNormalization", [x, b.Random([c], 0.8f, 1.2f), b.Random([c], -0.1f, 0.1f)], Int("axis", -1), Float("epsilon", 1e-6f));

    /// <summary>2x2/s2 stem (1 -> 16, 28 -> 14), a ConvNeXt block (depthwise 7x7, Transpose, LayerNorm over channels,
    /// Linear 16 -> 64, GELU, Linear 64 -> 16, Transpose, residual Add), 2x2/s2 downsample (16 -> 32, 14 -> 7).</summary>
    public static Model ConvNeXt(long? items = null)
    {
        var b = new GraphBuilder(opset: 20, seed: 2201);
        var x = Image(b, items);
        var stem = Conv(b, x, 16, 1, 2, 2, 0);
        var dw = Conv(b, stem, 16, 16, 7, 1, 3, group: 16);
        var nhwc = b.Op("Transpose", [dw], Ints("perm", 0, 2, 3, 1));
        var h = Linear(b, LayerNorm(b, nhwc, 16), 16, 64);
        h = Linear(b, b.Op("Gelu", h), 64, 16);
        var nchw = b.Op("Transpose", [h], Ints("perm", 0, 3, 1, 2));
        var block = b.Op("Add", stem, nchw);
        b.Output(Conv(b, block, 32, 16, 2, 2, 0));
        return b.Build();
    }

    /// <summary>3x3/s2 stem with ReLU6 (Clip(0,6)), depthwise 3x3 with hard-swish, squeeze-excitation (global pool,
    /// 1x1 16 -> 4, ReLU, 1x1 4 -> 16, hard-sigmoid, Mul), linear 1x1 projection 16 -> 24.</summary>
    public static Model MobileNetSe(long? items = null)
    {
        var b = new GraphBuilder(opset: 17, seed: 2202);
        var x = Image(b, items);
        var stem = b.Op("Clip", Conv(b, x, 16, 1, 3, 2, 1), b.Scalar(0f), b.Scalar(6f));
        var dw = b.Op("HardSwish", Conv(b, stem, 16, 16, 3, 1, 1, group: 16));
        var squeeze = b.Op("GlobalAveragePool", dw);
        var gate = b.Op("HardSigmoid", [Conv(b, b.Op("Relu", Conv(b, squeeze, 4, 16, 1, 1, 0)), 16, 4, 1, 1, 0)],
            Float("alpha", 1 / 6f), Float("beta", 0.5f));
        b.Output(Conv(b, b.Op("Mul", dw, gate), 24, 16, 1, 1, 0));
        return b.Build();
    }

    /// <summary>The image's 28 rows as tokens of 28 features: Transpose to [N, features, tokens], token-mixing MLP
    /// (Linear 28 -> 32, GELU, Linear 32 -> 28), Transpose back, residual Add, mean over tokens, Linear to 10.</summary>
    public static Model TokenMixer(long? items = null)
    {
        var b = new GraphBuilder(opset: 20, seed: 2203);
        var x = Image(b, items);
        var tokens = b.Op("Reshape", x, b.Ints(-1, 28, 28));
        var mixed = b.Op("Transpose", [tokens], Ints("perm", 0, 2, 1));
        mixed = Linear(b, b.Op("Gelu", Linear(b, mixed, 28, 32)), 32, 28);
        var y = b.Op("Add", tokens, b.Op("Transpose", [mixed], Ints("perm", 0, 2, 1)));
        var pooled = b.Op("ReduceMean", [y, b.Ints(1)], Int("keepdims", 0));
        b.Output(b.Op("Gemm", [pooled, b.Random([10, 28], -Scale(28), Scale(28)), b.Random([10], -0.1f, 0.1f)], Int("transB", 1)));
        return b.Build();
    }

    /// <summary>A ViT/ConvNeXt patchify stem: 4x4 stride-4 conv (1 -> 16, 28 -> 7), ReLU.</summary>
    public static Model PatchifyStem(long? items = null)
    {
        var b = new GraphBuilder(opset: 17, seed: 2204);
        var x = Image(b, items);
        b.Output(b.Op("Relu", Conv(b, x, 16, 1, 4, 4, 0)));
        return b.Build();
    }
}
