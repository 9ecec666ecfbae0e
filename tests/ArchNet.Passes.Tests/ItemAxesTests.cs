using ArchNet.IR;
using ArchNet.Passes.Quantization;
using ArchNet.Testing;
using Attribute = ArchNet.IR.Attribute;

namespace ArchNet.Passes.Tests;

/// <summary>Where the items go when a graph bound to one item runs N of them (<see cref="ItemAxes"/>).</summary>
public sealed class ItemAxesTests
{
    [Fact]
    public void SequenceFirstAttention_KeepsItemsApart_WithTheItemsMergedIntoTheHeads()
    {
        var (model, reshapes, scores) = AttentionModels.SequenceFirst();

        var axes = ItemAxes.Of(model.Graph, 17);

        Assert.NotNull(axes);
        Assert.Empty(axes.Bound);
        // [L, N*H, D]: the items are the outer factor of the heads' dimension; the scores [N*H, L, L] hold them first.
        Assert.Equal(new ItemAxis(1, 2), axes.Positions[reshapes[0].Outputs[0]]);
        Assert.Equal(new ItemAxis(0, 2), axes.Positions[scores]);
        Assert.Equal([5, -1, 4], axes.ReshapeTargets[reshapes[0]]);
    }

    [Fact]
    public void MergingTheHeadsBackIntoRows_PutsTheItemsInTheRows_NotTheColumns()
    {
        // [L, N*H, D] -> [L*N, E] could also be read as [L, N*E] at one item; only rows keep the Gemm per item.
        var (model, reshapes, _) = AttentionModels.SequenceFirst();

        var axes = ItemAxes.Of(model.Graph, 17)!;

        Assert.Equal(new ItemAxis(0, 1), axes.Positions[reshapes[3].Outputs[0]]);
        Assert.Equal([-1, 8], axes.ReshapeTargets[reshapes[3]]);
        // [L*N, E] -> [L, N, E]: the items get their own dimension again, which the Transpose then moves first.
        Assert.Equal(new ItemAxis(1, 1), axes.Positions[reshapes[4].Outputs[0]]);
        Assert.Equal(new ItemAxis(0, 1), axes.Positions[model.Graph.Outputs[0]]);
    }

    [Fact]
    public void SoftmaxOverTheMergedItemsAndHeads_BindsTheGraph_AndNamesTheSoftmax()
    {
        var (model, _, _) = AttentionModels.SequenceFirst(softmaxAxis: 0);

        var axes = ItemAxes.Of(model.Graph, 17)!;

        var bound = Assert.Single(axes.Bound);
        Assert.Equal("Softmax", bound.OpType);
        Assert.Contains("items' dimension", bound.Reason);
    }

    /// <summary>Resize by constant scales of 1 on the items' dimension (an FPN's upsampling) resizes each item alone;
    /// scaling that dimension, or sizes (which spell the one item's count), binds the graph.</summary>
    [Theory]
    [InlineData("scales 1,1,2,2", true)]
    [InlineData("scales 2,1,2,2", false)]
    [InlineData("sizes 1,3,8,10", false)]
    public void Resize_KeepsItemsApart_OnlyByConstantScalesOf1OnTheItems(string by, bool apart)
    {
        var b = new GraphBuilder(opset: 13);
        var x = b.Input("x", 1, 3, 4, 5);
        var values = by.Split(' ')[1].Split(',');
        Value?[] inputs = by.StartsWith("scales", StringComparison.Ordinal)
            ? [x, null, b.Const([.. values.Select(v => float.Parse(v, System.Globalization.CultureInfo.InvariantCulture))], 4)]
            : [x, null, null, b.Ints([.. values.Select(long.Parse)])];
        b.Output(b.Op("Relu", b.Op("Resize", inputs, Attribute.String("mode", "nearest"))));

        var axes = ItemAxes.Of(b.Build().Graph, 13)!;

        if (apart) Assert.Empty(axes.Bound);
        else Assert.Equal("Resize", axes.Bound[0].OpType);
    }

    [Fact]
    public void AnOutputWhoseItemsCannotLead_IsBound()
    {
        // [1,4,8] -> [4,8] puts the items in the rows; transposed to [8,4N], the output is not N stacked results.
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 4, 8);
        var rows = b.Op("Reshape", x, b.Ints(4, 8));
        b.Output(b.Op("Transpose", [rows], Attribute.Ints("perm", 1, 0)));

        var axes = ItemAxes.Of(b.Build().Graph, 17)!;

        Assert.Equal("Transpose", Assert.Single(axes.Bound).OpType);
    }

    [Fact]
    public void ReshapeThatAlreadyTakesTheItems_NeedsNoNewTarget()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 6, 8);
        b.Output(b.Op("Reshape", x, b.Ints(-1, 6, 2, 4)), b.Op("Reshape", x, b.Ints(0, 48)));

        var axes = ItemAxes.Of(b.Build().Graph, 17)!;

        Assert.Empty(axes.Bound);
        Assert.Empty(axes.ReshapeTargets);
    }

    [Fact]
    public void Calibration_StillRunsSequenceFirstAttentionItemByItem()
    {
        // Calibration widens only dimension 0 of value shapes: items inside the heads' dimension are not for it.
        Assert.Null(CalibrationBatch.Of(AttentionModels.SequenceFirst().Model));
    }

    [Fact]
    public void ASymbolicBatch_IsNotAnalysed()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 4);
        x.Type = new TensorType(ElementType.Float, new Shape([Dim.Sym("batch"), 4]));
        b.Output(b.Op("Relu", x));

        Assert.Null(ItemAxes.Of(b.Graph, 17));
    }
}

/// <summary>The stacked form for a fixed item count (the emulator's): constants widened to it, in place until disposed.</summary>
public sealed class StackedFormTests
{
    [Fact]
    public void Tiled_RepeatsEachOuterSliceAlongTheItemDimension()
    {
        var data = TensorData.FromFloats([2, 1, 3], [1, 2, 3, 4, 5, 6]);

        var tiled = StackedForm.Tiled(data, 1, 2);

        Assert.Equal([2L, 2, 3], tiled.Dims.ToArray());
        Assert.Equal([1f, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6], tiled.ToFloats());
    }

    [Fact]
    public void ClassTokenAndHeads_ReadWidenedConstantsWhileApplied_AndTheGraphIsRestoredAfter()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 3, 8);
        var token = b.Random([1, 1, 8]);
        var joined = b.Op("Concat", [token, x], Attribute.Int("axis", 1));
        var heads = b.Op("Reshape", joined, b.Ints(1, 4, 2, 4));
        b.Output(b.Op("Transpose", [heads], Attribute.Ints("perm", 0, 2, 1, 3)));
        var graph = b.Build().Graph;
        var (concat, reshape) = (joined.Producer!, heads.Producer!);
        var target = reshape.Input(1);
        var constants = graph.Constants.Count;
        var axes = ItemAxes.Of(graph, 17)!;

        var form = StackedForm.For(graph, axes, 3);
        Assert.Same(token, concat.Input(0));
        using (form.Apply())
        {
            Assert.Equal([3L, 1, 8], concat.Input(0)!.Constant!.Dims.ToArray());
            Assert.Equal([0L, 4, 2, 4], reshape.Input(1)!.Constant!.ToInt64s());
            Assert.Equal(constants + 2, graph.Constants.Count);
        }

        Assert.Same(token, concat.Input(0));
        Assert.Same(target, reshape.Input(1));
        Assert.Equal(constants, graph.Constants.Count);
    }
}
