using ArchNet.IR;

namespace ArchNet.IR.Tests;

/// <summary>Binding symbolic input dimensions (<see cref="InputShapes"/>): by symbol, by input name, and what is left.</summary>
public sealed class InputShapesTests
{
    /// <summary>ids [batch, sequence] and mask [batch, sequence] -> Add -> y; image [n, 3, h, w] -> Relu -> z.</summary>
    private static Model Model()
    {
        var g = new Graph();
        Value Input(string name, params Dim[] dims)
        {
            var v = new Value(name, new TensorType(ElementType.Float, new Shape(dims)));
            g.Inputs.Add(v);
            return v;
        }
        var ids = Input("ids", Dim.Sym("batch"), Dim.Sym("sequence"));
        var mask = Input("mask", Dim.Sym("batch"), Dim.Sym("sequence"));
        var image = Input("image", Dim.Sym("n"), 3, Dim.Sym("h"), Dim.Unknown);
        var y = new Value("y");
        g.Add(new Node("Add", [ids, mask], [y]));
        var z = new Value("z");
        g.Add(new Node("Relu", [image], [z]));
        g.Outputs.AddRange([y, z]);
        var model = new Model(g);
        ShapeInference.Run(g);
        return model;
    }

    [Fact]
    public void Bind_BySymbol_ReinfersShapes_AndATypoIsAnError()
    {
        var model = Model();
        Assert.Equal(["sequence"], InputShapes.Bind(model, new Dictionary<string, long> { ["sequence"] = 128 }));
        Assert.Equal("[batch,128]", model.Graph.Outputs[0].Shape!.ToString());

        var typo = Model();
        var e = Assert.Throws<ArchNetException>(() => InputShapes.Bind(typo, new Dictionary<string, long> { ["sequence"] = 128, ["seqence"] = 128 }));
        Assert.Equal("no input dimension of the model is named 'seqence' (symbolic dimensions: batch, h, n, sequence)", e.Message);
        Assert.Equal("[batch,sequence]", typo.Graph.Inputs[0].Shape!.ToString()); // refused before anything changed
    }

    [Fact]
    public void BindRemaining_ItemsAxisIsOne_OthersFromTheCaller_OnceBySymbol()
    {
        var model = Model();
        var asked = new List<(string, int)>();
        var bound = InputShapes.BindRemaining(model, (input, axis) =>
        {
            asked.Add((input.Name, axis));
            return input.Name == "image" ? 16 + axis : 128;
        });

        Assert.Equal("[1,128]", model.Graph.Outputs[0].Shape!.ToString());
        Assert.Equal("[1,3,18,19]", model.Graph.Outputs[1].Shape!.ToString());
        Assert.Equal([new("ids", 1, "sequence", 128), new("image", 2, "h", 18), new("image", 3, null, 19)], bound); // sequence once
        Assert.DoesNotContain(asked, a => a.Item2 == 0); // the items' axis is never asked for
    }

    [Fact]
    public void BindRemaining_OneSymbolWithTwoSizes_IsAnError()
    {
        var e = Assert.Throws<ArchNetException>(() => InputShapes.BindRemaining(Model(), (input, _) => input.Name == "mask" ? 64 : 128));
        Assert.Equal("symbolic dimension 'sequence' would be 128 in input 'ids' (axis 1) but 64 in input 'mask' (axis 1); " +
                     "its size must be given", e.Message);
        Assert.Equal((Setting.DimensionSize, "sequence=SIZE"), (e.Setting, e.SettingValue));
    }

    [Fact]
    public void Fix_GivenShapesByInput_EverySymbolLeftIsOne()
    {
        var model = Model();
        InputShapes.Fix(model, new Dictionary<string, long[]> { ["image"] = [2, 3, 8, 6] });
        Assert.Equal("[1,1]", model.Graph.Outputs[0].Shape!.ToString());
        Assert.Equal("[2,3,8,6]", model.Graph.Outputs[1].Shape!.ToString());
        var e = Assert.Throws<ArchNetException>(() => InputShapes.Fix(Model(), new Dictionary<string, long[]> { ["image"] = [1, 4, 8, 8] }));
        Assert.Equal("input 'image' dim 1 is 3, the given shape says 4", e.Message);
    }

    [Fact]
    public void Fix_AnInputNameTheModelLacks_IsAnError()
    {
        var e = Assert.Throws<ArchNetException>(() => InputShapes.Fix(Model(), new Dictionary<string, long[]> { ["img"] = [1, 3, 8, 8] }));
        Assert.Equal("the model has no input named 'img' (inputs: ids, mask, image)", e.Message);
    }
}
