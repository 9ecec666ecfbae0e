using ArchNet.Compiler.Stages;
using ArchNet.IR;
using ArchNet.Passes.Quantization;

namespace ArchNet.Compiler;

/// <summary>What a compile that loses much says: where the loss starts and what the target and model leave to try.</summary>
public static class LowFidelityAdvice
{
    /// <summary>Below this output cosine, or this top-1 agreement, a compile says where its accuracy goes and what could
    /// bring it back (a 4-bit compile after distillation stays above both: the README's fmnist_resnet for archnet W4A4,
    /// cosine 0.997 and top-1 agreement 97.4 % on t10k).</summary>
    private const double LowCosine = 0.9, LowAgreement = 0.95;

    /// <summary>A value whose cosine falls below this is where the loss starts.</summary>
    private const double LayerLossCosine = 0.99;

    /// <summary>
    /// A compile whose output strays from the original's (cosine below <see cref="LowCosine"/>) warns with the first value
    /// in graph order below <see cref="LayerLossCosine"/> (where the loss starts; the per-layer rows are worst first) and the
    /// options this target and model leave: wider weights or activations, 8-bit edge layers or attention, another range
    /// method, blockwise quantization-aware training. MiniLM at W8A8 on reference-cpu: cosine 0.64; with --abits 16, 0.999.
    /// </summary>
    public static void Give(CompileState state, Model model)
    {
        var (options, fidelity, target, distilled) = (state.Options, state.Fidelity, state.Policy.Target, state.Distilled is not null);
        var overall = fidelity.Overall;
        if (overall.Cosine >= LowCosine && overall.Top1Agreement is not < LowAgreement) return;
        var order = model.Graph.Nodes.SelectMany((n, i) => n.Outputs.Select(v => (v.Name, i))).GroupBy(p => p.Name)
            .ToDictionary(g => g.Key, g => g.First().i, StringComparer.Ordinal);
        var first = fidelity.Layers.Where(l => l.Cosine < LayerLossCosine && order.ContainsKey(l.Value)).MinBy(l => order[l.Value]);
        var hints = new List<string>();
        if (target.AllowedWeightBits.Any(b => b > options.WeightBits))
            hints.Add($"--wbits {target.AllowedWeightBits.Where(b => b > options.WeightBits).Min()}");
        if (target.AllowedActivationBits.Any(b => b > options.ActivationBits))
            hints.Add($"--abits {target.AllowedActivationBits.Where(b => b > options.ActivationBits).Min()}");
        var eightBit = target.AllowedWeightBits.Contains(8) && target.AllowedActivationBits.Contains(8);
        if (eightBit && (options.WeightBits < 8 || options.ActivationBits < 8))
        {
            if (options.EdgeLayers == LayerPrecision.Same) hints.Add("--edge-layers EightBit");
            if (options.Attention == LayerPrecision.Same && options.ActivationBits < 8 && model.Graph.Nodes.Any(n => n.OpType == "Softmax"))
                hints.Add("--attention EightBit");
        }
        if (options.Method == CalibrationMethod.MinMax) hints.Add("--calib-method Mse or Percentile");
        if (!distilled && model.Graph.Inputs.Count(i => !i.IsConstant) == 1 && options.Distill != DistillMode.Always)
            hints.Add("--distill Always (blockwise quantization-aware training on the calibration data)");
        state.Diagnostics.Warning($"fidelity is low: output cosine {overall.Cosine:F4}, SQNR {overall.SqnrDb:F1} dB" +
            (overall.Top1Agreement is { } agreement ? $", top-1 agreement {agreement:P1}" : "") +
            (first is null ? "" : $"; the loss starts at '{first.Value}', the first value below cosine {LayerLossCosine} (cosine {first.Cosine:F4}, " +
                $"SQNR {first.SqnrDb:F1} dB, {first.Clipped * 100:F1} % of its float values outside its range; report.md lists every layer)") +
            (hints.Count == 0 ? "" : $"; what the target and model leave to try: {string.Join("; ", hints)}"));
    }
}
