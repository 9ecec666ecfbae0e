using ArchNet.Backends.Emulation;
using ArchNet.Backends.Reference;
using ArchNet.Frontend;
using ArchNet.Frontend.Data;
using ArchNet.IR;
using ArchNet.Passes;
using ArchNet.Passes.Distillation;
using Tensor = ArchNet.Backends.Emulation.Tensor;

namespace ArchNet.Compiler.Stages;

/// <param name="FirstIntegers">The golden model's integers of each quantized graph output on the first
/// <paramref name="FirstItems"/> evaluation items, item after item: what <see cref="CrossCheckStage"/> compares.</param>
public sealed record FidelityResult(FidelityFigures Overall, AccuracyFigures? Accuracy, List<LayerFidelity> Layers,
    int LayerItems, List<string> HostFloatNodes, int FirstItems, Dictionary<string, List<int>> FirstIntegers);

/// <summary>
/// Fidelity on the evaluation data: ONNX Runtime on the original model (the file's bytes as the import read them) against
/// the integer emulator's result, overall and per layer (against the calibrated float graph), with accuracy when labels
/// are given. The emulator stacks items along dimension 0 unless a constant folded at batch 1 ties the graph to one item.
/// </summary>
public sealed class FidelityStage(CompileState state) : Stage(state)
{
    public override string Name => "fidelity";

    protected override int Execute(Model model)
    {
        var batch = State.Batch;
        // A model exported with a static batch of 1 runs one item at a time anyway: nothing to stack or to report.
        var axes = batch == 1 ? null : ItemAxes.Of(model.Graph, model.Opset());
        var binding = BatchBinding.Bound(model.Graph, axes).ToList();
        var bound = binding.FirstOrDefault();
        // Bound only by batch-1 constants (a Reshape to [17,4,16], a class token): the emulator runs stacked items
        // through constants widened to each batch (per-layer figures still item by item: their values line up so).
        var stacked = bound is not null && axes is { Bound.Count: 0 } ? axes : null;
        if (stacked is not null)
        {
            Diagnostics.Info($"evaluate: items stacked through {binding.Count} batch-1 constant(s) widened to the batch, first {bound}");
            bound = null;
        }
        else if (bound is not null)
        {
            batch = 1;
            Diagnostics.Info($"evaluate: item by item: {binding.Count} node(s) bind the graph to batch 1, first {bound}");
        }
        State.ItemByItem = bound?.ToString();
        // The float graph was taken before quantization raised any output; a distilled student's has learned its offsets.
        var distilled = State.Distilled;
        var offsets = State.OutputOffsets = distilled?.OutputOffsets ?? State.Summary.OutputOffsets;
        State.Fidelity = Measure(model, OnnxExporter.ToBytes(State.FloatGraph), State.Evaluation, State.Labels, batch, offsets,
            floatGraphOffsets: distilled?.OutputOffsets ?? new Dictionary<string, double>(), stacked);
        LowFidelityAdvice.Give(State, model);
        return 0;
    }

    /// <param name="offsets">Per output, the constant the compiled output adds (<see cref="OutputOffset"/>, unsigned chips):
    /// the original's output plus it is what the compiled output must reproduce. It is taken off the compiled output
    /// before figures are computed (<see cref="Agreement.Add"/>).</param>
    /// <param name="floatGraphOffsets">The offsets <paramref name="floatGraph"/> (the per-layer reference) has already.</param>
    /// <param name="stacked">For a graph bound to one item only by its constants: where the items go; the emulator
    /// then runs each batch through the constants widened to it (<see cref="StackedForm"/>).</param>
    private FidelityResult Measure(Model model, byte[] floatGraph, Dataset eval, long[]? labels, int batch,
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
        using var reference = new ReferenceRunner(State.ModelBytes);
        var outputs = model.Graph.Outputs.Select(v => v.Name).ToList();
        var overall = outputs.ToDictionary(n => n, _ => new Agreement());
        var top1 = new Top1();
        var layers = new LayerComparison(model.Graph);
        var layerValues = layers.Values;
        using var layerReference = new ReferenceRunner(floatGraph, layerValues.Select(v => v.Name).Order(StringComparer.Ordinal));
        var perRun = ModelFacts.ItemsPerRun(model);
        var layerItems = 0;
        var firstItems = 0;
        var firstIntegers = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        using var progress = Diagnostics.BeginProgress("evaluate", eval.Count);
        // Per-layer items one at a time when items stack through widened constants: inside, a value may hold them
        // merged with its heads ([17, N*4, 16]), not in the order of the reference's item-by-item values.
        var batches = stacked is null ? ModelFacts.Batches(eval, batch)
            : ModelFacts.Batches(eval, 1).TakeWhile(b => b.Start < Options.LayerFidelityItems)
                .Concat(ModelFacts.Batches(eval, batch, Math.Min(eval.Count, Options.LayerFidelityItems)));
        foreach (var (start, count, inputs) in batches)
        {
            var perLayer = layerItems < Options.LayerFidelityItems;
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
            if (start < CrossCheckStage.Items)
            {
                // Items lead every graph output: the first items are the first rows.
                var take = Math.Min(count, CrossCheckStage.Items - start);
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
                    var floatValues = floatGraphOffsets.TryGetValue(name, out var learned) ? [.. ft.Select(f => (float)(f - learned))] : ft.ToArray();
                    layers.Add(name, floatValues, real, t.Quant, offsets.GetValueOrDefault(name));
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
        var layerList = layers.Results();
        return new FidelityResult(figures, accuracy, layerList, layerItems, [.. integer.HostFloatNodes], firstItems, firstIntegers);
    }
}
