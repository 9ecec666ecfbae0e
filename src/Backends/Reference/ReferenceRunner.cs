using ArchNet.Frontend;
using ArchNet.Frontend.Onnx;
using ArchNet.IR;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace ArchNet.Backends.Reference;

/// <summary>A float output of a run: its shape and ONNX Runtime's buffer, valid during the call.</summary>
public delegate void FloatOutputVisitor(string name, ReadOnlySpan<long> dims, ReadOnlySpan<float> data);

/// <summary>
/// Widens a graph written for one item to a symbolic batch: every graph input's leading dimension becomes
/// <see cref="Symbol"/>, declared types of the values in <paramref name="BatchedValues"/> get it too, and the Reshape nodes
/// named by their first output in <paramref name="ReshapeTargets"/> read the given target instead of their constant one.
/// Which graphs allow this is the caller's analysis (the quantizer's calibration batching).
/// </summary>
public sealed record BatchRebinding(IReadOnlySet<string> BatchedValues, IReadOnlyDictionary<string, long[]> ReshapeTargets)
{
    public const string Symbol = "calibration_items";

    internal void ApplyTo(GraphProto graph)
    {
        var initializers = graph.Initializer.Select(t => t.Name).ToHashSet();
        foreach (var input in graph.Input.Where(i => !initializers.Contains(i.Name)))
            Widen(input);
        foreach (var info in graph.ValueInfo.Concat(graph.Output).Where(v => BatchedValues.Contains(v.Name)))
            Widen(info);
        var replaced = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            if (node.OpType != "Reshape" || node.Output.Count == 0 || !ReshapeTargets.TryGetValue(node.Output[0], out var target)) continue;
            var shape = new TensorProto { Name = $"{node.Output[0]}::{Symbol}_shape", DataType = (int)TensorProto.Types.DataType.Int64 };
            shape.Dims.Add(target.Length);
            shape.Int64Data.AddRange(target);
            graph.Initializer.Add(shape);
            replaced.Add(node.Input[1]);
            node.Input[1] = shape.Name;
        }
        // Targets nothing reads any more go, or ONNX Runtime warns about each on the console.
        replaced.ExceptWith(Reads(graph));
        replaced.ExceptWith(graph.Output.Select(o => o.Name));
        for (var i = graph.Initializer.Count - 1; i >= 0; i--)
            if (replaced.Contains(graph.Initializer[i].Name)) graph.Initializer.RemoveAt(i);
        for (var i = graph.Input.Count - 1; i >= 0; i--)
            if (replaced.Contains(graph.Input[i].Name)) graph.Input.RemoveAt(i);
    }

    private static IEnumerable<string> Reads(GraphProto graph) =>
        graph.Node.SelectMany(n => n.Input.Concat(n.Attribute.SelectMany(a => (a.G is null ? a.Graphs : a.Graphs.Append(a.G)).SelectMany(Reads))));

    private static void Widen(ValueInfoProto info)
    {
        if (info.Type?.TensorType?.Shape is { Dim.Count: > 0 } shape)
            shape.Dim[0] = new TensorShapeProto.Types.Dimension { DimParam = Symbol };
    }
}

/// <summary>ONNX Runtime's graph optimization levels a <see cref="ReferenceRunner"/> uses.</summary>
public enum OrtOptimizations
{
    /// <summary>None: every node as written.</summary>
    None,
    /// <summary>ORT_ENABLE_BASIC: constant folding and redundant nodes removed; no QDQ fusion.</summary>
    Basic,
    /// <summary>ORT_ENABLE_ALL, a default session: QDQ groups fused into integer kernels, layout changes.</summary>
    All,
}

