using ArchNet.IR;

namespace ArchNet.Passes;

/// <summary>
/// A graph bound to one item made to run a fixed number of stacked items, in place and only until disposed: the
/// Reshapes <see cref="ItemAxes"/> names read targets that take the items, and constants it says are concatenated to
/// the items (a class token) read copies tiled to the item count. For interpreters that read constants from the graph
/// (the emulator's evaluation); the graph's own constants are untouched, and the new ones leave with the form.
/// </summary>
public sealed class StackedConstants
{
    private readonly Graph _graph;
    private readonly List<(Node Node, int Index, Value Stacked)> _replacements = [];

    private StackedConstants(Graph graph) => _graph = graph;

    /// <summary>The form for <paramref name="items"/> stacked items (nothing changes until <see cref="Apply"/>);
    /// <paramref name="axes"/> must have no bound node.</summary>
    public static StackedConstants For(Graph graph, ItemAxes axes, int items)
    {
        if (axes.Bound.Count > 0) throw new InvalidOperationException("a graph with bound nodes has no stacked form");
        var form = new StackedConstants(graph);
        foreach (var (node, target) in axes.ReshapeTargets)
            form._replacements.Add((node, 1, Constant(node.Input(1)!.Name + "_stacked", TensorData.FromInt64s([target.Length], target))));
        foreach (var (node, index) in axes.Expansions)
        {
            var v = node.Inputs[index]!;
            var dim = axes.Positions[node.Outputs[0]].Dim;
            form._replacements.Add((node, index, Constant(v.Name + "_stacked", Tiled(v.Constant!, dim, items), v.Quant)));
        }
        return form;
    }

    /// <summary>Rewires the graph to the stacked constants (the same values each time, so interpreters can cache
    /// them) until the result is disposed.</summary>
    public IDisposable Apply() => new Applied(this);

    private sealed class Applied : IDisposable
    {
        private readonly StackedConstants _form;
        private readonly List<Value?> _originals = [];

        public Applied(StackedConstants form)
        {
            _form = form;
            foreach (var (node, index, stacked) in form._replacements)
            {
                _originals.Add(node.Input(index));
                form._graph.Constants.Add(stacked);
                node.SetInput(index, stacked);
            }
        }

        public void Dispose()
        {
            for (var i = _form._replacements.Count - 1; i >= 0; i--)
            {
                var (node, index, stacked) = _form._replacements[i];
                node.SetInput(index, _originals[i]);
                _form._graph.Constants.Remove(stacked);
            }
            _originals.Clear();
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
