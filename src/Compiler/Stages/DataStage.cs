using ArchNet.Frontend.Data;
using ArchNet.IR;
using ArchNet.Passes;

namespace ArchNet.Compiler.Stages;

/// <summary>
/// Calibration and evaluation data, before the long stages (a bad SPEC fails fast). Chips run one item at a time, on
/// static shapes: what is still symbolic gets its size now, before the evaluation data is checked against it and before
/// canonicalization (BN folding, constant folding, dead code, composite recognition), so that shape chains
/// (Shape -> Gather -> Concat -> Reshape) fold into constants and the rewrite rules see static shapes.
/// </summary>
public sealed class DataStage(CompileState state) : Stage(state)
{
    protected override bool Announced => false;

    public override string Name => "data";

    protected override int Execute(Model model)
    {
        var o = Options;
        var calibSpec = State.CalibrationSpec = DataSpec.Parse(o.Calibration ?? throw new ArchNetException(
            "--calib SPEC is required: quantization needs real inputs (" + DataSpec.Syntax + "); random:N is accepted but reported as low-confidence"));
        var calib = State.Calibration = State.Time("load calibration data", () => DataLoader.Load(calibSpec, ModelFacts.Signatures(model)));
        State.Batch = ModelFacts.BatchSize(model);
        var bound = InputShapes.BindRemaining(model, (input, axis) => calib.Arrays[input.Name].Dims[axis]);
        if (bound.Count > 0)
            Diagnostics.Info($"shapes: {string.Join(", ", bound.Select(b => $"{b.Symbol ?? $"'{b.Input}' axis {b.Axis}"} = {b.Size}"))} " +
                $"from the calibration data ({calibSpec.Kind.ToString().ToLowerInvariant()}); --dim NAME=SIZE sets a symbolic dimension");
        var evalSpec = o.Evaluation is null ? calibSpec : DataSpec.Parse(o.Evaluation);
        var eval = State.Evaluation = o.Evaluation is null ? calib
            : State.Time("load evaluation data", () => DataLoader.Load(evalSpec, ModelFacts.Signatures(model)));
        State.Seq2Seq = o.Seq2Seq is null ? null : Translation.Seq2SeqOptions.Parse(o.Seq2Seq);
        var labels = State.Labels = o.EvaluationLabels is null ? null : DataLoader.LoadLabels(DataSpec.Parse(o.EvaluationLabels));
        if (labels is not null && labels.Length < eval.Count)
            throw new ArchNetException($"--eval-labels has {labels.Length} labels for {eval.Count} evaluation items");
        if (calib.LowConfidence || eval.LowConfidence)
            Diagnostics.Warning("random inputs: the fidelity figures of this compile are LOW-CONFIDENCE (no real data was used)");
        return bound.Count;
    }
}
