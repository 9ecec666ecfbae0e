using System.Collections.Frozen;

namespace ArchNet.IR;

/// <summary>What the compiler knows about one operator: how to infer its output types and estimate its MACs.</summary>
public sealed record OpSchema(string OpType, string Domain = "")
{
    /// <summary>Output types from the node's inputs and attributes; an entry may be null when it cannot be known.</summary>
    public Func<Node, IReadOnlyList<TensorType?>>? InferTypes { get; init; }

    /// <summary>Multiply-accumulates for one execution (null when shapes are not known).</summary>
    public Func<Node, long?>? Macs { get; init; }

    /// <summary>How many leading inputs every version of the operator requires (0: not known); the verifier refuses a
    /// node that leaves one of them out, before any pass reads it.</summary>
    public int RequiredInputs { get; init; }
}

/// <summary>The operators the IR understands. Unknown operators are legal IR: they are kept and judged by the audit.</summary>
public static class OpRegistry
{
    private static readonly FrozenDictionary<string, OpSchema> Schemas =
        StandardOps.All().ToFrozenDictionary(s => Key(s.Domain, s.OpType));

    public static OpSchema? Find(string domain, string opType) =>
        Schemas.GetValueOrDefault(Key(domain is "ai.onnx" ? "" : domain, opType));

    public static OpSchema? Find(Node node) => Find(node.Domain, node.OpType);

    public static IEnumerable<OpSchema> All => Schemas.Values.OrderBy(s => s.Domain).ThenBy(s => s.OpType);

    /// <summary>MACs of a node, or null when unknown. Ops without a MAC model count 0.</summary>
    public static long? Macs(Node node) => Find(node) is { Macs: { } m } ? m(node) : 0;

    private static string Key(string domain, string op) => domain + "::" + op;
}
