using ArchNet.IR;

namespace ArchNet.Passes;

/// <summary>
/// A graph bound to one item (its batch-1 constants folded in) made to run stacked items, in place and only while
/// applied. <see cref="ItemAxes"/> says where the items go; every fix is exact on one item: the Reshapes it names read
/// targets that take the items, and a constant it says is joined to the items (a class token) is read with the items'
/// count in its item dimension, either
/// <list type="bullet">
/// <item>tiled to a fixed count, a constant of the graph while applied (for interpreters that read constants from the
/// graph and cache them: the emulator's evaluation), or</item>
/// <item>expanded to whatever count arrives by Shape/Slice/Concat/Expand nodes outside the graph, which
/// <see cref="Applied.Nodes"/> runs before the reader (for training on any batch).</item>
/// </list>
/// The graph's own constants are untouched, and what the form adds leaves with it.
/// </summary>
public sealed class StackedForm
{
    private readonly Graph _graph;
    private readonly List<(Node Node, int Index, Value Stacked)> _constants = [];
    private readonly List<(Node Node, int Index, Value Items, int Dim)> _expansions = [];

    private StackedForm(Graph graph) => _graph = graph;

    /// <summary>The form for <paramref name="items"/> stacked items, or any count when null (nothing changes until
    /// <see cref="Apply"/>); <paramref name="axes"/> must have no bound node.</summary>
    public static StackedForm For(Graph graph, ItemAxes axes, int? items = null)
    {
        if (axes.Bound.Count > 0) throw new InvalidOperationException("a graph with bound nodes has no stacked form");
        var form = new StackedForm(graph);
        foreach (var (node, target) in axes.ReshapeTargets)
            form._constants.Add((node, 1, Constant(node.Input(1)!.Name + "_stacked", TensorData.FromInt64s([target.Length], target))));
        foreach (var (node, index) in axes.Expansions)
        {
            var v = node.Inputs[index]!;
            var dim = axes.Positions[node.Outputs[0]].Dim;
            if (items is { } count) form._constants.Add((node, index, Constant(v.Name + "_stacked", Tiled(v.Constant!, dim, count), v.Quant)));
            else form._expansions.Add((node, index, node.Inputs.First(i => i is not null && axes.Positions.ContainsKey(i))!, dim));
        }
        return form;
    }

    /// <summary>True when the graph needs no change to run stacked items.</summary>
    public bool IsEmpty => _constants.Count == 0 && _expansions.Count == 0;

    /// <summary>Rewires the graph to the form (the same constants each time, so interpreters can cache them) until the
    /// result is disposed.</summary>
    public Applied Apply() => new(this);

    /// <summary>The form in place; disposing restores the graph.</summary>
    public sealed class Applied : IDisposable
    {
        private readonly StackedForm _form;
        private readonly List<(Node Node, int Index, Value? Original)> _rewired = [];
        private readonly Dictionary<Node, List<Node>> _added = [];
        private int _ints;

        internal Applied(StackedForm form)
        {
            _form = form;
            foreach (var (node, index, stacked) in form._constants)
            {
                form._graph.Constants.Add(stacked);
                Rewire(node, index, stacked);
            }
            foreach (var (node, index, items, dim) in form._expansions) Expand(node, index, items, dim);
        }

        /// <summary>The nodes to run, in order: the graph's, with the expansions before their readers.</summary>
        public IEnumerable<Node> Nodes => _form._graph.Nodes.SelectMany(n => _added.TryGetValue(n, out var before) ? [.. before, n] : new[] { n });

        /// <summary>Input <paramref name="index"/> of <paramref name="node"/>, size 1 in dimension <paramref name="dim"/>,
        /// read expanded to the count of <paramref name="items"/> there.</summary>
        private void Expand(Node node, int index, Value items, int dim)
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
            _added.TryAdd(node, []);
            _added[node].AddRange(
            [
                new Node("Shape", [items], [shape], null, shape.Name),
                new Node("Slice", [shape, Ints([dim]), Ints([dim + 1]), Ints([0])], [count], null, count.Name),
                new Node("Concat", [.. head.Length > 0 ? [Ints(head)] : Array.Empty<Value>(), count, .. tail.Length > 0 ? [Ints(tail)] : Array.Empty<Value>()],
                    [full], [ArchNet.IR.Attribute.Int("axis", 0)], full.Name),
                new Node("Expand", [v, full], [expanded], null, expanded.Name),
            ]);
            Rewire(node, index, expanded);
        }

        private Value Ints(long[] values) => new($"stacked_form_ints_{_ints++}", null, TensorData.FromInt64s([values.Length], values));

        private void Rewire(Node node, int index, Value value)
        {
            _rewired.Add((node, index, node.Input(index)));
            node.SetInput(index, value);
        }

        public void Dispose()
        {
            for (var i = _rewired.Count - 1; i >= 0; i--) _rewired[i].Node.SetInput(_rewired[i].Index, _rewired[i].Original);
            _rewired.Clear();
            foreach (var (_, _, stacked) in _form._constants) _form._graph.Constants.Remove(stacked);
            // The expansion nodes read graph values (the items, the constant): drop those uses.
            foreach (var n in _added.Values.SelectMany(l => l))
                for (var i = 0; i < n.Inputs.Count; i++) n.SetInput(i, null);
            _added.Clear();
        }
    }

    /// <summary><paramref name="data"/> (size 1 in <paramref name="dim"/>) repeated <paramref name="count"/> times along it.</summary>
    internal static TensorData Tiled(TensorData data, int dim, int count)
    {
        var raw = data.Raw.Span;
        var outer = 1L;
        for (var i = 0; i < dim; i++) outer *= data.Dims[i];
        var chunk = (int)(raw.Length / Math.Max(1, outer));
        var tiled = new byte[raw.Length * count];
        for (var o = 0; o < outer; o++)
            for (var c = 0; c < count; c++)
                raw.Slice(o * chunk, chunk).CopyTo(tiled.AsSpan((o * count + c) * chunk, chunk));
        var dims = data.Dims.ToArray();
        dims[dim] *= count;
        return new TensorData(data.ElementType, dims, tiled);
    }

    private static Value Constant(string name, TensorData data, QuantParams? quant = null) => new(name, data.Type, data) { Quant = quant };
}
