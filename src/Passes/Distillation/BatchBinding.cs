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
    /// The graph in a form that runs N stacked items like N runs of one (<see cref="StackedForm"/>, any count: for
    /// training), applied until disposed; null when the graph needs none (it stacks as it stands, or it is not bound
    /// to one item) or when no form exists.
    /// </summary>
    /// <param name="leading">Values read item by item (a module's outputs): the items must lead them.</param>
    /// <param name="unfixed">When null is returned for a bound graph: the first node without a stacked form.</param>
    public static StackedForm.Applied? Unbind(Graph graph, out BatchBound? unfixed, IEnumerable<Value>? leading = null, long opset = 17)
    {
        unfixed = null;
        if (ItemAxes.Of(graph, opset, leading) is not { } axes) return null;
        if (axes.Bound.Count > 0)
        {
            unfixed = axes.Bound[0];
            return null;
        }
        var form = StackedForm.For(graph, axes);
        return form.IsEmpty ? null : form.Apply();
    }
}
