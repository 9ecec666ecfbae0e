using ArchNet.IR;

namespace ArchNet.Passes.Rewriting;

/// <summary>
/// Collects the replacement a rule builds: new nodes (not yet in the graph, in dependency order), new
/// constants, and which old values the new ones replace. Output types are inferred as nodes are built,
/// so the legalization driver can check the new nodes against a capability before anything changes.
/// </summary>
public sealed class RewriteBuilder
{
    private readonly NameScope _names;
    private readonly string _hint;
    private readonly List<Node> _nodes = [];
    private readonly List<Value> _constants = [];
    private readonly List<(Value Old, Value New)> _replacements = [];

    internal RewriteBuilder(Node root, NameScope names, string rule)
    {
        Root = root;
        _names = names;
        Rule = rule;
        _hint = root.Outputs.FirstOrDefault(o => !o.IsAbsent)?.Name ?? root.OpType;
    }

    public Node Root { get; }
    public string Rule { get; }
    public IReadOnlyList<Node> Nodes => _nodes;
    public IReadOnlyList<Value> Constants => _constants;
    public IReadOnlyList<(Value Old, Value New)> Replacements => _replacements;

    /// <summary>The default-domain opset the replacement needs (0 when any will do).</summary>
    public long RequiredOpset { get; private set; }

    /// <summary>Other domains the replacement uses, with the version it needs.</summary>
    public Dictionary<string, long> RequiredDomains { get; } = [];

    public void RequireOpset(long version, string domain = "")
    {
        if (domain is "" or "ai.onnx") RequiredOpset = Math.Max(RequiredOpset, version);
        else RequiredDomains[domain] = Math.Max(RequiredDomains.GetValueOrDefault(domain), version);
    }

    public Value Constant(string suffix, TensorData data)
    {
        var v = new Value(_names.Fresh($"{_hint}/{suffix}"), data.Type, data);
        _constants.Add(v);
        return v;
    }

    public Value Floats(string suffix, long[] dims, float[] values) => Constant(suffix, TensorData.FromFloats(dims, values));
    public Value Scalar(string suffix, float value) => Constant(suffix, TensorData.Scalar(value));
    public Value Int64s(string suffix, params long[] values) => Constant(suffix, TensorData.FromInt64s([values.Length], values));

    /// <summary>Adds a single-output node and returns its output (type inferred, or <paramref name="type"/> when given).</summary>
    public Value Op(string opType, IEnumerable<Value?> inputs, IEnumerable<IR.Attribute>? attributes = null,
        string domain = "", TensorType? type = null) =>
        OpN(opType, inputs, 1, attributes, domain, type is null ? null : [type])[0];

    public Value Op(string opType, params Value?[] inputs) => Op(opType, inputs, null);

    public IReadOnlyList<Value> OpN(string opType, IEnumerable<Value?> inputs, int outputs,
        IEnumerable<IR.Attribute>? attributes = null, string domain = "", IReadOnlyList<TensorType>? types = null)
    {
        var outs = Enumerable.Range(0, outputs)
            .Select(i => new Value(_names.Fresh($"{_hint}/{opType}{(outputs > 1 ? "_" + i : "")}"), types?[i])).ToList();
        var node = new Node(opType, inputs, outs, attributes, _names.Fresh($"{_hint}/{Rule}/{opType}"), domain);
        ShapeInference.InferNode(node);
        _nodes.Add(node);
        return outs;
    }

    /// <summary>Every use of <paramref name="old"/> (an output of a matched node) will read <paramref name="replacement"/>.</summary>
    public void Replace(Value old, Value replacement)
    {
        if (old.Type is TensorType { Shape: { } s } && replacement.Type is TensorType { Shape: null } rt)
            replacement.Type = rt with { Shape = s };
        _replacements.Add((old, replacement));
    }

    /// <summary>Undoes the uses the new nodes added, for a replacement that will not be applied.</summary>
    internal void Discard()
    {
        foreach (var n in _nodes) n.TruncateInputs(0);
    }
}

/// <summary>Allocates value and node names unique in a model (built once per pass run, not per name).</summary>
public sealed class NameScope
{
    private readonly HashSet<string> _used;

    public NameScope(Graph graph)
    {
        var root = graph;
        while (root.Parent is not null) root = root.Parent;
        _used = [.. root.SelfAndSubgraphs().SelectMany(g => g.DefinedValues().Select(v => v.Name).Concat(g.Nodes.Select(n => n.Name)))];
    }

    public string Fresh(string hint)
    {
        if (_used.Add(hint)) return hint;
        for (var i = 1; ; i++)
            if (_used.Add($"{hint}_{i}")) return $"{hint}_{i}";
    }
}
