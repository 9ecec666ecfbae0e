using ArchNet.Compiler.Translation;
using ArchNet.IR;

namespace ArchNet.Compiler.Stages;

/// <summary>A translation model scored as one (<c>--seq2seq</c>): greedy decoding of the evaluation sources by the original
/// (ONNX Runtime, from the bytes the import read) and by the compiled integer model (the emulator), BLEU before and after
/// (<see cref="TranslationEvaluation"/>).</summary>
public sealed class TranslateStage(CompileState state) : Stage(state)
{
    protected override bool Announced => false;

    public override string Name => "translate";

    protected override int Execute(Model model)
    {
        Ran = State.Seq2Seq is not null;
        if (!Ran) return 0;
        Diagnostics.Info("translate...");
        State.Translation = TranslationEvaluation.Run(State.ModelBytes, model, State.Evaluation, State.Seq2Seq!, Diagnostics, Environment.ProcessorCount);
        return 0;
    }
}
