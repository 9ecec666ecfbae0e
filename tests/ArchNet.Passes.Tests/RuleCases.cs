using ArchNet.IR;
using ArchNet.Testing;
using static ArchNet.IR.Attribute;

namespace ArchNet.Passes.Tests;

/// <summary>One rule's specification: a model where it must fire (and keep ORT's outputs), one where a
/// precondition fails and it must not, and the op that must be gone after it fired.</summary>
public sealed record RuleCase(string Rule, Func<Model> Fires, Func<Model> DoesNotFire, string? Gone = null)
{
    public override string ToString() => Rule;
}

/// <summary>The pattern (and a near miss) for every rule in the catalog.</summary>
public static class RuleCases
{
    private static Model M(Action<GraphBuilder> build, long opset = 17)
    {
        var b = new GraphBuilder(opset);
        build(b);
        return b.Build();
    }

    private static Value SymInput(GraphBuilder b, string name, params long[] dims)
    {
        // The first dimension symbolic: static-shape rules must not fire.
        var v = new Value(name, new TensorType(ElementType.Float, new Shape([Dim.Sym("n"), .. dims.Skip(1).Select(Dim.Of)])));
        b.Graph.Inputs.Add(v);
        return v;
    }

    private static Value Conv(GraphBuilder b, Value x, long m, long c, long k, long stride = 1, long pad = 0, long group = 1, bool bias = true) =>
        b.Op("Conv", bias ? [x, b.Random([m, c / group, k, k]), b.Random([m])] : [x, b.Random([m, c / group, k, k])],
            Ints("kernel_shape", k, k), Ints("strides", stride, stride), Ints("pads", pad, pad, pad, pad), Int("group", group));

    private static Value Bn(GraphBuilder b, Value x, long c) =>
        b.Op("BatchNormalization", [x, b.Random([c], 0.5f, 1.5f), b.Random([c]), b.Random([c]), b.Random([c], 0.5f, 2f)], Float("epsilon", 1e-3f));

    private static Value Node(GraphBuilder b, string op, string domain, Value[] inputs, params IR.Attribute[] attrs)
    {
        var y = new Value(b.Graph.FreshName(op.ToLowerInvariant()));
        var n = b.Graph.Add(new IR.Node(op, inputs, [y], attrs, y.Name, domain));
        ShapeInference.InferNode(n);
        if (y.Type is null) y.Type = inputs[0].Type;
        return y;
    }

    private static Value LayerNormPattern(GraphBuilder b, Value x, float exponent)
    {
        var mean = b.Op("ReduceMean", [x], Ints("axes", -1));
        var d = b.Op("Sub", x, mean);
        var v = b.Op("ReduceMean", [b.Op("Pow", d, b.Scalar(exponent))], Ints("axes", -1));
        var n = b.Op("Div", d, b.Op("Sqrt", b.Op("Add", v, b.Scalar(1e-5f))));
        return b.Op("Add", b.Op("Mul", n, b.Random([8])), b.Random([8]));
    }

    private static Value GeluErf(GraphBuilder b, Value x, float half)
    {
        var erf = b.Op("Erf", b.Op("Div", x, b.Scalar(1.4142135f)));
        return b.Op("Mul", b.Op("Mul", x, b.Op("Add", erf, b.Scalar(1f))), b.Scalar(half));
    }

    private static Value GeluTanh(GraphBuilder b, Value x, float c)
    {
        var cube = b.Op("Mul", b.Op("Pow", x, b.Scalar(3f)), b.Scalar(c));
        var t = b.Op("Tanh", b.Op("Mul", b.Op("Add", x, cube), b.Scalar(0.7978845608f)));
        return b.Op("Mul", b.Op("Mul", b.Scalar(0.5f), x), b.Op("Add", t, b.Scalar(1f)));
    }

