using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Passes.Quantization;
using ArchNet.Testing;
using Attribute = ArchNet.IR.Attribute;

namespace ArchNet.Passes.Tests;

public sealed class CrossLayerEqualizationTests
{
    /// <summary>
    /// BlazeFace's pattern: a depthwise 3x3 whose channel 0 has weights 200 times the others, read by a pointwise 1x1
    /// that gives channel 0 small weights. The depthwise output's range is channel 0's, so one per-tensor scale starves
    /// the other channels.
    /// </summary>
    public static (Model Model, Value Link) DepthwiseOutlier(string between = "none")
    {
        var b = new GraphBuilder(opset: 17, seed: 11);
        var x = b.Input("x", 1, 8, 12, 12);
        var dwWeights = b.RandomFloats(8 * 9);
        for (var k = 0; k < 9; k++) dwWeights[k] *= 200;
        var pwWeights = b.RandomFloats(8 * 8);
        for (var o = 0; o < 8; o++) pwWeights[o * 8] *= 0.005f;
        var dw = b.Op("Conv", [x, b.Const(dwWeights, 8, 1, 3, 3), b.Random([8])], Attribute.Int("group", 8), Attribute.Ints("pads", 1, 1, 1, 1));
        var link = between switch
        {
            "relu" => b.Op("Relu", dw),
            "clip" => b.Op("Clip", [dw, b.Scalar(0), b.Scalar(6)]),
            _ => dw,
        };
        b.Output(b.Op("Conv", [link, b.Const(pwWeights, 8, 8, 1, 1), b.Random([8])]));
        return (b.Build(), dw);
    }

    [Theory]
    [InlineData("none")]
    [InlineData("relu")]
    public void DepthwiseThenPointwise_KeepsTheFunction_AndEqualizesChannelRanges(string between)
    {
        var (model, _) = DepthwiseOutlier(between);
        var inputs = OrtRunner.RandomInputs(model.Graph, seed: 2);
        var before = OrtRunner.Run(OnnxExporter.ToBytes(model), inputs).Values.Single();

        var pairs = CrossLayerEqualization.Run(model.Graph);

        Assert.Single(pairs);
        Assert.True(pairs[0].MaxScale > 50, $"largest scale {pairs[0].MaxScale}");
        var after = OrtRunner.Run(OnnxExporter.ToBytes(model), inputs).Values.Single();
        Assert.True(OrtRunner.MaxRelativeError(after, before) < 1e-4, $"max relative error {OrtRunner.MaxRelativeError(after, before)}");
        var convs = model.Graph.Nodes.Where(n => n.OpType == "Conv").ToList();
        var w1 = convs[0].Input(1)!.Constant!.ToFloats();
        var w2 = convs[1].Input(1)!.Constant!.ToFloats();
        for (var c = 0; c < 8; c++)
        {
            var r1 = w1.Skip(c * 9).Take(9).Max(MathF.Abs);
            var r2 = Enumerable.Range(0, 8).Max(o => MathF.Abs(w2[o * 8 + c]));
            // Scales within 0.1 % of 1 are left alone, so ranges agree within about 0.2 %.
            Assert.True(MathF.Abs(r1 - r2) <= 5e-3f * r1, $"channel {c}: first layer range {r1}, second layer range {r2}");
        }
    }

    [Fact]
    public void OrdinaryConvPair_IsLeftAlone_WhenOnlyDepthwiseFirstLayersAreAsked()
    {
        var b = new GraphBuilder(opset: 17, seed: 4);
        var x = b.Input("x", 1, 4, 6, 6);
        var w1 = b.RandomFloats(8 * 4 * 9);
        for (var k = 0; k < 4 * 9; k++) w1[k] *= 50;
        var y = b.Op("Relu", b.Op("Conv", [x, b.Const(w1, 8, 4, 3, 3)], Attribute.Ints("pads", 1, 1, 1, 1)));
        b.Output(b.Op("Conv", [y, b.Random([8, 8, 1, 1])]));
        var model = b.Build();

        Assert.Empty(CrossLayerEqualization.Run(model.Graph, depthwiseFirstOnly: true));
        Assert.Single(CrossLayerEqualization.Run(model.Graph));
    }

    [Fact]
    public void ClipBetween_OrASecondReader_IsNotEqualized()
    {
        // Clip(0, 6) does not commute with scaling; a value read twice would change for its other reader.
        var (clipped, _) = DepthwiseOutlier("clip");
        Assert.Empty(CrossLayerEqualization.Run(clipped.Graph));

        var (shared, link) = DepthwiseOutlier();
        shared.Graph.Outputs.Add(link);
        Assert.Empty(CrossLayerEqualization.Run(shared.Graph));
    }
}
