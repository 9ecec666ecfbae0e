using ArchNet.IR;

namespace ArchNet.Passes.Quantization;

/// <summary>
/// On a chip whose activations are symmetric unsigned (archnet), a graph output with negative values (class scores)
/// would saturate at 0. Its producing Conv or Gemm can add one constant to every element instead: arg-max (top-1) and
/// softmax are unchanged by it, and the unsigned format then holds the whole range. Post-training quantization raises the
/// bias by it; distillation's student starts from the raised bias and learns the offset logits. Either way the
/// artifact's output is the original's plus the offset, which the report says.
/// </summary>
public static class OutputOffset
{
    /// <summary>The offset is this many times the most negative value seen: items not seen go lower.</summary>
    public const double Margin = 1.25;

    /// <summary>The offset for an output whose most negative value seen is <paramref name="min"/> (0 when it has none).</summary>
    public static double For(double min) => min < 0 ? -min * Margin : 0;

    /// <summary>
    /// Raises every element of <paramref name="producer"/>'s output by <paramref name="offset"/> through its bias (a new
    /// constant: a shared bias stays as it was). False, and nothing changed, when it cannot: not a Conv or Gemm with a
    /// constant weight, an output some node also reads (it would see the offset too), or a Gemm whose C is scaled by
    /// beta 0 or is not one value per output channel.
    /// </summary>
    public static bool TryApply(Graph graph, Node producer, double offset)
    {
        if (!producer.IsDefaultDomain || producer.OpType is not ("Conv" or "Gemm") || producer.Input(1)?.Constant is not { } w) return false;
        if (producer.Outputs[0].Uses.Count > 0) return false;
        var gemm = producer.OpType == "Gemm";
        var channels = !gemm || producer.GetInt("transB", 0) != 0 ? w.Dims[0] : w.Dims[^1];
        // Gemm adds beta * C.
        var beta = gemm ? producer.GetFloat("beta", 1f) : 1f;
        if (beta == 0) return false;
        var old = producer.Input(2) is { IsAbsent: false } b ? b : null;
        if (old is not null && (old.Constant is null || old.Constant.ElementCount != channels || old.Constant.ElementType != ElementType.Float)) return false;
        var bias = old?.Constant!.ToFloats() ?? new float[channels];
        long[] dims = old is null ? [channels] : [.. old.Constant!.Dims];
        var raised = graph.AddConstant((old?.Name ?? producer.DisplayName + "_bias") + "_offset",
            TensorData.FromFloats(dims, [.. bias.Select(v => (float)(v + offset / beta))]));
        if (producer.Inputs.Count > 2) producer.SetInput(2, raised); else producer.AppendInput(raised);
        return true;
    }
}
