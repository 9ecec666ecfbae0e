using ArchNet.IR;
using ArchNet.Passes;
using ArchNet.Passes.Quantization;

namespace ArchNet.Compiler.Stages;

/// <summary>Cross-layer equalization before the float graph is taken: calibration, the per-layer float reference and the
/// integer graph all see the same (equivalent) weights. Trained students keep the weights training chose.</summary>
public sealed class EqualizeStage(CompileState state) : Stage(state)
{
    protected override bool Announced => false;

    public override string Name => "equalize";

    protected override int Execute(Model model)
    {
        Ran = State.Distilled is null && Options.Equalization;
        if (!Ran) return 0;
        Diagnostics.Info("equalize...");
        State.Equalized = CrossLayerEqualization.Run(model.Graph, depthwiseFirstOnly: State.Policy.Target.PerChannelWeights);
        if (State.Equalized.Count > 0) Diagnostics.Info($"equalize: {State.Equalized.Count} convolution pair(s) equalized");
        return State.Equalized.Count;
    }
}