    private static Value Resize(GraphBuilder b, Value x, float scale, string mode = "nearest") =>
        b.Op("Resize", [x, null, b.Const([1, 1, scale, scale], 4)], IR.Attribute.String("mode", mode),
            IR.Attribute.String("coordinate_transformation_mode", "asymmetric"), IR.Attribute.String("nearest_mode", "floor"));

    public static IReadOnlyList<RuleCase> All { get; } =
    [
        // ---- canonical ----
        new("FoldConstants",
            () => M(b =>
            {
                var x = b.Input("x", 2, 3, 4);
                var n = b.Op("Unsqueeze", b.Op("Gather", [b.Op("Shape", x), b.Ints(0)], Int("axis", 0)), b.Ints(0));
                var shape = b.Op("Concat", [b.Op("Squeeze", n, b.Ints(0)), b.Ints(-1)], Int("axis", 0));
                b.Output(b.Op("Reshape", x, shape));
            }),
            () => M(b =>
            {
                var x = SymInput(b, "x", 1, 3, 4);
                b.Output(b.Op("Reshape", x, b.Op("Concat", [b.Op("Shape", [x], Int("end", 1)), b.Ints(-1)], Int("axis", 0))));
            }),
            Gone: "Shape"),
        new("RemoveIdentity",
            () => M(b => b.Output(b.Op("Relu", b.Op("Identity", b.Input("x", 2, 3))))),
            () => M(b => b.Output(b.Op("Identity", b.Input("x", 2, 3)))),
            Gone: "Identity"),
        new("RemoveDropout",
            () => M(b => b.Output(b.Op("Relu", b.Op("Dropout", b.Input("x", 2, 3))))),
            () => M(b => b.Output(b.Ops("Dropout", 2, [b.Op("Relu", b.Input("x", 2, 3))]))),
            Gone: "Dropout"),
        new("FoldBatchNormIntoConv",
            () => M(b => b.Output(Bn(b, Conv(b, b.Input("x", 1, 3, 6, 6), 4, 3, 3, pad: 1), 4))),
            () => M(b =>
            {
                var y = Conv(b, b.Input("x", 1, 3, 6, 6), 4, 3, 3, pad: 1);
                b.Output(Bn(b, y, 4), y);
            }),
            Gone: "BatchNormalization"),
        new("FoldBatchNormIntoGemm",
            () => M(b => b.Output(Bn(b, b.Op("Gemm", [b.Input("x", 2, 8), b.Random([4, 8]), b.Random([4])], Int("transB", 1)), 4))),
            () => M(b => b.Output(Bn(b, b.Op("Gemm", [b.Input("x", 2, 8), b.Input("w", 4, 8)], Int("transB", 1)), 4))),
            Gone: "BatchNormalization"),
        new("CollapseReshapeChain",
            () => M(b =>
            {
                var x = b.Input("x", 1, 2, 3, 4);
                var y = b.Op("Unsqueeze", b.Op("Reshape", x, b.Ints(1, 6, 4)), b.Ints(3));
                b.Output(b.Op("Flatten", [y], Int("axis", 2)));
            }),
            () => M(b => b.Output(b.Op("Reshape", b.Input("x", 1, 2, 3, 4), b.Ints(1, 6, 4)))),
            Gone: "Unsqueeze"),
        new("CancelTransposes",
            () => M(b => b.Output(b.Op("Relu", b.Op("Transpose", [b.Op("Transpose", [b.Input("x", 1, 2, 3, 4)], Ints("perm", 0, 2, 3, 1))], Ints("perm", 0, 3, 1, 2))))),
            () => M(b => b.Output(b.Op("Relu", b.Op("Transpose", [b.Input("x", 1, 2, 3, 4)], Ints("perm", 0, 2, 3, 1))))),
            Gone: "Transpose"),
        new("RecognizeLayerNormalization",
            () => M(b => b.Output(LayerNormPattern(b, b.Input("x", 2, 5, 8), 2f))),
            () => M(b => b.Output(LayerNormPattern(b, b.Input("x", 2, 5, 8), 3f))),
            Gone: "ReduceMean"),
        new("RecognizeGeluErf",
            () => M(b => b.Output(GeluErf(b, b.Input("x", 2, 16), 0.5f)), opset: 13),
            () => M(b => b.Output(GeluErf(b, b.Input("x", 2, 16), 0.4f)), opset: 13),
            Gone: "Erf"),
        new("RecognizeGeluTanh",
            () => M(b => b.Output(GeluTanh(b, b.Input("x", 2, 16), 0.044715f))),
            () => M(b => b.Output(GeluTanh(b, b.Input("x", 2, 16), 0.05f))),
            Gone: "Tanh"),
        new("RecognizeSoftmax",
            () => M(b =>
            {
                var x = b.Input("x", 2, 3, 7);
                var e = b.Op("Exp", b.Op("Sub", x, b.Op("ReduceMax", [x], Ints("axes", -1))));
                b.Output(b.Op("Div", e, b.Op("ReduceSum", e, b.Ints(-1))));
            }),
            () => M(b =>
            {
                var e = b.Op("Exp", b.Input("x", 2, 3, 7));
                b.Output(b.Op("Div", e, b.Op("ReduceSum", e, b.Ints(1, 2))));
            }),
            Gone: "Exp"),
        new("RecognizeHardSwish",
            () => M(b =>
            {
                var x = b.Input("x", 1, 3, 4, 4);
                b.Output(b.Op("Mul", x, b.Op("HardSigmoid", [x], Float("alpha", 1 / 6f), Float("beta", 0.5f))));
            }, opset: 13),
            () => M(b =>
            {
                var x = b.Input("x", 1, 3, 4, 4);
                b.Output(b.Op("Mul", x, b.Op("HardSigmoid", x)));
            }, opset: 13),
            Gone: "HardSigmoid"),
        new("RecognizeSilu",
            () => M(b =>
            {
                var x = b.Input("x", 1, 3, 4, 4);
                b.Output(b.Op("Mul", b.Op("Sigmoid", x), x));
            }),
            () => M(b => b.Output(b.Op("Mul", b.Input("x", 1, 3, 4, 4), b.Op("Sigmoid", b.Input("y", 1, 3, 4, 4))))),
            Gone: "Sigmoid"),

        // ---- linear ----
        new("GemmToMatMulAdd",
            () => M(b => b.Output(b.Op("Gemm", [b.Input("x", 2, 8), b.Random([4, 8]), b.Random([4])], Int("transB", 1), Float("alpha", 0.5f)))),
            () => M(b => b.Output(b.Op("Gemm", [b.Input("x", 8, 2), b.Random([4, 8]), b.Random([4])], Int("transA", 1), Int("transB", 1)))),
            Gone: "Gemm"),
        new("MatMulAddToGemm",
            () => M(b => b.Output(b.Op("Add", b.Op("MatMul", b.Input("x", 3, 8), b.Random([8, 4])), b.Random([4])))),
            () => M(b => b.Output(b.Op("Add", b.Op("MatMul", b.Input("x", 2, 3, 8), b.Random([8, 4])), b.Random([4])))),
            Gone: "MatMul"),
        new("GemmToConv1x1",
            () => M(b => b.Output(b.Op("Gemm", [b.Input("x", 2, 8), b.Random([8, 4]), b.Random([4])]))),
            () => M(b => b.Output(b.Op("Gemm", [b.Input("x", 2, 8), b.Input("w", 8, 4)]))),
            Gone: "Gemm"),
        new("MatMulToConv1x1",
            () => M(b => b.Output(b.Op("MatMul", b.Input("x", 1, 5, 8), b.Random([8, 4])))),
            () => M(b => b.Output(b.Op("MatMul", b.Input("x", 1, 5, 8), b.Input("w", 8, 4)))),
            Gone: "MatMul"),
        new("ChannelsLastLinearToConv1x1",
            () => M(b =>
            {
                // A ConvNeXt block's MLP: NCHW -> NHWC, Linear 6 -> 12 (MatMul + bias Add), GELU, Linear 12 -> 6, back.
                var x = b.Op("Transpose", [b.Input("x", 1, 6, 5, 4)], Ints("perm", 0, 2, 3, 1));
                var h = b.Op("Gelu", b.Op("Add", b.Op("MatMul", x, b.Random([6, 12])), b.Random([12])));
                h = b.Op("Add", b.Random([6]), b.Op("MatMul", h, b.Random([12, 6])));
                b.Output(b.Op("Transpose", [h], Ints("perm", 0, 3, 1, 2)));
            }, opset: 20),
            () => M(b =>
            {
                // A Softmax over the channels-last axis is not a per-position map of the NCHW channels' own kind.
                var x = b.Op("Transpose", [b.Input("x", 1, 6, 5, 4)], Ints("perm", 0, 2, 3, 1));
                var h = b.Op("Softmax", [b.Op("MatMul", x, b.Random([6, 12]))], Int("axis", -1));
                b.Output(b.Op("Transpose", [h], Ints("perm", 0, 3, 1, 2)));
            }),
            Gone: "Transpose"),
        new("Conv1x1ToGemm",
            () => M(b => b.Output(Conv(b, b.Input("x", 2, 8, 1, 1), 4, 8, 1))),
            () => M(b => b.Output(Conv(b, b.Input("x", 1, 8, 2, 2), 4, 8, 1))),
            Gone: "Conv"),

        // ---- conv ----
        new("Conv1x1To3x3",
            () => M(b => b.Output(Conv(b, b.Input("x", 1, 4, 7, 7), 6, 4, 1, stride: 2))),
            () => M(b => b.Output(Conv(b, b.Input("x", 1, 4, 7, 7), 6, 4, 1, pad: 1)))),
        new("ConvKxKTo3x3Stack",
            () => M(b =>
            {
                // Pads [3,3,2,2] as exporters write them for stride 2 on an even input: the same as 3 everywhere.
                var x = b.Input("x", 1, 3, 16, 16);
                b.Output(b.Op("Conv", [x, b.Random([8, 3, 7, 7]), b.Random([8])], Ints("kernel_shape", 7, 7), Ints("strides", 2, 2), Ints("pads", 3, 3, 2, 2)));
            }),
            () => M(b => b.Output(Conv(b, b.Input("x", 1, 3, 16, 16), 8, 3, 7, stride: 2, pad: 2)))),
        new("StridedConvToSpaceToDepth",
            () => M(b => b.Output(Conv(b, b.Input("x", 1, 3, 8, 8), 5, 3, 3, stride: 2, pad: 1))),
            () => M(b => b.Output(Conv(b, b.Input("x", 1, 3, 7, 7), 5, 3, 3, stride: 2, pad: 1)))),
        new("PatchifyConvToStridedConvs",
            () => M(b => b.Output(Conv(b, b.Input("x", 1, 2, 8, 12), 5, 2, 4, stride: 4))),
            // Sides 4 does not divide: the last partial patch would be read by the split convs differently.
            () => M(b => b.Output(Conv(b, b.Input("x", 1, 2, 10, 12), 5, 2, 4, stride: 4)))),
        new("GroupedConvToDense",
            () => M(b => b.Output(Conv(b, b.Input("x", 1, 4, 6, 6), 8, 4, 3, pad: 1, group: 4))),
            () => M(b => b.Output(Conv(b, b.Input("x", 1, 4, 6, 6), 8, 4, 3, pad: 1)))),
        new("SplitConvInputChannels",
            () => M(b => b.Output(Conv(b, b.Input("x", 1, 6, 5, 5), 4, 6, 3, pad: 1))),
            () => M(b => b.Output(Conv(b, b.Input("x", 1, 1, 5, 5), 4, 1, 3, pad: 1)))),
        new("SplitConvOutputChannels",
            () => M(b => b.Output(Conv(b, b.Input("x", 1, 3, 5, 5), 5, 3, 3, pad: 1))),
            () => M(b => b.Output(Conv(b, b.Input("x", 1, 3, 5, 5), 1, 3, 3, pad: 1)))),
        new("SplitGroupedConvChannels",
            () => M(b => b.Output(Conv(b, b.Input("x", 1, 6, 5, 5), 6, 6, 5, pad: 2, group: 3))),
            () => M(b => b.Output(Conv(b, b.Input("x", 1, 6, 5, 5), 6, 6, 5, pad: 2)))),
        new("CentreConvKernel",
            () => M(b =>
            {
                // TensorFlow SAME padding at stride 2: one row and column more at the end.
                var x = b.Input("x", 1, 4, 8, 8);
                b.Output(b.Op("Conv", [x, b.Random([4, 1, 3, 3]), b.Random([4])], Ints("kernel_shape", 3, 3), Ints("strides", 2, 2), Ints("pads", 0, 0, 1, 1), Int("group", 4)));
            }),
            () => M(b => b.Output(Conv(b, b.Input("x", 1, 4, 8, 8), 4, 4, 3, stride: 2, pad: 1)))),
        new("FoldPadIntoConv",
            () => M(b => b.Output(Conv(b, b.Op("Pad", b.Input("x", 1, 3, 6, 6), b.Ints(0, 0, 1, 2, 0, 0, 1, 2)), 4, 3, 3))),
            () => M(b => b.Output(Conv(b, b.Op("Pad", [b.Input("x", 1, 3, 6, 6), b.Ints(0, 0, 1, 2, 0, 0, 1, 2)], IR.Attribute.String("mode", "reflect")), 4, 3, 3))),
            Gone: "Pad"),

        // ---- pooling ----
        new("AveragePoolToDepthwiseConv",
            () => M(b => b.Output(b.Op("AveragePool", [b.Input("x", 1, 3, 6, 6)], Ints("kernel_shape", 2, 2), Ints("strides", 2, 2)))),
            () => M(b => b.Output(b.Op("AveragePool", [b.Input("x", 1, 3, 6, 6)], Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1)))),
            Gone: "AveragePool"),
        new("AveragePoolToGlobalAveragePool",
            () => M(b => b.Output(b.Op("AveragePool", [b.Input("x", 1, 3, 7, 7)], Ints("kernel_shape", 7, 7)))),
            () => M(b => b.Output(b.Op("AveragePool", [b.Input("x", 1, 3, 7, 7)], Ints("kernel_shape", 7, 7), Ints("pads", 1, 1, 1, 1)))),
            Gone: "AveragePool"),
        new("GlobalAveragePoolToDepthwiseConv",
            () => M(b => b.Output(b.Op("GlobalAveragePool", b.Input("x", 1, 3, 5, 5)))),
            () => M(b => b.Output(b.Op("GlobalAveragePool", SymInput(b, "x", 1, 3, 5, 5)))),
            Gone: "GlobalAveragePool"),
        new("ReduceMeanToGlobalAveragePool",
            () => M(b => b.Output(b.Op("ReduceMean", [b.Input("x", 1, 3, 5, 5)], Ints("axes", 2, 3)))),
            () => M(b => b.Output(b.Op("ReduceMean", [b.Input("x", 1, 3, 5, 5)], Ints("axes", 1)))),
            Gone: "ReduceMean"),
        new("GlobalMaxPoolToMaxPool",
            () => M(b => b.Output(b.Op("GlobalMaxPool", b.Input("x", 1, 3, 5, 5)))),
            () => M(b => b.Output(b.Op("GlobalMaxPool", SymInput(b, "x", 1, 3, 5, 5)))),
            Gone: "GlobalMaxPool"),

