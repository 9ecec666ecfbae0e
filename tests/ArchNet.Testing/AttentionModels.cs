using ArchNet.IR;
using Attribute = ArchNet.IR.Attribute;

namespace ArchNet.Testing;

/// <summary>Attention blocks as exporters write them, bound to one item, for the batching analyses' tests.</summary>
public static class AttentionModels
{
    /// <summary>
    /// Self-attention as PyTorch's MultiheadAttention exports it, bound to batch 1: sequence-first [L, N, E], heads
    /// merged with the items as [L, N*H, d], then [N*H, L, d] for the scores, merged back to rows [L*N, E] for the
    /// output projection and to [L, N, E]. Returns the Reshapes in order: q heads, k heads, v heads, rows, back.
    /// </summary>
    public static (Model Model, Node[] Reshapes, Value Scores) SequenceFirst(int softmaxAxis = -1)
    {
        const long L = 5, H = 2, D = 4, E = H * D;
        var b = new GraphBuilder(seed: 11);
        var x = b.Input("x", 1, L, E);
        var seq = b.Op("Transpose", [x], Attribute.Ints("perm", 1, 0, 2));
        Value Heads(Value v) => b.Op("Transpose", [b.Op("Reshape", b.Op("MatMul", v, b.Random([E, E])), b.Ints(L, H, D))],
            Attribute.Ints("perm", 1, 0, 2));
        var q = Heads(seq);
        var k = Heads(seq);
        var v = Heads(seq);
        var scores = b.Op("MatMul", q, b.Op("Transpose", [k], Attribute.Ints("perm", 0, 2, 1)));
        var p = b.Op("Softmax", [scores], Attribute.Int("axis", softmaxAxis));
        var ctx = b.Op("Transpose", [b.Op("MatMul", p, v)], Attribute.Ints("perm", 1, 0, 2));
        var rows = b.Op("Reshape", ctx, b.Ints(L, E));
        var projected = b.Op("Gemm", [rows, b.Random([E, E]), b.Random([E])], Attribute.Int("transB", 1));
        var back = b.Op("Reshape", projected, b.Ints(L, 1, E));
        b.Output(b.Op("Add", b.Op("Transpose", [back], Attribute.Ints("perm", 1, 0, 2)), x));
        var model = b.Build();
        var reshapes = model.Graph.Nodes.Where(n => n.OpType == "Reshape").ToArray();
        return (model, reshapes, scores);
    }
}
