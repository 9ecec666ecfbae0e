using System.Collections.Immutable;

namespace ArchNet.IR;

/// <summary>
/// An operator application. Inputs may be null for omitted optional inputs. Mutate inputs only through
/// <see cref="SetInput"/> and friends so that use lists stay correct.
/// </summary>
public sealed class Node
{
    private readonly List<Value?> _inputs = [];
    private readonly List<Value> _outputs = [];

    public Node(string opType, IEnumerable<Value?> inputs, IEnumerable<Value> outputs,
        IEnumerable<Attribute>? attributes = null, string name = "", string domain = "")
    {
        OpType = opType;
        Domain = domain;
        Name = name;
        foreach (var v in inputs) AppendInput(v);
        foreach (var v in outputs) AppendOutput(v);
        foreach (var a in attributes ?? []) Attributes[a.Name] = a;
    }

    public string Name { get; set; }
    public string OpType { get; set; }
    /// <summary>"" is the default ONNX domain (ai.onnx).</summary>
    public string Domain { get; set; }
    public string? Overload { get; set; }
    public string? DocString { get; set; }
    public List<KeyValuePair<string, string>> Metadata { get; } = [];

    /// <summary>Attributes by name, sorted so that dumps and exports are deterministic.</summary>
    public SortedDictionary<string, Attribute> Attributes { get; } = new(StringComparer.Ordinal);

    public IReadOnlyList<Value?> Inputs => _inputs;
    public IReadOnlyList<Value> Outputs => _outputs;

    /// <summary>The graph this node belongs to, once added.</summary>
    public Graph? Graph { get; internal set; }

    /// <summary>Name to show users: the node's name, or its op and first output when unnamed.</summary>
    public string DisplayName => Name.Length > 0 ? Name : $"{OpType}->{_outputs.FirstOrDefault()?.Name}";

    public bool IsDefaultDomain => Domain is "" or "ai.onnx";

    public Value? Input(int i) => i < _inputs.Count ? _inputs[i] : null;

    public void SetInput(int index, Value? value)
    {
        _inputs[index]?.RemoveUse(this, index);
        _inputs[index] = value;
        value?.AddUse(this, index);
    }

    public void AppendInput(Value? value)
    {
        _inputs.Add(value);
        value?.AddUse(this, _inputs.Count - 1);
    }

    /// <summary>Drops trailing inputs from <paramref name="count"/> on.</summary>
    public void TruncateInputs(int count)
    {
        for (var i = _inputs.Count - 1; i >= count; i--)
        {
            _inputs[i]?.RemoveUse(this, i);
            _inputs.RemoveAt(i);
        }
    }

    public void AppendOutput(Value value)
    {
        if (value.Producer is not null && value.Producer != this)
            throw new InvalidOperationException($"value {value} already produced by {value.Producer.DisplayName}");
        _outputs.Add(value);
        value.Producer = this;
    }

    /// <summary>Disconnects the node from its inputs (used when it is removed from a graph).</summary>
    internal void DetachInputs()
    {
        for (var i = 0; i < _inputs.Count; i++) _inputs[i]?.RemoveUse(this, i);
    }

    internal void ReattachInputs()
    {
        for (var i = 0; i < _inputs.Count; i++) _inputs[i]?.AddUse(this, i);
    }

    public Attribute? Attr(string name) => Attributes.GetValueOrDefault(name);
    public bool HasAttr(string name) => Attributes.ContainsKey(name);
    public long GetInt(string name, long fallback) => Attr(name) is { } a ? Read(a.AsInt) : fallback;
    public float GetFloat(string name, float fallback) => Attr(name) is { } a ? Read(a.AsFloat) : fallback;
    public string GetString(string name, string fallback) => Attr(name) is { } a ? Read(a.AsString) : fallback;
    public ImmutableArray<long>? GetInts(string name) => Attr(name) is { } a ? Read(a.AsInts) : null;

    /// <summary>An attribute's value of the kind asked for; one of another kind (a model with kernel_shape as floats)
    /// is refused naming this node.</summary>
    private T Read<T>(Func<T> read)
    {
        try
        {
            return read();
        }
        catch (ArchNetException e)
        {
            throw new ArchNetException($"node '{DisplayName}' ({OpType}): {e.Message}", e.ExitCode, e);
        }
    }

    public void SetAttr(Attribute a) => Attributes[a.Name] = a;

    public IEnumerable<Graph> Subgraphs => Attributes.Values.SelectMany(a => a.Subgraphs);

    public override string ToString() => $"{DisplayName} ({OpType})";
}