        // ---- activations ----
        new("ClipToRelu",
            () => M(b => b.Output(b.Op("Clip", b.Input("x", 2, 8), b.Scalar(0)))),
            () => M(b => b.Output(b.Op("Clip", b.Input("x", 2, 8), b.Scalar(-1)))),
            Gone: "Clip"),
        new("ClipToReluDifference",
            () => M(b => b.Output(b.Op("Clip", b.Input("x", 2, 8), b.Scalar(0), b.Scalar(6)))),
            () => M(b => b.Output(b.Op("Clip", b.Input("x", 2, 8), b.Scalar(-1), b.Scalar(6)))),
            Gone: "Clip"),
        new("HardSigmoidToRelu",
            () => M(b => b.Output(b.Op("HardSigmoid", b.Input("x", 2, 8)))),
            () => M(b => b.Output(b.Op("HardSigmoid", b.Input("x", ElementType.Double, 2, 8)))),
            Gone: "HardSigmoid"),
        new("HardSwishToHardSigmoidMul",
            () => M(b => b.Output(b.Op("HardSwish", b.Input("x", 2, 8)))),
            () => M(b => b.Output(b.Op("HardSwish", b.Input("x", ElementType.Double, 2, 8)))),
            Gone: "HardSwish"),
        new("HardSwishToRelu",
            () => M(b => b.Output(b.Op("HardSwish", b.Input("x", 2, 8)))),
            () => M(b => b.Output(b.Op("HardSwish", b.Input("x", ElementType.Double, 2, 8)))),
            Gone: "HardSwish"),
        new("LeakyReluToRelu",
            () => M(b => b.Output(b.Op("LeakyRelu", [b.Input("x", 2, 8)], Float("alpha", 0.1f)))),
            () => M(b => b.Output(b.Op("LeakyRelu", [b.Input("x", ElementType.Double, 2, 8)], Float("alpha", 0.1f)))),
            Gone: "LeakyRelu"),
        new("LeakyReluToPRelu",
            () => M(b => b.Output(b.Op("LeakyRelu", [b.Input("x", 2, 8)], Float("alpha", 0.1f)))),
            () => M(b => b.Output(b.Op("LeakyRelu", [b.Input("x", ElementType.Double, 2, 8)], Float("alpha", 0.1f)))),
            Gone: "LeakyRelu"),
        new("SiluToSigmoidMul",
            () => M(b => { b.Model.SetOpset("com.microsoft", 1); b.Output(Node(b, "QuickGelu", "com.microsoft", [b.Input("x", 2, 8)], Float("alpha", 1f))); }),
            () => M(b => { b.Model.SetOpset("com.microsoft", 1); b.Output(Node(b, "QuickGelu", "com.microsoft", [b.Input("x", 2, 8)], Float("alpha", 1.702f))); }),
            Gone: "QuickGelu"),

