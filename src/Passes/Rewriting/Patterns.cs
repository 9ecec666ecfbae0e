using ArchNet.IR;

namespace ArchNet.Passes.Rewriting;

/// <summary>Small questions rules ask while matching. Each returns null/false rather than throwing.</summary>
public static class Patterns
{
    /// <summary>The node producing <paramref name="v"/> when it has op type <paramref name="op"/> in the default domain.</summary>
    public static Node? Producer(Value? v, string op) =>
        v?.Producer is { } p && p.OpType == op && p.IsDefaultDomain ? p : null;

    /// <summary>True when the only reader of <paramref name="v"/> is <paramref name="reader"/> and it is not a graph output.</summary>
    public static bool OnlyUsedBy(Value v, Node reader) =>
        v.Uses.All(u => u.Node == reader) && (v.Producer?.Graph ?? reader.Graph)?.Outputs.Contains(v) != true;

    /// <summary>True when every reader of <paramref name="v"/> is one of <paramref name="readers"/> and it is not a graph output.</summary>
    public static bool OnlyUsedWithin(Value v, IReadOnlyCollection<Node> readers) =>
        v.Uses.All(u => readers.Contains(u.Node)) && (v.Producer?.Graph)?.Outputs.Contains(v) != true;

    public static float[]? ConstFloats(Value? v) =>
        v?.Constant is { ElementType: ElementType.Float } c ? c.ToFloats() : null;

    /// <summary>The value of a float constant holding one element (any rank), or null.</summary>
    public static float? ScalarFloat(Value? v) =>
        v?.Constant is { ElementType: ElementType.Float, ElementCount: 1 } c ? c.ToFloats()[0] : null;

    public static bool IsScalar(Value? v, float expected, float tolerance = 0) =>
        ScalarFloat(v) is { } f && Math.Abs(f - expected) <= tolerance;

    public static long[]? ConstInts(Value? v) =>
        v?.Constant is { } c && c.ElementType.IsInteger() ? c.ToInt64s() : null;

    public static long[]? StaticShape(Value? v) => v?.Shape?.ToArray();

    public static bool IsFloat(Value? v) => v?.ElementType == ElementType.Float;

    /// <summary>A float NCHW tensor with static shape.</summary>
    public static long[]? Nchw(Value? v) => IsFloat(v) && StaticShape(v) is { Length: 4 } s ? s : null;

    /// <summary>Attribute ints, or a default of <paramref name="count"/> copies of <paramref name="fallback"/>.</summary>
    public static long[] Ints(Node n, string name, int count, long fallback) =>
        n.GetInts(name)?.ToArray() ?? [.. Enumerable.Repeat(fallback, count)];

    /// <summary>True when the node's attributes are exactly a subset of <paramref name="allowed"/> (unknown attributes block rules).</summary>
    public static bool OnlyAttributes(Node n, params string[] allowed) => n.Attributes.Keys.All(allowed.Contains);

    /// <summary>Normalized axes of a Reduce* node (attribute or constant input), or null.</summary>
    public static long[]? ReduceAxes(Node n)
    {
        var rank = n.Input(0)?.Shape?.Rank;
        var axes = n.GetInts("axes")?.ToArray() ?? ConstInts(n.Input(1));
        if (axes is null || rank is null) return null;
        return [.. axes.Select(a => a < 0 ? a + rank.Value : a).Order()];
    }

    public static IR.Attribute Ints(string name, params long[] v) => IR.Attribute.Ints(name, v);
    public static IR.Attribute Int(string name, long v) => IR.Attribute.Int(name, v);
    public static IR.Attribute Float(string name, float v) => IR.Attribute.Float(name, v);
}
