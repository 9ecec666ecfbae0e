using ArchNet.Compiler.Stages;
using ArchNet.IR;
using ArchNet.Passes;

namespace ArchNet.Compiler;

/// <summary>
/// The compile: named stages (import, target, data, canonicalize, audit, legalize, distill, equalize, calibrate, quantize,
/// fidelity, emit, cross-check, translate) run in order by the <see cref="PassManager"/>, which verifies the IR after each and can
/// dump it (<see cref="CompileOptions.DumpAfter"/>). Each stage is a file of its own under Stages/ and hands its results
/// to the next through a <see cref="CompileState"/>; this class only orders them and writes report.json and report.md
/// beside the backend's artifacts. Progress goes through <see cref="IDiagnostics"/>; users' errors are
/// <see cref="ArchNetException"/>s.
/// </summary>
public sealed class Compilation(CompileOptions options, IDiagnostics diagnostics)
{
    /// <summary>The quantized model handed to the backend (after <see cref="Run"/>): what the emulator runs when a test
    /// checks a backend's artifact against it bit for bit.</summary>
    public Model? Quantized { get; private set; }

    /// <summary>Receives (stage, the IR as text) after each stage <see cref="CompileOptions.DumpAfter"/> names.</summary>
    public Action<string, string>? DumpAfter { get; init; }

    /// <summary>The stages in the order they run.</summary>
    public static IReadOnlyList<Stage> Stages(CompileState state) =>
    [
        new ImportStage(state), new TargetStage(state), new DataStage(state), new CanonicalizeStage(state), new AuditStage(state),
        new LegalizeStage(state), new DistillStage(state), new EqualizeStage(state), new CalibrateStage(state),
        new QuantizeStage(state), new FidelityStage(state), new EmitStage(state), new CrossCheckStage(state), new TranslateStage(state),
    ];

    /// <summary>Distillation's knobs are checked before any stage runs, whether or not this compile will distill.</summary>
    private static void CheckDistillationKnobs(CompileOptions o)
    {
        if (o.DistillSteps is < 1) throw new ArchNetException($"--distill-steps must be at least 1 (got {o.DistillSteps})");
        if (o.DistillBatch < 1) throw new ArchNetException($"--distill-batch must be at least 1 (got {o.DistillBatch})");
        if (!(o.DistillDrop is >= 0 and < 1))
            throw new ArchNetException($"--distill-drop must be at least 0 and below 1 (got {o.DistillDrop})");
        if (o.Threads is < 1) throw new ArchNetException($"--threads must be at least 1 (got {o.Threads})");
    }

    /// <summary>
    /// Fails now, before minutes of calibration and training, where the artifacts could not be written at the end: the
    /// folder is a file, a folder on its path is a file, or the nearest existing folder refuses a new file (a probe file
    /// is created and deleted there; nothing else is created before the compile succeeds).
    /// </summary>
    private static void CheckOutputFolder(string folder)
    {
        if (File.Exists(folder))
            throw new ArchNetException($"output folder '{folder}' is an existing file; give -o a folder");
        var existing = Path.GetFullPath(folder);
        while (!Directory.Exists(existing))
        {
            if (File.Exists(existing))
                throw new ArchNetException($"output folder '{folder}' cannot be created: '{existing}' is a file");
            existing = Path.GetDirectoryName(existing) ?? throw new ArchNetException($"output folder '{folder}' cannot be created");
        }
        var probe = Path.Combine(existing, $".archnetc-probe-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArchNetException($"output folder '{folder}' cannot be written: {e.Message}", inner: e);
        }
    }

    public CompileReport Run()
    {
        var o = options;
        CheckDistillationKnobs(o);
        // Found now, not after minutes of calibration, when the artifacts are written.
        CheckOutputFolder(o.OutputDirectory);
        using var s = new CompileState(o, diagnostics);
        var stages = Stages(s);
        var manager = new PassManager(stages) { DumpAfter = DumpAfter };
        foreach (var name in o.DumpAfter) manager.DumpAfterPasses.Add(name);
        var model = new Model(new Graph());
        foreach (var result in manager.Run(model, new PassContext(diagnostics)))
            if (stages.First(st => st.Name == result.Pass).Ran) s.AddTiming(result.Pass, result.Elapsed.TotalSeconds);
        Quantized = model;

        var report = new CompileReport
        {
            Model = Path.GetFileName(o.ModelPath),
            Target = s.Capability.Name,
            Backend = s.Backend.Name,
            WeightBits = o.WeightBits,
            ActivationBits = o.ActivationBits,
            Semantics = s.Policy.Target.Semantics.Encode(),
            Calibration = s.Calibration.Description,
            CalibrationItems = s.Calibration.Count,
            Evaluation = s.Evaluation.Description,
            EvaluationItems = s.Evaluation.Count,
            ItemByItem = s.ItemByItem,
            LowConfidence = s.Calibration.LowConfidence || s.Evaluation.LowConfidence,
            UnsupportedNodesBefore = s.UnsupportedBefore.Count,
            Rewrites = s.Legalization is null ? [] : [.. s.Legalization.Rewrites.Select(r => $"{r.Rule} at {r.Node} ({r.OpType})")],
            UnsupportedNodesAfter = o.AllowHostFallback ? 0 : s.UnsupportedAfter.Count,
            HostFallbackNodes = [.. s.UnsupportedAfter.Select(u => $"{u.Node} ({u.OpType}): {u.Reason}")],
            HostFloatOps = s.Fidelity.HostFloatNodes,
            OutputOffsets = new(s.OutputOffsets.ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value, 6)), StringComparer.Ordinal),
            OpsBefore = s.OpsBefore,
            OpsAfter = ModelFacts.OpCounts(model),
            Artifacts = [.. s.Artifacts.Select(a => a.RelativePath)],
            ArtifactDescriptions = new(s.Artifacts.ToDictionary(a => a.RelativePath, a => a.Kind), StringComparer.Ordinal),
            Fidelity = s.Fidelity.Overall,
            Accuracy = s.Fidelity.Accuracy,
            Translation = s.Translation,
            CrossCheck = s.CrossCheck,
            AccumulatorRisks = [.. s.AccumulatorRisks.Select(r => r.ToString())],
            Layers = s.Fidelity.Layers,
            LayerItems = s.Fidelity.LayerItems,
            QuantizedActivations = s.Summary.QuantizedActivations,
            QuantizedWeights = s.Summary.QuantizedWeights,
            ActivationSignedness = s.Signedness,
            BiasCorrectedLayers = s.Summary.BiasCorrected,
            EqualizedPairs = [.. s.Equalized.Select(p => $"{p.First} -> {p.Second}")],
            EightBitEdgeLayers = s.Summary.EightBitEdgeLayers,
            EightBitAttention = s.Summary.EightBitAttention,
            Method = o.Method.ToString(),
            TimingsSeconds = new SortedDictionary<string, double>(s.Timings),
            Distillation = s.Distilled is null ? null : DistillationSummary.From(s.Distilled),
        };
        ReportWriter.Write(report, o.OutputDirectory);
        return report;
    }
}
