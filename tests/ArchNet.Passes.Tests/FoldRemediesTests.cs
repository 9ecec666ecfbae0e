using ArchNet.Capabilities;
using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Passes.Canonicalization;
using ArchNet.Testing;

namespace ArchNet.Passes.Tests;

/// <summary>The audit's "fold" remedy: what canonicalization removes from a model as exported, and the nodes the other
/// remedies are judged on.</summary>
public sealed class FoldRemediesTests
{
    [Fact]
    public void FmnistVit_ShapeArithmeticFolds_TheComputeStays_AndIsJudgedAsCanonicalizationLeavesIt()
    {
        var path = TestData.Teacher("fmnist_vit").Onnx;
        var model = OnnxImporter.Load(path);
        var folding = FoldRemedies.Of(model, OnnxImporter.Load(path));
        var byName = model.Graph.Nodes.ToDictionary(n => n.DisplayName);
        // PyTorch's export computes every reshape target from Shape at run time; with the batch bound all of it folds.
        Assert.All(model.Graph.Nodes.Where(n => n.OpType is "Shape" or "ConstantOfShape"), n => Assert.Contains(n.DisplayName, folding.Folded));
        Assert.DoesNotContain(folding.Folded, n => byName[n].OpType is "MatMul" or "Gemm" or "Conv" or "Erf" or "LayerNormalization" or "Softmax");
        Assert.True(folding.Folded.Count > 100, $"only {folding.Folded.Count} of {model.Graph.Nodes.Count} nodes fold");

        // The patch Conv reads a [batch,1,28,28] input as written, [1,1,28,28] where legalization judges it.
        var conv = model.Graph.Nodes.Single(n => n.OpType == "Conv");
        Assert.False(conv.Input(0)!.Shape!.IsStatic);
        var judged = folding.JudgedAs(conv);
        Assert.NotSame(conv, judged);
        Assert.Equal([1L, 1, 28, 28], judged.Input(0)!.Shape!.Dims.Select(d => d.Value!.Value));
        // GELU as exported (Div, Erf, Add, Mul, Mul) is one Gelu after canonicalization: its nodes are judged as that Gelu.
        var erf = model.Graph.Nodes.First(n => n.OpType == "Erf");
        Assert.Equal("Gelu", folding.JudgedAs(erf).OpType);
        Assert.DoesNotContain(erf.DisplayName, folding.Folded);
        // A folded node is judged as itself; the model audited is untouched.
        var shape = model.Graph.Nodes.First(n => n.OpType == "Shape");
        Assert.Same(shape, folding.JudgedAs(shape));
        Assert.Equal(253, model.Graph.Nodes.Count);
    }

    [Fact]
    public void Registry_MarksOnlyTheFoldedNodes()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 4);
        var kept = b.Op("Relu", b.Op("Identity", x));
        b.Output(b.Op("Relu", kept));
        var model = b.Build();
        var copy = OnnxImporter.Import(OnnxExporter.ToProto(model));
        var folding = FoldRemedies.Of(model, copy);
        var registry = new RemedyRegistry().Add(folding);
        var capability = new TargetCatalog(Path.Combine(TestData.RepoRoot, "targets")).Load("archnet");
        var identity = model.Graph.Nodes.Single(n => n.OpType == "Identity");
        Assert.Equal([identity.DisplayName], folding.Folded);
        Assert.Equal(Remedy.Fold, registry.Find(identity, capability, []));
        Assert.Equal(Remedy.NoneYet, registry.Find(model.Graph.Nodes.First(n => n.OpType == "Relu"), capability, []));
    }
}
