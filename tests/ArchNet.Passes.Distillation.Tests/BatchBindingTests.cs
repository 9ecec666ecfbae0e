using ArchNet.IR;
using ArchNet.Passes.Distillation.Lowering;
using ArchNet.Testing;
using Attribute = ArchNet.IR.Attribute;
using static TorchSharp.torch;

namespace ArchNet.Passes.Distillation.Tests;

/// <summary>Which graphs bound to batch 1 may still run N items stacked along dimension 0.</summary>
public sealed class BatchBindingTests
{
    [Fact]
    public void ConvReluFlattenGemm_RunsStacked()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 1, 8, 8);
        var y = b.Op("Relu", b.Op("Conv", [x, b.Random([4, 1, 3, 3]), b.Random([4])], Attribute.Ints("kernel_shape", 3, 3)));
        var f = b.Op("Flatten", [y], Attribute.Int("axis", 1));
        b.Output(b.Op("Gemm", [f, b.Random([144, 10]), b.Random([10])]));

        Assert.Null(BatchBinding.FirstBound(b.Build().Graph));
    }

    [Fact]
    public void ReshapeWhoseShapeConstantStartsWithOne_BindsTheBatch_AndNamesTheNode()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 49, 64);
        b.Output(b.Op("Reshape", x, b.Ints(1, 49, 4, 16)));

        var bound = BatchBinding.FirstBound(b.Build().Graph);

        Assert.NotNull(bound);
        Assert.Equal("Reshape", bound.OpType);
        Assert.Contains("[1,49,4,16]", bound.Reason);
    }

    [Theory]
    [InlineData(0L)]
    [InlineData(-1L)]
    public void ReshapeThatCopiesOrInfersDimension0_RunsStacked(long first)
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 49, 64);
        b.Output(b.Op("Reshape", x, b.Ints(first, 49, 4, 16)));

        Assert.Null(BatchBinding.FirstBound(b.Build().Graph));
    }

    [Fact]
    public void ConcatOfAFoldedClassToken_BindsTheBatch()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 49, 64);
        b.Output(b.Op("Concat", [b.Random([1, 1, 64]), x], Attribute.Int("axis", 1)));

        Assert.Equal("Concat", BatchBinding.FirstBound(b.Build().Graph)?.OpType);
    }

    [Fact]
    public void AttentionWithHeadTransposes_RunsStacked_ButATransposeOfDimension0_Binds()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 4, 2, 8);
        var q = b.Op("Transpose", [x], Attribute.Ints("perm", 0, 2, 1, 3));
        var k = b.Op("Transpose", [x], Attribute.Ints("perm", 0, 2, 3, 1));
        var s = b.Op("Softmax", [b.Op("MatMul", q, k)], Attribute.Int("axis", -1));
        b.Output(b.Op("Add", b.Op("MatMul", s, q), b.Random([1, 1, 1, 8])));
        Assert.Null(BatchBinding.FirstBound(b.Build().Graph));

        var c = new GraphBuilder();
        var y = c.Input("x", 1, 4, 8);
        c.Output(c.Op("Transpose", [y], Attribute.Ints("perm", 1, 0, 2)));
        Assert.Equal("Transpose", BatchBinding.FirstBound(c.Build().Graph)?.OpType);
    }

    [Fact]
    public void SymbolicBatch_IsTheModelsOwnContract_AndNotAnalysed()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 49, 64);
        x.Type = new TensorType(ElementType.Float, new Shape([Dim.Sym("batch"), 49, 64]));
        b.Output(b.Op("Reshape", x, b.Ints(1, 49, 4, 16)));

        Assert.Null(BatchBinding.FirstBound(b.Graph));
    }

    /// <summary>A ViT's front in miniature: a class token concatenated as a constant, heads split by a batch-1 Reshape.</summary>
    private static (Model Model, Value Items, Value Token, Node Reshape) TokenAndHeads()
    {
        var b = new GraphBuilder(seed: 3);
        var x = b.Input("x", 1, 3, 8);
        var token = b.Random([1, 1, 8]);
        var joined = b.Op("Concat", [token, x], Attribute.Int("axis", 1));
        var heads = b.Op("Reshape", joined, b.Ints(1, 4, 2, 4));
        var scores = b.Op("MatMul", b.Op("Transpose", [heads], Attribute.Ints("perm", 0, 2, 1, 3)), b.Random([4, 4]));
        b.Output(scores);
        var m = b.Build();
        return (m, x, token, heads.Producer!);
    }

    [Fact]
    public void StackedForm_ForAnyCount_RunsStackedItems_LikeEachItemAlone_AndDisposingRestoresTheGraph()
    {
        var (model, items, token, reshape) = TokenAndHeads();
        var shape = reshape.Input(1);
        var constants = model.Graph.Constants.Count;
        var data = randn(3, 3, 8);
        using var single = new GraphModule(model);
        var expected = cat([.. Enumerable.Range(0, 3).Select(i => single.forward([data.narrow(0, i, 1)])[0])], 0);

        using (var form = BatchBinding.Unbind(model.Graph, out _))
        {
            Assert.NotNull(form);
            using var stacked = new GraphModule(form.Nodes, [items], model.Graph.Outputs);
            var actual = stacked.forward([data])[0];
            Assert.Equal(expected.shape, actual.shape);
            Assert.True(allclose(expected, actual, 1e-5, 1e-6));
        }

        Assert.Same(shape, reshape.Input(1));
        Assert.Equal(constants, model.Graph.Constants.Count);
        Assert.Single(items.Uses);
        Assert.Single(token.Uses);
        Assert.Equal("Concat", BatchBinding.FirstBound(model.Graph)?.OpType);
    }

    /// <summary>Runs <paramref name="model"/> item by item and, in its batched form, all items at once.</summary>
    private static (Tensor Expected, Tensor Actual) ItemByItemAndStacked(Model model, Tensor data)
    {
        using var single = new GraphModule(model);
        var expected = cat([.. Enumerable.Range(0, (int)data.shape[0]).Select(i => single.forward([data.narrow(0, i, 1)])[0])], 0);
        using var form = BatchBinding.Unbind(model.Graph, out var unfixed);
        Assert.Null(unfixed);
        Assert.NotNull(form);
        using var stacked = new GraphModule(form.Nodes, [model.Graph.Inputs[0]], model.Graph.Outputs);
        return (expected, stacked.forward([data])[0]);
    }

    [Fact]
    public void ReshapeDroppingTheLeadingOne_PutsTheItemsInTheRows_AndRunsStacked()
    {
        // [1,4,8] -> [4,8]: N items are [4N, 8], rows the MatMul keeps apart.
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 4, 8);
        b.Output(b.Op("MatMul", b.Op("Reshape", x, b.Ints(4, 8)), b.Random([8, 2])));

        var (expected, actual) = ItemByItemAndStacked(b.Build(), randn(3, 4, 8));

        Assert.Equal(new long[] { 12, 2 }, actual.shape);
        Assert.True(allclose(expected, actual, 1e-5, 1e-6));
    }

    [Fact]
    public void SequenceFirstAttention_RunsStackedItems_LikeEachItemAlone()
    {
        var (model, _, _) = AttentionModels.SequenceFirst();

        var (expected, actual) = ItemByItemAndStacked(model, randn(4, 5, 8));

        Assert.Equal(expected.shape, actual.shape);
        Assert.True(allclose(expected, actual, 1e-5, 1e-6));
    }

    [Fact]
    public void AttentionWithSoftmaxAcrossItems_HasNoStackedForm_AndNamesTheSoftmax()
    {
        var (model, _, _) = AttentionModels.SequenceFirst(softmaxAxis: 0);

        Assert.Null(BatchBinding.Unbind(model.Graph, out var unfixed));
        Assert.Equal("Softmax", unfixed?.OpType);
        Assert.Equal("Softmax", BatchBinding.FirstBound(model.Graph)?.OpType);
    }
}
