using ArchNet.IR;
using ArchNet.Passes.Quantization;
using ArchNet.Testing;
using static ArchNet.IR.Attribute;

namespace ArchNet.Passes.Tests;

/// <summary>Which layers <see cref="LayerPrecision.EightBit"/> keeps at 8 bits (<see cref="ActivationGroups.EdgeLayers"/>).</summary>
public sealed class EdgeLayerTests
{
    /// <summary>x -> 7x7 Conv -> Relu -> 3x3 Conv -> Relu -> GlobalAveragePool -> Flatten -> Gemm.</summary>
    private static Model Stem()
    {
        var b = new GraphBuilder(seed: 4);
        var x = b.Input("x", 1, 1, 16, 16);
        var stem = b.Op("Relu", b.Op("Conv", [x, b.Random([8, 1, 7, 7]), b.Random([8])], Ints("kernel_shape", 7, 7), Ints("strides", 2, 2), Ints("pads", 3, 3, 3, 3)));
        var body = b.Op("Relu", b.Op("Conv", [stem, b.Random([8, 8, 3, 3]), b.Random([8])], Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1)));
        var pooled = b.Op("Flatten", [b.Op("GlobalAveragePool", body)], Int("axis", 1));
        b.Output(b.Op("Gemm", [pooled, b.Random([10, 8]), b.Random([10])], Int("transB", 1)));
        var model = b.Build();
        ShapeInference.Run(model.Graph);
        return model;
    }

    [Fact]
    public void FirstLayerFactoredIntoAChain_IsOneEdgeLayer_TheBodyIsNot()
    {
        var model = Stem();
        Assert.True(RuleTests.Apply(RuleCatalog.Find("ConvKxKTo3x3Stack"), model) > 0);
        var convs = model.Graph.Nodes.Where(n => n.OpType == "Conv").ToList();
        Assert.Equal(4, convs.Count); // three 3x3 links of the stem, then the body's conv

        var (nodes, reps) = ActivationGroups.Of(model.Graph).EdgeLayers(model.Graph, LayerPrecision.EightBit);

        // The stem's three links (the copies of the input and the original taps) and the classifier; not the body.
        Assert.Equal([.. convs.Take(3), model.Graph.Nodes.Single(n => n.OpType == "Gemm")], nodes.OrderBy(model.Graph.Nodes.ToList().IndexOf));
        var groups = ActivationGroups.Of(model.Graph);
        foreach (var link in convs.Take(2)) Assert.Contains(groups.Representative(link.Outputs[0]), reps); // the copies stay 8-bit
        Assert.DoesNotContain(groups.Representative(convs[3].Outputs[0]), reps);
    }

    [Fact]
    public void FirstLayerFeedingTwoConsumers_EndsTheEdgeThere()
    {
        var b = new GraphBuilder(seed: 5);
        var x = b.Input("x", 1, 2, 6, 6);
        var first = b.Op("Conv", [x, b.Random([4, 2, 3, 3])], Ints("pads", 1, 1, 1, 1));
        var left = b.Op("Conv", [first, b.Random([4, 4, 3, 3])], Ints("pads", 1, 1, 1, 1));
        var right = b.Op("Conv", [first, b.Random([4, 4, 3, 3])], Ints("pads", 1, 1, 1, 1));
        b.Output(b.Op("Relu", b.Op("Concat", [left, right], Int("axis", 1))));
        var model = b.Build();
        ShapeInference.Run(model.Graph);

        var (nodes, _) = ActivationGroups.Of(model.Graph).EdgeLayers(model.Graph, LayerPrecision.EightBit);

        Assert.Equal([first.Producer!, right.Producer!], nodes.OrderBy(model.Graph.Nodes.ToList().IndexOf));
        Assert.Empty(ActivationGroups.Of(model.Graph).EdgeLayers(model.Graph, LayerPrecision.Same).Nodes);
    }
}
