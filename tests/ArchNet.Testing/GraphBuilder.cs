using ArchNet.IR;
using Attribute = ArchNet.IR.Attribute;

namespace ArchNet.Testing;

/// <summary>
/// Builds small IR models for tests in a few lines:
/// <code>var b = new GraphBuilder(); var x = b.Input("x", 1, 3, 8, 8); b.Output(b.Op("Relu", x)); var model = b.Build();</code>
/// Names are generated, shapes are inferred, and the result is verified.
/// </summary>
public sealed class GraphBuilder
{
    private readonly Random _rng;
    private int _counter;

    public GraphBuilder(long opset = 17, int seed = 1234)
    {
        Model = new Model(new Graph("test")) { IrVersion = 8, ProducerName = "archnet-tests" };
        Model.SetOpset("", opset);
        _rng = new Random(seed);
    }

    public Model Model { get; }
    public Graph Graph => Model.Graph;

    public Value Input(string name, params long[] dims) => Input(name, ElementType.Float, dims);

    public Value Input(string name, ElementType type, params long[] dims)
    {
        var v = new Value(name, new TensorType(type, Shape.Of(dims)));
        Graph.Inputs.Add(v);
        return v;
    }

    public Value Const(float[] data, params long[] dims) => Graph.AddConstant(NextName("c"), TensorData.FromFloats(dims, data));

    public Value Const(TensorData data) => Graph.AddConstant(NextName("c"), data);

    public Value Ints(params long[] data) => Graph.AddConstant(NextName("i"), TensorData.FromInt64s([data.Length], data));

    public Value Scalar(float value) => Graph.AddConstant(NextName("s"), TensorData.Scalar(value));

    /// <summary>A float constant with values uniform in [lo, hi), from the builder's seeded generator.</summary>
    public Value Random(long[] dims, float lo = -1f, float hi = 1f) =>
        Const(RandomFloats(dims.Aggregate(1L, (a, d) => a * d), lo, hi), dims);

    public float[] RandomFloats(long count, float lo = -1f, float hi = 1f) =>
        [.. Enumerable.Range(0, checked((int)count)).Select(_ => lo + (hi - lo) * _rng.NextSingle())];

    /// <summary>Adds a single-output node and returns its output.</summary>
    public Value Op(string opType, params Value?[] inputs) => Op(opType, inputs, []);

    public Value Op(string opType, Value?[] inputs, params Attribute[] attributes) => Ops(opType, 1, inputs, attributes)[0];

    public Value[] Ops(string opType, int outputs, Value?[] inputs, params Attribute[] attributes)
    {
        var name = NextName(opType.ToLowerInvariant());
        var outs = Enumerable.Range(0, outputs).Select(i => new Value(outputs == 1 ? name : $"{name}_{i}")).ToArray();
        var node = Graph.Add(new Node(opType, inputs, outs, attributes, name));
        ShapeInference.InferNode(node);
        return outs;
    }

    public void Output(params Value[] values) => Graph.Outputs.AddRange(values);

    /// <summary>Infers remaining types, verifies, and returns the model.</summary>
    public Model Build()
    {
        ShapeInference.Run(Graph);
        Verifier.Verify(Model, "building the test graph");
        return Model;
    }

    private string NextName(string prefix) => $"{prefix}{_counter++}";
}
