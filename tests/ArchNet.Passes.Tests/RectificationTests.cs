using ArchNet.IR;
using ArchNet.Passes.Quantization;
using ArchNet.Testing;
using Attribute = ArchNet.IR.Attribute;

namespace ArchNet.Passes.Tests;

/// <summary>Which values lose only what a following ReLU removes (their negatives may saturate at 0 unnoticed).</summary>
public sealed class RectificationTests
{
    private static (GraphBuilder B, Value Conv) ConvOf()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 4, 6, 6);
        var conv = b.Op("Conv", [x, b.Random([4, 4, 3, 3]), b.Random([4])], Attribute.Ints("pads", [1, 1, 1, 1]));
        return (b, conv);
    }

    [Fact]
    public void ConvSlicedInHalves_EachIntoARelu_IsRectified()
    {
        var (b, conv) = ConvOf();
        var lo = b.Op("Slice", conv, b.Ints(0), b.Ints(2), b.Ints(1));
        var hi = b.Op("Slice", conv, b.Ints(2), b.Ints(4), b.Ints(1));
        var cat = b.Op("Concat", [b.Op("Relu", lo), b.Op("Relu", hi)], Attribute.Int("axis", 1));
        b.Output(cat);
        Assert.True(Rectification.RectifiedDownstream(b.Graph, conv));
    }

    [Fact]
    public void ConvThroughConcatAndMaxPoolIntoRelu_IsRectified_ButNotWhenOneUseReadsItsSign()
    {
        var (b, conv) = ConvOf();
        var pooled = b.Op("MaxPool", [b.Op("Concat", [conv, conv], Attribute.Int("axis", 1))], Attribute.Ints("kernel_shape", [2, 2]));
        b.Output(b.Op("Relu", pooled));
        Assert.True(Rectification.RectifiedDownstream(b.Graph, conv));

        var (b2, conv2) = ConvOf();
        b2.Output(b2.Op("Relu", conv2), b2.Op("Conv", [conv2, b2.Random([4, 4, 1, 1])]));
        Assert.False(Rectification.RectifiedDownstream(b2.Graph, conv2)); // the second conv reads the negatives
    }

    [Fact]
    public void GraphOutput_AndClipBelowZero_AreNotRectified()
    {
        var (b, conv) = ConvOf();
        b.Output(conv, b.Op("Relu", conv));
        Assert.False(Rectification.RectifiedDownstream(b.Graph, conv)); // the output itself keeps its negatives

        var (b2, conv2) = ConvOf();
        b2.Output(b2.Op("Clip", conv2, b2.Scalar(-1f), b2.Scalar(6f)));
        Assert.False(Rectification.RectifiedDownstream(b2.Graph, conv2));
        var (b3, conv3) = ConvOf();
        b3.Output(b3.Op("Clip", conv3, b3.Scalar(0f), b3.Scalar(6f)));
        Assert.True(Rectification.RectifiedDownstream(b3.Graph, conv3));
    }

    /// <summary>
    /// The quantizer on an unsigned chip: a conv read by another conv loses its negatives (warned, with their share: 50 %
    /// of the uniform [-2, 2] data), a conv whose halves each go into a ReLU loses nothing (not warned); after
    /// distillation trained with the saturation, the first is an info line.
    /// </summary>
    [Theory]
    [InlineData(false, Severity.Warning)]
    [InlineData(true, Severity.Info)]
    public void Quantizer_WarnsOfNegativesThatSaturate_OnlyWhereNoReluFollows(bool trained, Severity expected)
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 4, 6, 6);
        var pads = Attribute.Ints("pads", [1, 1, 1, 1]);
        var read = b.Op("Conv", [x, b.Random([4, 4, 3, 3]), b.Random([4])], pads);
        var next = b.Op("Relu", b.Op("Conv", [read, b.Random([4, 4, 3, 3]), b.Random([4])], pads));
        var split = b.Op("Conv", [x, b.Random([4, 4, 3, 3]), b.Random([4])], pads);
        var halves = b.Op("Concat", [b.Op("Relu", b.Op("Slice", split, b.Ints(0), b.Ints(2), b.Ints(1))),
            b.Op("Relu", b.Op("Slice", split, b.Ints(2), b.Ints(4), b.Ints(1)))], Attribute.Int("axis", 1));
        b.Output(next, halves);
        var model = b.Build();
        var rng = new Random(7);
        CalibrationRunner data = (wanted, observe) =>
        {
            foreach (var v in model.Graph.Inputs.Concat(model.Graph.Nodes.SelectMany(n => n.Outputs)).Where(v => !v.IsConstant && wanted(v)))
            {
                var shape = v.Shape!.Dims.Select(d => (int)d.Value!.Value).ToArray();
                var nonNegative = v.Producer?.OpType is "Relu" or "Concat" || model.Graph.Inputs.Contains(v); // pixels, ReLU outputs
                observe(v, [.. Enumerable.Range(0, shape.Aggregate(1, (p, d) => p * d)).Select(_ => (float)rng.NextDouble() * 4 - (nonNegative ? 0 : 2))], shape);
            }
        };
        var target = QuantizationTarget.Default() with { Activations = new IntegerFormat(8, Signed: false, Symmetric: true, PowerOfTwoScales: false) };
        var diagnostics = new CollectingDiagnostics();
        Quantizer.Run(model, data, target, new QuantizationOptions { BiasCorrection = false, SaturationTrained = trained }, diagnostics);
        var said = Assert.Single(diagnostics.Items, d => d.Message.Contains("saturate at 0"));
        Assert.Equal(expected, said.Severity);
        Assert.StartsWith($"value '{read.Name}': 5", said.Message); // 50 % give or take the draw
        Assert.Contains("% of its calibrated values are negative", said.Message);
    }
}
