using ArchNet.Backends.Abstractions;
using ArchNet.IR;
using QuantSemantics = ArchNet.Backends.Abstractions.QuantSemantics;
using RoundingMode = ArchNet.Backends.Abstractions.RoundingMode;

namespace ArchNet.Backends.Plugins.Tests;

public sealed class GraphViewTests
{
    [Fact]
    public void Weights_AreQuantizedPerChannel_WithTiesToEven()
    {
        var view = GraphView.Of(TinyModels.QuantizedConv(), "archnet");

        var w = view.Nodes[0].Input(1)!;
        Assert.Equal([3L, 2, 3, 3], w.Shape.ToArray());
        // channel 0 scale 0.01: -0.15 -> -15; channel 1 scale 0.02: element 18 is (18 % 7 - 3) * 0.05 = 0.05 -> 2.5 -> 2 (ties to even)
        Assert.Equal(-15, w.IntegerData!.Value[0]);
        Assert.Equal(2, w.IntegerData!.Value[18]);
    }

    [Fact]
    public void FloatBias_IsGivenAccumulatorParameters_AtInputTimesWeightScale()
    {
        var view = GraphView.Of(TinyModels.QuantizedConv(), "archnet");

        var bias = view.Nodes[0].Input(2)!;
        Assert.Equal(32, bias.Quant!.Bits);
        Assert.Equal(0.02f * 0.03f, bias.Quant.Scale(2));
        Assert.Equal([500L, -500, IntegerSemantics.QuantizeFloat(0.005f, 0.02f * 0.03f, 0, int.MinValue, int.MaxValue, RoundingMode.HalfToEven)], bias.IntegerData!.Value.ToArray());
    }

    [Fact]
    public void Semantics_ComeFromTheModelMetadata()
    {
        var model = TinyModels.QuantizedConv();
        model.Metadata.Add(new(GraphView.SemanticsMetadataKey, "rounding=HalfAwayFromZero;requantization=MultiplierShift;accumulator_bits=24"));

        var view = GraphView.Of(model, "arm-ethos-u55");

        Assert.Equal(new QuantSemantics(RoundingMode.HalfAwayFromZero, RequantizationMode.MultiplierShift, 24), view.Semantics);
        Assert.Equal("arm-ethos-u55", view.Target);
    }

    [Fact]
    public void MalformedSemantics_IsAUserError()
    {
        var model = TinyModels.QuantizedConv();
        model.Metadata.Add(new(GraphView.SemanticsMetadataKey, "rounding=Sideways"));

        var e = Assert.Throws<ArchNetException>(() => GraphView.Of(model, "archnet"));

        Assert.Contains("'archnet.quant.semantics' is malformed", e.Message);
    }

    [Fact]
    public void Attributes_AndGraphInterface_AreCarriedOver()
    {
        var view = GraphView.Of(TinyModels.QuantizedConv(), "archnet");

        Assert.Equal([1L, 1, 1, 1], view.Nodes[0].Ints("pads"));
        Assert.Equal("x", Assert.Single(view.Inputs).Name);
        Assert.Equal(new QuantInfo(8, false, [0.05f], [10]), view.Outputs[0].Quant);
        Assert.Same(view.Nodes[0].Outputs[0], view.Nodes[1].Inputs[0]);
    }
}
