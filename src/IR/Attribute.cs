using System.Collections.Immutable;
using System.Globalization;

namespace ArchNet.IR;

/// <summary>Attribute kinds; the numbering is ONNX's AttributeProto.AttributeType.</summary>
public enum AttributeKind
{
    Undefined = 0,
    Float = 1,
    Int = 2,
    String = 3,
    Tensor = 4,
    Graph = 5,
    SparseTensor = 11,
    TypeProto = 13,
    Floats = 6,
    Ints = 7,
    Strings = 8,
    Tensors = 9,
    Graphs = 10,
    SparseTensors = 12,
    TypeProtos = 14,
}

/// <summary>
/// A node attribute. Value holds: float, long, string, TensorData, Graph, ImmutableArray of float/long/string/
/// TensorData/Graph, or an opaque frontend object for sparse tensors and type protos.
/// RefAttrName is set inside function bodies where the value comes from the caller.
/// </summary>
public sealed record Attribute(string Name, AttributeKind Kind, object Value)
{
    public string? RefAttrName { get; init; }
    public string? DocString { get; init; }

    public static Attribute Int(string name, long v) => new(name, AttributeKind.Int, v);
    public static Attribute Float(string name, float v) => new(name, AttributeKind.Float, v);
    public static Attribute String(string name, string v) => new(name, AttributeKind.String, v);
    public static Attribute Ints(string name, params long[] v) => new(name, AttributeKind.Ints, ImmutableArray.Create(v));
    public static Attribute Floats(string name, params float[] v) => new(name, AttributeKind.Floats, ImmutableArray.Create(v));
    public static Attribute Strings(string name, params string[] v) => new(name, AttributeKind.Strings, ImmutableArray.Create(v));
    public static Attribute Tensor(string name, TensorData v) => new(name, AttributeKind.Tensor, v);
    public static Attribute Subgraph(string name, Graph v) => new(name, AttributeKind.Graph, v);

    public long AsInt() => Kind == AttributeKind.Int ? (long)Value : throw Mismatch("int");
    public float AsFloat() => Kind switch
    {
        AttributeKind.Float => (float)Value,
        AttributeKind.Int => (long)Value,
        _ => throw Mismatch("float"),
    };
    public string AsString() => Kind == AttributeKind.String ? (string)Value : throw Mismatch("string");
    public ImmutableArray<long> AsInts() => Kind switch
    {
        AttributeKind.Ints => (ImmutableArray<long>)Value,
        AttributeKind.Int => [(long)Value],
        _ => throw Mismatch("ints"),
    };
    public ImmutableArray<float> AsFloats() => Kind == AttributeKind.Floats ? (ImmutableArray<float>)Value : throw Mismatch("floats");
    public ImmutableArray<string> AsStrings() => Kind == AttributeKind.Strings ? (ImmutableArray<string>)Value : throw Mismatch("strings");
    public TensorData AsTensor() => Kind == AttributeKind.Tensor ? (TensorData)Value : throw Mismatch("tensor");
    public Graph AsGraph() => Kind == AttributeKind.Graph ? (Graph)Value : throw Mismatch("graph");

    /// <summary>Subgraphs held by this attribute (for walking nested graphs).</summary>
    public IEnumerable<Graph> Subgraphs => Kind switch
    {
        AttributeKind.Graph => [(Graph)Value],
        AttributeKind.Graphs => (ImmutableArray<Graph>)Value,
        _ => [],
    };

    private ArchNetException Mismatch(string wanted) =>
        new($"attribute '{Name}' is {Kind}, expected {wanted}");

    public string ValueText() => Kind switch
    {
        AttributeKind.Float => ((float)Value).ToString("G9", CultureInfo.InvariantCulture),
        AttributeKind.Int => ((long)Value).ToString(CultureInfo.InvariantCulture),
        AttributeKind.String => "\"" + (string)Value + "\"",
        AttributeKind.Ints => "[" + string.Join(",", (ImmutableArray<long>)Value) + "]",
        AttributeKind.Floats => "[" + string.Join(",", ((ImmutableArray<float>)Value).Select(f => f.ToString("G9", CultureInfo.InvariantCulture))) + "]",
        AttributeKind.Strings => "[" + string.Join(",", ((ImmutableArray<string>)Value).Select(s => "\"" + s + "\"")) + "]",
        AttributeKind.Tensor => "tensor " + Value,
        AttributeKind.Graph => "graph " + ((Graph)Value).Name,
        AttributeKind.Graphs => "graphs[" + ((ImmutableArray<Graph>)Value).Length + "]",
        _ => Kind.ToString(),
    };
}
