using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Passes.Canonicalization;
using ArchNet.Passes.Legalization;
using ArchNet.Passes.Rules;
using ArchNet.Testing;
using Xunit.Abstractions;
using static ArchNet.IR.Attribute;

namespace ArchNet.Passes.Tests;

/// <summary>
/// Issue 22's exact rewrites for the patterns of modern CNNs, each against ONNX Runtime: even-kernel stride convs as the
/// chip's 3x3, patchify stems as stride-2 convs, channels-last Linears as 1x1 convs; and the issue's own networks
/// (<see cref="ModernBlocks"/>) legalized for archnet, with what is left for distillation named.
/// </summary>
public sealed class ModernPatternTests(ITestOutputHelper output)
{
    private static Value Conv(GraphBuilder b, Value x, long m, long c, long k, long stride, long pad) =>
        b.Op("Conv", [x, b.Random([m, c, k, k]), b.Random([m])], Ints("kernel_shape", k, k), Ints("strides", stride, stride), Ints("pads", pad, pad, pad, pad));

    private static void AssertSameOrtOutputs(byte[] before, Model after, double tolerance = RuleTests.Tolerance)
    {
        var inputs = OrtRunner.RandomInputs(after.Graph, seed: 11, lo: -2, hi: 2);
        var expected = OrtRunner.Run(before, inputs);
        var actual = OrtRunner.Run(OnnxExporter.ToBytes(after), inputs);
        foreach (var (name, e) in expected)
        {
            var error = OrtRunner.MaxRelativeError(actual[name], e);
            Assert.True(error <= tolerance, $"output {name} changed by {error:G3}:\n{TextDump.Dump(after)}");
        }
    }

    [Fact]
    public void Conv2x2Stride2_OnEvenSides_IsA3x3Stride2Pad1ConvWithAZeroRowAndColumn()
    {
        var b = new GraphBuilder();
        b.Output(Conv(b, b.Input("x", 1, 3, 8, 6), 4, 3, 2, 2, 0));
        var model = b.Build();
        var before = OnnxExporter.ToBytes(model);

        Assert.Equal(1, RuleTests.Apply(new CentreConvKernel(), model));

        var conv = Assert.Single(model.Graph.Nodes, n => n.OpType == "Conv");
        Assert.True(conv.GetInts("kernel_shape")?.ToArray() is [3, 3]);
        Assert.True(conv.GetInts("pads")?.ToArray() is [1, 1, 1, 1]);
        Assert.True(conv.GetInts("strides")?.ToArray() is [2, 2]);
        var w = conv.Input(1)!.Constant!.ToFloats();
        // Tap row 0 and tap column 0 are the added zeros; the other four taps are the 2x2 kernel.
        for (var i = 0; i < w.Length; i += 9)
        {
            Assert.Equal([0f, 0f, 0f, 0f, 0f], new[] { w[i], w[i + 1], w[i + 2], w[i + 3], w[i + 6] });
            Assert.DoesNotContain(0f, new[] { w[i + 4], w[i + 5], w[i + 7], w[i + 8] });
        }
        AssertSameOrtOutputs(before, model);
    }

    [Fact]
    public void Conv2x2Stride2_OnAnOddSide_IsLeftAlone_TheSizesWouldDiffer()
    {
        var b = new GraphBuilder();
        b.Output(Conv(b, b.Input("x", 1, 3, 7, 6), 4, 3, 2, 2, 0));
        Assert.Equal(0, RuleTests.Apply(new CentreConvKernel(), b.Build()));
    }

    [Fact]
    public void Patchify4x4Stride4_OnAnUnsignedThreeByThreeChip_BecomesTwoStride2Convs_AndKeepsOrtOutputs()
    {
        var b = new GraphBuilder();
        b.Output(Conv(b, b.Input("x", 1, 2, 8, 12), 6, 2, 4, 4, 0));
        var model = b.Build();
        var before = OnnxExporter.ToBytes(model);
        var context = new PassContext(SilentDiagnostics.Instance);

        var report = new Legalizer(new ThreeByThreeChip(nonNegativeActivations: true)).Run(model, context);

        Assert.Equal(["PatchifyConvToStridedConvs", "CentreConvKernel", "CentreConvKernel"], context.Rewrites.Select(r => r.Rule));
        Assert.Equal(0, report.UnsupportedAfter);
        // The signed input enters as Relu(x) and Relu(-x): 2 channels x 4 phases x 2 signs.
        Assert.Equal(["Conv", "Relu", "Conv"], model.Graph.Nodes.Select(n => n.OpType));
        Assert.Equal(16, model.Graph.Nodes[0].Outputs[0].Shape![1].Value);
        Assert.All(model.Graph.Nodes.Where(n => n.OpType == "Conv"), n => Assert.True(n.GetInts("strides")?.ToArray() is [2, 2]));
        AssertSameOrtOutputs(before, model);
    }

