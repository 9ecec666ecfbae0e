using ArchNet.Frontend.Data;
using ArchNet.IR;
using Tensor = ArchNet.Backends.Emulation.Tensor;

namespace ArchNet.Compiler;

/// <summary>What the stages read off a model and its data: inputs, op counts, and how items are cut into runs.</summary>
public static class ModelFacts
{
    public static IReadOnlyList<InputSignature> Signatures(Model model) =>
        [.. model.Graph.Inputs.Where(i => !i.IsConstant).Select(i => new InputSignature(i.Name, i.ElementType,
            i.Shape?.Dims.Select(d => d.Value).ToArray() ?? []))];

    public static SortedDictionary<string, int> OpCounts(Model model) =>
        new(model.Graph.Nodes.GroupBy(n => n.IsDefaultDomain ? n.OpType : $"{n.Domain}.{n.OpType}")
            .ToDictionary(g => g.Key, g => g.Count()), StringComparer.Ordinal);

    /// <summary>Items per emulator run: the model's static batch size, else 32.</summary>
    public static int BatchSize(Model model) =>
        model.Graph.Inputs.Where(i => !i.IsConstant).Select(i => i.Shape is { Rank: > 0 } s && s[0].Value is { } b ? (int)b : 32).DefaultIfEmpty(32).Min();

    /// <summary>Items per ORT run of the static-shape graph: its batch dimension.</summary>
    public static int ItemsPerRun(Model model) =>
        model.Graph.Inputs.Where(i => !i.IsConstant).Select(i => i.Shape is { Rank: > 0 } s && s[0].Value is { } b ? (int)b : 1).DefaultIfEmpty(1).Min();

    /// <summary>(start, count) of each run of <paramref name="batch"/> items from <paramref name="from"/> on; a shorter last
    /// one only when <paramref name="partialLast"/> (calibration: when the graph takes any batch).</summary>
    public static List<(int Start, int Count)> SliceStarts(int items, int batch, bool partialLast, int from = 0)
    {
        var slices = new List<(int, int)>();
        for (var start = from; start < items && (partialLast || start + batch <= items); start += batch)
            slices.Add((start, Math.Min(batch, items - start)));
        return slices;
    }

    /// <summary>The items from <paramref name="from"/> on, <paramref name="batch"/> at a time (the last batch may be
    /// shorter), as emulator inputs; each batch is sliced when it is reached.</summary>
    public static IEnumerable<(int Start, int Count, Dictionary<string, Tensor> Inputs)> Batches(Dataset data, int batch, int from = 0) =>
        SliceStarts(data.Count, batch, partialLast: true, from).Select(s => (s.Start, s.Count, data.Arrays.ToDictionary(kv => kv.Key,
            kv => Tensor.FromTensorData(DataLoader.Slice(kv.Value, s.Start, s.Count)))));
}
