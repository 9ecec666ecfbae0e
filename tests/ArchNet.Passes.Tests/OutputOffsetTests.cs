using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Passes.Quantization;
using ArchNet.Testing;
using Attribute = ArchNet.IR.Attribute;

namespace ArchNet.Passes.Tests;

/// <summary><see cref="OutputOffset"/>: the output rises by exactly the offset (ONNX Runtime before and after), whatever
/// form the bias has; an output another node reads is left alone.</summary>
public sealed class OutputOffsetTests
{
    [Theory]
    [InlineData("gemm-transB-bias")]
    [InlineData("gemm-no-bias")]
    [InlineData("gemm-beta")]
    [InlineData("gemm-row-bias")]
    [InlineData("conv")]
    public void Output_RisesByTheOffset(string form)
    {
        var b = new GraphBuilder(seed: 4);
        Value y;
        switch (form)
        {
            case "conv":
                y = b.Op("Conv", [b.Input("x", 1, 2, 5, 5), b.Random([3, 2, 3, 3]), b.Random([3])]);
                break;
            case "gemm-no-bias":
                y = b.Op("Gemm", [b.Input("x", 2, 6), b.Random([6, 4])]);
                break;
            case "gemm-beta":
                y = b.Op("Gemm", [b.Input("x", 2, 6), b.Random([4, 6]), b.Random([4])], Attribute.Int("transB", 1), Attribute.Float("beta", 0.5f));
                break;
            case "gemm-row-bias":
                y = b.Op("Gemm", [b.Input("x", 2, 6), b.Random([6, 4]), b.Random([1, 4])]);
                break;
            default:
                y = b.Op("Gemm", [b.Input("x", 2, 6), b.Random([4, 6]), b.Random([4])], Attribute.Int("transB", 1));
                break;
        }
        b.Output(y);
        var model = b.Build();
        var inputs = OrtRunner.RandomInputs(model.Graph, seed: 2);
        var before = OrtRunner.Run(OnnxExporter.ToBytes(model), inputs)[y.Name].ToFloats();
        Assert.True(OutputOffset.TryApply(model.Graph, y.Producer!, 3.5));
        var after = OrtRunner.Run(OnnxExporter.ToBytes(model), inputs)[y.Name].ToFloats();
        for (var i = 0; i < before.Length; i++) Assert.Equal(before[i] + 3.5, after[i], 4);
    }

    [Fact]
    public void AnOutputAnotherNodeReads_IsLeftAlone()
    {
        var b = new GraphBuilder(seed: 4);
        var y = b.Op("Gemm", [b.Input("x", 2, 6), b.Random([6, 4]), b.Random([4])]);
        b.Output(y, b.Op("Relu", y));
        var model = b.Build();
        var dump = TextDump.Dump(model);
        Assert.False(OutputOffset.TryApply(model.Graph, y.Producer!, 3.5));
        Assert.Equal(dump, TextDump.Dump(model));
        Assert.Equal(0, OutputOffset.For(0.5));
        Assert.Equal(2.5, OutputOffset.For(-2), 9);
    }
}
