using ArchNet.Backends.Emulation;
using ArchNet.Backends.Reference;
using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Testing;

namespace ArchNet.Backends.Tests;

/// <summary>The emulator's float mode computes what ONNX Runtime computes (it feeds calibration and per-layer fidelity).</summary>
public sealed class FloatEmulatorTests
{
    public static TheoryData<string> Ops => [.. OpGraphs.Names];

    [Theory]
    [MemberData(nameof(Ops))]
    public void FloatMode_MatchesOnnxRuntime(string op)
    {
        var model = OpGraphs.Build(op);
        var inputs = OrtRunner.RandomInputs(model.Graph, seed: 5);
        using var ort = new ReferenceRunner(OnnxExporter.ToBytes(model));
        var expected = ort.Run(inputs);
        var actual = new Emulator(model, EmulatorMode.Float).Run(inputs.ToDictionary(kv => kv.Key, kv => Tensor.FromTensorData(kv.Value)));
        foreach (var (name, e) in expected)
        {
            var a = actual.Outputs[name];
            Assert.Equal(e.Dims.Select(d => (int)d), a.Shape);
            var err = OrtRunner.MaxRelativeError(TensorData.FromFloats(a.Dims(), a.ToReal()), e);
            Assert.True(err < 1e-5, $"{op}: max relative error {err}");
        }
    }

    /// <summary>Ops transformers keep after canonicalization; they run as float host ops in integer mode.</summary>
    [Theory]
    [InlineData("LayerNormalization")]
    [InlineData("GeluErf")]
    [InlineData("GeluTanh")]
    public void FloatMode_MatchesOnnxRuntime_OnTransformerOps(string op)
    {
        var b = new GraphBuilder(opset: 20, seed: 3);
        var x = b.Input("x", 2, 5, 12);
        var y = op switch
        {
            "LayerNormalization" => b.Op("LayerNormalization", [x, b.Random([12]), b.Random([12])],
                IR.Attribute.Int("axis", -1), IR.Attribute.Float("epsilon", 1e-3f)),
            "GeluErf" => b.Op("Gelu", x),
            _ => b.Op("Gelu", [x], IR.Attribute.String("approximate", "tanh")),
        };
        b.Output(y);
        AssertOutputMatchesOnnxRuntime(b.Build(), y, op);
    }

    /// <summary>
    /// Every Reduce op (decompositions leave ReduceMax and ReduceSum behind: Softmax for chips without it), over the axes
    /// of input 1 (opset 18) or of the attribute (opset 13; ReduceSum took its axes as an input from 13 on), with and
    /// without keepdims, over all axes, and as the identity of noop_with_empty_axes. ReduceLogSum reads Exp(x), which is
    /// positive.
    /// </summary>
    [Theory]
    [InlineData("ReduceMean", 18, "1", 1)]
    [InlineData("ReduceSum", 18, "-1", 0)]
    [InlineData("ReduceSum", 11, "0,2", 1)]
    [InlineData("ReduceMax", 18, "-1", 1)]
    [InlineData("ReduceMax", 13, "1,2", 0)]
    [InlineData("ReduceMin", 18, "0", 1)]
    [InlineData("ReduceMin", 13, "", 0)]
    [InlineData("ReduceProd", 18, "2", 1)]
    [InlineData("ReduceL1", 18, "", 1)]
    [InlineData("ReduceL2", 13, "-1", 0)]
    [InlineData("ReduceSumSquare", 18, "1", 0)]
    [InlineData("ReduceLogSum", 18, "-1", 1)]
    [InlineData("ReduceLogSumExp", 18, "1,2", 1)]
    [InlineData("ReduceSum", 18, "noop", 1)]
    public void FloatMode_MatchesOnnxRuntime_OnReduce(string op, int opset, string axes, int keepdims)
    {
        var b = new GraphBuilder(opset: opset, seed: 3);
        var x = b.Input("x", 2, 3, 4);
        var input = op == "ReduceLogSum" ? b.Op("Exp", x) : x;
        var attributes = new List<IR.Attribute> { IR.Attribute.Int("keepdims", keepdims) };
        var list = axes is "" or "noop" ? [] : axes.Split(',').Select(long.Parse).ToArray();
        var axesAsInput = opset >= 18 || (op == "ReduceSum" && opset >= 13);
        Value? axesValue = null;
        if (axes == "noop") attributes.Add(IR.Attribute.Int("noop_with_empty_axes", 1));
        else if (list.Length > 0 && axesAsInput) axesValue = b.Ints(list);
        else if (list.Length > 0) attributes.Add(IR.Attribute.Ints("axes", list));
        var y = b.Op(op, axesValue is null ? [input] : [input, axesValue], [.. attributes]);
        b.Output(y);
        AssertOutputMatchesOnnxRuntime(b.Build(), y, $"{op} opset {opset} axes [{axes}] keepdims {keepdims}");
    }

