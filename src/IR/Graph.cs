namespace ArchNet.IR;

/// <summary>
/// A computation graph: inputs, constants, nodes in topological order, outputs. A subgraph (If/Loop/Scan body)
/// has <see cref="Parent"/> set and may read values of enclosing graphs.
/// </summary>
public sealed class Graph
{
    private readonly List<Node> _nodes = [];

    public Graph(string name = "main") => Name = name;

    public string Name { get; set; }
    public string? DocString { get; set; }
    public Graph? Parent { get; set; }

    /// <summary>Values supplied by the caller. (IR version 3 models may list constants here too.)</summary>
    public List<Value> Inputs { get; } = [];
    public List<Value> Outputs { get; } = [];

    /// <summary>Constant values that no node produces (ONNX initializers), in a stable order.</summary>
    public List<Value> Constants { get; } = [];

    public IReadOnlyList<Node> Nodes => _nodes;

    /// <summary>Frontend-owned bits with no IR meaning that must survive a round trip (sparse initializers, quantization annotations, ...).</summary>
    public Dictionary<string, object> Extensions { get; } = new(StringComparer.Ordinal);

    public Node Add(Node node)
    {
        Adopt(node);
        _nodes.Add(node);
        return node;
    }

    /// <summary>Inserts <paramref name="node"/> just before <paramref name="anchor"/>.</summary>
    public Node InsertBefore(Node anchor, Node node)
    {
        var i = IndexOf(anchor);
        Adopt(node);
        _nodes.Insert(i, node);
        return node;
    }

    /// <summary>Inserts <paramref name="node"/> just after <paramref name="anchor"/>.</summary>
    public Node InsertAfter(Node anchor, Node node)
    {
        var i = IndexOf(anchor);
        Adopt(node);
        _nodes.Insert(i + 1, node);
        return node;
    }

    /// <summary>Removes a node and its input uses. Its outputs must be unused (or reconnected by the caller first).</summary>
    public void Remove(Node node)
    {
        if (!_nodes.Remove(node)) throw new InvalidOperationException($"{node} is not in graph {Name}");
        node.DetachInputs();
        node.Graph = null;
    }

    /// <summary>Every use of <paramref name="old"/> (node inputs here and in subgraphs, graph outputs) now reads <paramref name="replacement"/>.</summary>
    public void ReplaceAllUses(Value old, Value replacement)
    {
        foreach (var (node, index) in old.Uses.ToList()) node.SetInput(index, replacement);
        for (var i = 0; i < Outputs.Count; i++)
            if (Outputs[i] == old) Outputs[i] = replacement;
    }

    /// <summary>Reorders nodes topologically (stable: keeps the current order where it is already valid).
    /// Throws naming a node on the cycle when there is one.</summary>
    public void SortTopologically()
    {
        var position = new Dictionary<Node, int>();
        for (var i = 0; i < _nodes.Count; i++) position[_nodes[i]] = i;
        var state = new Dictionary<Node, int>(); // 1 = visiting, 2 = done
        var order = new List<Node>(_nodes.Count);
        foreach (var root in _nodes) Visit(root);
        _nodes.Clear();
        _nodes.AddRange(order);

        void Visit(Node start)
        {
            if (state.GetValueOrDefault(start) == 2) return;
            // Iterative DFS: deep graphs (thousands of nodes) must not overflow the stack.
            var stack = new Stack<(Node Node, IEnumerator<Node> Deps)>();
            state[start] = 1;
            stack.Push((start, Dependencies(start).GetEnumerator()));
            while (stack.Count > 0)
            {
                var (node, deps) = stack.Peek();
                if (deps.MoveNext())
                {
                    var dep = deps.Current;
                    switch (state.GetValueOrDefault(dep))
                    {
                        case 1:
                            throw new ArchNetException(
                                $"graph '{Name}' has a cycle through node '{dep.DisplayName}' ({dep.OpType})");
                        case 0:
                            state[dep] = 1;
                            stack.Push((dep, Dependencies(dep).GetEnumerator()));
                            break;
                    }
                }
                else
                {
                    stack.Pop();
                    state[node] = 2;
                    order.Add(node);
                }
            }
        }

        IEnumerable<Node> Dependencies(Node n) =>
            ReadValues(n).Select(v => v.Producer).OfType<Node>()
                .Where(p => position.ContainsKey(p)).OrderBy(p => position[p]);
    }

