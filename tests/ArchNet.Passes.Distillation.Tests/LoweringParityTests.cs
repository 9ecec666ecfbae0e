using ArchNet.IR;
using ArchNet.Testing;
using Xunit.Abstractions;
using Attribute = ArchNet.IR.Attribute;

namespace ArchNet.Passes.Distillation.Tests;

/// <summary>
/// Each op family the teachers use, built as a small graph, exported with the frontend, run in ONNX Runtime,
/// and compared with the torch lowering on the same inputs (relative difference at most 1e-4).
/// </summary>
public sealed class LoweringParityTests(ITestOutputHelper output)
{
    private static readonly Dictionary<string, Func<Model>> Cases = new()
    {
        ["Conv3x3_Pad1_Bias"] = () => Conv([1, 3, 8, 8], [4, 3, 3, 3], bias: true, Attribute.Ints("pads", 1, 1, 1, 1)),
        ["Conv7x7_Stride2_Pad3"] = () => Conv([1, 2, 16, 16], [4, 2, 7, 7], bias: true,
            Attribute.Ints("pads", 3, 3, 3, 3), Attribute.Ints("strides", 2, 2)),
        ["Conv_Groups_Dilation_Stride"] = () => Conv([1, 4, 11, 11], [6, 2, 3, 3], bias: true,
            Attribute.Int("group", 2), Attribute.Ints("dilations", 2, 2), Attribute.Ints("pads", 2, 2, 2, 2), Attribute.Ints("strides", 2, 2)),
        ["Conv_Depthwise"] = () => Conv([1, 4, 6, 6], [4, 1, 3, 3], bias: false, Attribute.Int("group", 4), Attribute.Ints("pads", 1, 1, 1, 1)),
        ["Conv_AsymmetricPads"] = () => Conv([1, 2, 7, 7], [3, 2, 3, 3], bias: false, Attribute.Ints("pads", 0, 1, 2, 0)),
        ["Conv_SameUpper_Stride2"] = () => Conv([1, 2, 7, 7], [3, 2, 4, 4], bias: true,
            Attribute.String("auto_pad", "SAME_UPPER"), Attribute.Ints("strides", 2, 2)),
        ["Conv1d"] = () => Conv([2, 2, 10], [3, 2, 3], bias: true, Attribute.Ints("pads", 1, 1)),
        ["BatchNormalization"] = BatchNorm,
        ["Relu"] = () => Unary("Relu"),
        ["LeakyRelu"] = () => Unary("LeakyRelu", Attribute.Float("alpha", 0.1f)),
        ["Clip_Inputs"] = ClipInputs,
        ["Clip_MinOnly"] = ClipMinOnly,
        ["Sigmoid"] = () => Unary("Sigmoid"),
        ["HardSigmoid"] = () => Unary("HardSigmoid"),
        ["HardSigmoid_Alpha"] = () => Unary("HardSigmoid", Attribute.Float("alpha", 1f / 6), Attribute.Float("beta", 0.5f)),
        ["HardSwish"] = () => Unary("HardSwish", scale: 5f),
        ["Tanh"] = () => Unary("Tanh"),
        ["Erf"] = () => Unary("Erf"),
        ["Gelu"] = () => Unary("Gelu", opset: 20),
        ["Gelu_Tanh"] = () => Unary("Gelu", opset: 20, attributes: Attribute.String("approximate", "tanh")),
        ["MaxPool3x3_Stride2_Pad1"] = () => Pool("MaxPool", [1, 2, 9, 9], Attribute.Ints("kernel_shape", 3, 3),
            Attribute.Ints("strides", 2, 2), Attribute.Ints("pads", 1, 1, 1, 1)),
        ["MaxPool2x2"] = () => Pool("MaxPool", [1, 3, 8, 8], Attribute.Ints("kernel_shape", 2, 2), Attribute.Ints("strides", 2, 2)),
        ["MaxPool_CeilMode"] = () => Pool("MaxPool", [1, 1, 7, 7], Attribute.Ints("kernel_shape", 2, 2),
            Attribute.Ints("strides", 2, 2), Attribute.Int("ceil_mode", 1)),
        ["MaxPool_AsymmetricPads"] = () => Pool("MaxPool", [1, 1, 6, 6], Attribute.Ints("kernel_shape", 3, 3),
            Attribute.Ints("pads", 0, 0, 2, 1)),
        ["AveragePool_ExcludePad"] = () => Pool("AveragePool", [1, 2, 6, 6], Attribute.Ints("kernel_shape", 3, 3),
            Attribute.Ints("pads", 1, 1, 1, 1)),
        ["AveragePool_IncludePad"] = () => Pool("AveragePool", [1, 2, 6, 6], Attribute.Ints("kernel_shape", 3, 3),
            Attribute.Ints("pads", 1, 1, 1, 1), Attribute.Int("count_include_pad", 1)),
        ["AveragePool_AsymmetricPads"] = () => Pool("AveragePool", [1, 2, 6, 6], Attribute.Ints("kernel_shape", 2, 2),
            Attribute.Ints("strides", 2, 2), Attribute.Ints("pads", 0, 0, 1, 1)),
        ["GlobalAveragePool"] = () => Pool("GlobalAveragePool", [2, 3, 5, 5]),
        ["Gemm_TransB_Bias"] = () => Gemm([3, 8], [5, 8], [5], Attribute.Int("transB", 1)),
        ["Gemm_TransA_AlphaBeta"] = () => Gemm([8, 3], [8, 5], [3, 5], Attribute.Int("transA", 1),
            Attribute.Float("alpha", 0.5f), Attribute.Float("beta", 2f)),
        ["MatMul_3dBy2d"] = () => Binary("MatMul", [2, 3, 4], [4, 5], constantRight: true),
        ["MatMul_Batched"] = () => Binary("MatMul", [2, 3, 4], [2, 4, 5], constantRight: false),
        ["Add_Broadcast"] = () => Binary("Add", [2, 3, 4], [4], constantRight: true),
        ["Sub"] = () => Binary("Sub", [2, 3, 4], [2, 3, 4], constantRight: false),
        ["Mul_Broadcast"] = () => Binary("Mul", [2, 3, 4], [3, 1], constantRight: true),
        ["Div"] = () => Binary("Div", [2, 3], [2, 3], constantRight: true, rightLo: 0.5f, rightHi: 2f),
        ["Pow_Sqrt"] = PowSqrt,
        ["Concat_Slice_Split"] = ConcatSliceSplit,
        ["Slice_NegativeStep"] = SliceNegativeStep,
        ["Split_Equal"] = SplitEqual,
        ["Reshape_Transpose_Flatten"] = ReshapeTransposeFlatten,
        ["Squeeze_Unsqueeze"] = SqueezeUnsqueeze,
        ["Softmax_LastAxis"] = () => Unary("Softmax", shape: [2, 3, 5]),
        ["Softmax_Opset11_Axis1"] = () => Unary("Softmax", opset: 11, shape: [2, 3, 5], attributes: Attribute.Int("axis", 1)),
        ["LayerNormalization"] = LayerNorm,
        ["Gather_Embedding"] = GatherEmbedding,
        ["ReduceMean_Axes"] = () => Unary("ReduceMean", shape: [2, 3, 4], attributes: [Attribute.Ints("axes", 1, 2), Attribute.Int("keepdims", 0)]),
        ["ReduceSum_AxesInput"] = ReduceSumAxesInput,
        ["Identity"] = () => Unary("Identity"),
        ["ShapeArithmetic_ConstantOfShape_Expand_Where"] = ShapeArithmetic,
        ["Conv_SameLower"] = () => Conv([1, 2, 6, 6], [2, 2, 2, 2], bias: false, Attribute.String("auto_pad", "SAME_LOWER")),
        ["MaxPool1d"] = () => Pool("MaxPool", [1, 2, 9], Attribute.Ints("kernel_shape", 3), Attribute.Ints("strides", 2)),
        ["AveragePool1d"] = () => Pool("AveragePool", [1, 2, 9], Attribute.Ints("kernel_shape", 3), Attribute.Ints("pads", 1, 1)),
        ["GlobalMaxPool"] = () => Pool("GlobalMaxPool", [2, 3, 5, 5]),
        ["LogSoftmax"] = () => Unary("LogSoftmax", attributes: Attribute.Int("axis", 1)),
        ["ReduceMax_Opset18_AxesInput"] = ReduceMaxAxesInput,
        ["Dropout_Inference"] = () => Unary("Dropout"),
        ["Elementwise_Exp_Log_Abs_Neg_Reciprocal_Max_Min"] = ElementwiseChain,
        ["Constant_Node"] = ConstantNode,
        ["ConvTranspose2x2_Stride2"] = () => ConvTranspose([2, 4, 5, 6], [4, 3, 2, 2], bias: true, Attribute.Ints("strides", 2, 2)),
        ["ConvTranspose_Pads_OutputPadding_Dilation"] = () => ConvTranspose([1, 3, 5, 4], [3, 5, 3, 3], bias: true,
            Attribute.Ints("strides", 2, 3), Attribute.Ints("pads", 1, 0, 2, 1), Attribute.Ints("output_padding", 1, 2), Attribute.Ints("dilations", 1, 2)),
        ["ConvTranspose_Groups_OutputShape"] = () => ConvTranspose([1, 4, 4, 4], [4, 3, 3, 3], bias: false, Attribute.Int("group", 2),
            Attribute.Ints("strides", 2, 2), Attribute.Ints("output_shape", 9, 8)),
        ["ConvTranspose_SameUpper"] = () => ConvTranspose([1, 2, 3, 4], [2, 3, 3, 3], bias: true, Attribute.String("auto_pad", "SAME_UPPER"),
            Attribute.Ints("strides", 2, 2)),
        ["ConvTranspose1d"] = () => ConvTranspose([2, 3, 9], [3, 4, 4], bias: true, Attribute.Ints("strides", 2), Attribute.Ints("pads", 1, 2)),
        ["Resize_Nearest_Scales2x"] = () => Resize("nearest", "asymmetric", "floor", scales: [1, 1, 2, 2]),
        ["Resize_Nearest_HalfPixel_Sizes"] = () => Resize("nearest", "half_pixel", "round_prefer_floor", sizes: [1, 2, 7, 9]),
        ["Resize_Linear_HalfPixel"] = () => Resize("linear", "half_pixel", "round_prefer_floor", scales: [1, 1, 2, 2]),
        ["Resize_Linear_AlignCorners_Sizes"] = () => Resize("linear", "align_corners", "round_prefer_floor", sizes: [1, 2, 7, 3]),
    };

