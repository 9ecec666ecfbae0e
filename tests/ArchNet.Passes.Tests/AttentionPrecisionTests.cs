using ArchNet.IR;
using ArchNet.Passes.Quantization;
using ArchNet.Testing;

namespace ArchNet.Passes.Tests;

/// <summary>What <see cref="QuantizationOptions.Attention"/> at <see cref="LayerPrecision.EightBit"/> keeps at 8 bits
/// (<see cref="ActivationGroups.Attention"/>), and the widths check of both 8-bit policies.</summary>
public sealed class AttentionPrecisionTests
{
    private static (Model Model, Node Scores, Node Softmax, Node Context, Node Projection) Attention()
    {
        var (model, _, scores) = AttentionModels.SequenceFirst();
        ShapeInference.Run(model.Graph);
        var softmax = model.Graph.Nodes.Single(n => n.OpType == "Softmax");
        return (model, scores.Producer!, softmax, softmax.Outputs[0].Uses.Single().Node,
            model.Graph.Nodes.Single(n => n.OpType == "Gemm"));
    }

    [Fact]
    public void Attention_IsTheSoftmaxAndTheMatMulsBetweenActivations_WithTheirInputsAndOutputs()
    {
        var (model, scores, softmax, context, projection) = Attention();
        var graph = model.Graph;
        var groups = ActivationGroups.Of(graph);

        var (nodes, reps) = groups.Attention(graph, LayerPrecision.EightBit);

        Assert.Equal([scores, softmax, context], nodes.OrderBy(graph.Nodes.ToList().IndexOf));
        // Q, K^T, V, the scores, the probabilities and the context.
        foreach (var v in scores.Inputs.Concat(context.Inputs).Concat([scores.Outputs[0], softmax.Outputs[0], context.Outputs[0]]))
            Assert.Contains(groups.Representative(v!), reps);
        Assert.Equal(6, reps.Count);
        // Not the projections that make Q, K and V from the input, nor the output projection's result.
        Assert.DoesNotContain(groups.Representative(graph.Inputs[0]), reps);
        Assert.DoesNotContain(groups.Representative(projection.Outputs[0]), reps);
        Assert.Empty(groups.Attention(graph, LayerPrecision.Same).Nodes);
        Assert.Empty(groups.Attention(graph, LayerPrecision.Same).Representatives);
    }

    /// <summary>Every value calibration wants gets random data of its own shape (only widths are checked here).</summary>
    private static CalibrationRunner RandomData(Graph graph, int seed)
    {
        var rng = new Random(seed);
        return (wanted, observe) =>
        {
            foreach (var v in graph.Inputs.Concat(graph.Nodes.SelectMany(n => n.Outputs)).Where(v => !v.IsConstant && wanted(v)))
            {
                var shape = v.Shape!.Dims.Select(d => (int)d.Value!.Value).ToArray();
                observe(v, [.. Enumerable.Range(0, shape.Aggregate(1, (p, d) => p * d)).Select(_ => (float)rng.NextDouble() * 4 - 2)], shape);
            }
        };
    }

    [Theory]
    [InlineData(LayerPrecision.EightBit, 8)]
    [InlineData(LayerPrecision.Same, 4)]
    public void Quantizer_WidensOnlyTheAttentionActivations(LayerPrecision attention, int attentionBits)
    {
        var (model, scores, softmax, context, projection) = Attention();
        var graph = model.Graph;

        var summary = Quantizer.Run(model, RandomData(graph, 5), QuantizationTarget.Default(4, 4),
            new QuantizationOptions { Attention = attention, BiasCorrection = false });

        foreach (var v in scores.Inputs.Concat(context.Inputs).Concat([scores.Outputs[0], softmax.Outputs[0], context.Outputs[0]]))
            Assert.Equal(attentionBits, v!.Quant!.Bits);
        Assert.Equal(attentionBits, projection.Input(0)!.Quant!.Bits); // the context, reshaped: the same integers
        Assert.Equal(4, projection.Outputs[0].Quant!.Bits);
        Assert.Equal(4, graph.Inputs[0].Quant!.Bits);
        Assert.All(graph.Nodes.Where(Quantizer.IsWeightNode), n => Assert.Equal(4, n.Input(1)!.Quant!.Bits));
        Assert.Equal(attention == LayerPrecision.EightBit ? [scores.DisplayName, softmax.DisplayName, context.DisplayName] : [],
            summary.EightBitAttention);
    }

    [Fact]
    public void EightBitPolicies_OnAChipWithout8Bits_AreAnError_NotTheNarrowWidths()
    {
        var (model, _, _, _, _) = Attention();
        var noEightBitActivations = QuantizationTarget.Default(4, 4) with { AllowedActivationBits = [4] };
        var attention = new QuantizationOptions { Attention = LayerPrecision.EightBit };

        var e = Assert.Throws<ArchNetException>(() => attention.CheckWidths(noEightBitActivations, "chip4"));
        Assert.Equal("8-bit attention needs 8-bit activations; chip4 takes activations of 4 bits", e.Message);
        Assert.Equal((Setting.Attention, "EightBit"), (e.Setting, e.SettingValue));
        var edges = new QuantizationOptions { EdgeLayers = LayerPrecision.EightBit };
        e = Assert.Throws<ArchNetException>(() => edges.CheckWidths(QuantizationTarget.Default(4, 4) with { AllowedWeightBits = [2, 4] }, "chip4"));
        Assert.Equal((Setting.EdgeLayers, "EightBit"), (e.Setting, e.SettingValue));
        Assert.Contains("weights of 2, 4 bits", e.Message);
        attention.CheckWidths(QuantizationTarget.Default(4, 4), "reference-cpu"); // 8 bits allowed: no error
        edges.CheckWidths(QuantizationTarget.Default(4, 4), "reference-cpu");

        // The quantizer refuses too, before calibration starts.
        Assert.Throws<ArchNetException>(() => Quantizer.Run(model, (_, _) => throw new InvalidOperationException("calibration ran"),
            noEightBitActivations, attention));
    }
}
