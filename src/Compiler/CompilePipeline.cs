using System.Diagnostics;
using ArchNet.Backends.Abstractions;
using ArchNet.Backends.Emulation;
using ArchNet.Backends.Onnx;
using ArchNet.Backends.Plugins;
using ArchNet.Backends.Reference;
using ArchNet.Capabilities;
using ArchNet.Frontend;
using ArchNet.Frontend.Data;
using ArchNet.IR;
using ArchNet.Passes;
using ArchNet.Passes.Canonicalization;
using ArchNet.Passes.Distillation;
using ArchNet.Passes.Legalization;
using ArchNet.Passes.Quantization;
using Tensor = ArchNet.Backends.Emulation.Tensor;

namespace ArchNet.Compiler;

/// <summary>
/// The compile: import, audit, legalize, quantize, emit, measure. Each stage reports progress through
/// <see cref="IDiagnostics"/> and is timed; the result is written to the output folder as report.json and report.md
/// beside the backend's artifacts. Users' errors are <see cref="ArchNetException"/>s.
/// </summary>
public sealed class CompilePipeline(CompileOptions options, IDiagnostics diagnostics)
{
    /// <summary>The built-in backends; the CLI lists the same ones.</summary>
    public static IEnumerable<IBackend> BuiltInBackends() => [new OnnxQdqBackend(), new ArchNet.Backends.C.CBackend(), new ArchNet.Backends.TFLite.TFLiteBackend()];

    private readonly Dictionary<string, double> _timings = [];

    /// <summary>The quantized model handed to the backend (after <see cref="Run"/>): what the emulator runs when a test
    /// checks a backend's artifact against it bit for bit.</summary>
    public Model? Quantized { get; private set; }

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
        if (!File.Exists(o.ModelPath)) throw new ArchNetException($"model file '{o.ModelPath}' does not exist");
        CheckDistillationKnobs(o);
        // Found now, not after minutes of calibration, when the artifacts are written.
        CheckOutputFolder(o.OutputDirectory);

        // Import.
        var model = Stage("import", () => OnnxImporter.Load(o.ModelPath));
        if (o.Dims.Count > 0) InputShapes.Bind(model, o.Dims);
        CheckInputSizes(model, o.ModelPath);
        var opsBefore = OpCounts(model);

        // Target, backend (fail early on a bad name, before the long stages).
        var catalog = new TargetCatalog(o.TargetsDirectory ?? FindTargetsDirectory());
        var capability = Stage("target", () => catalog.Resolve(o.Target));
        var quantTarget = NumericsChoice.For(capability.Numerics, o.WeightBits, o.ActivationBits);
        var quantOptions = new QuantizationOptions
        {
            Method = o.Method,
            BiasCorrection = o.BiasCorrection,
            EdgeLayers = o.EdgeLayers,
            Attention = o.Attention,
        };
        quantOptions.CheckWidths(quantTarget, capability.Name);
        using var backends = BackendCatalog.Discover(BuiltInBackends(), o.PluginDirectories, diagnostics);
        var backend = backends.Get(o.Backend);
        if (!BackendCatalog.Serves(backend, capability.Name))
            throw new ArchNetException($"backend '{backend.Name}' does not serve target '{capability.Name}' (it serves: {string.Join(", ", backend.ServedTargets)})");

        // Data, before the long stages: a bad SPEC fails fast.
        var calibSpec = DataSpec.Parse(o.Calibration ?? throw new ArchNetException(
            "--calib SPEC is required: quantization needs real inputs (" + DataSpec.Syntax + "); random:N is accepted but reported as low-confidence"));
        var calib = Stage("load calibration data", () => DataLoader.Load(calibSpec, Signatures(model)));
        // Chips run one item at a time, on static shapes: what is still symbolic gets its size now, before the evaluation
        // data is checked against it and before canonicalization (BN folding, constant folding, dead code, composite
        // recognition), so that shape chains (Shape -> Gather -> Concat -> Reshape) fold into constants and the rewrite
        // rules see static shapes.
        var batch = BatchSize(model);
        BindInputShapes(model, calib, calibSpec);
        var evalSpec = o.Evaluation is null ? calibSpec : DataSpec.Parse(o.Evaluation);
        var eval = o.Evaluation is null ? calib : Stage("load evaluation data", () => DataLoader.Load(evalSpec, Signatures(model)));
        long[]? labels = o.EvaluationLabels is null ? null : DataLoader.LoadLabels(DataSpec.Parse(o.EvaluationLabels));
        if (labels is not null && labels.Length < eval.Count)
            throw new ArchNetException($"--eval-labels has {labels.Length} labels for {eval.Count} evaluation items");
        if (calib.LowConfidence || eval.LowConfidence)
            diagnostics.Warning("random inputs: the fidelity figures of this compile are LOW-CONFIDENCE (no real data was used)");

        Stage("canonicalize", () => Canonicalize.Run(model, new PassContext(diagnostics)));
        var provisional = MarkBiasesInt32(model);
        var before = Stage("audit", () => Unsupported(model, capability));
        diagnostics.Info($"audit: {before.Count} node(s) unsupported by {capability.Name} before legalization");
        var legalization = before.Count == 0 ? null : Stage("legalize", () =>
            new Legalizer(new CapabilityOracle(capability)).Run(model, new PassContext(diagnostics)));
        if (legalization is not null)
        {
            diagnostics.Info($"legalize: {legalization.Rewrites.Count} rewrite(s), {legalization.UnsupportedAfter} node(s) still unsupported" +
                (legalization.Retrain.Count > 0 ? $", {legalization.Retrain.Count} left for retraining" : ""));
            ShapeInference.Run(model.Graph);
        }
        // Every compile measures itself on the integer emulator: an op it cannot run stops the compile now, not after
        // calibration and training (nodes left for retraining are replaced by ops it runs).
        if (Emulator.Unemulated(model.Graph).Where(n => !n.Metadata.Any(kv => kv.Key == Legalizer.RetrainKey)).ToList() is { Count: > 0 } unemulated)
            throw new ArchNetException($"the integer emulator has no kernel for {string.Join(", ", unemulated.Select(n => n.OpType).Distinct())} " +
                $"({unemulated.Count} node(s), first '{unemulated[0].DisplayName}'), so this compile could not measure its accuracy cost; " +
                "nothing was calibrated or written");
        // Nodes the target still rejects (marked for retraining by legalization) go to distillation.
        var distilled = DistillIfNeeded(model, capability, calib, quantTarget);
        foreach (var b in provisional) if (b.Quant is { Bits: 32, Scales.Length: 1 } q && q.Scales[0] == 1f) b.Quant = null;