/// <summary>
/// Runs a serialized ONNX model with ONNX Runtime: the float reference of every compile (the original model, as the
/// user gave it) and the cross-check of QDQ artifacts. Optionally exposes intermediate values as extra outputs.
/// One session per instance. Runs may overlap: calibration calls <c>Run</c> from one thread per core at once; a run
/// keeps nothing between calls, and ONNX Runtime sessions allow concurrent runs.
/// </summary>
public sealed class ReferenceRunner : IDisposable
{
    private readonly InferenceSession _session;
    private readonly List<string> _inputNames;
    private readonly List<string> _outputNames;

    /// <param name="model">The ONNX model bytes.</param>
    /// <param name="exposedValues">Names of intermediate values to return as well (they become extra graph outputs).</param>
    /// <param name="optimizations">Which of ORT's graph optimizations run (<see cref="OrtOptimizations.All"/> fuses QDQ
    /// groups into its integer kernels).</param>
    public ReferenceRunner(byte[] model, IEnumerable<string>? exposedValues = null, OrtOptimizations optimizations = OrtOptimizations.None, int threads = 1)
        : this(exposedValues?.Any() == true ? ModelProto.Parser.ParseFrom(model) : null, model, exposedValues, null, optimizations, threads)
    {
    }

    /// <summary>
    /// A session over <paramref name="model"/> (which this changes: exposed values become outputs, a batch rebinding
    /// widens the inputs), serialized once for ONNX Runtime.
    /// </summary>
    public ReferenceRunner(ModelProto model, IEnumerable<string>? exposedValues = null, BatchRebinding? batch = null,
        OrtOptimizations optimizations = OrtOptimizations.None, int threads = 1)
        : this(model, null, exposedValues, batch, optimizations, threads)
    {
    }