    /// <summary>Values a node reads, including outer-scope values read inside its subgraphs.</summary>
    public static IEnumerable<Value> ReadValues(Node node)
    {
        foreach (var v in node.Inputs)
            if (v is not null) yield return v;
        foreach (var sub in node.Subgraphs)
            foreach (var v in sub.OuterReads())
                yield return v;
    }

    /// <summary>Values read in this graph (or nested ones) that are defined outside it.</summary>
    public IEnumerable<Value> OuterReads()
    {
        var defined = new HashSet<Value>(Inputs.Concat(Constants).Concat(_nodes.SelectMany(n => n.Outputs)));
        var seen = new HashSet<Value>();
        foreach (var node in _nodes)
            foreach (var v in ReadValues(node))
                if (!defined.Contains(v) && seen.Add(v))
                    yield return v;
        foreach (var v in Outputs)
            if (!defined.Contains(v) && seen.Add(v))
                yield return v;
    }

    /// <summary>This graph and every subgraph nested in it, depth first.</summary>
    public IEnumerable<Graph> SelfAndSubgraphs()
    {
        yield return this;
        foreach (var node in _nodes)
            foreach (var sub in node.Subgraphs)
                foreach (var g in sub.SelfAndSubgraphs())
                    yield return g;
    }

    /// <summary>Every value defined in this graph: inputs, constants, node outputs.</summary>
    public IEnumerable<Value> DefinedValues() =>
        Inputs.Concat(Constants).Concat(_nodes.SelectMany(n => n.Outputs)).Distinct();

    /// <summary>A value name not used anywhere in the graph, built from <paramref name="hint"/>.</summary>
    public string FreshName(string hint)
    {
        var root = this;
        while (root.Parent is not null) root = root.Parent;
        var used = root.SelfAndSubgraphs().SelectMany(g => g.DefinedValues().Select(v => v.Name)
            .Concat(g._nodes.Select(n => n.Name))).ToHashSet();
        if (!used.Contains(hint)) return hint;
        for (var i = 1; ; i++)
        {
            var candidate = $"{hint}_{i}";
            if (!used.Contains(candidate)) return candidate;
        }
    }

    /// <summary>Adds a constant value (initializer) to the graph.</summary>
    public Value AddConstant(string nameHint, TensorData data)
    {
        var v = new Value(FreshName(nameHint), data.Type, data);
        Constants.Add(v);
        return v;
    }

    /// <summary>Removes nodes whose outputs nobody reads, and constants nobody reads. Returns how many were removed.</summary>
    public int RemoveDeadCode()
    {
        var removed = 0;
        var live = new HashSet<Value>(Outputs);
        for (var i = _nodes.Count - 1; i >= 0; i--)
        {
            var node = _nodes[i];
            var needed = node.Outputs.Any(o => live.Contains(o) || o.Uses.Any(u => u.Node.Graph != this));
            if (needed)
            {
                foreach (var v in ReadValues(node)) live.Add(v);
            }
            else
            {
                node.DetachInputs();
                node.Graph = null;
                _nodes.RemoveAt(i);
                removed++;
            }
        }
        removed += Constants.RemoveAll(c => !live.Contains(c) && c.Uses.Count == 0 && !Inputs.Contains(c));
        return removed;
    }

    private int IndexOf(Node anchor)
    {
        var i = _nodes.IndexOf(anchor);
        if (i < 0) throw new InvalidOperationException($"{anchor} is not in graph {Name}");
        return i;
    }

    private void Adopt(Node node)
    {
        if (node.Graph is not null && node.Graph != this)
            throw new InvalidOperationException($"{node} already belongs to graph {node.Graph.Name}");
        node.Graph = this;
    }
}
