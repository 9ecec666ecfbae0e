using ArchNet.IR;
using ArchNet.Passes;

namespace ArchNet.Compiler.Stages;

/// <summary>
/// One named stage of the compile, run by the pass manager like any pass: the IR is verified after it and
/// <c>--dump-after</c> can print it. A stage reads and writes the <see cref="CompileState"/> it was made with.
/// </summary>
public abstract class Stage(CompileState state) : IPass
{
    protected CompileState State { get; } = state;
    protected CompileOptions Options => State.Options;
    protected IDiagnostics Diagnostics => State.Diagnostics;

    public abstract string Name { get; }

    /// <summary>False when the stage had nothing to do in this compile (no distillation, nothing to legalize): it is then
    /// left out of the report's timings.</summary>
    public bool Ran { get; protected set; } = true;

    /// <summary>Whether the stage says "NAME..." as it starts; a stage that may have nothing to do says it itself, when it
    /// has.</summary>
    protected virtual bool Announced => true;

    public int Run(Model model, PassContext context)
    {
        if (Announced) Diagnostics.Info($"{Name}...");
        return Execute(model);
    }

    /// <summary>Returns how many changes the stage made to the model (0: it only read it).</summary>
    protected abstract int Execute(Model model);
}