    public static TheoryData<string> CaseNames => [.. Cases.Keys];

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void Lowering_MatchesOnnxRuntime(string name)
    {
        var model = Cases[name]();

        var difference = OrtParity.MaxDifference(model);

        output.WriteLine($"{name}: max relative difference vs ORT {difference:E2}");
        Assert.True(difference <= OrtParity.Tolerance, $"{name}: max relative difference {difference:E2} > {OrtParity.Tolerance:E0}");
    }

    [Fact]
    public void GatherEmbedding_NegativeIndices_MatchOnnxRuntime()
    {
        var model = GatherEmbedding();
        var inputs = new Dictionary<string, TensorData>
        {
            ["ids"] = TensorData.FromInt64s([2, 3], [0, 9, -1, 4, -10, 2]),
        };

        Assert.True(OrtParity.MaxDifference(model, ArchNet.Frontend.OnnxExporter.ToBytes(model), inputs) <= OrtParity.Tolerance);
    }

    // ---- graphs ----------------------------------------------------------------------------------

    private static Model Conv(long[] x, long[] w, bool bias, params Attribute[] attributes)
    {
        var b = new GraphBuilder();
        var input = b.Input("x", x);
        Value?[] inputs = bias ? [input, b.Random(w), b.Random([w[0]])] : [input, b.Random(w)];
        b.Output(b.Op("Conv", inputs, attributes));
        return b.Build();
    }

