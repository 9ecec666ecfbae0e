using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Passes.Legalization;
using ArchNet.Testing;
using static ArchNet.IR.Attribute;

namespace ArchNet.Passes.Tests;

/// <summary>A chip in code: Arch-Net's conv (3x3, pad 1, group 1, at most <paramref name="maxChannels"/> inputs), Relu, Concat, MaxPool.</summary>
internal sealed class ThreeByThreeChip(int maxChannels = 512, bool nonNegativeActivations = false) : ISupportOracle
{
    public bool NonNegativeActivations => nonNegativeActivations;

    public IReadOnlyList<string> Violations(Node node)
    {
        var v = new List<string>();
        switch (node.OpType)
        {
            case "Conv":
                if (node.GetInts("kernel_shape")?.ToArray() is not [3, 3]) v.Add("kernel must be 3x3");
                if (node.GetInts("pads")?.ToArray() is not [1, 1, 1, 1]) v.Add("padding must be 1");
                if (node.GetInt("group", 1) != 1) v.Add("group must be 1");
                if (node.Input(0)?.Shape?[1].Value > maxChannels) v.Add($"at most {maxChannels} input channels");
                break;
            case "Relu" or "Concat" or "MaxPool":
                break;
            default:
                v.Add($"op {node.OpType} is not supported");
                break;
        }
        return v;
    }

    public double Cost(Node node) => (OpRegistry.Macs(node) ?? 0) + 1;
}

public sealed class LegalizerTests
{
    private static (Model Model, LegalizationReport Report, PassContext Context) Legalize(Model model, ISupportOracle chip)
    {
        var context = new PassContext(SilentDiagnostics.Instance);
        var report = new Legalizer(chip).Run(model, context);
        Verifier.Verify(model, "legalization");
        return (model, report, context);
    }

    private static void AssertSameOutputs(byte[] before, Model after, double tolerance = RuleTests.Tolerance)
    {
        var inputs = OrtRunner.RandomInputs(after.Graph, seed: 5, lo: -2, hi: 2);
        var expected = OrtRunner.Run(before, inputs);
        var actual = OrtRunner.Run(OnnxExporter.ToBytes(after), inputs);
        foreach (var (name, e) in expected)
            Assert.True(OrtRunner.MaxRelativeError(actual[name], e) <= tolerance, $"output {name} changed");
    }

