using ArchNet.IR;
using ArchNet.Passes;
using ArchNet.Passes.Canonicalization;

namespace ArchNet.Compiler.Stages;

/// <summary>Shape inference, constant folding, dead code, BN folding and composite recognition (<see cref="Canonicalize"/>).</summary>
public sealed class CanonicalizeStage(CompileState state) : Stage(state)
{
    public override string Name => "canonicalize";

    protected override int Execute(Model model) =>
        Canonicalize.Run(model, new PassContext(Diagnostics)).Sum(r => r.Changes);
}