    [Fact]
    public void ChannelsLastLinear_WithALayerNormInside_IsLeftForDistillation_AndAfterItsFoldIsTwo1x1Convs()
    {
        // Transpose -> LayerNorm -> Linear: no exact plan while the LayerNorm is there; the same chain without it is one.
        Model Block(bool withNorm)
        {
            var b = new GraphBuilder(opset: 20);
            var x = b.Op("Transpose", [b.Input("x", 1, 4, 3, 3)], Ints("perm", 0, 2, 3, 1));
            if (withNorm) x = b.Op("LayerNormalization", [x, b.Random([4]), b.Random([4])], Int("axis", -1));
            var h = b.Op("Relu", b.Op("Add", b.Op("MatMul", x, b.Random([4, 8])), b.Random([8])));
            b.Output(b.Op("Transpose", [b.Op("Add", b.Op("MatMul", h, b.Random([8, 4])), b.Random([4]))], Ints("perm", 0, 3, 1, 2)));
            return b.Build();
        }
        var normed = Block(withNorm: true);
        Assert.Null(ChannelsLastLinearToConv1x1.Chain(normed.Graph.Nodes.Last()));

        var plain = Block(withNorm: false);
        var before = OnnxExporter.ToBytes(plain);
        var context = new PassContext(SilentDiagnostics.Instance);
        var report = new Legalizer(new ThreeByThreeChip()).Run(plain, context);

        Assert.Equal("ChannelsLastLinearToConv1x1", context.Rewrites[0].Rule);
        Assert.Equal(0, report.UnsupportedAfter);
        Assert.Equal(["Conv", "Relu", "Conv"], plain.Graph.Nodes.Select(n => n.OpType));
        AssertSameOrtOutputs(before, plain);
    }

    /// <summary>What legalization leaves of each issue-22 network on archnet (for distillation), exact on ORT.</summary>
    [Theory]
    [InlineData("convnext", "Add:add13,add18,add20; Gelu:gelu14; LayerNormalization:layernormalization9; Transpose:transpose19,transpose6")]
    [InlineData("mobilenet_se", "Clip:clip5; HardSigmoid:hardsigmoid18; HardSwish:hardswish9; Mul:mul19")]
    [InlineData("token_mixer", "Add:add11,add13,add6; Gelu:gelu7; ReduceMean:reducemean15; Reshape:reshape1; Transpose:transpose12,transpose2")]
    [InlineData("patchify_stem", "")]
    public void ModernBlock_LegalizedForArchnet_KeepsOrtOutputs_AndLeavesOnlyWhatNeedsTraining(string name, string left)
    {
        var model = ModernBlocks.Build(name, items: 1);
        var before = OnnxExporter.ToBytes(model);
        var target = AcceptanceTests.Target("archnet");
        var context = new PassContext(SilentDiagnostics.Instance);
        new PassManager([.. Canonicalize.Passes(), new LegalizePass(target), new DeadCodeElimination()]).Run(model, context);

        var oracle = new CapabilityOracle(target);
        var rejected = model.Graph.Nodes.Where(n => oracle.Structural(n).Count > 0)
            .GroupBy(n => n.OpType).OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => $"{g.Key}:{string.Join(",", g.Select(n => n.DisplayName).Order(StringComparer.Ordinal))}");
        output.WriteLine($"{name}: rewrites {string.Join(", ", context.Rewrites.Select(r => r.Rule))}");
        Assert.Equal(left, string.Join("; ", rejected));
        AssertSameOrtOutputs(before, model, tolerance: 1e-4);
    }
}