        // ---- arithmetic and normalization ----
        new("SubConstantToAdd",
            () => M(b => b.Output(b.Op("Sub", b.Input("x", 2, 4), b.Random([4])))),
            () => M(b => b.Output(b.Op("Sub", b.Random([4]), b.Input("x", 2, 4)))),
            Gone: "Sub"),
        new("DivConstantToMul",
            () => M(b => b.Output(b.Op("Div", b.Input("x", 2, 4), b.Scalar(3)))),
            () => M(b => b.Output(b.Op("Div", b.Input("x", 2, 4), b.Scalar(0)))),
            Gone: "Div"),
        new("PatchifyConvToMatMul",
            () => M(b => b.Output(Conv(b, b.Input("x", 1, 2, 6, 9), 4, 2, 3, stride: 3))),
            () => M(b => b.Output(Conv(b, b.Input("x", 1, 2, 7, 9), 4, 2, 3, stride: 3))),
            Gone: "Conv"),
        new("DivConstantIntoLinear",
            () => M(b =>
            {
                var y = b.Op("Add", b.Random([8]), b.Op("MatMul", b.Input("x", 3, 8), b.Random([8, 8])));
                var heads = b.Op("Transpose", [b.Op("Reshape", y, b.Ints(3, 2, 4))], Ints("perm", 1, 0, 2));
                b.Output(b.Op("Div", heads, b.Scalar(2f)));
            }),
            () => M(b =>
            {
                // The heads are also an output: scaling the weight would change it.
                var y = b.Op("MatMul", b.Input("x", 3, 8), b.Random([8, 8]));
                var heads = b.Op("Reshape", y, b.Ints(3, 2, 4));
                b.Output(b.Op("Div", heads, b.Scalar(2f)), heads);
            }),
            Gone: "Div"),
        new("SliceOfLinearToSlicedWeights",
            () => M(b =>
            {
                var y = b.Op("Add", b.Random([12]), b.Op("MatMul", b.Input("x", 5, 1, 8), b.Random([8, 12])));
                b.Output(b.Op("Slice", y, b.Ints(4), b.Ints(8), b.Ints(-1)), b.Op("Slice", y, b.Ints(8), b.Ints(12), b.Ints(2)));
            }),
            () => M(b =>
            {
                var y = b.Op("Add", b.Random([12]), b.Op("MatMul", b.Input("x", 5, 2, 8), b.Random([8, 12])));
                b.Output(b.Op("Slice", y, b.Ints(0), b.Ints(1), b.Ints(1)));
            }),
            Gone: "Slice"),
        new("GatherScalarToSliceReshape",
            () => M(b => b.Output(b.Op("Gather", [b.Input("x", 1, 5, 8), b.Const(TensorData.FromInt64s([], [0]))], Int("axis", 1)))),
            () => M(b => b.Output(b.Op("Gather", [b.Input("x", 1, 5, 8), b.Ints(0, 2)], Int("axis", 1)))),
            Gone: "Gather"),
        new("ChannelAffineToDepthwiseConv",
            () => M(b => b.Output(b.Op("Mul", b.Input("x", 1, 3, 4, 4), b.Random([3, 1, 1])))),
            () => M(b => b.Output(b.Op("Mul", b.Input("x", 1, 3, 4, 4), b.Random([4])))),
            Gone: "Mul"),
        new("BatchNormToDepthwiseConv",
            () => M(b => b.Output(Bn(b, b.Input("x", 1, 3, 4, 4), 3))),
            () => M(b => b.Output(Bn(b, b.Input("x", 1, 3, 4), 3))),
            Gone: "BatchNormalization"),
        new("BatchNormToMulAdd",
            () => M(b => b.Output(Bn(b, b.Input("x", 1, 3, 4, 4), 3))),
            () => M(b => b.Output(b.Op("BatchNormalization", [b.Input("x", 1, 3, 4, 4), b.Random([3]), b.Random([3]), b.Input("mean", 3), b.Random([3], 0.5f, 2f)]))),
            Gone: "BatchNormalization"),
        new("LayerNormalizationDecompose",
            () => M(b => b.Output(b.Op("LayerNormalization", [b.Input("x", 2, 5, 8), b.Random([8]), b.Random([8])], Int("axis", -1)))),
            () => M(b => b.Output(b.Op("LayerNormalization", [b.Input("x", 2, 5, 8), b.Random([8]), b.Random([8])], Int("axis", -1), Int("stash_type", 0)))),
            Gone: "LayerNormalization"),
        new("SoftmaxDecompose",
            () => M(b => b.Output(b.Op("Softmax", [b.Input("x", 2, 3, 7)], Int("axis", 1)))),
            () => M(b => b.Output(b.Op("Softmax", [b.Input("x", 2, 3, 7)], Int("axis", 1))), opset: 11),
            Gone: "Softmax"),
        new("GeluDecompose",
            () => M(b => b.Output(b.Op("Gelu", b.Input("x", 2, 16))), opset: 20),
            () => M(b => b.Output(b.Op("Gelu", b.Input("x", ElementType.Double, 2, 16))), opset: 20),
            Gone: "Gelu"),

