using ArchNet.IR;

namespace ArchNet.IR.Tests;

public sealed class GraphTests
{
    private static (Graph Graph, Value X, Node Relu, Node Neg) Chain()
    {
        var g = new Graph();
        var x = new Value("x", new TensorType(ElementType.Float, Shape.Of(1, 4)));
        g.Inputs.Add(x);
        var y = new Value("y");
        var z = new Value("z");
        var relu = g.Add(new Node("Relu", [x], [y], name: "relu"));
        var neg = g.Add(new Node("Neg", [y], [z], name: "neg"));
        g.Outputs.Add(z);
        return (g, x, relu, neg);
    }

    [Fact]
    public void Uses_AreTracked_AndFollowReplaceAllUses()
    {
        var (g, x, relu, neg) = Chain();
        Assert.Equal([(relu, 0)], x.Uses);
        g.ReplaceAllUses(relu.Outputs[0], x);
        Assert.Equal(2, x.Uses.Count);
        Assert.Empty(relu.Outputs[0].Uses);
        Assert.Same(x, neg.Inputs[0]);
    }

    [Fact]
    public void RemoveDeadCode_DropsUnreadNodes()
    {
        var (g, x, relu, _) = Chain();
        g.ReplaceAllUses(relu.Outputs[0], x);
        Assert.Equal(1, g.RemoveDeadCode());
        Assert.Equal(["Neg"], g.Nodes.Select(n => n.OpType));
        Assert.Empty(Verifier.Check(g));
    }

    [Fact]
    public void SortTopologically_FixesOrder_AndNamesACycle()
    {
        var g = new Graph();
        var x = new Value("x", new TensorType(ElementType.Float, Shape.Of(2)));
        g.Inputs.Add(x);
        var a = new Value("a");
        var b = new Value("b");
        var second = new Node("Neg", [a], [b], name: "second");
        var first = new Node("Relu", [x], [a], name: "first");
        g.Add(second);
        g.Add(first);
        g.Outputs.Add(b);
        Assert.Contains("not defined before it", Verifier.Check(g).Single());
        g.SortTopologically();
        Assert.Equal(["first", "second"], g.Nodes.Select(n => n.Name));
        Assert.Empty(Verifier.Check(g));

        first.SetInput(0, b); // first now reads second's output: a cycle
        var e = Assert.Throws<ArchNetException>(g.SortTopologically);
        Assert.Contains("cycle", e.Message);
    }

    [Fact]
    public void Verifier_RejectsDoubleDefinitionAndUndefinedOutput()
    {
        var (g, x, _, _) = Chain();
        g.Inputs.Add(new Value("y", x.Type));
        g.Outputs.Add(new Value("nowhere"));
        var problems = Verifier.Check(g);
        Assert.Contains(problems, p => p.Contains("'y' is defined twice"));
        Assert.Contains(problems, p => p.Contains("'nowhere' is never defined"));
    }

    [Fact]
    public void Verifier_RejectsARequiredInputLeftOut_AndAnAxisOutsideTheRank()
    {
        var g = new Graph();
        var x = new Value("x", new TensorType(ElementType.Float, Shape.Of(1, 4)));
        g.Inputs.Add(x);
        Value Out(string name, string op, Value?[] inputs, params Attribute[] attributes)
        {
            var v = new Value(name);
            g.Add(new Node(op, inputs, [v], attributes, name));
            return v;
        }
        Out("blank", "Add", [x, null]);
        Out("short", "Mul", [x]);
        Out("flat", "Flatten", [x], Attribute.Int("axis", 2));      // [-2, 2] for rank 2: fine
        Out("soft", "Softmax", [x], Attribute.Int("axis", 2));      // [-2, 1]: out
        Out("cat", "Concat", [x], Attribute.Int("axis", -3));       // out
        var problems = Verifier.Check(g);
        Assert.Contains("node 'blank' (Add) needs 2 input(s), and input 1 is left blank", problems);
        Assert.Contains("node 'short' (Mul) needs 2 input(s), and input 1 is missing (it has 1)", problems);
        Assert.Contains("node 'soft' (Softmax): axis 2 is outside [-2, 1] for its rank-2 input", problems);
        Assert.Contains("node 'cat' (Concat): axis -3 is outside [-2, 1] for its rank-2 input", problems);
        Assert.Equal(4, problems.Count);
    }

    [Fact]
    public void Verifier_RejectsOperandsThatDisagreeOnTheReducedDimension()
    {
        var g = new Graph();
        Value In(string name, params long[] dims)
        {
            var v = new Value(name, new TensorType(ElementType.Float, Shape.Of(dims)));
            g.Inputs.Add(v);
            return v;
        }
        void Op(string name, string op, Value[] inputs, params Attribute[] attributes) =>
            g.Add(new Node(op, inputs, [new Value(name)], attributes, name));
        var image = In("image", 1, 6, 8, 8);
        Op("conv_ok", "Conv", [image, In("w3", 4, 3, 3, 3)], Attribute.Int("group", 2));
        Op("conv_bad", "Conv", [image, In("w4", 4, 4, 3, 3)], Attribute.Int("group", 2));
        Op("conv_groups", "Conv", [image, In("w5", 5, 2, 3, 3)], Attribute.Int("group", 3));
        Op("conv_zero", "Conv", [image, In("w6", 4, 6, 3, 3)], Attribute.Int("group", 0));
        Op("matmul_ok", "MatMul", [In("a", 2, 5, 7), In("b", 7, 3)]);
        Op("matmul_bad", "MatMul", [In("c", 5, 7), In("d", 6, 3)]);
        Op("gemm_ok", "Gemm", [In("e", 5, 7), In("f", 3, 7)], Attribute.Int("transB", 1));
        Op("gemm_bad", "Gemm", [In("h", 5, 7), In("i", 3, 7)]);
        var problems = Verifier.Check(g);
        Assert.Equal([
            "node 'conv_bad' (Conv): its input has 6 channels, its weight takes 4 per group x 2 group(s)",
            "node 'conv_groups' (Conv): its 5 filters do not divide into 3 groups",
            "node 'conv_zero' (Conv): group 0 is not a positive count",
            "node 'matmul_bad' (MatMul): A has 7 columns, B has 6 rows",
            "node 'gemm_bad' (Gemm): A has 7 columns, B has 3 rows (after transA/transB)",
        ], problems);
    }

    [Fact]
    public void FreshName_AvoidsExistingNames()
    {
        var (g, _, _, _) = Chain();
        Assert.Equal("y_1", g.FreshName("y"));
        Assert.Equal("w", g.FreshName("w"));
    }
}
