using ArchNet.IR;

namespace ArchNet.Passes.Quantization;

/// <summary>One node whose integer sums can pass the target's accumulator.</summary>
/// <param name="Bits">Bits a signed register needs for the largest sum the operands' ranges allow (sign included).</param>
public sealed record AccumulatorRisk(string Node, string OpType, long Depth, int OperandBitsA, int OperandBitsB, double Bits, int AccumulatorBits)
{
    public override string ToString() =>
        $"{Node} ({OpType}): sums of {Depth} products of {OperandBitsA}-bit x {OperandBitsB}-bit integers need {Bits:F1} bits, the accumulator has {AccumulatorBits}";
}

/// <summary>
/// The largest sum each multiply-accumulate node of a quantized graph can form, from its operands' integer ranges and
/// its reduction depth: |x - zx| at most the activation's range, |w - zw| at most the weight's, times the number of
/// products per output. A sum past the accumulator saturates in the golden model and on the chip, while ONNX Runtime's
/// QDQ arithmetic (float) does not: the two then disagree, and the cross-check shows it without saying why. 8-bit
/// operands stay far inside 32 bits for any realistic depth (3x3x512 uint8 x int8 needs 29 bits); two 16-bit
/// activations multiplied need 33 bits for a single product.
/// </summary>
public static class AccumulatorBounds
{
    public static List<AccumulatorRisk> Find(Graph graph, int accumulatorBits)
    {
        var risks = new List<AccumulatorRisk>();
        foreach (var node in graph.Nodes)
        {
            if (!node.IsDefaultDomain || node.Input(0) is not { Quant: { PerChannel: false } a } || node.Input(1) is not { Quant: { } b } w)
                continue;
            long? depth = node.OpType switch
            {
                // Weights [M, C/group, k...]: each output sums C/group x k... products.
                "Conv" => w.Shape?.ToArray() is { Length: >= 3 } s ? s[1..].Aggregate(1L, (p, d) => p * d) : null,
                // Weights [C, M/group, k...]: an output sums at most C/group x k... products (fewer where strides skip).
                "ConvTranspose" => w.Shape?.ToArray() is { Length: >= 3 } s ? s[0] / Math.Max(1, node.GetInt("group", 1)) * s[2..].Aggregate(1L, (p, d) => p * d) : null,
                "Gemm" => w.Shape?.ToArray() is [var r, var c] ? (node.GetInt("transB", 0) != 0 ? c : r) : null,
                "MatMul" => node.Input(0)!.Shape is { Rank: > 0 } x && x[^1].Value is { } k ? k : null,
                _ => null,
            };
            if (depth is not { } kk || kk < 1) continue;
            var largest = (double)kk * Reach(a) * Reach(b);
            var bits = Math.Log2(largest) + 1; // and the sign
            if (bits > accumulatorBits)
                risks.Add(new(node.DisplayName, node.OpType, kk, a.Bits, b.Bits, Math.Round(bits, 1), accumulatorBits));
        }
        return risks;
    }

    /// <summary>The largest |q - z| the parameters allow (per-channel: over every channel).</summary>
    private static long Reach(QuantParams q) =>
        q.ZeroPoints.IsDefaultOrEmpty ? Math.Max(-q.QMin, q.QMax) : q.ZeroPoints.Max(z => Math.Max(z - q.QMin, q.QMax - z));
}