    /// <summary>One op's output <paramref name="y"/> on inputs in [-4, 4]: the emulator's float mode against ONNX Runtime,
    /// shape and values (max relative error below 1e-5).</summary>
    private static void AssertOutputMatchesOnnxRuntime(Model model, Value y, string what)
    {
        var inputs = OrtRunner.RandomInputs(model.Graph, seed: 5, lo: -4, hi: 4);
        using var ort = new ReferenceRunner(OnnxExporter.ToBytes(model));
        var expected = ort.Run(inputs)[y.Name];
        var actual = new Emulator(model, EmulatorMode.Float).Run(inputs.ToDictionary(kv => kv.Key, kv => Tensor.FromTensorData(kv.Value))).Outputs[y.Name];
        Assert.Equal(expected.Dims.Select(d => (int)d), actual.Shape);
        var err = OrtRunner.MaxRelativeError(TensorData.FromFloats(actual.Dims(), actual.ToReal()), expected);
        Assert.True(err < 1e-5, $"{what}: max relative error {err}");
    }

    /// <summary>Resize as image models use it (FPN upsampling, segmentation heads), sized by scales or by sizes.</summary>
    [Theory]
    [InlineData("nearest", "asymmetric", "floor", "scales 1,1,2,2")]
    [InlineData("nearest", "half_pixel", "round_prefer_floor", "sizes 1,2,7,9")]
    [InlineData("nearest", "align_corners", "round_prefer_ceil", "scales 1,1,1.5,0.5")]
    [InlineData("nearest", "pytorch_half_pixel", "ceil", "sizes 1,2,3,11")]
    [InlineData("linear", "half_pixel", "round_prefer_floor", "scales 1,1,2,2")]
    [InlineData("linear", "align_corners", "round_prefer_floor", "sizes 1,2,7,3")]
    [InlineData("linear", "pytorch_half_pixel", "round_prefer_floor", "sizes 1,2,1,9")]
    [InlineData("linear", "asymmetric", "round_prefer_floor", "scales 1,1,0.5,1.75")]
    public void FloatMode_MatchesOnnxRuntime_OnResize(string mode, string transform, string nearest, string by)
    {
        var b = new GraphBuilder(opset: 13, seed: 3);
        var x = b.Input("x", 1, 2, 4, 5);
        var values = by.Split(' ')[1].Split(',');
        var target = by.StartsWith("scales", StringComparison.Ordinal)
            ? [x, null, b.Const([.. values.Select(v => float.Parse(v, System.Globalization.CultureInfo.InvariantCulture))], 4)]
            : new Value?[] { x, null, null, b.Ints([.. values.Select(long.Parse)]) };
        var y = b.Op("Resize", target, IR.Attribute.String("mode", mode), IR.Attribute.String("coordinate_transformation_mode", transform),
            IR.Attribute.String("nearest_mode", nearest));
        b.Output(y);
        AssertOutputMatchesOnnxRuntime(b.Build(), y, $"Resize {mode} {transform} {nearest} {by}");
    }

    /// <summary>ConvTranspose under auto_pad: the output is input x stride and an odd total padding goes to one side
    /// (3x3 taps, stride 2 on 3 rows: 7 outputs before cropping to 6).</summary>
    [Theory]
    [InlineData("SAME_UPPER")]
    [InlineData("SAME_LOWER")]
    [InlineData("VALID")]
    public void FloatMode_MatchesOnnxRuntime_OnConvTransposeAutoPad(string autoPad)
    {
        var b = new GraphBuilder(opset: 17, seed: 3);
        var x = b.Input("x", 1, 2, 3, 4);
        var y = b.Op("ConvTranspose", [x, b.Random([2, 3, 3, 3]), b.Random([3])], IR.Attribute.String("auto_pad", autoPad),
            IR.Attribute.Ints("strides", 2, 2));
        b.Output(y);
        AssertOutputMatchesOnnxRuntime(b.Build(), y, $"ConvTranspose auto_pad {autoPad}");
    }

    [Fact]
    public void Run_ReturnsRequestedIntermediates()
    {
        var model = OpGraphs.Build("ResidualBlock");
        var inputs = OrtRunner.RandomInputs(model.Graph).ToDictionary(kv => kv.Key, kv => Tensor.FromTensorData(kv.Value));
        var run = new Emulator(model, EmulatorMode.Float).Run(inputs, _ => true);
        var produced = model.Graph.Nodes.SelectMany(n => n.Outputs).Select(v => v.Name).ToHashSet();
        Assert.All(produced, n => Assert.Contains(n, run.Values.Keys));
        Assert.Contains("x", run.Values.Keys);
    }
}