        // Cross-layer equalization before the float graph is taken: calibration, the per-layer float reference and the
        // integer graph all see the same (equivalent) weights. Trained students keep the weights training chose.
        var equalized = distilled is null && o.Equalization
            ? Stage("equalize", () => CrossLayerEqualization.Run(model.Graph, depthwiseFirstOnly: quantTarget.PerChannelWeights))
            : [];
        if (equalized.Count > 0) diagnostics.Info($"equalize: {equalized.Count} convolution pair(s) equalized");

        // Quantize. Statistics come from ONNX Runtime running this (canonical, legal) float graph with every
        // intermediate exposed: much faster than the emulator's float mode on large models, and the same values.
        // The float graph as it is now, for the fidelity reference; serialized only there (its weights stay shared).
        var floatGraph = OnnxExporter.ToProto(model);
        var summary = Stage("quantize", () => Quantizer.Run(model, OrtCalibration(model, calib), quantTarget, quantOptions with
        {
            // Trained weights already sit on their quantization grid: moving the biases would undo training. A trained
            // student has learned its outputs' offsets already.
            BiasCorrection = o.BiasCorrection && distilled is null,
            OffsetNegativeOutputs = distilled is null,
        }, diagnostics));
        if (o.Attention == LayerPrecision.EightBit)
            diagnostics.Info(summary.EightBitAttention.Count == 0
                ? "quantize: --attention EightBit: the model has no attention (no Softmax, no MatMul between two activations)"
                : $"quantize: attention at 8 bits: {summary.EightBitAttention.Count} node(s), first {summary.EightBitAttention[0]}");
        distilled?.Quantization?.ApplyTo(model);
        model.Graph.RemoveDeadCode();
        var activations = model.Graph.Inputs.Concat(model.Graph.Nodes.SelectMany(n => n.Outputs)).Where(v => v.Quant is not null).ToList();
        var signedness = new SignednessCounts(activations.Count(v => v.Quant!.Signed), activations.Count(v => !v.Quant!.Signed));
        if (quantTarget.UnsignedWhereNonNegative)
            diagnostics.Info($"quantize: {signedness.Unsigned} of {activations.Count} activations are never negative and use " +
                $"{capability.Name}'s unsigned format");
        Verifier.Verify(model, "quantization");
        var accumulatorRisks = AccumulatorBounds.Find(model.Graph, quantTarget.Semantics.AccumulatorBits);
        if (accumulatorRisks.Count > 0)
            diagnostics.Warning($"accumulator: {accumulatorRisks.Count} node(s) can form sums past {capability.Name}'s " +
                $"{quantTarget.Semantics.AccumulatorBits}-bit accumulator, where the integer model (and the chip) saturate and ONNX Runtime's " +
                $"QDQ arithmetic does not; largest: {accumulatorRisks.MaxBy(r => r.Bits)} (all in report.json's accumulator_risks)");

        // The final audit sees the integer types quantization chose (a float bias is an int32 bias now).
        var unsupported = Stage("audit", () => Unsupported(model, capability));
        if (unsupported.Count > 0)
        {
            var lines = unsupported.Select(u => $"  {u.Node} ({u.OpType}): {u.Reason}").ToList();
            if (!o.AllowHostFallback)
                throw new ArchNetException($"{unsupported.Count} node(s) are not supported by {capability.Name} after legalization:\n"
                    + string.Join("\n", lines) + "\n(--allow-host-fallback keeps them as float host ops)");
            diagnostics.Warning($"HOST FALLBACK: {unsupported.Count} node(s) unsupported by {capability.Name} run as FLOAT ops on the host:\n" + string.Join("\n", lines));
            var names = unsupported.Select(u => u.Node).ToHashSet();
            foreach (var node in model.Graph.Nodes.Where(n => names.Contains(n.DisplayName)))
                node.Metadata.Add(new(Emulator.HostFloatKey, "true"));
        }

        // Fidelity on the evaluation data: ORT on the original model vs the emulator's integer result. The emulator
        // stacks items along dimension 0 unless a constant folded at batch 1 ties the graph to one item.
        // A model exported with a static batch of 1 runs one item at a time anyway: nothing to stack or to report.
        var axes = batch == 1 ? null : ItemAxes.Of(model.Graph, model.Opset());
        var binding = BatchBinding.Bound(model.Graph, axes).ToList();
        var bound = binding.FirstOrDefault();
        // Bound only by batch-1 constants (a Reshape to [17,4,16], a class token): the emulator runs stacked items
        // through constants widened to each batch (per-layer figures still item by item: their values line up so).
        var stacked = bound is not null && axes is { Bound.Count: 0 } ? axes : null;
        if (stacked is not null)
        {
            diagnostics.Info($"evaluate: items stacked through {binding.Count} batch-1 constant(s) widened to the batch, first {bound}");
            bound = null;
        }
        else if (bound is not null)
        {
            batch = 1;
            diagnostics.Info($"evaluate: item by item: {binding.Count} node(s) bind the graph to batch 1, first {bound}");
        }
        // The float graph was taken before quantization raised any output; a distilled student's has learned its offsets.
        var offsets = distilled?.OutputOffsets ?? summary.OutputOffsets;
        var fidelity = Stage("fidelity", () => MeasureFidelity(model, OnnxExporter.ToBytes(floatGraph), eval, labels, batch, offsets,
            floatGraphOffsets: distilled?.OutputOffsets ?? new Dictionary<string, double>(), stacked));
        var crossCheck = Stage("cross-check", () => CrossCheck(model, eval, fidelity));
        AdviseOnLowFidelity(model, fidelity, quantTarget, distilled is not null);

