using ArchNet.IR;
using ArchNet.Passes.Quantization;

namespace ArchNet.Compiler;

/// <summary>
/// Per-layer fidelity of the values the chip writes, each compared with the float value as the chip computes it: a
/// value folded into its ReLU/Clip consumer holds that consumer's integers (the consumer is compared instead), and a
/// value whose every use reaches a ReLU (<see cref="Rectification"/>) is compared after that ReLU, since the negatives
/// its unsigned format saturates are the ones the ReLU removes. So a row's loss is information the chip loses.
/// </summary>
internal sealed class LayerComparison
{
    private sealed record Row(int Position, int Bits, bool Rectified)
    {
        public Agreement Agreement { get; } = new();
    }

    private readonly Dictionary<string, Row> _rows = new(StringComparer.Ordinal);

    public LayerComparison(Graph graph)
    {
        for (var i = 0; i < graph.Nodes.Count; i++)
            foreach (var v in graph.Nodes[i].Outputs)
            {
                if (v.Quant is not { } q || FoldedIntoConsumer(v)) continue;
                Values.Add(v);
                _rows.TryAdd(v.Name, new Row(i, q.Bits, !q.Signed && Rectification.RectifiedDownstream(graph, v)));
            }
    }

    /// <summary>The values compared (the emulator keeps them, the float reference computes them).</summary>
    public HashSet<Value> Values { get; } = [];

    private static bool FoldedIntoConsumer(Value v) =>
        v.Uses.Count == 1 && v.Uses[0].Node.OpType is "Relu" or "Clip" && v.Uses[0].Node.Outputs[0].Quant == v.Quant;

    /// <summary>Adds items of value <paramref name="name"/>: the float reference and the compiled value's real numbers in
    /// <paramref name="format"/>, which carry <paramref name="offset"/> on top of the reference's.</summary>
    public void Add(string name, float[] reference, ReadOnlySpan<float> compiled, QuantParams? format, double offset)
    {
        if (!_rows.TryGetValue(name, out var row)) return;
        if (row.Rectified) for (var i = 0; i < reference.Length; i++) reference[i] = Math.Max(0f, reference[i]);
        row.Agreement.Add(reference, compiled, format, offset);
    }

    /// <summary>The rows measured, worst (lowest SQNR) first.</summary>
    public List<LayerFidelity> Results() =>
        [.. _rows.Where(kv => kv.Value.Agreement.Count > 0)
            .Select(kv => new LayerFidelity(kv.Key, Math.Round(kv.Value.Agreement.Cosine, 6), Math.Round(kv.Value.Agreement.SqnrDb, 3),
                Math.Round(kv.Value.Agreement.Clipped, 6)) { Bits = kv.Value.Bits, Position = kv.Value.Position, AfterRelu = kv.Value.Rectified })
            .OrderBy(l => l.SqnrDb).ThenBy(l => l.Value, StringComparer.Ordinal)];
}
