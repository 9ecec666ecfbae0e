using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using ArchNet.IR;

namespace ArchNet.Compiler;

public sealed record FidelityFigures(
    [property: JsonPropertyName("top1_agreement")] double? Top1Agreement,
    [property: JsonPropertyName("cosine")] double Cosine,
    [property: JsonPropertyName("sqnr_db")] double SqnrDb);

/// <summary>
/// The QDQ artifact run by ONNX Runtime against the golden model on the first evaluation items: the share of output
/// integers that are equal and the largest difference in steps (LSB). ORT rounds as ORT does, the golden model as the
/// chip does, and a step at a tie early in a deep network can grow on the way out, so equality is not expected everywhere;
/// a well-conditioned network agrees almost everywhere. <see cref="Optimized"/>: ORT ran the artifact with all its
/// optimizations (its fused integer kernels), as a user's default session does; when false, <see cref="OptimizedError"/>
/// says why ORT rejected the optimized model and the check ran at ORT's basic level (ORT_ENABLE_BASIC: no QDQ fusion), the
/// level a user must then load the artifact at. <see cref="Error"/> says why ORT
/// could not run the artifact at all (then nothing was compared).
/// </summary>
public sealed record CrossCheckFigures(
    [property: JsonPropertyName("items")] int Items,
    [property: JsonPropertyName("integers")] long Integers,
    [property: JsonPropertyName("equal")] double Equal,
    [property: JsonPropertyName("max_lsb")] long MaxLsb,
    [property: JsonPropertyName("ort_optimized")] bool Optimized = true,
    [property: JsonPropertyName("ort_optimized_error"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? OptimizedError = null,
    [property: JsonPropertyName("error"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Error = null)
{
    public override string ToString() => Error is not null ? $"ONNX Runtime could not run the QDQ model: {Error}"
        : Integers == 0 ? "no quantized graph output to compare"
        : $"{100 * Equal:F2} % of {Integers} output integers equal over {Items} item(s), max {MaxLsb} LSB apart" +
          (Optimized ? "" : " (ORT at its basic optimization level: it rejects the fully optimized model)");
}

public sealed record AccuracyFigures(
    [property: JsonPropertyName("original")] double Original,
    [property: JsonPropertyName("compiled")] double Compiled,
    [property: JsonPropertyName("items")] int Items);

/// <param name="Clipped">The share of the float values outside the range the value's integer format represents (more
/// than half a step beyond its ends): saturated by calibration's range, or negatives of a value the chip holds unsigned.
/// A low cosine with much clipped is the format's range, not its resolution. Values whose every use reaches a ReLU are
/// compared after it (<see cref="AfterRelu"/>): the negatives their unsigned format saturates are not lost.</param>
public sealed record LayerFidelity(
    [property: JsonPropertyName("value")] string Value,
    [property: JsonPropertyName("cosine")] double Cosine,
    [property: JsonPropertyName("sqnr_db")] double SqnrDb,
    [property: JsonPropertyName("clipped")] double Clipped)
{
    /// <summary>The bit width of the value's integer format.</summary>
    [JsonPropertyName("bits")] public int Bits { get; init; }
    /// <summary>Where the value's producer is in the compiled graph's node order (the report's plots go in this order).</summary>
    [JsonPropertyName("position")] public int Position { get; init; }
    /// <summary>Compared after the ReLU its every use reaches: its unsigned format saturates only what that ReLU removes.</summary>
    [JsonPropertyName("after_relu")] public bool AfterRelu { get; init; }
}

/// <summary>What a compile did and what it cost in accuracy: written as report.json (this shape) and report.md.</summary>
public sealed record CompileReport
{
    [JsonPropertyName("model")] public required string Model { get; init; }
    [JsonPropertyName("target")] public required string Target { get; init; }
    [JsonPropertyName("backend")] public required string Backend { get; init; }
    [JsonPropertyName("wbits")] public int WeightBits { get; init; }
    [JsonPropertyName("abits")] public int ActivationBits { get; init; }
    [JsonPropertyName("semantics")] public required string Semantics { get; init; }
    [JsonPropertyName("calibration_method")] public required string Method { get; init; }
    [JsonPropertyName("calibration")] public required string Calibration { get; init; }
    [JsonPropertyName("calibration_items")] public int CalibrationItems { get; init; }
    [JsonPropertyName("evaluation")] public required string Evaluation { get; init; }
    [JsonPropertyName("evaluation_items")] public int EvaluationItems { get; init; }
    /// <summary>Why the emulator evaluated one item at a time (a constant folded at batch 1), or null: in batches.</summary>
    [JsonPropertyName("item_by_item"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? ItemByItem { get; init; }
    [JsonPropertyName("low_confidence")] public bool LowConfidence { get; init; }
    [JsonPropertyName("unsupported_nodes_before")] public int UnsupportedNodesBefore { get; init; }
    [JsonPropertyName("rewrites")] public IReadOnlyList<string> Rewrites { get; init; } = [];
    [JsonPropertyName("unsupported_nodes_after")] public int UnsupportedNodesAfter { get; init; }
    [JsonPropertyName("host_fallback_nodes")] public IReadOnlyList<string> HostFallbackNodes { get; init; } = [];
    [JsonPropertyName("host_float_ops")] public IReadOnlyList<string> HostFloatOps { get; init; } = [];
    [JsonPropertyName("ops_before")] public required SortedDictionary<string, int> OpsBefore { get; init; }
    [JsonPropertyName("ops_after")] public required SortedDictionary<string, int> OpsAfter { get; init; }
    [JsonPropertyName("artifacts")] public IReadOnlyList<string> Artifacts { get; init; } = [];
    /// <summary>Per artifact, the backend's description of it (for tflite: inputs, outputs, quantization, host steps).</summary>
    [JsonPropertyName("artifact_descriptions")] public SortedDictionary<string, string> ArtifactDescriptions { get; init; } = new(StringComparer.Ordinal);
    [JsonPropertyName("fidelity")] public required FidelityFigures Fidelity { get; init; }
    [JsonPropertyName("accuracy")] public AccuracyFigures? Accuracy { get; init; }
    [JsonPropertyName("translation"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public ArchNet.Compiler.Translation.TranslationFigures? Translation { get; init; }
    [JsonPropertyName("qdq_cross_check")] public required CrossCheckFigures CrossCheck { get; init; }
    /// <summary>Multiply-accumulate nodes whose largest possible sum passes the target's accumulator (the integer model
    /// saturates there; ONNX Runtime's float QDQ arithmetic does not).</summary>
    [JsonPropertyName("accumulator_risks")] public IReadOnlyList<string> AccumulatorRisks { get; init; } = [];
    [JsonPropertyName("layers_items")] public int LayerItems { get; init; }
    [JsonPropertyName("layers")] public IReadOnlyList<LayerFidelity> Layers { get; init; } = [];
    [JsonPropertyName("quantized_activations")] public int QuantizedActivations { get; init; }
    [JsonPropertyName("quantized_weights")] public int QuantizedWeights { get; init; }
    /// <summary>Quantized activation values (graph inputs and node outputs) of the artifact by signedness: chips that take
    /// both symmetric formats get unsigned ones where a value is never negative.</summary>
    [JsonPropertyName("activation_signedness")] public required SignednessCounts ActivationSignedness { get; init; }
    [JsonPropertyName("bias_corrected_layers")] public int BiasCorrectedLayers { get; init; }
    /// <summary>Convolution pairs rescaled by cross-layer equalization ("first -> second").</summary>
    [JsonPropertyName("equalized_pairs")] public IReadOnlyList<string> EqualizedPairs { get; init; } = [];
    /// <summary>Per graph output, the constant the artifact's output adds to the original's (<c>OutputOffset</c>: a chip
    /// whose activations are symmetric unsigned cannot hold negative class scores; set by quantization, or learned by
    /// distillation); fidelity compares with the original's plus it. Empty when no output is offset.</summary>
    [JsonPropertyName("output_offsets")] public SortedDictionary<string, double> OutputOffsets { get; init; } = new(StringComparer.Ordinal);
    [JsonPropertyName("eight_bit_edge_layers")] public IReadOnlyList<string> EightBitEdgeLayers { get; init; } = [];
    /// <summary>Attention nodes (Softmax, MatMul between activations) whose inputs and outputs are 8-bit (--attention EightBit).</summary>
    [JsonPropertyName("eight_bit_attention")] public IReadOnlyList<string> EightBitAttention { get; init; } = [];
    [JsonPropertyName("timings_s")] public required SortedDictionary<string, double> TimingsSeconds { get; init; }
    [JsonPropertyName("distillation")] public DistillationSummary? Distillation { get; init; }
}

public sealed record SignednessCounts(
    [property: JsonPropertyName("signed")] int Signed,
    [property: JsonPropertyName("unsigned")] int Unsigned);

public sealed record DistilledBlock(
    [property: JsonPropertyName("block")] int Block,
    [property: JsonPropertyName("tensor")] string Tensor,
    [property: JsonPropertyName("replacements")] IReadOnlyList<string> Replacements,
    [property: JsonPropertyName("cosine_before")] double CosineBefore,
    [property: JsonPropertyName("cosine_after")] double CosineAfter,
    [property: JsonPropertyName("sqnr_db_before")] double SqnrDbBefore,
    [property: JsonPropertyName("sqnr_db_after")] double SqnrDbAfter);

/// <summary>Mean training loss since the previous point, and the cosine of the block's tensor on the training batch,
/// after <paramref name="Step"/> steps of this run.</summary>
public sealed record TrainingCurvePoint(
    [property: JsonPropertyName("block")] int Block,
    [property: JsonPropertyName("step")] int Step,
    [property: JsonPropertyName("loss")] double Loss,
    [property: JsonPropertyName("cosine")] double Cosine);

/// <summary>What distillation replaced and how close each block came to the teacher (student with fake quantization).</summary>
public sealed record DistillationSummary(
    [property: JsonPropertyName("replacements")] IReadOnlyList<string> Replacements,
    [property: JsonPropertyName("blocks")] IReadOnlyList<DistilledBlock> Blocks,
    [property: JsonPropertyName("steps")] int Steps,
    [property: JsonPropertyName("batch")] int Batch,
    [property: JsonPropertyName("seed")] int Seed,
    [property: JsonPropertyName("resumed_periods")] int ResumedPeriods,
    [property: JsonPropertyName("seconds")] double Seconds,
    [property: JsonPropertyName("output_offsets")] IReadOnlyDictionary<string, double> OutputOffsets)
{
    /// <summary>Why the student trained item by item (a constant folded at batch 1), or null: in batches.</summary>
    [JsonPropertyName("item_by_item"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? ItemByItem { get; init; }

    /// <summary>The training curve of the periods trained in this run (none for periods resumed from a checkpoint).</summary>
    [JsonPropertyName("curve")] public IReadOnlyList<TrainingCurvePoint> Curve { get; init; } = [];

    public static DistillationSummary From(ArchNet.Passes.Distillation.DistillationReport r) => new(
        [.. r.Replacements.Select(x => $"{x.Node} ({x.OpType}): {x.Replacement}")],
        [.. r.Blocks.Select(b => new DistilledBlock(b.Block, b.Tensor, b.Replacements, b.CosineBefore, b.CosineAfter, b.SqnrDbBefore, b.SqnrDbAfter))],
        r.Steps, r.BatchSize, r.Seed, r.ResumedPeriods, r.Seconds,
        new SortedDictionary<string, double>(r.OutputOffsets.ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value, 6)), StringComparer.Ordinal))
    {
        ItemByItem = r.ItemByItem,
        Curve = [.. r.Curve.Select(p => new TrainingCurvePoint(p.Block, p.Step, p.Loss, p.Cosine))],
    };
}

/// <summary>report.json's serializer, generated at build time: no reflection when the first report is written (with
/// reflection, the first one cost 0.12 s). A layer the integer graph reproduces exactly has an infinite SQNR: it is
/// written rather than failing the compile.</summary>
[JsonSourceGenerationOptions(WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(CompileReport))]
internal sealed partial class ReportJson : JsonSerializerContext;

/// <summary>Writes report.json, report.md and report.html, each through a temporary name and a rename.</summary>
public static class ReportWriter
{
    public static string ToJson(CompileReport report) => JsonSerializer.Serialize(report, ReportJson.Default.CompileReport);

    public static void Write(CompileReport report, string directory)
    {
        Directory.CreateDirectory(directory);
        Atomic(Path.Combine(directory, "report.json"), ToJson(report) + "\n");
        Atomic(Path.Combine(directory, "report.md"), ToMarkdown(report));
        Atomic(Path.Combine(directory, "report.html"), HtmlReport.ToHtml(report));
    }

    private static void Atomic(string path, string text)
    {
        // Staged under a hidden name: a compile killed here leaves no visible half-written report.
        var temp = Path.Combine(Path.GetDirectoryName(path)!, $".{Path.GetFileName(path)}.{Environment.ProcessId}.tmp");
        File.WriteAllText(temp, text, new UTF8Encoding(false));
        KillPoint.Reached(KillPoint.ReportStaged);
        File.Move(temp, path, overwrite: true);
    }

    private static string F(double v, string format = "F4") => v.ToString(format, CultureInfo.InvariantCulture);

    public static string ToMarkdown(CompileReport r)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"# archnetc: {r.Model} for {r.Target}");
        sb.AppendLine();
        if (r.LowConfidence) sb.AppendLine("> **LOW CONFIDENCE**: random inputs were used; these figures say nothing about real data.\n");
        if (r.HostFallbackNodes.Count > 0)
        {
            sb.AppendLine($"> **HOST FALLBACK**: {r.HostFallbackNodes.Count} node(s) the target cannot run stay float on the host:");
            foreach (var n in r.HostFallbackNodes) sb.AppendLine($"> - {n}");
            sb.AppendLine();
        }
        sb.AppendLine($"- backend `{r.Backend}`, artifacts: {string.Join(", ", r.Artifacts.Select(a => $"`{a}`"))}");
        sb.AppendLine($"- weights {r.WeightBits} bits, activations {r.ActivationBits} bits ({r.ActivationSignedness.Unsigned} unsigned and " +
            $"{r.ActivationSignedness.Signed} signed values); calibration {r.Method} on {r.CalibrationItems} items ({r.Calibration})");
        var eightBit = new[] { ("edge layers", r.EightBitEdgeLayers), ("attention", r.EightBitAttention) }.Where(p => p.Item2.Count > 0)
            .Select(p => $"{p.Item1} ({p.Item2.Count} node(s): {string.Join(", ", p.Item2.Select(n => $"`{n}`"))})").ToList();
        if (eightBit.Count > 0) sb.AppendLine($"- at 8 bits: {string.Join("; ", eightBit)}");
        sb.AppendLine($"- integer semantics: {r.Semantics}");
        sb.AppendLine($"- cross-layer equalization: {r.EqualizedPairs.Count} convolution pair(s); bias correction: {r.BiasCorrectedLayers} layer(s)");
        sb.AppendLine($"- evaluation: {r.EvaluationItems} items ({r.Evaluation}){(r.ItemByItem is { } why ? $", item by item ({why})" : "")}");
        sb.AppendLine($"- legalization: {r.UnsupportedNodesBefore} node(s) unsupported before, {r.Rewrites.Count} rewrite(s), {r.UnsupportedNodesAfter} unsupported after");
        foreach (var (name, offset) in r.OutputOffsets)
            sb.AppendLine($"- output `{name}` is the original's plus {F(offset, "G6")} ({(r.Distillation is null ? "raised by quantization" : "learned by distillation")}: " +
                "the chip's activations are unsigned; arg-max and softmax unchanged): fidelity compares it with the original's plus that");
        sb.AppendLine();
        if (r.Distillation is { } d)
        {
            sb.AppendLine($"## Distillation ({d.Steps} steps, batch {d.Batch}, seed {d.Seed}, {F(d.Seconds, "F0")} s{(d.ResumedPeriods > 0 ? $", resumed after {d.ResumedPeriods} blocks" : "")})");
            sb.AppendLine();
            if (d.ItemByItem is { } bound) sb.AppendLine($"- trained item by item: the student is bound to batch 1 at {bound}");
            foreach (var x in d.Replacements) sb.AppendLine($"- retrained: {x}");
            sb.AppendLine();
            sb.AppendLine("| block | tensor | replacements | cosine before | cosine after | SQNR before (dB) | SQNR after (dB) |");
            sb.AppendLine("|---|---|---|---|---|---|---|");
            foreach (var b in d.Blocks)
                sb.AppendLine($"| {b.Block} | `{b.Tensor}` | {b.Replacements.Count} | {F(b.CosineBefore)} | {F(b.CosineAfter)} | {F(b.SqnrDbBefore, "F2")} | {F(b.SqnrDbAfter, "F2")} |");
            sb.AppendLine();
        }
        sb.AppendLine("## Fidelity (compiled integer model vs the original float model)");
        sb.AppendLine();
        sb.AppendLine("| top-1 agreement | cosine | SQNR (dB) |");
        sb.AppendLine("|---|---|---|");
        sb.AppendLine($"| {(r.Fidelity.Top1Agreement is { } t ? F(100 * t, "F2") + " %" : "n/a")} | {F(r.Fidelity.Cosine, "F6")} | {F(r.Fidelity.SqnrDb, "F2")} |");
        sb.AppendLine();
        sb.AppendLine($"QDQ artifact in ONNX Runtime vs the golden model: {r.CrossCheck}.");
        if (r.Translation is { } tr)
        {
            sb.AppendLine($"## Translation ({tr.Sentences} sources, greedy decoding)");
            sb.AppendLine();
            sb.AppendLine("| | original (ONNX Runtime) | compiled (emulator) |");
            sb.AppendLine("|---|---|---|");
            sb.AppendLine($"| BLEU | {F(tr.BleuOriginal, "F2")} | {F(tr.BleuCompiled, "F2")} |");
            sb.AppendLine($"| exact match | {F(tr.ExactMatchOriginal)} | {F(tr.ExactMatchCompiled)} |");
            sb.AppendLine();
            sb.AppendLine($"Token agreement, compiled vs original: {F(tr.TokenAgreement)}.");
            sb.AppendLine();
        }
        if (r.Accuracy is { } a)
        {
            sb.AppendLine();
            sb.AppendLine($"## Accuracy ({a.Items} labelled items)");
            sb.AppendLine();
            sb.AppendLine("| original | compiled | change |");
            sb.AppendLine("|---|---|---|");
            sb.AppendLine($"| {F(100 * a.Original, "F2")} % | {F(100 * a.Compiled, "F2")} % | {F(100 * (a.Compiled - a.Original), "+0.00;-0.00")} pt |");
        }
        sb.AppendLine();
        sb.AppendLine($"## Layers, worst first (first {r.LayerItems} evaluation items)");
        sb.AppendLine();
        sb.AppendLine("Each value the chip writes, compared with the float value as the chip computes it: \"after ReLU\" marks a value whose " +
            "every use reaches a ReLU, compared after it (its unsigned format saturates only what that ReLU removes).");
        sb.AppendLine();
        sb.AppendLine("| value | bits | cosine | SQNR (dB) | float values outside the format's range |");
        sb.AppendLine("|---|---|---|---|---|");
        foreach (var l in r.Layers)
            sb.AppendLine($"| `{l.Value}`{(l.AfterRelu ? " (after ReLU)" : "")} | {l.Bits} | {F(l.Cosine, "F6")} | {F(l.SqnrDb, "F2")} | {F(100 * l.Clipped, "F1")} % |");
        sb.AppendLine();
        sb.AppendLine("## Operators");
        sb.AppendLine();
        sb.AppendLine("| op | before | after |");
        sb.AppendLine("|---|---|---|");
        foreach (var op in r.OpsBefore.Keys.Union(r.OpsAfter.Keys).Order(StringComparer.Ordinal))
            sb.AppendLine($"| {op} | {r.OpsBefore.GetValueOrDefault(op)} | {r.OpsAfter.GetValueOrDefault(op)} |");
        if (r.HostFloatOps.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine($"Ops computed in float on the host inside the integer model (no integer kernel): {string.Join(", ", r.HostFloatOps.Select(h => $"`{h}`"))}");
        }
        if (r.AccumulatorRisks.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine("Sums that can pass the accumulator (the integer model saturates them; ONNX Runtime's QDQ arithmetic does not):");
            sb.AppendLine();
            foreach (var risk in r.AccumulatorRisks) sb.AppendLine($"- `{risk}`");
        }
        sb.AppendLine();
        sb.AppendLine("## Timings (s)");
        sb.AppendLine();
        foreach (var (stage, s) in r.TimingsSeconds) sb.AppendLine($"- {stage}: {F(s, "F2")}");
        return sb.ToString();
    }
}