        // Emit.
        Directory.CreateDirectory(o.OutputDirectory);
        Quantized = model;
        var artifacts = Stage("emit", () => BackendRun.Emit(backend, model, capability.Name, o.OutputDirectory, diagnostics));

        var report = new CompileReport
        {
            Model = Path.GetFileName(o.ModelPath),
            Target = capability.Name,
            Backend = backend.Name,
            WeightBits = o.WeightBits,
            ActivationBits = o.ActivationBits,
            Semantics = quantTarget.Semantics.Encode(),
            Calibration = calib.Description,
            CalibrationItems = calib.Count,
            Evaluation = eval.Description,
            EvaluationItems = eval.Count,
            ItemByItem = bound?.ToString(),
            LowConfidence = calib.LowConfidence || eval.LowConfidence,
            UnsupportedNodesBefore = before.Count,
            Rewrites = legalization is null ? [] : [.. legalization.Rewrites.Select(r => $"{r.Rule} at {r.Node} ({r.OpType})")],
            UnsupportedNodesAfter = o.AllowHostFallback ? 0 : unsupported.Count,
            HostFallbackNodes = [.. unsupported.Select(u => $"{u.Node} ({u.OpType}): {u.Reason}")],
            HostFloatOps = fidelity.HostFloatNodes,
            OutputOffsets = new(offsets.ToDictionary(kv => kv.Key, kv => Math.Round(kv.Value, 6)), StringComparer.Ordinal),
            OpsBefore = opsBefore,
            OpsAfter = OpCounts(model),
            Artifacts = [.. artifacts.Select(a => a.RelativePath)],
            ArtifactDescriptions = new(artifacts.ToDictionary(a => a.RelativePath, a => a.Kind), StringComparer.Ordinal),
            Fidelity = fidelity.Overall,
            Accuracy = fidelity.Accuracy,
            CrossCheck = crossCheck,
            AccumulatorRisks = [.. accumulatorRisks.Select(r => r.ToString())],
            Layers = fidelity.Layers,
            LayerItems = fidelity.LayerItems,
            QuantizedActivations = summary.QuantizedActivations,
            QuantizedWeights = summary.QuantizedWeights,
            ActivationSignedness = signedness,
            BiasCorrectedLayers = summary.BiasCorrected,
            EqualizedPairs = [.. equalized.Select(p => $"{p.First} -> {p.Second}")],
            EightBitEdgeLayers = summary.EightBitEdgeLayers,
            EightBitAttention = summary.EightBitAttention,
            Method = o.Method.ToString(),
            TimingsSeconds = new SortedDictionary<string, double>(_timings),
            Distillation = distilled is null ? null : DistillationSummary.From(distilled),
        };
        ReportWriter.Write(report, o.OutputDirectory);
        return report;
    }

    /// <summary>
    /// Distillation (ArchNet.Passes.Distillation): when the target rejects nodes, the model is canonicalized (BN folded)
    /// and the rejected nodes are replaced by students trained on the calibration inputs (never labels); with
    /// <see cref="DistillMode.Always"/> a model the target already runs is also trained blockwise at its bit widths (QAT).
    /// Checkpoints go to OUTPUT/distill, so rerunning the same command resumes.
    /// </summary>
    private DistillationReport? DistillIfNeeded(Model model, Capability capability, Dataset calib, QuantizationTarget quantTarget)
    {
        var o = options;
        if (o.Distill == DistillMode.Off) return null;
        if (Unsupported(model, capability).Count == 0 && o.Distill != DistillMode.Always) return null;
        return Stage<DistillationReport?>("distill", () =>
        {
            var context = new ArchNet.Passes.PassContext(diagnostics);
            ArchNet.Passes.Canonicalization.Canonicalize.Run(model, context);
            var teacher = OnnxImporter.Load(o.ModelPath);
            ShapeInference.Run(teacher.Graph);
            ArchNet.Passes.Canonicalization.Canonicalize.Run(teacher, new ArchNet.Passes.PassContext(SilentDiagnostics.Instance));
            List<ReplacementRecord> records;
            try
            {
                // With host fallback, nodes no replacement handles stay for the final audit, which keeps them as float host ops.
                records = ReplacementCatalog.BuildStudent(model, capability,
                    n => n.Metadata.Any(kv => kv.Key == ArchNet.Passes.Legalization.Legalizer.RetrainKey), keepUnreplaced: o.AllowHostFallback,
                    calibration: model.Graph.Inputs.Where(v => !v.IsConstant).ToList() is [var only] && calib.Arrays.TryGetValue(only.Name, out var c) ? c : null);
            }
            catch (ArchNetException e)
            {
                throw new ArchNetException(e.Message + "\n(--allow-host-fallback keeps them as float host ops)", e.ExitCode, e);
            }
            if (records.Count == 0 && o.Distill != DistillMode.Always) return null;
            foreach (var r in records) diagnostics.Info($"retrain: {r.Node} ({r.OpType}) -> {r.Replacement}");
            var input = model.Graph.Inputs.Where(v => !v.IsConstant).ToList();
            if (input.Count != 1 || !calib.Arrays.TryGetValue(input[0].Name, out var items))
                throw new ArchNetException("distillation needs a model with one input and calibration data for it");
            var plan = new QuantizationPlan(o.WeightBits, o.ActivationBits, quantTarget.PerChannelWeights, quantTarget.Activations.Signed)
            {
                // The quantizer's edge-layer and attention policies (widths checked against the chip before any stage), so
                // that training sees the bit widths the quantizer will give.
                EdgeLayerBits = o.EdgeLayers == LayerPrecision.EightBit ? 8 : null,
                AttentionBits = o.Attention == LayerPrecision.EightBit ? 8 : null,
                // Below 8 bits only. fmnist_vit on archnet-transformer, seeds 0, 1, 2, top-1 change on t10k: at W4A4, training
                // the never-negative groups unsigned gained 0.52 pt on average (-4.72 -> -4.20, better in all three, cosine
                // too); at W8A8 it lost 0.11 (-0.88 -> -0.99, worse in all three): 127 levels are not what limits that
                // student, and the 8-bit groups it trains signed stay signed in the artifact (LearnedQuantization.ApplyTo).
                UnsignedWhereNonNegative = quantTarget.UnsignedWhereNonNegative && o.ActivationBits < 8,
            };
            if (o.Threads is { } threads) TorchRuntime.UseThreads(threads);
            var distiller = new Distiller(new DistillationOptions
            {
                Steps = o.DistillSteps,
                BatchSize = o.DistillBatch,
                Seed = o.Seed,
                ActivationDrop = o.DistillDrop,
                CheckpointDirectory = Path.Combine(o.OutputDirectory, "distill"),
            }, diagnostics);
            var report = distiller.Run(teacher, model, items, plan, records);
            model.Graph.RemoveDeadCode();
            ShapeInference.Run(model.Graph);
            return report;
        });
    }

    /// <summary>
    /// Before quantization a Conv/Gemm bias is float, and a chip that only takes int32 biases would reject every such
    /// node in the audit although quantization will make the bias int32. This marks constant float biases as int32
    /// until the quantizer sets their real parameters; returns the values marked. (Legalization needs no marking: its
    /// oracle leaves element-type rules to quantization.)
    /// </summary>
    private static List<Value> MarkBiasesInt32(Model model)
    {
        var marked = new List<Value>();
        foreach (var node in model.Graph.Nodes.Where(n => n.OpType is "Conv" or "Gemm" && n.IsDefaultDomain))
            if (node.Input(2) is { IsConstant: true, Quant: null } b && b.ElementType == ElementType.Float)
            {
                b.Quant = QuantParams.PerTensor(32, true, 1f);
                marked.Add(b);
            }
        return marked;
    }

    private T Stage<T>(string name, Func<T> work)
    {
        diagnostics.Info($"{name}...");
        var clock = Stopwatch.StartNew();
        var result = work();
        AddTiming(name, clock.Elapsed.TotalSeconds);
        return result;
    }

    private static string FindTargetsDirectory()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "targets");
                if (File.Exists(Path.Combine(candidate, "schema.json"))) return candidate;
            }
        throw new ArchNetException("cannot find the targets/ folder of capability files (give --targets-dir)");
    }

    /// <summary>Every static size of a graph input is at least 1 (an empty input has no items to calibrate on or to
    /// measure) and fits an array.</summary>
    private static void CheckInputSizes(Model model, string path)
    {
        foreach (var input in model.Graph.Inputs.Where(i => !i.IsConstant && i.Shape is not null))
            for (var axis = 0; axis < input.Shape!.Rank; axis++)
                if (input.Shape[axis].Value is { } size && size is < 1 or > int.MaxValue)
                    throw new ArchNetException($"{Path.GetFileName(path)}: graph input '{input.Name}' is {input.Shape}: size {size} on axis {axis} " +
                        (size < 1 ? "leaves no data to compile with" : "is beyond what one tensor can hold"));
    }

    public static IReadOnlyList<InputSignature> Signatures(Model model) =>
        [.. model.Graph.Inputs.Where(i => !i.IsConstant).Select(i => new InputSignature(i.Name, i.ElementType,
            i.Shape?.Dims.Select(d => d.Value).ToArray() ?? []))];

    public static SortedDictionary<string, int> OpCounts(Model model) =>
        new(model.Graph.Nodes.GroupBy(n => n.IsDefaultDomain ? n.OpType : $"{n.Domain}.{n.OpType}")
            .ToDictionary(g => g.Key, g => g.Count()), StringComparer.Ordinal);

    public sealed record UnsupportedNode(string Node, string OpType, string Reason);

    public static List<UnsupportedNode> Unsupported(Model model, Capability capability) =>
        [.. model.Graph.Nodes.Where(n => !(n.OpType == "Constant" && n.IsDefaultDomain))
            .Select(n => (Node: n, Check: capability.Check(n)))
            .Where(p => !p.Check.IsSupported)
            .Select(p => new UnsupportedNode(p.Node.DisplayName, p.Node.OpType, string.Join("; ", p.Check.Violations)))];

    /// <summary>Items per emulator run: the model's static batch size, else 32.</summary>
    private static int BatchSize(Model model) =>
        model.Graph.Inputs.Where(i => !i.IsConstant).Select(i => i.Shape is { Rank: > 0 } s && s[0].Value is { } b ? (int)b : 32).DefaultIfEmpty(32).Min();

    /// <summary>The items from <paramref name="from"/> on, <paramref name="batch"/> at a time (the last batch may be
    /// shorter), as emulator inputs; each batch is sliced when it is reached.</summary>
    public static IEnumerable<(int Start, int Count, Dictionary<string, Tensor> Inputs)> Batches(Dataset data, int batch, int from = 0) =>
        SliceStarts(data.Count, batch, partialLast: true, from).Select(s => (s.Start, s.Count, data.Arrays.ToDictionary(kv => kv.Key,
            kv => Tensor.FromTensorData(DataLoader.Slice(kv.Value, s.Start, s.Count)))));

    /// <summary>Largest total size of the exposed values of one calibration run (bytes). Calibration runs one inference per
    /// core at once, each on one thread, and the core that ran it folds its outputs into statistics while they are still
    /// in cache: small runs are fastest (32 ResNet18 items on 2 cores: one item per run, one run per core, 1.1-1.25 s;
    /// 16 items per run on both cores, 1.3-1.4 s and 0.3-0.5 s more for the statistics). The slicing does not depend on
    /// the core count, so neither does any statistic.</summary>
    private const long CalibrationRunBytes = 16L << 20;

    /// <summary>
    /// Calibration statistics from ONNX Runtime running this (canonical, legal) float graph, with the requested values
    /// exposed as outputs and read in place. When every item runs independently (<see cref="CalibrationBatch"/>), the
    /// graph's one-item batch is widened and items run together; otherwise one static batch at a time.
    /// </summary>
    private StatisticsSource OrtCalibration(Model model, Dataset data) => request =>
    {
        var byName = request.Values.ToDictionary(v => v.Name, StringComparer.Ordinal);
        var graphInputs = model.Graph.Inputs.Where(i => !i.IsConstant && byName.ContainsKey(i.Name)).ToList();
        var exposed = request.Values.Where(v => !graphInputs.Contains(v)).Select(v => v.Name).Order(StringComparer.Ordinal).ToList();
        var batch = CalibrationBatch.Of(model);
        var cores = Environment.ProcessorCount;
        var perRun = batch is null ? ItemsPerRun(model) : ItemsPerCalibrationRun(request.Values, data.Count);
        var slices = SliceStarts(data.Count, perRun, partialLast: batch is not null);
        var streams = Math.Clamp(slices.Count, 1, cores);

        var clock = Stopwatch.StartNew();
        var rebinding = batch is null ? null : new BatchRebinding(
            batch.Batched.Select(v => v.Name).ToHashSet(StringComparer.Ordinal),
            batch.Reshapes.ToDictionary(kv => kv.Key.Outputs[0].Name, kv => kv.Value, StringComparer.Ordinal));
        // ORT's graph optimizations (exposed values stay outputs, so fusions cannot drop them). Calibration is a
        // throughput job: with several slices, one single-threaded inference per core runs at once and each core
        // folds its own outputs into statistics, with no synchronization between them; with one slice, one inference
        // on all cores.
        using var ort = new ReferenceRunner(OnnxExporter.ToProto(model), exposed, rebinding, OrtOptimizations.All,
            threads: streams > 1 ? 1 : cores);
        AddTiming("quantize: calibration session", clock.Elapsed.TotalSeconds);

        // Each slice's statistics start from nothing (or from the range, for histograms) and are folded into the total
        // in slice order as soon as every earlier slice is in, so the result does not depend on which core finished
        // first, and at most one slice per core waits to be folded.
        Dictionary<Value, TensorStatistics> Pass(string name, Func<Value, TensorStatistics> fresh,
            Action<TensorStatistics, Value, ReadOnlySpan<float>, ReadOnlySpan<int>> observe)
        {
            clock.Restart();
            var total = request.Values.ToDictionary(v => v, fresh);
            var waiting = new Dictionary<int, Dictionary<Value, TensorStatistics>>();
            var next = -1;
            var folded = 0;
            var statisticsTicks = 0L;
            using var progress = diagnostics.BeginProgress(name, data.Count);
            var failed = false;
            void RunSlices()
            {
                for (var index = Interlocked.Increment(ref next); index < slices.Count && !Volatile.Read(ref failed);
                     index = Interlocked.Increment(ref next))
                {
                    var (start, count) = slices[index];
                    var inputs = data.Arrays.ToDictionary(kv => kv.Key, kv => DataLoader.Slice(kv.Value, start, count));
                    var part = request.Values.ToDictionary(v => v, fresh);
                    void Observe(Value v, ReadOnlySpan<long> dims, ReadOnlySpan<float> floats)
                    {
                        Span<int> shape = stackalloc int[dims.Length];
                        for (var d = 0; d < dims.Length; d++) shape[d] = (int)dims[d];
                        // A value computed from constants only comes out once per run, but stands for every item in it.
                        var times = batch is not null && !batch.Batched.Contains(v) ? count : 1;
                        for (var t = 0; t < times; t++) observe(part[v], v, floats, shape);
                    }
                    // One stream: each value's statistics on all cores at once (ORT's threads are idle by then).
                    var spent = ort.Run(inputs, exposed, (n, dims, floats) => Observe(byName[n], dims, floats), parallel: streams == 1);
                    var own = Stopwatch.StartNew();
                    foreach (var v in graphInputs)
                        if (inputs.TryGetValue(v.Name, out var t) && t.ElementType == ElementType.Float)
                            Observe(v, [.. t.Dims], t.Span<float>());
                    lock (waiting)
                    {
                        waiting[index] = part;
                        while (waiting.Remove(folded, out var done))
                        {
                            foreach (var (v, s) in done) total[v].Add(s);
                            folded++;
                        }
                        progress.Advance(count);
                    }
                    Interlocked.Add(ref statisticsTicks, (spent + own.Elapsed).Ticks);
                }
            }
            if (streams == 1) RunSlices();
            else
            {
                try
                {
                    Parallel.For(0, streams, new ParallelOptions { MaxDegreeOfParallelism = streams }, _ =>
                    {
                        try { RunSlices(); }
                        catch { Volatile.Write(ref failed, true); throw; }
                    });
                }
                catch (AggregateException e)
                {
                    // ONNX Runtime's error (an ArchNetException) as the one-line error it is, not wrapped.
                    System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions[0]).Throw();
                }
            }
            // With several streams, statistics overlap other streams' inferences: their share of the wall time is their
            // share of the CPU time.
            var statistics = TimeSpan.FromTicks(statisticsTicks / streams);
            AddTiming($"quantize: {name} runs", (clock.Elapsed - statistics).TotalSeconds);
            AddTiming($"quantize: {name} statistics", statistics.TotalSeconds);
            return total;
        }
        var stats = Pass("calibrate", _ => new TensorStatistics(),
            (s, v, floats, shape) => s.ObserveRange(floats, shape, request.ChannelMeans.Contains(v)));
        if (request.Histograms)
        {
            var histograms = Pass("histogram", v => stats[v].RangeOnly(), (s, _, floats, _) => s.ObserveHistogram(floats));
            foreach (var (v, h) in histograms) stats[v].Add(h);
        }
        return stats;
    };

    /// <summary>Below this output cosine, or this top-1 agreement, a compile says where its accuracy goes and what could
    /// bring it back (a 4-bit compile after distillation stays above both: the README's fmnist_resnet for archnet W4A4,
    /// cosine 0.997 and top-1 agreement 97.4 % on t10k).</summary>
    private const double LowCosine = 0.9, LowAgreement = 0.95;

    /// <summary>A value whose cosine falls below this is where the loss starts.</summary>
    private const double LayerLossCosine = 0.99;

    /// <summary>
    /// A compile whose output strays from the original's (cosine below <see cref="LowCosine"/>) warns with the first value
    /// in graph order below <see cref="LayerLossCosine"/> (where the loss starts; the per-layer rows are worst first) and the
    /// options this target and model leave: wider weights or activations, 8-bit edge layers or attention, another range
    /// method, blockwise quantization-aware training. MiniLM at W8A8 on reference-cpu: cosine 0.64; with --abits 16, 0.999.
    /// </summary>
    private void AdviseOnLowFidelity(Model model, FidelityResult fidelity, QuantizationTarget target, bool distilled)
    {
        var overall = fidelity.Overall;
        if (overall.Cosine >= LowCosine && overall.Top1Agreement is not < LowAgreement) return;
        var order = model.Graph.Nodes.SelectMany((n, i) => n.Outputs.Select(v => (v.Name, i))).GroupBy(p => p.Name)
            .ToDictionary(g => g.Key, g => g.First().i, StringComparer.Ordinal);
        var first = fidelity.Layers.Where(l => l.Cosine < LayerLossCosine && order.ContainsKey(l.Value)).MinBy(l => order[l.Value]);
        var hints = new List<string>();
        if (target.AllowedWeightBits.Any(b => b > options.WeightBits))
            hints.Add($"--wbits {target.AllowedWeightBits.Where(b => b > options.WeightBits).Min()}");
        if (target.AllowedActivationBits.Any(b => b > options.ActivationBits))
            hints.Add($"--abits {target.AllowedActivationBits.Where(b => b > options.ActivationBits).Min()}");
        var eightBit = target.AllowedWeightBits.Contains(8) && target.AllowedActivationBits.Contains(8);
        if (eightBit && (options.WeightBits < 8 || options.ActivationBits < 8))
        {
            if (options.EdgeLayers == LayerPrecision.Same) hints.Add("--edge-layers EightBit");
            if (options.Attention == LayerPrecision.Same && options.ActivationBits < 8 && model.Graph.Nodes.Any(n => n.OpType == "Softmax"))
                hints.Add("--attention EightBit");
        }
        if (options.Method == CalibrationMethod.MinMax) hints.Add("--calib-method Mse or Percentile");
        if (!distilled && model.Graph.Inputs.Count(i => !i.IsConstant) == 1 && options.Distill != DistillMode.Always)
            hints.Add("--distill Always (blockwise quantization-aware training on the calibration data)");
        diagnostics.Warning($"fidelity is low: output cosine {overall.Cosine:F4}, SQNR {overall.SqnrDb:F1} dB" +
            (overall.Top1Agreement is { } agreement ? $", top-1 agreement {agreement:P1}" : "") +
            (first is null ? "" : $"; the loss starts at '{first.Value}', the first value below cosine {LayerLossCosine} (cosine {first.Cosine:F4}, " +
                $"SQNR {first.SqnrDb:F1} dB, {first.Clipped * 100:F1} % of its float values outside its range; report.md lists every layer)") +
            (hints.Count == 0 ? "" : $"; what the target and model leave to try: {string.Join("; ", hints)}"));
    }

    /// <summary>(start, count) of each run of <paramref name="batch"/> items from <paramref name="from"/> on; a shorter last
    /// one only when <paramref name="partialLast"/> (calibration: when the graph takes any batch).</summary>
    private static List<(int Start, int Count)> SliceStarts(int items, int batch, bool partialLast, int from = 0)
    {
        var slices = new List<(int, int)>();
        for (var start = from; start < items && (partialLast || start + batch <= items); start += batch)
            slices.Add((start, Math.Min(batch, items - start)));
        return slices;
    }

    /// <summary>Items per widened calibration run: as many as keep the exposed values within <see cref="CalibrationRunBytes"/>,
    /// spread evenly over the runs.</summary>
    private static int ItemsPerCalibrationRun(IEnumerable<Value> exposed, int items)
    {
        var perItem = Math.Max(1, exposed.Sum(v => (v.Shape?.ElementCount ?? 0) * Math.Max(1, v.ElementType.ByteCount(1))));
        var most = (int)Math.Clamp(CalibrationRunBytes / perItem, 1, Math.Max(1, items));
        var runs = (items + most - 1) / most;
        return Math.Max(1, (items + runs - 1) / Math.Max(1, runs));
    }

    private void AddTiming(string name, double seconds) =>
        _timings[name] = Math.Round(_timings.GetValueOrDefault(name) + seconds, 3);

    /// <summary>Items per ORT run of the static-shape graph: its batch dimension.</summary>
    private static int ItemsPerRun(Model model) =>
        model.Graph.Inputs.Where(i => !i.IsConstant).Select(i => i.Shape is { Rank: > 0 } s && s[0].Value is { } b ? (int)b : 1).DefaultIfEmpty(1).Min();

    /// <param name="FirstIntegers">The golden model's integers of each quantized graph output on the first
    /// <paramref name="FirstItems"/> evaluation items, item after item: what <see cref="CrossCheck"/> compares.</param>
    private sealed record FidelityResult(FidelityFigures Overall, AccuracyFigures? Accuracy, List<LayerFidelity> Layers,
        int LayerItems, List<string> HostFloatNodes, int FirstItems, Dictionary<string, List<int>> FirstIntegers);

    /// <summary>Evaluation items the QDQ artifact runs in ONNX Runtime for <see cref="CrossCheck"/>.</summary>
    private const int CrossCheckItems = 8;

    /// <summary>
    /// The QDQ artifact (the onnx backend's model, built here whatever the backend) run by ONNX Runtime on the first
    /// evaluation items, against the golden model's integers from the fidelity run: the share of output integers equal
    /// and the largest difference. ORT runs it as a user would, with all its optimizations (QDQ groups fused into its
    /// integer kernels); where ORT rejects the optimized model (ORT 1.31's QDQ fusions move 4-bit activations into
    /// kernels that have no 4-bit types), that is warned and the check runs at ORT's basic level (constant folding, no QDQ
    /// fusion), which is also how a user must load such an artifact; and says so. A model ORT cannot run at all is
    /// reported, not fatal: the chip's own backend may still be right.
    /// </summary>
    private CrossCheckFigures CrossCheck(Model model, Dataset eval, FidelityResult fidelity)
    {
        var (items, expected) = (fidelity.FirstItems, fidelity.FirstIntegers);
        if (items == 0 || expected.Count == 0) return new(items, 0, 0, 0);
        var bytes = OnnxExporter.ToBytes(QdqWriter.Build(model));
        ReferenceRunner ort;
        string? optimizedError = null;
        try
        {
            ort = new ReferenceRunner(bytes, optimizations: OrtOptimizations.All);
        }
        catch (ArchNetException optimized)
        {
            diagnostics.Warning($"cross-check: with all its optimizations, {optimized.Message}; checking at its basic level " +
                "(GraphOptimizationLevel.ORT_ENABLE_BASIC), which is how this artifact must be loaded");
            optimizedError = optimized.Message;
            try
            {
                ort = new ReferenceRunner(bytes, optimizations: OrtOptimizations.Basic);
            }
            catch (ArchNetException e)
            {
                diagnostics.Warning($"cross-check: {e.Message}");
                return new(items, 0, 0, 0, false, optimizedError, e.Message);
            }
        }
        using (ort)
        {
            // The graph outputs are DequantizeLinear's (q - z) * s in float32: q comes back exactly, at any width.
            var quant = model.Graph.Outputs.Where(o => expected.ContainsKey(o.Name)).ToDictionary(o => o.Name, o => o.Quant!);
            long total = 0, equal = 0, maxLsb = 0;
            for (var i = 0; i < items; i++)
            {
                Dictionary<string, TensorData> run;
                try
                {
                    run = ort.Run(eval.Arrays.ToDictionary(kv => kv.Key, kv => DataLoader.Slice(kv.Value, i, 1)));
                }
                catch (ArchNetException e)
                {
                    diagnostics.Warning($"cross-check: {e.Message}");
                    return new(items, 0, 0, 0, optimizedError is null, optimizedError, e.Message);
                }
                foreach (var (output, q) in quant)
                {
                    var golden = expected[output];
                    var values = run[output].ToFloats();
                    var perItem = golden.Count / items;
                    if (values.Length != perItem)
                        return new(items, 0, 0, 0, optimizedError is null, optimizedError, $"output '{output}' has {values.Length} values per item in ONNX Runtime, {perItem} in the golden model");
                    for (var k = 0; k < perItem; k++)
                    {
                        var d = Math.Abs(golden[i * perItem + k] - ((long)Math.Round(values[k] / q.Scales[0]) + q.ZeroPoints[0]));
                        if (d == 0) equal++;
                        maxLsb = Math.Max(maxLsb, d);
                        total++;
                    }
                }
            }
            return new(items, total, Math.Round((double)equal / total, 6), maxLsb, optimizedError is null, optimizedError);
        }
    }

    /// <param name="offsets">Per output, the constant the compiled output adds (<see cref="OutputOffset"/>, unsigned chips):
    /// the original's output plus it is what the compiled output must reproduce. It is taken off the compiled output
    /// before figures are computed (<see cref="Agreement.Add"/>).</param>
    /// <param name="floatGraphOffsets">The offsets <paramref name="floatGraph"/> (the per-layer reference) has already.</param>
    /// <param name="stacked">For a graph bound to one item only by its constants: where the items go; the emulator
    /// then runs each batch through the constants widened to it (<see cref="StackedForm"/>).</param>
    private FidelityResult MeasureFidelity(Model model, byte[] floatGraph, Dataset eval, long[]? labels, int batch,
        IReadOnlyDictionary<string, double> offsets, IReadOnlyDictionary<string, double> floatGraphOffsets, ItemAxes? stacked = null)
    {
        var integer = new Emulator(model, EmulatorMode.Integer);
        var stackedEmulators = new Dictionary<int, (StackedForm Form, Emulator Emulator)>();
        EmulatorRun Emulate(int items, Dictionary<string, Tensor> inputs, Func<Value, bool>? keep)
        {
            if (stacked is null || items == 1) return integer.Run(inputs, keep);
            // The emulator reads the graph's nodes and constants as they are while it is built and while it runs.
            if (!stackedEmulators.TryGetValue(items, out var e))
            {
                var form = StackedForm.For(model.Graph, stacked, items);
                using (form.Apply()) stackedEmulators[items] = e = (form, new Emulator(model, EmulatorMode.Integer));
            }
            using (e.Form.Apply()) return e.Emulator.Run(inputs, keep);
        }
        using var reference = ReferenceRunner.FromFile(options.ModelPath);
        var outputs = model.Graph.Outputs.Select(v => v.Name).ToList();
        var overall = outputs.ToDictionary(n => n, _ => new Agreement());
        var top1 = new Top1();
        var layers = new Dictionary<string, Agreement>(StringComparer.Ordinal);
        // A value folded into its ReLU/Clip consumer holds that consumer's integers; the consumer is compared instead.
        var layerValues = model.Graph.Nodes.SelectMany(n => n.Outputs)
            .Where(v => v.Quant is not null && !(v.Uses.Count == 1 && v.Uses[0].Node.OpType is "Relu" or "Clip" && v.Uses[0].Node.Outputs[0].Quant == v.Quant))
            .ToHashSet();
        using var layerReference = new ReferenceRunner(floatGraph, layerValues.Select(v => v.Name).Order(StringComparer.Ordinal));
        var perRun = ItemsPerRun(model);
        var layerItems = 0;
        var firstItems = 0;
        var firstIntegers = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        using var progress = diagnostics.BeginProgress("evaluate", eval.Count);
        // Per-layer items one at a time when items stack through widened constants: inside, a value may hold them
        // merged with its heads ([17, N*4, 16]), not in the order of the reference's item-by-item values.
        var batches = stacked is null ? Batches(eval, batch)
            : Batches(eval, 1).TakeWhile(b => b.Start < options.LayerFidelityItems)
                .Concat(Batches(eval, batch, Math.Min(eval.Count, options.LayerFidelityItems)));
        foreach (var (start, count, inputs) in batches)
        {
            var perLayer = layerItems < options.LayerFidelityItems;
            // ORT's float reference (one thread) runs while the emulator computes the same items.
            var refInputs = eval.Arrays.ToDictionary(kv => kv.Key, kv => DataLoader.Slice(kv.Value, start, count));
            var referenceRun = Task.Run(() => reference.Run(refInputs));
            EmulatorRun q;
            try
            {
                q = Emulate(count, inputs, perLayer ? layerValues.Contains : null);
            }
            catch
            {
                // The session is disposed on the way out: let its run finish first. The emulator's error is the one to report.
                try { referenceRun.Wait(); } catch (AggregateException) { }
                throw;
            }
            var r = referenceRun.GetAwaiter().GetResult();
            if (start < CrossCheckItems)
            {
                // Items lead every graph output: the first items are the first rows.
                var take = Math.Min(count, CrossCheckItems - start);
                foreach (var name in outputs)
                    if (q.Outputs[name] is { Ints: { } ints } t && t.Quant is not null)
                    {
                        if (!firstIntegers.TryGetValue(name, out var list)) firstIntegers[name] = list = [];
                        list.AddRange(ints.AsSpan(0, ints.Length / count * take));
                    }
                firstItems += take;
            }
            for (var k = 0; k < outputs.Count; k++)
            {
                var name = outputs[k];
                if (!r.TryGetValue(name, out var refOut)) continue;
                var refF = refOut.ToFloats();
                var outF = q.Outputs[name].ToReal();
                overall[name].Add(refF, outF, offset: offsets.GetValueOrDefault(name));
                if (k == 0 && q.Outputs[name].Rank == 2 && q.Outputs[name].Shape[1] > 1)
                    top1.Add(refF, outF, q.Outputs[name].Shape[1], labels is null ? [] : labels.AsSpan(start, count));
            }
            if (perLayer)
            {
                // The float reference of each layer: ORT on the float graph, item by item (its batch is static).
                var floats = new Dictionary<string, List<float>>(StringComparer.Ordinal);
                for (var i = 0; i + perRun <= count; i += perRun)
                    foreach (var (name, t) in layerReference.Run(eval.Arrays.ToDictionary(kv => kv.Key, kv => DataLoader.Slice(kv.Value, start + i, perRun))))
                        if (t.ElementType == ElementType.Float)
                        {
                            if (!floats.TryGetValue(name, out var list)) floats[name] = list = [];
                            list.AddRange(t.ToFloats());
                        }
                foreach (var (name, t) in q.Values)
                {
                    if (!floats.TryGetValue(name, out var ft)) continue;
                    var real = t.ToReal();
                    if (ft.Count != real.Length) continue;
                    if (!layers.TryGetValue(name, out var agreement)) layers[name] = agreement = new Agreement();
                    var floatValues = floatGraphOffsets.TryGetValue(name, out var learned) ? [.. ft.Select(f => (float)(f - learned))] : ft.ToArray();
                    agreement.Add(floatValues, real, t.Quant, offsets.GetValueOrDefault(name));
                }
                layerItems += count;
            }
            progress.Advance(count, top1.Items > 0 ? $"agree {100 * top1.Agreement:F2}%" : null);
        }
        var first = overall[outputs[0]];
        var figures = new FidelityFigures(
            top1.Items > 0 ? Math.Round(top1.Agreement, 6) : null,
            Math.Round(overall.Values.Min(a => a.Cosine), 6),
            Math.Round(overall.Values.Min(a => a.SqnrDb), 3));
        AccuracyFigures? accuracy = labels is not null && top1.Labelled > 0
            ? new AccuracyFigures(Math.Round(top1.ReferenceAccuracy, 6), Math.Round(top1.CompiledAccuracy, 6), top1.Labelled)
            : null;
        var layerList = layers.Select(kv => new LayerFidelity(kv.Key, Math.Round(kv.Value.Cosine, 6), Math.Round(kv.Value.SqnrDb, 3),
                Math.Round(kv.Value.Clipped, 6)))
            .OrderBy(l => l.SqnrDb).ThenBy(l => l.Value, StringComparer.Ordinal).ToList();
        return new FidelityResult(figures, accuracy, layerList, layerItems, [.. integer.HostFloatNodes], firstItems, firstIntegers);
    }

    /// <summary>
    /// The input dimensions still symbolic after --dim: the items' axis (0) becomes 1, as the audit and the backends
    /// need; any other (a sequence length, an image size) takes the calibration data's size on that axis, said in one
    /// info line, never silently 1. Random data has no size to give: it already failed for want of a static shape.
    /// </summary>
    private void BindInputShapes(Model model, Dataset calib, DataSpec calibSpec)
    {
        var bound = InputShapes.BindRemaining(model, (input, axis) => calib.Arrays[input.Name].Dims[axis]);
        if (bound.Count > 0)
            diagnostics.Info($"shapes: {string.Join(", ", bound.Select(b => $"{b.Symbol ?? $"'{b.Input}' axis {b.Axis}"} = {b.Size}"))} " +
                $"from the calibration data ({calibSpec.Kind.ToString().ToLowerInvariant()}); --dim NAME=SIZE sets a symbolic dimension");
    }
}
