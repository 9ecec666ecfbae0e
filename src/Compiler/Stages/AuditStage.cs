using ArchNet.IR;
using ArchNet.Passes;

namespace ArchNet.Compiler.Stages;

/// <summary>
/// The nodes the target rejects before legalization. Before quantization a Conv/Gemm bias is float, and a chip that only
/// takes int32 biases would reject every such node although quantization will make the bias int32: constant float biases
/// are marked int32 for the audits before quantization; <see cref="DistillStage"/> takes the marks off once distillation (which also
/// checks nodes against the chip) is done.
/// Legalization needs no marking: its oracle leaves element-type rules to quantization.
/// </summary>
public sealed class AuditStage(CompileState state) : Stage(state)
{
    public override string Name => "audit";

    protected override int Execute(Model model)
    {
        foreach (var node in model.Graph.Nodes.Where(n => n.OpType is "Conv" or "Gemm" && n.IsDefaultDomain))
            if (node.Input(2) is { IsConstant: true, Quant: null } b && b.ElementType == ElementType.Float)
            {
                b.Quant = QuantParams.PerTensor(32, true, 1f);
                State.ProvisionalBiases.Add(b);
            }
        State.UnsupportedBefore = UnsupportedNode.In(model, State.Capability);
        Diagnostics.Info($"audit: {State.UnsupportedBefore.Count} node(s) unsupported by {State.Capability.Name} before legalization");
        return 0;
    }
}
