namespace ArchNet.IR;

/// <summary>Fills in output types the registry can infer. Types already known from the model are kept
/// unless inference gives a more precise (static) shape.</summary>
public static class ShapeInference
{
    /// <summary>Runs over the graph (and subgraphs) in order; returns how many values got a new or more precise type.</summary>
    public static int Run(Graph graph)
    {
        var changed = 0;
        foreach (var g in graph.SelfAndSubgraphs())
            foreach (var node in g.Nodes)
                changed += InferNode(node);
        return changed;
    }

    public static int InferNode(Node node)
    {
        if (OpRegistry.Find(node) is not { InferTypes: { } infer }) return 0;
        IReadOnlyList<TensorType?> types;
        try
        {
            types = infer(node);
        }
        catch (Exception e) when (e is IndexOutOfRangeException or ArgumentOutOfRangeException or InvalidCastException or OverflowException or DivideByZeroException)
        {
            return 0; // Malformed or unusual nodes keep their declared types; the verifier judges them.
        }
        var changed = 0;
        for (var i = 0; i < types.Count && i < node.Outputs.Count; i++)
        {
            var inferred = types[i];
            if (inferred is null || node.Outputs[i].IsAbsent) continue;
            if (node.Outputs[i].Type is TensorType known && !MorePrecise(inferred, known)) continue;
            if (node.Outputs[i].Type is OpaqueType) continue;
            node.Outputs[i].Type = inferred;
            changed++;
        }
        return changed;
    }

    private static bool MorePrecise(TensorType inferred, TensorType known)
    {
        if (known.ElementType == ElementType.Undefined && inferred.ElementType != ElementType.Undefined) return true;
        if (inferred.Shape is null) return false;
        if (known.Shape is null) return true;
        if (known.Shape.Rank != inferred.Shape.Rank) return false;
        return Enumerable.Range(0, known.Shape.Rank).Any(i => !known.Shape[i].IsKnown && inferred.Shape[i].IsKnown);
    }
}
