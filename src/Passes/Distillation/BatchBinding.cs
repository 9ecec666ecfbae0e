using ArchNet.IR;
using ArchNet.Passes;

namespace ArchNet.Passes.Distillation;

/// <summary>
/// Chips run one item at a time, so the compile binds a symbolic batch to 1 before canonicalization; shape chains
/// (Shape -> Gather -> Concat -> Reshape) then fold into constants that carry that 1 (a Reshape to [17,4,16], a class
/// token concatenated as a [1,1,64] constant). <see cref="ItemAxes"/> finds where the items go through every node;
/// this says whether the graph as it stands runs N stacked items like N runs of one (the emulator's and the teacher's
/// question), and builds the form that does for training when only such constants stand in the way.
/// </summary>
public static class BatchBinding
{
    /// <summary>
    /// Null when <paramref name="graph"/> (single input bound to batch 1) runs N stacked items exactly like N runs of
    /// one item; otherwise the first node that ties the batch to 1, and why. A graph whose input batch is not a static 1
    /// (symbolic: the model's own contract; or a fixed batch the model was exported with) is not this analysis's case
    /// and gives null.
    /// </summary>
    public static BatchBound? FirstBound(Graph graph, long opset = 17) => Bound(graph, opset).FirstOrDefault();

    /// <summary>
    /// Every node that ties the batch to 1 as the graph stands, in graph order: nodes no placement of the items gets
    /// through, or (when there are none) the nodes whose batch-1 constants must change for the items to stack.
    /// </summary>
    public static IEnumerable<BatchBound> Bound(Graph graph, long opset = 17) => Bound(graph, ItemAxes.Of(graph, opset));

    /// <summary><see cref="Bound(Graph, long)"/> from an analysis the caller already has (null: not bound to one item).</summary>
    public static IEnumerable<BatchBound> Bound(Graph graph, ItemAxes? axes)
    {
        if (axes is null) return [];
        if (axes.Bound.Count > 0) return axes.Bound;
        var fixes = axes.ReshapeTargets.Select(kv => (Node: kv.Key, Reason:
                $"its shape constant [{string.Join(",", kv.Key.Input(1)!.Constant!.ToInt64s())}] holds one item (the items need [{string.Join(",", kv.Value)}])"))
            .Concat(axes.Expansions.Select(e => (e.Node, Reason: "it joins an operand fixed at batch 1 (a folded constant) to the items")))
            .DistinctBy(f => f.Node);
        var order = graph.Nodes.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i);
        return fixes.OrderBy(f => order[f.Node]).Select(f => new BatchBound(f.Node.DisplayName, f.Node.OpType, f.Reason)).ToList();
    }

    /// <summary>
    /// A form of <paramref name="graph"/> that runs N stacked items like N runs of one, for training only; null when
    /// the graph needs none (it stacks as it stands, or it is not bound to one item) or when no form exists. Fixes, all
    /// exact on one item: a Reshape's shape constant takes the items where <see cref="ItemAxes"/> places them (-1 or 0
    /// there); a Concat of a constant fixed at batch 1 (a class token) reads the constant expanded to the items' count.
    /// The graph itself is changed only in those nodes' inputs and only until the form is disposed; the expansion runs
    /// in nodes outside the graph.
    /// </summary>
    /// <param name="leading">Values read item by item (a module's outputs): the items must lead them.</param>
    /// <param name="unfixed">When null is returned for a bound graph: the first node without a batched form.</param>
    public static BatchedForm? Unbind(Graph graph, out BatchBound? unfixed, IEnumerable<Value>? leading = null, long opset = 17)
    {
        unfixed = null;
        if (ItemAxes.Of(graph, opset, leading) is not { } axes) return null;
        if (axes.Bound.Count > 0)
        {
            unfixed = axes.Bound[0];
            return null;
        }
        if (axes.ReshapeTargets.Count == 0 && axes.Expansions.Count == 0) return null;
        var form = new BatchedForm(graph);
        foreach (var (node, target) in axes.ReshapeTargets) form.Retarget(node, target);
        foreach (var (node, input) in axes.Expansions)
            form.Expand(node, input, node.Inputs.First(v => v is not null && axes.Positions.ContainsKey(v))!, axes.Positions[node.Outputs[0]].Dim);
        return form;
    }
}

/// <summary>A graph made to run stacked items for training (see <see cref="BatchBinding.Unbind"/>); disposing restores it.</summary>
public sealed class BatchedForm(Graph graph) : IDisposable
{
    private readonly List<(Node Node, int Index, Value? Original)> _rewired = [];

    /// <summary>Nodes outside the graph that the form runs just before a node of the graph.</summary>
    internal Dictionary<Node, List<Node>> Added { get; } = [];

    /// <summary>The nodes to run, in order: the graph's, with the form's expansions before their readers.</summary>
    public IEnumerable<Node> Nodes => graph.Nodes.SelectMany(n => Added.TryGetValue(n, out var before) ? [.. before, n] : new[] { n });

    internal void Retarget(Node node, long[] target) =>
        Rewire(node, 1, new Value(node.Input(1)!.Name + "_batched", null, TensorData.FromInt64s([target.Length], target)));

    /// <summary>Input <paramref name="index"/> of a Concat, size 1 in dimension <paramref name="dim"/>, read expanded to the items' count there.</summary>
    internal void Expand(Node node, int index, Value items, int dim)
    {
        var v = node.Inputs[index]!;
        var s = v.Shape!;
        // The items' count from their own shape, the constant's other dimensions around it: Expand to [.., N, ..].
        var shape = new Value(v.Name + "_items_shape");
        var count = new Value(v.Name + "_items");
        var full = new Value(v.Name + "_expanded_shape");
        var expanded = new Value(v.Name + "_expanded");
        long[] head = [.. s.Dims.Take(dim).Select(d => d.Value!.Value)];
        long[] tail = [.. s.Dims.Skip(dim + 1).Select(d => d.Value!.Value)];
        Added.TryAdd(node, []);
        Added[node].AddRange(
        [
            new Node("Shape", [items], [shape], null, shape.Name),
            new Node("Slice", [shape, Ints([dim]), Ints([dim + 1]), Ints([0])], [count], null, count.Name),
            new Node("Concat", [.. head.Length > 0 ? [Ints(head)] : Array.Empty<Value>(), count, .. tail.Length > 0 ? [Ints(tail)] : Array.Empty<Value>()],
                [full], [ArchNet.IR.Attribute.Int("axis", 0)], full.Name),
            new Node("Expand", [v, full], [expanded], null, expanded.Name),
        ]);
        Rewire(node, index, expanded);
    }

    private Value Ints(long[] values) => new($"batched_form_ints_{_constants++}", null, TensorData.FromInt64s([values.Length], values));

    private int _constants;

    private void Rewire(Node node, int index, Value value)
    {
        _rewired.Add((node, index, node.Input(index)));
        node.SetInput(index, value);
    }

    public void Dispose()
    {
        for (var i = _rewired.Count - 1; i >= 0; i--) _rewired[i].Node.SetInput(_rewired[i].Index, _rewired[i].Original);
        _rewired.Clear();
        // The expansion nodes read graph values (the items, the constant): drop those uses.
        foreach (var n in Added.Values.SelectMany(l => l))
            for (var i = 0; i < n.Inputs.Count; i++) n.SetInput(i, null);
        Added.Clear();
    }
}
