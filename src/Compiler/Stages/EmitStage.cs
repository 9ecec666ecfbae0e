using ArchNet.Backends.Plugins;
using ArchNet.IR;
using ArchNet.Passes;

namespace ArchNet.Compiler.Stages;

/// <summary>The backend writes its artifact into the output folder (validated, staged, then renamed into place).</summary>
public sealed class EmitStage(CompileState state) : Stage(state)
{
    public override string Name => "emit";

    protected override int Execute(Model model)
    {
        Directory.CreateDirectory(Options.OutputDirectory);
        State.Artifacts = BackendRun.Emit(State.Backend, model, State.Capability.Name, Options.OutputDirectory, Diagnostics);
        return 0;
    }
}
