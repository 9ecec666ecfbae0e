using ArchNet.IR;
using ArchNet.Passes.Rewriting;
using static ArchNet.Passes.Rewriting.Patterns;

namespace ArchNet.Passes.Canonicalization;

/// <summary>
/// A chain of Reshape/Flatten/Squeeze/Unsqueeze only moves dimensions around: with a static result shape
/// it is one Reshape, and when that shape equals the chain's input shape it is nothing at all.
/// </summary>
public sealed class CollapseReshapeChain : RewriteRule
{
    private static readonly HashSet<string> ShapeOnly = ["Reshape", "Flatten", "Squeeze", "Unsqueeze"];

    public override string Name => "CollapseReshapeChain";
    public override string Summary => "Reshape/Flatten/Squeeze/Unsqueeze chains -> one Reshape (or nothing when shapes match)";
    public override IReadOnlyList<string> RootOps { get; } = [.. ShapeOnly];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (StaticShape(root.Outputs[0]) is not { } outShape || root.Input(0) is not { } input) return null;
        if (root.OpType == "Reshape" && root.GetInt("allowzero", 0) != 0) return null;
        // Walk up through shape-only producers to the chain's source.
        var matched = new List<Node> { root };
        var source = input;
        while (source.Producer is { } p && p.IsDefaultDomain && ShapeOnly.Contains(p.OpType) && p.Outputs.Count == 1
               && p.Input(0) is { } up && StaticShape(up) is not null)
        {
            matched.Insert(0, p);
            source = up;
        }
        if (StaticShape(source) is not { } inShape || inShape.Aggregate(1L, (a, d) => a * d) != outShape.Aggregate(1L, (a, d) => a * d)) return null;
        if (inShape.SequenceEqual(outShape))
        {
            if (!RemoveIdentity.CanForward(root, source)) return null;
            return new RewriteMatch(matched, b => b.Replace(root.Outputs[0], source));
        }
        if (matched.Count == 1) return null; // a single reshape-like op is already canonical
        return new RewriteMatch(matched, b =>
        {
            var y = b.Op("Reshape", [source, b.Int64s("shape", outShape)], type: new TensorType(source.ElementType, Shape.Of(outShape)));
            b.Replace(root.Outputs[0], y);
        });
    }
}

/// <summary>Two Transposes in a row compose into one, and one with the identity permutation disappears.</summary>
public sealed class CancelTransposes : RewriteRule
{
    public override string Name => "CancelTransposes";
    public override string Summary => "Transpose(Transpose(x, p), q) -> Transpose(x, p.q), identity Transpose -> x";
    public override IReadOnlyList<string> RootOps { get; } = ["Transpose"];

    public override RewriteMatch? Match(Node root, RewriteContext context)
    {
        if (root.Input(0) is not { Shape: { } s } x || root.GetInts("perm")?.ToArray() is not { } q) return null;
        if (Producer(x, "Transpose") is { } inner && inner.GetInts("perm")?.ToArray() is { } p && inner.Input(0) is { } source)
        {
            long[] composed = [.. q.Select(i => p[i])];
            if (IsIdentity(composed))
                return RemoveIdentity.CanForward(root, source) ? new RewriteMatch([inner, root], b => b.Replace(root.Outputs[0], source)) : null;
            return new RewriteMatch([inner, root], b => b.Replace(root.Outputs[0], b.Op("Transpose", [source], [Ints("perm", composed)])));
        }
        if (IsIdentity(q) && q.Length == s.Rank && RemoveIdentity.CanForward(root, x))
            return RewriteMatch.Of(root, b => b.Replace(root.Outputs[0], x));
        return null;
    }

    private static bool IsIdentity(long[] perm) => perm.Select((p, i) => p == i).All(t => t);
}