    [Fact]
    public void ResidualAdd_BecomesConcatAnd3x3Conv_OnAThreeByThreeChip()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 4, 6, 6);
        var y = b.Op("Relu", b.Op("Conv", [x, b.Random([4, 4, 3, 3]), b.Random([4])], Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1)));
        b.Output(b.Op("Add", y, x));
        var model = b.Build();
        var before = OnnxExporter.ToBytes(model);

        var (_, report, context) = Legalize(model, new ThreeByThreeChip());

        Assert.Equal(["ResidualAddToConcatConv", "Conv1x1To3x3"], context.Rewrites.Select(r => r.Rule));
        Assert.Empty(report.Retrain);
        Assert.Equal(1, report.UnsupportedBefore);
        Assert.Equal(0, report.UnsupportedAfter);
        Assert.Equal(["Conv", "Relu", "Concat", "Conv"], model.Graph.Nodes.Select(n => n.OpType));
        AssertSameOutputs(before, model);
    }

    [Fact]
    public void ResidualAdd_OnAnUnsignedChip_CarriesSignedOperandsAsPositiveAndNegativeParts()
    {
        // out = Relu(Conv3x3(Relu(Conv3x3(x))) + Conv1x1(x)): both Add operands are signed conv outputs.
        var b = new GraphBuilder();
        var x = b.Op("Relu", b.Input("x", 1, 4, 6, 6));
        var h = b.Op("Relu", b.Op("Conv", [x, b.Random([4, 4, 3, 3]), b.Random([4])], Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1)));
        var y = b.Op("Conv", [h, b.Random([4, 4, 3, 3]), b.Random([4])], Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1));
        var s = b.Op("Conv", [x, b.Random([4, 4, 1, 1]), b.Random([4])], Ints("kernel_shape", 1, 1));
        b.Output(b.Op("Relu", b.Op("Add", y, s)));
        var model = b.Build();
        var before = OnnxExporter.ToBytes(model);

        var (_, report, context) = Legalize(model, new ThreeByThreeChip(nonNegativeActivations: true));

        Assert.Equal(0, report.UnsupportedAfter);
        Assert.Contains("ResidualAddToConcatConv", context.Rewrites.Select(r => r.Rule));
        // Every tensor entering a Concat is a ReLU output: nothing signed is clipped by the chip's unsigned activations.
        var concats = model.Graph.Nodes.Where(n => n.OpType == "Concat").ToList();
        Assert.NotEmpty(concats);
        Assert.All(concats.SelectMany(c => c.Inputs), v => Assert.Equal("Relu", v!.Producer?.OpType));
        // The original three, the two mirrored convs (negated weights) and the sum over the concat.
        Assert.Equal(3 + 2 + 1, model.Graph.Nodes.Count(n => n.OpType == "Conv"));
        AssertSameOutputs(before, model);
    }

    [Fact]
    public void ResidualAdd_OnAnUnsignedChip_WithASignedOperandNoConvProduces_IsLeftForRetraining()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 4, 6, 6);
        b.Output(b.Op("Add", b.Op("Relu", x), b.Op("Neg", x)));
        var model = b.Build();

        var (_, report, _) = Legalize(model, new ThreeByThreeChip(nonNegativeActivations: true));

        Assert.Contains(report.Retrain, r => r.OpType == "Add");
    }

    [Fact]
    public void DepthwiseConv_BecomesDenseBlockDiagonalConv()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 8, 6, 6);
        b.Output(b.Op("Conv", [x, b.Random([8, 1, 3, 3])], Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1), Int("group", 8)));
        var model = b.Build();
        var before = OnnxExporter.ToBytes(model);

        var (_, report, context) = Legalize(model, new ThreeByThreeChip());

        Assert.Equal(["GroupedConvToDense"], context.Rewrites.Select(r => r.Rule));
        Assert.Equal(0, report.UnsupportedAfter);
        AssertSameOutputs(before, model);
    }

    [Fact]
    public void SevenBySevenConv_BecomesThreeStacked3x3Convs()
    {
        var b = new GraphBuilder();
        // One input channel: nothing to split, so the stack is the only exact form.
        var x = b.Input("x", 1, 1, 16, 16);
        b.Output(b.Op("Conv", [x, b.Random([8, 1, 7, 7]), b.Random([8])], Ints("kernel_shape", 7, 7), Ints("pads", 3, 3, 3, 3), Ints("strides", 2, 2)));
        var model = b.Build();
        var before = OnnxExporter.ToBytes(model);

        var (_, report, context) = Legalize(model, new ThreeByThreeChip());

        Assert.Equal(["ConvKxKTo3x3Stack"], context.Rewrites.Select(r => r.Rule));
        Assert.Equal(3, model.Graph.Nodes.Count(n => n.OpType == "Conv"));
        Assert.Equal(0, report.UnsupportedAfter);
        AssertSameOutputs(before, model);
    }

    [Fact]
    public void NodeWithoutExactRewrite_IsMarkedForRetraining_AndListed()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 4, 6, 6);
        b.Output(b.Op("Sigmoid", x));
        var model = b.Build();

        var (_, report, _) = Legalize(model, new ThreeByThreeChip());

        var entry = Assert.Single(report.Retrain);
        Assert.Equal("Sigmoid", entry.OpType);
        Assert.Contains("op Sigmoid is not supported", entry.Violations);
        var marked = Assert.Single(model.Graph.Nodes, n => n.Metadata.Any(kv => kv.Key == Legalizer.RetrainKey));
        Assert.Equal("Sigmoid", marked.OpType);
    }

    [Fact]
    public void CandidateProducingUnsupportedNodes_IsRejected_WholeModelUntouched()
    {
        // Conv 1x1 with 600 input channels: the 3x3 form would break the 512-channel limit, and splitting needs Add.
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 600, 2, 2);
        b.Output(b.Op("Conv", [x, b.Random([4, 600, 1, 1])], Ints("kernel_shape", 1, 1)));
        var model = b.Build();
        var dump = TextDump.Dump(model);

        var (_, report, context) = Legalize(model, new ThreeByThreeChip(maxChannels: 512));

        Assert.Empty(context.Rewrites);
        Assert.Single(report.Retrain);
        Assert.Equal(dump.Replace("\r", ""), TextDump.Dump(model));
    }

    [Fact]
    public void Legalization_IsDeterministic()
    {
        Model Build()
        {
            var b = new GraphBuilder();
            var x = b.Input("x", 1, 4, 8, 8);
            var y = b.Op("Conv", [x, b.Random([4, 1, 5, 5])], Ints("kernel_shape", 5, 5), Ints("pads", 2, 2, 2, 2), Int("group", 4));
            b.Output(b.Op("Add", y, x));
            return b.Build();
        }
        var first = Build();
        var second = Build();
        Legalize(first, new ThreeByThreeChip());
        Legalize(second, new ThreeByThreeChip());
        Assert.Equal(OnnxExporter.ToBytes(first), OnnxExporter.ToBytes(second));
    }
}
