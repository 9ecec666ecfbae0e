using ArchNet.IR;
using ArchNet.Testing;

namespace ArchNet.Frontend.Tests;

/// <summary>What <c>archnetc inspect</c> reports, computed on imported models.</summary>
public sealed class ModelStatisticsTests
{
    [Fact]
    public void SmallConvModel_HasExactParameterAndMacCounts_AndNamesTheVendorOp()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 3, 8, 8);
        var conv = b.Op("Conv", [x, b.Random([4, 3, 3, 3]), b.Random([4])], ArchNet.IR.Attribute.Ints("pads", 1, 1, 1, 1));
        var y = new Value("y");
        b.Graph.Add(new Node("Frob", [conv], [y], domain: "com.vendor"));
        b.Output(y);
        var model = OnnxImporter.Import(OnnxExporter.ToProto(b.Build()));

        var stats = ModelStatistics.Measure(model);
        Assert.Equal(4 * 3 * 3 * 3 + 4, stats.ParameterCount);
        Assert.Equal((4 * 3 * 3 * 3 + 4) * 4, stats.ParameterBytes);
        Assert.Equal(1L * 4 * 8 * 8 * 27, stats.Ops.Single(o => o.OpType == "Conv").Macs);
        Assert.Equal(["com.vendor::Frob"], stats.UnknownDomainOps);
        Assert.Equal(["com.vendor::Frob"], stats.OpsWithoutSchema);
    }

    [Fact]
    public void SymbolicBatch_IsTakenAsOne_ForMacs_AndReportedAsDeclared()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 16);
        b.Output(b.Op("MatMul", x, b.Random([16, 8])));
        var model = b.Build();
        model.Graph.Inputs[0].Type = new TensorType(ElementType.Float, new Shape([Dim.Sym("batch"), 16]));

        var stats = ModelStatistics.Measure(model);
        Assert.Equal("float32[batch,16]", stats.Inputs.Single().Type);
        Assert.Equal(["batch"], stats.SymbolsTakenAsOne);
        Assert.Equal(16L * 8, stats.TotalMacs);
        Assert.Equal(0, stats.NodesWithUnknownMacs);
    }

    [Fact]
    public void ResNet18_ConvolutionsCarryAlmostAllMacs()
    {
        var stats = ModelStatistics.Measure(OnnxImporter.Load(TestData.Model("resnet18")));
        Assert.Equal(15_908_800, stats.ParameterCount);
        Assert.Equal("Conv", stats.Ops[0].OpType);
        Assert.InRange(stats.Ops[0].Macs, 1.8e9, 2.1e9);
        Assert.Equal(0, stats.NodesWithUnknownMacs);
        Assert.Equal("CNTK 2.6", stats.Producer);
    }
}
