using ArchNet.IR;
using ArchNet.Passes.Distillation.Lowering;
using ArchNet.Testing;
using Attribute = ArchNet.IR.Attribute;
using static TorchSharp.torch;

namespace ArchNet.Passes.Distillation.Tests;

public sealed class GraphModuleTests
{
    [Fact]
    public void Constants_WeightsBecomeParameters_StatisticsAndScalarsBecomeBuffers()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 2, 4, 4);
        var w = b.Random([3, 2, 3, 3]);
        var (scale, bias, mean, variance) = (b.Random([3]), b.Random([3]), b.Random([3]), b.Random([3], 0.5f, 1f));
        var conv = b.Op("Conv", [x, w], Attribute.Ints("pads", 1, 1, 1, 1));
        var bn = b.Op("BatchNormalization", conv, scale, bias, mean, variance);
        b.Output(b.Op("Mul", bn, b.Scalar(2f)));
        var model = b.Build();

        using var module = new GraphModule(model);

        Assert.Equal(new HashSet<Value> { w, scale, bias }, module.ValueParameters.Keys.ToHashSet());
        Assert.Equal(6, module.ValueTensors.Count);
        Assert.Equal(3, module.parameters().Count());
        Assert.Equal(3, module.buffers().Count());
    }

    [Fact]
    public void Block_LowersInteriorNodes_WithExplicitBoundary()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 2, 4);
        var first = b.Op("Relu", x);
        var second = b.Op("Mul", first, b.Scalar(3f));
        var third = b.Op("Sigmoid", second);
        b.Output(third);
        var model = b.Build();
        var interior = model.Graph.Nodes.Skip(1).ToList(); // Mul and Sigmoid, fed by the Relu's output

        using var block = new GraphModule(interior, [first], [second, third]);
        using var scope = NewDisposeScope();
        var outs = block.forward([tensor(new float[] { 0, 1, 2, 3, -1, -2, 0.5f, 4 }, [2, 4])]);

        Assert.Equal(new float[] { 0, 3, 6, 9, -3, -6, 1.5f, 12 }, outs[0].data<float>().ToArray());
        Assert.Equal(1 / (1 + Math.Exp(-3)), outs[1][0, 1].item<float>(), 5);
    }

    [Fact]
    public void Block_ReadingAValueFromOutside_IsRejected_NamingNodeAndValue()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 2, 4);
        var first = b.Op("Relu", x);
        b.Output(b.Op("Sigmoid", first));
        var model = b.Build();

        var e = Assert.Throws<ArchNetException>(() => new GraphModule(model.Graph.Nodes.Skip(1), [x], model.Graph.Outputs));

        Assert.Contains(first.Name, e.Message);
        Assert.Contains("Sigmoid", e.Message);
    }

    [Fact]
    public void UnsupportedOp_IsReported_ByCanLowerAndConstructor()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 2, 4, 4);
        b.Output(b.Op("Resize", x));
        var model = b.Build();
        var node = model.Graph.Nodes[0];

        Assert.False(GraphModule.CanLower(node, out var reason));
        Assert.Contains("Resize", reason);
        var e = Assert.Throws<ArchNetException>(() => new GraphModule(model));
        Assert.Contains(node.DisplayName, e.Message);
    }

    [Fact]
    public void Parameters_ReceiveGradients_AndTrainingChangesThem()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 4, 3);
        var w = b.Random([2, 3]);
        b.Output(b.Op("Gemm", [x, w, b.Random([2])], Attribute.Int("transB", 1)));
        var model = b.Build();
        using var module = new GraphModule(model);
        using var optimizer = optim.SGD(module.parameters(), 0.1);
        var before = TorchTensors.ToData(module.ValueParameters[w]).ToFloats();

        using (NewDisposeScope())
        {
            var y = module.forward([ones(4, 3)])[0];
            y.sum().backward();
            optimizer.step();
        }

        var after = TorchTensors.ToData(module.ValueParameters[w]).ToFloats();
        // d(sum)/dW = sum over the batch of x = 4 for every entry; SGD moves each weight by -0.4.
        Assert.All(before.Zip(after), p => Assert.Equal(p.First - 0.4f, p.Second, 5));
    }

    [Fact]
    public void CopyParametersToGraph_StoresTrainedValuesInTheConstants()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 3);
        var w = b.Random([3, 2]);
        b.Output(b.Op("MatMul", x, w));
        var model = b.Build();
        using var module = new GraphModule(model);
        using (no_grad()) module.ValueParameters[w].fill_(0.25f);

        module.CopyParametersToGraph();

        Assert.Equal(Enumerable.Repeat(0.25f, 6), w.Constant!.ToFloats());
        Assert.Equal([3L, 2L], w.Constant.Dims.ToArray());
    }
}
