using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Passes;
using ArchNet.Passes.Canonicalization;
using ArchNet.Passes.Distillation;
using ArchNet.Passes.Legalization;

namespace ArchNet.Compiler.Stages;

/// <summary>
/// Distillation (ArchNet.Passes.Distillation): when the target rejects nodes, the legalized model is canonicalized again
/// (BN folded after the rewrites) and the rejected nodes are replaced by students trained on the calibration inputs (never
/// labels); with <see cref="DistillMode.Always"/> a model the target already runs is also trained blockwise at its bit
/// widths (QAT). Checkpoints go to OUTPUT/distill, so rerunning the same command resumes.
/// </summary>
public sealed class DistillStage(CompileState state) : Stage(state)
{
    protected override bool Announced => false;

    public override string Name => "distill";

    protected override int Execute(Model model)
    {
        var changes = Distill(model);
        // The audits' provisional int32 marks end here: from now on a float bias is float until quantization.
        foreach (var b in State.ProvisionalBiases) if (b.Quant is { Bits: 32, Scales.Length: 1 } q && q.Scales[0] == 1f) b.Quant = null;
        State.ProvisionalBiases.Clear();
        return changes;
    }

    private int Distill(Model model)
    {
        var o = Options;
        Ran = o.Distill != DistillMode.Off && (o.Distill == DistillMode.Always || UnsupportedNode.In(model, State.Capability).Count > 0);
        if (!Ran) return 0;
        Diagnostics.Info("distill...");
        Canonicalize.Run(model, new PassContext(Diagnostics));
        // The teacher: the model as the file has it, canonicalized (from the bytes the import read).
        var teacher = OnnxImporter.Load(State.ModelBytes, o.ModelPath);
        ShapeInference.Run(teacher.Graph);
        Canonicalize.Run(teacher, new PassContext(SilentDiagnostics.Instance));
        List<ReplacementRecord> records;
        try
        {
            // With host fallback, nodes no replacement handles stay for the final audit, which keeps them as float host ops.
            records = ReplacementCatalog.BuildStudent(model, State.Capability,
                n => n.Metadata.Any(kv => kv.Key == Legalizer.RetrainKey), keepUnreplaced: o.AllowHostFallback,
                calibration: model.Graph.Inputs.Where(v => !v.IsConstant).ToList() is [var only] && State.Calibration.Arrays.TryGetValue(only.Name, out var c) ? c : null);
        }
        catch (ArchNetException e)
        {
            throw new ArchNetException(e.Message + "\n(--allow-host-fallback keeps them as float host ops)", e.ExitCode, e);
        }
        if (records.Count == 0 && o.Distill != DistillMode.Always) return 1;
        foreach (var r in records) Diagnostics.Info($"retrain: {r.Node} ({r.OpType}) -> {r.Replacement}");
        var input = model.Graph.Inputs.Where(v => !v.IsConstant).ToList();
        if (input.Count != 1 || !State.Calibration.Arrays.TryGetValue(input[0].Name, out var items))
            throw new ArchNetException("distillation needs a model with one input and calibration data for it");
        if (o.Threads is { } threads) TorchRuntime.UseThreads(threads);
        var distiller = new Distiller(new DistillationOptions
        {
            Steps = o.DistillSteps,
            BatchSize = o.DistillBatch,
            Seed = o.Seed,
            ActivationDrop = o.DistillDrop,
            CheckpointDirectory = Path.Combine(o.OutputDirectory, "distill"),
        }, Diagnostics);
        State.Distilled = distiller.Run(teacher, model, items, QuantizationPlan.For(State.Policy), records);
        model.Graph.RemoveDeadCode();
        ShapeInference.Run(model.Graph);
        return 1;
    }
}