        // ---- data movement ----
        new("ZeroChannelConcatToConv",
            () => M(b => b.Output(b.Op("Concat", [b.Input("x", 1, 3, 4, 4), b.Op("ConstantOfShape", b.Ints(1, 2, 4, 4))], Int("axis", 1)))),
            () => M(b => b.Output(b.Op("Concat", [b.Input("x", 1, 3, 4, 4), b.Random([1, 2, 4, 4])], Int("axis", 1)))),
            Gone: "Concat"),
        new("ZeroChannelConcatIntoConv",
            () => M(b => b.Output(Conv(b, b.Op("Concat", [b.Input("x", 1, 3, 4, 4), b.Op("ConstantOfShape", b.Ints(1, 2, 4, 4))], Int("axis", 1)), 4, 5, 3, pad: 1))),
            () => M(b =>
            {
                var cat = b.Op("Concat", [b.Input("x", 1, 3, 4, 4), b.Op("ConstantOfShape", b.Ints(1, 2, 4, 4))], Int("axis", 1));
                b.Output(Conv(b, cat, 4, 5, 3, pad: 1), cat);
            }),
            Gone: "Concat"),
        new("ChannelSliceToConv",
            () => M(b => b.Output(b.Op("Slice", b.Input("x", 1, 6, 4, 4), b.Ints(2), b.Ints(5), b.Ints(1)))),
            () => M(b => b.Output(b.Op("Slice", b.Input("x", 1, 6, 4, 4), b.Ints(1), b.Ints(3), b.Ints(2)))),
            Gone: "Slice"),
        new("ChannelSplitToConvs",
            () => M(b => b.Output(b.Ops("Split", 2, [b.Input("x", 1, 6, 4, 4), b.Ints(2, 4)], Int("axis", 1)))),
            () => M(b => b.Output(b.Ops("Split", 2, [b.Input("x", 1, 6, 4, 4), b.Ints(1, 3)], Int("axis", 2)))),
            Gone: "Split"),
        new("ResizeNearest2xToConvTranspose",
            () => M(b => b.Output(Resize(b, b.Input("x", 1, 3, 4, 5), 2))),
            () => M(b => b.Output(Resize(b, b.Input("x", 1, 3, 4, 5), 2, "linear"))),
            Gone: "Resize"),
        new("ResizeNearest2xToDepthToSpace",
            () => M(b => b.Output(Resize(b, b.Input("x", 1, 3, 4, 5), 2))),
            () => M(b => b.Output(Resize(b, b.Input("x", 1, 3, 4, 5), 3))),
            Gone: "Resize"),
        new("ResidualAddToConcatConv",
            () => M(b =>
            {
                var x = b.Input("x", 1, 3, 4, 4);
                b.Output(b.Op("Add", b.Op("Relu", x), b.Op("Neg", x)));
            }),
            () => M(b => b.Output(b.Op("Add", b.Input("x", 1, 3, 4, 4), b.Input("y", 1, 3, 1, 1)))),
            Gone: "Add"),
        new("SplitAddChannels",
            () => M(b =>
            {
                var x = b.Input("x", 1, 5, 4, 4);
                b.Output(b.Op("Add", b.Op("Relu", x), b.Op("Neg", x)));
            }),
            () => M(b => b.Output(b.Op("Add", b.Input("x", 1, 1, 4, 4), b.Input("y", 1, 1, 4, 4))))),
        new("FlattenToReshape",
            () => M(b => b.Output(b.Op("Flatten", b.Input("x", 1, 3, 2, 2)))),
            () => M(b => b.Output(b.Op("Flatten", SymInput(b, "x", 1, 3, 2, 2)))),
            Gone: "Flatten"),
        new("ReshapeToFlatten",
            () => M(b => b.Output(b.Op("Reshape", b.Input("x", 1, 3, 2, 2), b.Ints(1, 12)))),
            () => M(b => b.Output(b.Op("Reshape", b.Input("x", 1, 3, 2, 2), b.Ints(3, 4)))),
            Gone: "Reshape"),
    ];

    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var c in All) data.Add(c.Rule);
        return data;
    }

    public static RuleCase Get(string rule) => All.Single(c => c.Rule == rule);
}
