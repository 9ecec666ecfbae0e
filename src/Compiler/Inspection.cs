using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Passes;
using ArchNet.Passes.Canonicalization;

namespace ArchNet.Compiler;

/// <summary><c>archnetc inspect</c> as a library call: the model's interface, op histogram, parameters and estimated MACs.</summary>
public static class Inspection
{
    /// <param name="sizes">Sizes of symbolic dimensions, so that MACs count the sizes the model will run at (the others
    /// are taken as 1).</param>
    public static ModelStatistics Measure(string path, IReadOnlyDictionary<string, long> sizes)
    {
        var bytes = OnnxImporter.ReadFile(path);
        var model = OnnxImporter.Load(bytes, path);
        if (sizes.Count > 0) InputShapes.Bind(model, sizes);
        AdoptFoldedShapes(model, bytes, path, sizes);
        return ModelStatistics.Measure(model);
    }

    /// <summary>
    /// MACs need the shapes of MatMul and Conv operands, which models exported with dynamic axes compute at run
    /// time (Shape → Gather → Concat → Reshape). A second copy, given static inputs (the sizes given, else symbolic dims = 1, as
    /// <see cref="ModelStatistics.Measure"/> assumes) and canonicalized, has those shapes; they are copied back by
    /// value name where the model's own are unknown. The model itself is not rewritten, so the histogram is the file's.
    /// </summary>
    private static void AdoptFoldedShapes(Model model, byte[] bytes, string path, IReadOnlyDictionary<string, long> sizes)
    {
        Model folded;
        try
        {
            folded = OnnxImporter.Load(bytes, path);
            if (sizes.Count > 0) InputShapes.Bind(folded, sizes);
            InputShapes.Fix(folded);
            Canonicalize.Run(folded, new PassContext(SilentDiagnostics.Instance));
        }
        catch (ArchNetException)
        {
            return; // Estimates stay partial; inspect describes models the passes cannot handle too.
        }
        var shapes = folded.Graph.SelfAndSubgraphs().SelectMany(g => g.DefinedValues())
            .Where(v => !v.IsAbsent && v.TensorType is { Shape.IsStatic: true })
            .GroupBy(v => v.Name, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.First().TensorType!, StringComparer.Ordinal);
        // The interface is reported as declared, so graph outputs keep their own (symbolic) types.
        var outputs = model.Graph.Outputs.ToHashSet();
        foreach (var v in model.Graph.SelfAndSubgraphs().SelectMany(g => g.Nodes).SelectMany(n => n.Outputs))
        {
            if (v.IsAbsent || outputs.Contains(v) || v.Type is OpaqueType || v.TensorType is { Shape.IsStatic: true }) continue;
            if (shapes.TryGetValue(v.Name, out var t) && (v.TensorType is null || v.TensorType.ElementType == t.ElementType || v.ElementType == ElementType.Undefined))
                v.Type = t;
        }
    }
}
