using ArchNet.IR;

namespace ArchNet.Passes;

/// <summary>
/// Gives symbolic input dimensions concrete sizes. Chips run static shapes, and most exact rewrites need them
/// (weights built from H and W, channel offsets), so the compiler fixes them first: by name when given, else 1.
/// </summary>
public static class InputShapes
{
    /// <summary>Replaces unknown or symbolic input dims; <paramref name="sizes"/> maps input name to its full shape. Returns inputs changed.</summary>
    public static int Fix(Model model, IReadOnlyDictionary<string, long[]>? sizes = null)
    {
        var changed = 0;
        foreach (var input in model.Graph.Inputs.Where(i => !i.IsConstant))
        {
            if (input.TensorType is not { Shape: { } s } t) continue;
            long[] dims;
            if (sizes?.GetValueOrDefault(input.Name) is { } given)
            {
                if (given.Length != s.Rank)
                    throw new ArchNetException($"input '{input.Name}' has rank {s.Rank}, but the given shape [{string.Join(",", given)}] has {given.Length} dims");
                for (var i = 0; i < s.Rank; i++)
                    if (s[i].Value is { } known && known != given[i])
                        throw new ArchNetException($"input '{input.Name}' dim {i} is {known}, the given shape says {given[i]}");
                dims = given;
            }
            else if (s.IsStatic) continue;
            else dims = [.. s.Dims.Select(d => d.Value ?? 1)];
            if (s.ToArray() is { } current && current.SequenceEqual(dims)) continue;
            input.Type = t with { Shape = Shape.Of(dims) };
            changed++;
        }
        if (changed > 0)
        {
            // Types inferred from the old symbolic shapes are stale: recompute from the inputs down.
            foreach (var g in model.Graph.SelfAndSubgraphs())
                foreach (var n in g.Nodes)
                    foreach (var o in n.Outputs)
                        if (o.TensorType is { Shape: { IsStatic: false } } ot) o.Type = ot with { Shape = null };
            ShapeInference.Run(model.Graph);
        }
        return changed;
    }
}
