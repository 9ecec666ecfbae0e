using ArchNet.Backends.Emulation;
using ArchNet.IR;
using ArchNet.Passes;
using ArchNet.Passes.Legalization;

namespace ArchNet.Compiler.Stages;

/// <summary>
/// Exact rewrites of what the target rejects (<see cref="Legalizer"/>); nodes no rewrite reaches are marked for
/// retraining. Every compile measures itself on the integer emulator, so an op it cannot run stops the compile here,
/// not after calibration and training (nodes left for retraining are replaced by ops it runs).
/// </summary>
public sealed class LegalizeStage(CompileState state) : Stage(state)
{
    protected override bool Announced => false;

    public override string Name => "legalize";

    protected override int Execute(Model model)
    {
        Ran = State.UnsupportedBefore.Count > 0;
        if (Ran)
        {
            Diagnostics.Info("legalize...");
            var legalization = State.Legalization = new Legalizer(new CapabilityOracle(State.Capability)).Run(model, new PassContext(Diagnostics));
            Diagnostics.Info($"legalize: {legalization.Rewrites.Count} rewrite(s), {legalization.UnsupportedAfter} node(s) still unsupported" +
                (legalization.Retrain.Count > 0 ? $", {legalization.Retrain.Count} left for retraining" : ""));
            ShapeInference.Run(model.Graph);
        }
        if (Emulator.Unemulated(model.Graph).Where(n => !n.Metadata.Any(kv => kv.Key == Legalizer.RetrainKey)).ToList() is { Count: > 0 } unemulated)
            throw new ArchNetException($"the integer emulator has no kernel for {string.Join(", ", unemulated.Select(n => n.OpType).Distinct())} " +
                $"({unemulated.Count} node(s), first '{unemulated[0].DisplayName}'), so this compile could not measure its accuracy cost; " +
                "nothing was calibrated or written");
        return State.Legalization?.Rewrites.Count ?? 0;
    }
}
