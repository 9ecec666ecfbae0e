using ArchNet.IR;

namespace ArchNet.Capabilities;

/// <summary>
/// Gives symbolic input dimensions (batch, sequence, ...) a size so that shapes, limits and MACs can be judged.
/// A model exported with dynamic axes otherwise has unknown MACs and fails every shape-dependent constraint
/// with "symbolic"; auditing it "at batch 1, sequence 128" is what a deployment engineer means anyway.
/// </summary>
public static class SymbolicDims
{
    /// <summary>Replaces each symbolic dimension of the graph's inputs named in <paramref name="sizes"/> (the key "*"
    /// covers every other symbol and unknown dimension), then reruns shape inference. Returns the symbols bound.</summary>
    public static IReadOnlyList<string> Bind(Model model, IReadOnlyDictionary<string, long> sizes)
    {
        var bound = new SortedSet<string>(StringComparer.Ordinal);
        var fallback = sizes.TryGetValue("*", out var f) ? f : (long?)null;
        foreach (var input in model.Graph.Inputs)
        {
            if (input.IsConstant || input.TensorType is not { Shape: { } shape } t || shape.IsStatic) continue;
            var dims = shape.Dims.Select(d =>
            {
                if (d.IsKnown) return d;
                if (d.Symbol is { } s && sizes.TryGetValue(s, out var v)) { bound.Add(s); return Dim.Of(v); }
                if (fallback is { } any) { bound.Add(d.Symbol ?? "?"); return Dim.Of(any); }
                return d;
            });
            input.Type = t with { Shape = new Shape(dims) };
        }
        ShapeInference.Run(model.Graph);
        return [.. bound];
    }

    /// <summary>Parses <c>NAME=N</c> pairs as given on the command line.</summary>
    public static Dictionary<string, long> Parse(IEnumerable<string> pairs)
    {
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var pair in pairs)
        {
            var eq = pair.LastIndexOf('=');
            if (eq <= 0 || !long.TryParse(pair[(eq + 1)..], out var value) || value < 1)
                throw new ArchNetException($"--dim expects NAME=SIZE with SIZE >= 1 (NAME may be * for every symbolic dimension), found '{pair}'");
            result[pair[..eq]] = value;
        }
        return result;
    }
}
