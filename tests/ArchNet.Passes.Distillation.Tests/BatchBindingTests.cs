using ArchNet.IR;
using ArchNet.Testing;
using Attribute = ArchNet.IR.Attribute;

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
}