    private static Model ConvTranspose(long[] x, long[] w, bool bias, params Attribute[] attributes)
    {
        var b = new GraphBuilder();
        var input = b.Input("x", x);
        var group = attributes.FirstOrDefault(a => a.Name == "group")?.AsInt() ?? 1;
        Value?[] inputs = bias ? [input, b.Random(w), b.Random([w[1] * group])] : [input, b.Random(w)];
        b.Output(b.Op("ConvTranspose", inputs, attributes));
        return b.Build();
    }

    /// <summary>Resize of a [1, 2, 4, 5] input (opset 13: X, roi, scales, sizes), by scales or by sizes.</summary>
    private static Model Resize(string mode, string transform, string nearest, float[]? scales = null, long[]? sizes = null)
    {
        var b = new GraphBuilder(opset: 13);
        var x = b.Input("x", 1, 2, 4, 5);
        Value?[] inputs = scales is not null ? [x, null, b.Const(scales, 4)] : [x, null, null, b.Ints(sizes!)];
        b.Output(b.Op("Resize", inputs, Attribute.String("mode", mode), Attribute.String("coordinate_transformation_mode", transform),
            Attribute.String("nearest_mode", nearest)));
        return b.Build();
    }

    private static Model BatchNorm()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 2, 3, 4, 4);
        var y = b.Op("BatchNormalization", [x, b.Random([3], 0.5f, 1.5f), b.Random([3]), b.Random([3]), b.Random([3], 0.5f, 2f)],
            Attribute.Float("epsilon", 1e-3f));
        b.Output(y);
        return b.Build();
    }

    private static Model Unary(string op, params Attribute[] attributes) => Unary(op, 17, null, 1f, attributes);

    private static Model Unary(string op, long opset = 17, long[]? shape = null, float scale = 1f, params Attribute[] attributes)
    {
        var b = new GraphBuilder(opset);
        var x = b.Input("x", shape ?? [2, 3, 4]);
        var scaled = scale == 1f ? x : b.Op("Mul", x, b.Scalar(scale));
        b.Output(b.Op(op, [scaled], attributes));
        return b.Build();
    }

    private static Model ClipInputs()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 2, 8);
        b.Output(b.Op("Clip", x, b.Scalar(-0.25f), b.Scalar(0.5f)));
        return b.Build();
    }

    private static Model ClipMinOnly()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 2, 8);
        b.Output(b.Op("Clip", x, b.Scalar(0f)));
        return b.Build();
    }

    private static Model Pool(string op, long[] shape, params Attribute[] attributes)
    {
        var b = new GraphBuilder();
        var x = b.Input("x", shape);
        b.Output(b.Op(op, [x], attributes));
        return b.Build();
    }

    private static Model Gemm(long[] a, long[] w, long[] c, params Attribute[] attributes)
    {
        var b = new GraphBuilder();
        var x = b.Input("a", a);
        b.Output(b.Op("Gemm", [x, b.Random(w), b.Random(c)], attributes));
        return b.Build();
    }

    private static Model Binary(string op, long[] left, long[] right, bool constantRight, float rightLo = -1f, float rightHi = 1f)
    {
        var b = new GraphBuilder();
        var x = b.Input("x", left);
        var y = constantRight ? b.Random(right, rightLo, rightHi) : b.Input("y", right);
        b.Output(b.Op(op, x, y));
        return b.Build();
    }

    private static Model PowSqrt()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 2, 5);
        var squared = b.Op("Pow", x, b.Scalar(2f));
        var shifted = b.Op("Add", squared, b.Scalar(0.1f));
        b.Output(b.Op("Sqrt", shifted));
        return b.Build();
    }

    private static Model ConcatSliceSplit()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 3, 4, 4);
        var y = b.Input("y", 1, 2, 4, 4);
        var cat = b.Op("Concat", [x, y], Attribute.Int("axis", 1));
        var sliced = b.Op("Slice", cat, b.Ints(1, 0), b.Ints(5, long.MaxValue), b.Ints(1, 3), b.Ints(1, 2));
        var parts = b.Ops("Split", 2, [sliced, b.Ints(1, 3)], Attribute.Int("axis", 1));
        b.Output(parts[0], parts[1]);
        return b.Build();
    }

    private static Model SliceNegativeStep()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 3, 7);
        b.Output(b.Op("Slice", x, b.Ints(-1), b.Ints(long.MinValue), b.Ints(1), b.Ints(-2)));
        return b.Build();
    }

    private static Model SplitEqual()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 2, 6);
        var parts = b.Ops("Split", 3, [x], Attribute.Int("axis", -1));
        b.Output(parts);
        return b.Build();
    }

    private static Model ReshapeTransposeFlatten()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 2, 3, 4);
        var r = b.Op("Reshape", x, b.Ints(0, 2, -1));
        var t = b.Op("Transpose", [r], Attribute.Ints("perm", 2, 0, 1));
        b.Output(b.Op("Flatten", [t], Attribute.Int("axis", 2)));
        return b.Build();
    }

    private static Model SqueezeUnsqueeze()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 2, 1, 3, 1);
        var s = b.Op("Squeeze", x, b.Ints(1, -1));
        b.Output(b.Op("Unsqueeze", s, b.Ints(0, -1)));
        return b.Build();
    }

    private static Model LayerNorm()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 2, 5, 8);
        b.Output(b.Op("LayerNormalization", [x, b.Random([8], 0.5f, 1.5f), b.Random([8])], Attribute.Int("axis", -1),
            Attribute.Float("epsilon", 1e-5f)));
        return b.Build();
    }

    private static Model GatherEmbedding()
    {
        var b = new GraphBuilder();
        var ids = b.Input("ids", ElementType.Int64, 2, 3);
        b.Output(b.Op("Gather", [b.Random([10, 4]), ids], Attribute.Int("axis", 0)));
        return b.Build();
    }

    private static Model ReduceSumAxesInput()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 2, 3, 4);
        b.Output(b.Op("ReduceSum", [x, b.Ints(-1)], Attribute.Int("keepdims", 1)));
        return b.Build();
    }

    private static Model ReduceMaxAxesInput()
    {
        var b = new GraphBuilder(opset: 18);
        var x = b.Input("x", 2, 3, 4);
        b.Output(b.Op("ReduceMax", [x, b.Ints(0, 2)], Attribute.Int("keepdims", 0)));
        return b.Build();
    }

    private static Model ElementwiseChain()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 3, 4);
        var y = b.Input("y", 3, 4);
        var positive = b.Op("Add", b.Op("Abs", x), b.Scalar(0.5f));
        var logs = b.Op("Log", positive);
        var recip = b.Op("Reciprocal", b.Op("Exp", b.Op("Neg", logs)));
        b.Output(b.Op("Max", recip, y, b.Scalar(0f)), b.Op("Min", x, y));
        return b.Build();
    }

    private static Model ConstantNode()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 2, 3);
        var c = b.Op("Constant", [], Attribute.Tensor("value", TensorData.FromFloats([3], [1f, -2f, 0.5f])));
        var k = b.Op("Constant", [], Attribute.Float("value_float", 3f));
        b.Output(b.Op("Mul", b.Op("Add", x, c), k));
        return b.Build();
    }

    /// <summary>The shape logic PyTorch exports around attention: Shape, Gather, Concat, Reshape, Expand, Where.</summary>
    private static Model ShapeArithmetic()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 2, 6, 4);
        var shape = b.Op("Shape", x);
        var batch = b.Op("Gather", [shape, b.Const(TensorData.FromInt64s([], [0]))], Attribute.Int("axis", 0));
        var batch1 = b.Op("Unsqueeze", batch, b.Ints(0));
        var newShape = b.Op("Concat", [batch1, b.Ints(3, 2, 4)], Attribute.Int("axis", 0));
        var reshaped = b.Op("Reshape", x, newShape);
        var filled = b.Op("ConstantOfShape", [b.Ints(1, 2, 4)], Attribute.Tensor("value", TensorData.FromFloats([1], [0.5f])));
        var mask = b.Op("Equal", [b.Ints(3, 2, 4), b.Op("Div", b.Op("Mul", b.Ints(3, 2, 4), b.Ints(2, 2, 2)), b.Ints(2, 2, 2))]);
        var cond = b.Op("Cast", [b.Op("Expand", [filled, b.Op("Shape", reshaped)])], Attribute.Int("to", (long)ElementType.Bool));
        var chosen = b.Op("Where", cond, reshaped, b.Op("Neg", reshaped));
        var masked = b.Op("Where", [mask, b.Scalar(1f), b.Scalar(2f)]);
        b.Output(b.Op("Mul", chosen, b.Op("ReduceSum", [masked, b.Ints(0)], Attribute.Int("keepdims", 0))));
        return b.Build();
    }
}