    private ReferenceRunner(ModelProto? proto, byte[]? bytes, IEnumerable<string>? exposedValues, BatchRebinding? batch,
        OrtOptimizations optimizations, int threads)
    {
        var extra = exposedValues?.ToList() ?? [];
        if (proto is not null)
        {
            var existing = proto.Graph.Output.Select(o => o.Name).ToHashSet();
            foreach (var name in extra.Where(n => !existing.Contains(n)))
                proto.Graph.Output.Add(new ValueInfoProto { Name = name }); // ORT infers the type of an untyped output
            batch?.ApplyTo(proto.Graph);
            bytes = OnnxExporter.ToBytes(proto);
        }
        var model = bytes!;
        var options = new SessionOptions
        {
            GraphOptimizationLevel = optimizations switch
            {
                OrtOptimizations.All => GraphOptimizationLevel.ORT_ENABLE_ALL,
                OrtOptimizations.Basic => GraphOptimizationLevel.ORT_ENABLE_BASIC,
                _ => GraphOptimizationLevel.ORT_DISABLE_ALL,
            },
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            // ORT would print its own warnings and errors on stderr, several lines each; its failures reach the user as
            // one line through the exceptions below.
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL,
        };
        // ORT's pool threads spin while they wait for work by default. On a machine shared with other processes the
        // spinning takes the cores the other pool threads need: calibrating MiniLM on 2 busy cores took 2.6-3.1 s of
        // CPU without spinning against 3.9-4.7 s with it (same outputs: spinning only changes how threads wait).
        if (threads > 1) options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        try
        {
            _session = new InferenceSession(model, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new ArchNetException($"ONNX Runtime cannot load the model: {e.Message.Split('\n')[0]}");
        }
        finally
        {
            options.Dispose();
        }
        _inputNames = [.. _session.InputMetadata.Keys];
        _outputNames = [.. _session.OutputMetadata.Keys];
    }

    public static ReferenceRunner FromFile(string path, IEnumerable<string>? exposedValues = null, OrtOptimizations optimizations = OrtOptimizations.None) =>
        new(File.ReadAllBytes(path), exposedValues, optimizations);

    public IReadOnlyList<string> InputNames => _inputNames;
    public IReadOnlyList<string> OutputNames => _outputNames;

    /// <summary>The model's inputs in session order as ORT values, added to <paramref name="values"/> (the caller disposes them).</summary>
    private void AddInputs(IReadOnlyDictionary<string, TensorData> inputs, List<OrtValue> values)
    {
        foreach (var name in _inputNames)
        {
            if (!inputs.TryGetValue(name, out var data))
                throw new ArchNetException($"no data for model input '{name}' (have: {string.Join(", ", inputs.Keys)})");
            values.Add(ToOrt(data));
        }
    }

    /// <summary>Runs once; returns every output (graph outputs, then exposed values) by name.</summary>
    public Dictionary<string, TensorData> Run(IReadOnlyDictionary<string, TensorData> inputs)
    {
        var values = new List<OrtValue>();
        try
        {
            AddInputs(inputs, values);
            using var runOptions = new RunOptions();
            using var results = _session.Run(runOptions, _inputNames, values, _outputNames);
            return _outputNames.Zip(results).ToDictionary(p => p.First, p => FromOrt(p.Second));
        }
        catch (OnnxRuntimeException e)
        {
            throw new ArchNetException($"ONNX Runtime failed: {e.Message.Split('\n')[0]}");
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    /// <summary>
    /// Runs once and hands each float output in <paramref name="outputs"/> to <paramref name="visit"/> as a view of ONNX
    /// Runtime's own buffer (valid only during the call): nothing is copied. With <paramref name="parallel"/> the outputs
    /// are visited on all cores at once (ORT's threads are idle by then), so <paramref name="visit"/> must allow calls
    /// for different outputs at the same time. Returns the time spent visiting.
    /// </summary>
    public TimeSpan Run(IReadOnlyDictionary<string, TensorData> inputs, IReadOnlyList<string> outputs, FloatOutputVisitor visit,
        bool parallel = false)
    {
        var values = new List<OrtValue>();
        try
        {
            AddInputs(inputs, values);
            using var runOptions = new RunOptions();
            using var results = _session.Run(runOptions, _inputNames, values, outputs);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            void Visit(int i)
            {
                var info = results[i].GetTensorTypeAndShape();
                if (info.ElementDataType == TensorElementType.Float)
                    visit(outputs[i], info.Shape, results[i].GetTensorDataAsSpan<float>());
            }
            if (parallel) Parallel.For(0, outputs.Count, Visit);
            else for (var i = 0; i < outputs.Count; i++) Visit(i);
            return clock.Elapsed;
        }
        catch (OnnxRuntimeException e)
        {
            throw new ArchNetException($"ONNX Runtime failed: {e.Message.Split('\n')[0]}");
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    private static OrtValue ToOrt(TensorData data)
    {
        var shape = data.Dims.ToArray();
        return data.ElementType switch
        {
            ElementType.Float => OrtValue.CreateTensorValueFromMemory(data.Span<float>().ToArray(), shape),
            ElementType.Int64 => OrtValue.CreateTensorValueFromMemory(data.Span<long>().ToArray(), shape),
            ElementType.Int32 => OrtValue.CreateTensorValueFromMemory(data.Span<int>().ToArray(), shape),
            ElementType.Int8 => OrtValue.CreateTensorValueFromMemory(data.Span<sbyte>().ToArray(), shape),
            ElementType.UInt8 => OrtValue.CreateTensorValueFromMemory(data.Span<byte>().ToArray(), shape),
            ElementType.Bool => OrtValue.CreateTensorValueFromMemory(data.Span<bool>().ToArray(), shape),
            _ => throw new ArchNetException($"cannot feed {data.ElementType.ShortName()} data to ONNX Runtime"),
        };
    }

    private static TensorData FromOrt(OrtValue value)
    {
        var info = value.GetTensorTypeAndShape();
        var type = (ElementType)(int)info.ElementDataType;
        return new TensorData(type, info.Shape, value.GetTensorDataAsSpan<byte>().ToArray());
    }

    public void Dispose() => _session.Dispose();
}
