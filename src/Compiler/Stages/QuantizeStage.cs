using ArchNet.Backends.Emulation;
using ArchNet.IR;
using ArchNet.Passes;
using ArchNet.Passes.Quantization;

namespace ArchNet.Compiler.Stages;

/// <summary>
/// Post-training quantization from the calibrated statistics (a distilled student's learned steps replace the
/// quantizer's where it has them), the accumulator check, and the final audit, which sees the integer types quantization
/// chose: a node the target still rejects fails the compile, or with host fallback runs as a float host op.
/// </summary>
public sealed class QuantizeStage(CompileState state) : Stage(state)
{
    public override string Name => "quantize";

    protected override int Execute(Model model)
    {
        var o = Options;
        var target = State.Policy.Target;
        var capability = State.Capability;
        var summary = State.Summary = Quantizer.Run(model, request => request.Values.Count == State.Statistics.Count ? State.Statistics
                : throw new InvalidOperationException($"the quantizer asked for {request.Values.Count} values, {State.Statistics.Count} were calibrated"),
            target, State.QuantizerOptions, Diagnostics);
        if (o.Attention == LayerPrecision.EightBit)
            Diagnostics.Info(summary.EightBitAttention.Count == 0
                ? "quantize: --attention EightBit: the model has no attention (no Softmax, no MatMul between two activations)"
                : $"quantize: attention at 8 bits: {summary.EightBitAttention.Count} node(s), first {summary.EightBitAttention[0]}");
        State.Distilled?.Quantization?.ApplyTo(model);
        model.Graph.RemoveDeadCode();
        var activations = model.Graph.Inputs.Concat(model.Graph.Nodes.SelectMany(n => n.Outputs)).Where(v => v.Quant is not null).ToList();
        var signedness = State.Signedness = new SignednessCounts(activations.Count(v => v.Quant!.Signed), activations.Count(v => !v.Quant!.Signed));
        if (target.UnsignedWhereNonNegative)
            Diagnostics.Info($"quantize: {signedness.Unsigned} of {activations.Count} activations are never negative and use " +
                $"{capability.Name}'s unsigned format");
        var risks = State.AccumulatorRisks = AccumulatorBounds.Find(model.Graph, target.Semantics.AccumulatorBits);
        if (risks.Count > 0)
            Diagnostics.Warning($"accumulator: {risks.Count} node(s) can form sums past {capability.Name}'s " +
                $"{target.Semantics.AccumulatorBits}-bit accumulator, where the integer model (and the chip) saturate and ONNX Runtime's " +
                $"QDQ arithmetic does not; largest: {risks.MaxBy(r => r.Bits)} (all in report.json's accumulator_risks)");

        // The final audit sees the integer types quantization chose (a float bias is an int32 bias now).
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var unsupported = State.UnsupportedAfter = UnsupportedNode.In(model, capability);
        State.AddTiming("audit", clock.Elapsed.TotalSeconds);
        if (unsupported.Count > 0)
        {
            var lines = unsupported.Select(u => $"  {u.Node} ({u.OpType}): {u.Reason}").ToList();
            if (!o.AllowHostFallback)
                throw new ArchNetException($"{unsupported.Count} node(s) are not supported by {capability.Name} after legalization:\n"
                    + string.Join("\n", lines) + "\n(--allow-host-fallback keeps them as float host ops)");
            Diagnostics.Warning($"HOST FALLBACK: {unsupported.Count} node(s) unsupported by {capability.Name} run as FLOAT ops on the host:\n" + string.Join("\n", lines));
            var names = unsupported.Select(u => u.Node).ToHashSet();
            foreach (var node in model.Graph.Nodes.Where(n => names.Contains(n.DisplayName)))
                node.Metadata.Add(new(Emulator.HostFloatKey, "true"));
        }
        return 1;
    }
}
