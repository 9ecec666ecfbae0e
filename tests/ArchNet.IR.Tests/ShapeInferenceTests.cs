using ArchNet.IR;

namespace ArchNet.IR.Tests;

public sealed class ShapeInferenceTests
{
    private static Value Input(Graph g, string name, params long[] dims)
    {
        var v = new Value(name, new TensorType(ElementType.Float, Shape.Of(dims)));
        g.Inputs.Add(v);
        return v;
    }

    [Fact]
    public void Conv_StridedPadded_GivesExpectedShapeAndMacs()
    {
        var g = new Graph();
        var x = Input(g, "x", 1, 3, 224, 224);
        var w = g.AddConstant("w", TensorData.FromFloats([64, 3, 7, 7], new float[64 * 3 * 49]));
        var y = new Value("y");
        var conv = g.Add(new Node("Conv", [x, w], [y],
            [Attribute.Ints("strides", 2, 2), Attribute.Ints("pads", 3, 3, 3, 3), Attribute.Ints("kernel_shape", 7, 7)]));
        ShapeInference.Run(g);
        Assert.Equal(Shape.Of(1, 64, 112, 112), y.Shape);
        Assert.Equal(1L * 64 * 112 * 112 * 3 * 49, OpRegistry.Macs(conv));
    }

    [Fact]
    public void Reshape_WithMinusOneAndZero_ResolvesFromConstant()
    {
        var g = new Graph();
        var x = Input(g, "x", 2, 3, 4);
        var shape = g.AddConstant("shape", TensorData.FromInt64s([2], [0, -1]));
        var y = new Value("y");
        g.Add(new Node("Reshape", [x, shape], [y]));
        ShapeInference.Run(g);
        Assert.Equal(Shape.Of(2, 12), y.Shape);
    }

    [Fact]
    public void Broadcast_Add_KeepsSymbolicBatch()
    {
        var g = new Graph();
        var a = new Value("a", new TensorType(ElementType.Float, new Shape([Dim.Sym("N"), 8, 1])));
        g.Inputs.Add(a);
        var b = Input(g, "b", 1, 5);
        var y = new Value("y");
        g.Add(new Node("Add", [a, b], [y]));
        ShapeInference.Run(g);
        Assert.Equal(new Shape([Dim.Sym("N"), 8, 5]), y.Shape);
    }

    [Theory]
    [InlineData(0, 10, 1, 10, 10)]
    [InlineData(-3, 100, 1, 10, 3)]
    [InlineData(9, -11, -2, 10, 5)]
    [InlineData(5, 5, 1, 10, 0)]
    public void SliceLength_FollowsOnnxClamping(long start, long end, long step, long size, long expected)
    {
        var g = new Graph();
        var x = Input(g, "x", size);
        var y = new Value("y");
        g.Add(new Node("Slice", [x, g.AddConstant("s", TensorData.FromInt64s([1], [start])),
            g.AddConstant("e", TensorData.FromInt64s([1], [end])), g.AddConstant("a", TensorData.FromInt64s([1], [0])),
            g.AddConstant("st", TensorData.FromInt64s([1], [step]))], [y]));
        ShapeInference.Run(g);
        Assert.Equal(Shape.Of(expected), y.Shape);
    }

    [Fact]
    public void UnknownOp_IsLeftAlone()
    {
        var g = new Graph();
        var x = Input(g, "x", 4);
        var y = new Value("y");
        g.Add(new Node("FancyOp", [x], [y], domain: "com.vendor"));
        Assert.Equal(0, ShapeInference.Run(g));
        Assert.Null(y.Type);
        Assert.Equal(0, OpRegistry.Macs(g.Nodes[0]));
    }
}
