namespace ArchNet.IR;

/// <summary>
/// An SSA value: defined once (by a graph input, as a constant, or as a node output) and used by any number
/// of nodes. Uses are tracked so passes can replace a value everywhere in O(uses).
/// </summary>
public sealed class Value
{
    private readonly List<(Node Node, int Index)> _uses = [];

    public Value(string name, ValueType? type = null, TensorData? constant = null)
    {
        Name = name;
        Constant = constant;
        Type = type ?? constant?.Type;
    }

    /// <summary>Empty for an omitted optional node output.</summary>
    public string Name { get; set; }

    /// <summary>Null when unknown (shape inference may fill it).</summary>
    public ValueType? Type { get; set; }

    public TensorType? TensorType => Type as TensorType;

    public Shape? Shape => TensorType?.Shape;

    public ElementType ElementType => TensorType?.ElementType ?? ElementType.Undefined;

    /// <summary>Constant contents (ONNX initializers, folded constants); null for computed values.</summary>
    public TensorData? Constant { get; set; }

    public bool IsConstant => Constant is not null;

    /// <summary>The node that computes this value; null for graph inputs and constants.</summary>
    public Node? Producer { get; internal set; }

    /// <summary>Integer representation chosen by quantization; null while the value is float.</summary>
    public QuantParams? Quant { get; set; }

    public string? DocString { get; set; }

    /// <summary>Each (node, input index) that reads this value.</summary>
    public IReadOnlyList<(Node Node, int Index)> Uses => _uses;

    public IEnumerable<Node> Users => _uses.Select(u => u.Node).Distinct();

    public bool IsAbsent => Name.Length == 0;

    internal void AddUse(Node node, int index) => _uses.Add((node, index));

    internal void RemoveUse(Node node, int index)
    {
        var i = _uses.IndexOf((node, index));
        if (i >= 0) _uses.RemoveAt(i);
    }

    public override string ToString() => "%" + Name;
}
