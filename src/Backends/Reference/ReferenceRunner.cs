using ArchNet.Frontend.Onnx;
using ArchNet.IR;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;

namespace ArchNet.Backends.Reference;

/// <summary>
/// Runs a serialized ONNX model with ONNX Runtime: the float reference of every compile (the original model, as the
/// user gave it) and the cross-check of QDQ artifacts. Optionally exposes intermediate values as extra outputs.
/// One session per instance; not thread-safe.
/// </summary>
public sealed class ReferenceRunner : IDisposable
{
    private readonly InferenceSession _session;
    private readonly List<string> _inputNames;
    private readonly List<string> _outputNames;

    /// <param name="model">The ONNX model bytes.</param>
    /// <param name="exposedValues">Names of intermediate values to return as well (they become extra graph outputs).</param>
    /// <param name="optimize">ORT's full graph optimizations (QDQ fusion to integer kernels) instead of none.</param>
    public ReferenceRunner(byte[] model, IEnumerable<string>? exposedValues = null, bool optimize = false, int threads = 1)
    {
        var extra = exposedValues?.ToList() ?? [];
        if (extra.Count > 0)
        {
            var proto = ModelProto.Parser.ParseFrom(model);
            var existing = proto.Graph.Output.Select(o => o.Name).ToHashSet();
            foreach (var name in extra.Where(n => !existing.Contains(n)))
                proto.Graph.Output.Add(new ValueInfoProto { Name = name }); // ORT infers the type of an untyped output
            model = proto.ToByteArray();
        }
        var options = new SessionOptions
        {
            GraphOptimizationLevel = optimize ? GraphOptimizationLevel.ORT_ENABLE_ALL : GraphOptimizationLevel.ORT_DISABLE_ALL,
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
        };
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

    public static ReferenceRunner FromFile(string path, IEnumerable<string>? exposedValues = null, bool optimize = false) =>
        new(File.ReadAllBytes(path), exposedValues, optimize);

    public IReadOnlyList<string> InputNames => _inputNames;
    public IReadOnlyList<string> OutputNames => _outputNames;

    /// <summary>Runs once; returns every output (graph outputs, then exposed values) by name.</summary>
    public Dictionary<string, TensorData> Run(IReadOnlyDictionary<string, TensorData> inputs)
    {
        var values = new List<OrtValue>();
        try
        {
            foreach (var name in _inputNames)
            {
                if (!inputs.TryGetValue(name, out var data))
                    throw new ArchNetException($"no data for model input '{name}' (have: {string.Join(", ", inputs.Keys)})");
                values.Add(ToOrt(data));
            }
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
