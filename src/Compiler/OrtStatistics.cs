using System.Diagnostics;
using ArchNet.Backends.Reference;
using ArchNet.Compiler.Stages;
using ArchNet.Frontend.Data;
using ArchNet.IR;
using ArchNet.Passes.Quantization;
using ModelProto = ArchNet.Frontend.Onnx.ModelProto;

namespace ArchNet.Compiler;

/// <summary>Activation statistics for calibration, from ONNX Runtime running the float graph: one single-threaded
/// inference per core, each folding its own outputs into statistics, merged in a fixed order.</summary>
public static class OrtStatistics
{
    /// <summary>Largest total size of the exposed values of one calibration run (bytes). Calibration runs one inference per
    /// core at once, each on one thread, and the core that ran it folds its outputs into statistics while they are still
    /// in cache: small runs are fastest (32 ResNet18 items on 2 cores: one item per run, one run per core, 1.1-1.25 s;
    /// 16 items per run on both cores, 1.3-1.4 s and 0.3-0.5 s more for the statistics). The slicing does not depend on
    /// the core count, so neither does any statistic.</summary>
    private const long CalibrationRunBytes = 16L << 20;

    /// <summary>
    /// Calibration statistics from ONNX Runtime running <paramref name="floatGraph"/> (<paramref name="model"/> serialized:
    /// the canonical, legal float graph), with the requested values exposed as outputs and read in place. When every item
    /// runs independently (<see cref="CalibrationBatch"/>), the graph's one-item batch is widened and items run together;
    /// otherwise one static batch at a time.
    /// </summary>
    public static Dictionary<Value, TensorStatistics> Collect(CompileState state, Model model, ModelProto floatGraph, Dataset data,
        CalibrationRequest request)
    {
        var diagnostics = state.Diagnostics;
        var byName = request.Values.ToDictionary(v => v.Name, StringComparer.Ordinal);
        var graphInputs = model.Graph.Inputs.Where(i => !i.IsConstant && byName.ContainsKey(i.Name)).ToList();
        var exposed = request.Values.Where(v => !graphInputs.Contains(v)).Select(v => v.Name).Order(StringComparer.Ordinal).ToList();
        var batch = CalibrationBatch.Of(model);
        var cores = Environment.ProcessorCount;
        var perRun = batch is null ? ModelFacts.ItemsPerRun(model) : ItemsPerCalibrationRun(request.Values, data.Count);
        var slices = ModelFacts.SliceStarts(data.Count, perRun, partialLast: batch is not null);
        var streams = Math.Clamp(slices.Count, 1, cores);

        var clock = Stopwatch.StartNew();
        var rebinding = batch is null ? null : new BatchRebinding(
            batch.Batched.Select(v => v.Name).ToHashSet(StringComparer.Ordinal),
            batch.Reshapes.ToDictionary(kv => kv.Key.Outputs[0].Name, kv => kv.Value, StringComparer.Ordinal));
        // ORT's graph optimizations (exposed values stay outputs, so fusions cannot drop them). Calibration is a
        // throughput job: with several slices, one single-threaded inference per core runs at once and each core
        // folds its own outputs into statistics, with no synchronization between them; with one slice, one inference
        // on all cores.
        using var ort = new ReferenceRunner(floatGraph.Clone(), exposed, rebinding, OrtOptimizations.All,
            threads: streams > 1 ? 1 : cores);
        state.AddTiming("calibrate: session", clock.Elapsed.TotalSeconds);

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
            state.AddTiming($"calibrate: {name} runs", (clock.Elapsed - statistics).TotalSeconds);
            state.AddTiming($"calibrate: {name} statistics", statistics.TotalSeconds);
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
}
