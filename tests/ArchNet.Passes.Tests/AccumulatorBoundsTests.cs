using ArchNet.IR;
using ArchNet.Passes.Quantization;
using ArchNet.Testing;
using static ArchNet.IR.Attribute;

namespace ArchNet.Passes.Tests;

/// <summary>Which multiply-accumulate nodes can pass the accumulator (<see cref="AccumulatorBounds"/>).</summary>
public sealed class AccumulatorBoundsTests
{
    /// <summary>x [1,17,16] -> Conv 3x3x64 (as a [1,64,8,8] branch) and attention scores x x^T, quantized at the given widths.</summary>
    private static Graph Quantized(int activationBits, int weightBits)
    {
        var b = new GraphBuilder(seed: 5);
        var image = b.Input("image", 1, 64, 8, 8);
        var conv = b.Op("Conv", [image, b.Random([4, 64, 3, 3])], Ints("kernel_shape", 3, 3));
        var x = b.Input("x", 1, 17, 16);
        var scores = b.Op("MatMul", x, b.Op("Transpose", [x], Ints("perm", 0, 2, 1)));
        b.Output(conv, scores);
        var graph = b.Build().Graph;
        var activation = QuantParams.PerTensor(activationBits, false, 0.01f, 1L << (activationBits - 1));
        foreach (var v in graph.Inputs.Concat(graph.Nodes.SelectMany(n => n.Outputs))) v.Quant = activation;
        foreach (var c in graph.Constants) c.Quant = QuantParams.PerTensor(weightBits, true, 0.01f);
        return graph;
    }

    [Fact]
    public void EightBitOperands_StayInside32Bits()
    {
        Assert.Empty(AccumulatorBounds.Find(Quantized(8, 8), 32));
    }

    [Fact]
    public void SixteenBitActivations_PassA32BitAccumulator_AndNameNodeDepthAndBits()
    {
        var risks = AccumulatorBounds.Find(Quantized(16, 8), 32);
        // Conv: 576 products of |q - z| <= 32768 (u16 around 32768) and <= 128 (i8): log2(576 * 2^15 * 2^7) + 1 = 32.2 bits.
        var conv = Assert.Single(risks, r => r.OpType == "Conv");
        Assert.Equal(576, conv.Depth);
        Assert.Equal(32.2, conv.Bits);
        // Scores: 16 products of two u16 activations: log2(16 * 2^30) + 1 = 35 bits.
        var scores = Assert.Single(risks, r => r.OpType == "MatMul");
        Assert.Equal((16, 16, 16, 35.0), (scores.Depth, scores.OperandBitsA, scores.OperandBitsB, scores.Bits));
        Assert.Equal($"{scores.Node} (MatMul): sums of 16 products of 16-bit x 16-bit integers need 35.0 bits, the accumulator has 32", scores.ToString());
        // A 48-bit accumulator holds both.
        Assert.Empty(AccumulatorBounds.Find(Quantized(16, 8), 48));
    }
}
