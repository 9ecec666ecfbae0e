using ArchNet.IR;
using Microsoft.ML.OnnxRuntime;

namespace ArchNet.Testing;

/// <summary>ONNX Runtime as the reference executor in tests: tensors in and out as IR <see cref="TensorData"/>.</summary>
public static class OrtRunner
{
    /// <summary>Runs a serialized model. Inputs by name; returns every graph output by name, in graph order.</summary>
    public static Dictionary<string, TensorData> Run(byte[] model, IReadOnlyDictionary<string, TensorData> inputs,
        GraphOptimizationLevel level = GraphOptimizationLevel.ORT_DISABLE_ALL)
    {
        using var options = new SessionOptions { GraphOptimizationLevel = level, IntraOpNumThreads = 1, InterOpNumThreads = 1 };
        using var session = new InferenceSession(model, options);
        return Run(session, inputs);
    }

    public static Dictionary<string, TensorData> Run(InferenceSession session, IReadOnlyDictionary<string, TensorData> inputs)
    {
        var names = session.InputMetadata.Keys.ToList();
        var values = new List<OrtValue>();
        try
        {
            foreach (var name in names)
            {
                if (!inputs.TryGetValue(name, out var data))
                    throw new ArgumentException($"no input named '{name}' (have: {string.Join(", ", inputs.Keys)})");
                values.Add(ToOrt(data));
            }
            var outputNames = session.OutputMetadata.Keys.ToList();
            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, names, values, outputNames);
            return outputNames.Zip(results).ToDictionary(p => p.First, p => FromOrt(p.Second));
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    public static OrtValue ToOrt(TensorData data)
    {
        var shape = data.Dims.ToArray();
        return data.ElementType switch
        {
            ElementType.Float => OrtValue.CreateTensorValueFromMemory(data.Span<float>().ToArray(), shape),
            ElementType.Double => OrtValue.CreateTensorValueFromMemory(data.Span<double>().ToArray(), shape),
            ElementType.Int64 => OrtValue.CreateTensorValueFromMemory(data.Span<long>().ToArray(), shape),
            ElementType.Int32 => OrtValue.CreateTensorValueFromMemory(data.Span<int>().ToArray(), shape),
            ElementType.Int16 => OrtValue.CreateTensorValueFromMemory(data.Span<short>().ToArray(), shape),
            ElementType.UInt16 => OrtValue.CreateTensorValueFromMemory(data.Span<ushort>().ToArray(), shape),
            ElementType.Int8 => OrtValue.CreateTensorValueFromMemory(data.Span<sbyte>().ToArray(), shape),
            ElementType.UInt8 => OrtValue.CreateTensorValueFromMemory(data.Span<byte>().ToArray(), shape),
            ElementType.Bool => OrtValue.CreateTensorValueFromMemory(data.Span<bool>().ToArray(), shape),
            ElementType.Float16 => OrtValue.CreateTensorValueFromMemory(data.Span<Float16>().ToArray(), shape),
            _ => throw new NotSupportedException($"tests cannot feed {data.ElementType} to ONNX Runtime"),
        };
    }

    public static TensorData FromOrt(OrtValue value)
    {
        var info = value.GetTensorTypeAndShape();
        var dims = info.Shape;
        var type = (ElementType)(int)info.ElementDataType;
        if (type == ElementType.String)
        {
            var strings = value.GetStringTensorAsArray().Select(s => System.Text.Encoding.UTF8.GetBytes(s));
            return TensorData.FromStrings(dims, strings);
        }
        var bytes = value.GetTensorDataAsSpan<byte>().ToArray();
        return new TensorData(type, dims, bytes);
    }

    /// <summary>Uniform random float inputs for every float graph input with a static shape (symbolic dims become 1).</summary>
    public static Dictionary<string, TensorData> RandomInputs(Graph graph, int seed = 42, float lo = -1f, float hi = 1f)
    {
        var rng = new Random(seed);
        var result = new Dictionary<string, TensorData>();
        foreach (var input in graph.Inputs.Where(i => !i.IsConstant))
        {
            var t = input.TensorType ?? throw new ArgumentException($"input '{input.Name}' has no tensor type");
            var dims = t.Shape?.Dims.Select(d => d.Value ?? 1).ToArray() ?? throw new ArgumentException($"input '{input.Name}' has no shape");
            var n = dims.Aggregate(1L, (a, d) => a * d);
            result[input.Name] = t.ElementType switch
            {
                ElementType.Float => TensorData.FromFloats(dims, [.. Enumerable.Range(0, (int)n).Select(_ => lo + (hi - lo) * rng.NextSingle())]),
                ElementType.Int64 => TensorData.FromInt64s(dims, [.. Enumerable.Range(0, (int)n).Select(_ => (long)rng.Next(0, 2))]),
                ElementType.Int32 => TensorData.FromInt32s(dims, [.. Enumerable.Range(0, (int)n).Select(_ => rng.Next(0, 2))]),
                _ => throw new ArgumentException($"no random generator for {t.ElementType} input '{input.Name}'"),
            };
        }
        return result;
    }

    /// <summary>Cosine similarity of two float tensors (1 for identical non-zero tensors).</summary>
    public static double Cosine(TensorData a, TensorData b)
    {
        var x = a.ToDoubles();
        var y = b.ToDoubles();
        if (x.Length != y.Length) throw new ArgumentException($"sizes differ: {x.Length} vs {y.Length}");
        double dot = 0, nx = 0, ny = 0;
        for (var i = 0; i < x.Length; i++) { dot += x[i] * y[i]; nx += x[i] * x[i]; ny += y[i] * y[i]; }
        return nx == 0 && ny == 0 ? 1 : dot / Math.Sqrt(nx * ny);
    }

    /// <summary>Largest |a-b| / max(1e-30, |b|, 1): relative error for large values, absolute near zero.</summary>
    public static double MaxRelativeError(TensorData actual, TensorData expected)
    {
        var x = actual.ToDoubles();
        var y = expected.ToDoubles();
        if (x.Length != y.Length) throw new ArgumentException($"sizes differ: {x.Length} vs {y.Length}");
        var worst = 0.0;
        for (var i = 0; i < x.Length; i++)
        {
            var err = Math.Abs(x[i] - y[i]) / Math.Max(1.0, Math.Abs(y[i]));
            if (double.IsNaN(x[i]) != double.IsNaN(y[i])) err = double.PositiveInfinity;
            worst = Math.Max(worst, double.IsNaN(err) ? 0 : err);
        }
        return worst;
    }
}
