using ArchNet.IR;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace ArchNet.Frontend.Tests;

/// <summary>A value passed to or returned by ONNX Runtime: a tensor or a sequence of tensors.</summary>
internal abstract record RunValue;

internal sealed record TensorValue(TensorData Data) : RunValue;

internal sealed record SequenceValue(IReadOnlyList<TensorData> Items) : RunValue;

/// <summary>Thrown when a model needs something this harness does not feed or read (maps, optionals).</summary>
internal sealed class NotRunnableException(string message) : Exception(message);

/// <summary>Runs ONNX models in ONNX Runtime (one thread, quiet) and compares outputs.</summary>
internal static class OrtHarness
{
    public static SessionOptions Options()
    {
        var o = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL };
        return o;
    }

    public static List<RunValue> Run(byte[] model, IReadOnlyList<string> inputNames, IReadOnlyList<RunValue> inputs, IReadOnlyList<string> outputNames)
    {
        using var options = Options();
        using var session = new InferenceSession(model, options);
        return Run(session, inputNames, inputs, outputNames);
    }

    public static List<RunValue> Run(InferenceSession session, IReadOnlyList<string> inputNames, IReadOnlyList<RunValue> inputs, IReadOnlyList<string> outputNames)
    {
        var ortInputs = new List<OrtValue>();
        try
        {
            foreach (var v in inputs) ortInputs.Add(ToOrt(v));
            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, inputNames.ToList(), ortInputs, outputNames.ToList());
            return results.Select(FromOrt).ToList();
        }
        finally
        {
            foreach (var v in ortInputs) v.Dispose();
        }
    }

    public static OrtValue ToOrt(RunValue value) => value switch
    {
        TensorValue t => ToOrt(t.Data),
        SequenceValue s => OrtValue.CreateSequence(s.Items.Select(ToOrt).ToList()),
        _ => throw new NotRunnableException("unsupported input kind"),
    };

    public static OrtValue ToOrt(TensorData d)
    {
        var shape = d.Dims.ToArray();
        if (d.ElementType == ElementType.String)
        {
            var s = OrtValue.CreateTensorWithEmptyStrings(OrtAllocator.DefaultInstance, shape);
            for (var i = 0; i < d.Strings.Length; i++)
            {
                ReadOnlySpan<byte> utf8 = d.Strings[i];
                s.StringTensorSetElementAt(utf8, i);
            }
            return s;
        }
        var v = OrtValue.CreateAllocatedTensorValue(OrtAllocator.DefaultInstance, (TensorElementType)(int)d.ElementType, shape);
        d.Raw.Span.CopyTo(v.GetTensorMutableRawData());
        return v;
    }

    public static RunValue FromOrt(OrtValue v)
    {
        switch (v.OnnxType)
        {
            case OnnxValueType.ONNX_TYPE_TENSOR:
                return new TensorValue(TensorOf(v));
            case OnnxValueType.ONNX_TYPE_SEQUENCE:
                var items = new List<TensorData>();
                for (var i = 0; i < v.GetValueCount(); i++)
                {
                    using var item = v.GetValue(i, OrtAllocator.DefaultInstance);
                    if (item.OnnxType != OnnxValueType.ONNX_TYPE_TENSOR) throw new NotRunnableException("sequence of non-tensors");
                    items.Add(TensorOf(item));
                }
                return new SequenceValue(items);
            default:
                throw new NotRunnableException($"output of kind {v.OnnxType}");
        }
    }

    private static TensorData TensorOf(OrtValue v)
    {
        var info = v.GetTensorTypeAndShape();
        var type = (ElementType)(int)info.ElementDataType;
        var shape = info.Shape;
        if (type == ElementType.String)
            return TensorData.FromStrings(shape, v.GetStringTensorAsArray().Select(System.Text.Encoding.UTF8.GetBytes));
        return new TensorData(type, shape, v.GetTensorMutableRawData().ToArray());
    }

    /// <summary>Null when <paramref name="actual"/> matches <paramref name="expected"/> within
    /// |a - e| &lt;= atol + rtol |e| (NaN matches NaN); otherwise what differs.</summary>
    public static string? Compare(RunValue expected, RunValue actual, double rtol, double atol)
    {
        switch (expected, actual)
        {
            case (TensorValue e, TensorValue a):
                return Compare(e.Data, a.Data, rtol, atol);
            case (SequenceValue e, SequenceValue a):
                if (e.Items.Count != a.Items.Count) return $"sequence length {a.Items.Count}, expected {e.Items.Count}";
                for (var i = 0; i < e.Items.Count; i++)
                    if (Compare(e.Items[i], a.Items[i], rtol, atol) is { } why) return $"item {i}: {why}";
                return null;
            default:
                return $"got {actual.GetType().Name}, expected {expected.GetType().Name}";
        }
    }

    public static string? Compare(TensorData expected, TensorData actual, double rtol, double atol)
    {
        if (expected.ElementType != actual.ElementType) return $"type {actual.ElementType}, expected {expected.ElementType}";
        if (!expected.Dims.SequenceEqual(actual.Dims)) return $"shape [{string.Join(",", actual.Dims)}], expected [{string.Join(",", expected.Dims)}]";
        if (expected.ElementType == ElementType.String)
        {
            for (var i = 0; i < expected.Strings.Length; i++)
                if (!expected.Strings[i].AsSpan().SequenceEqual(actual.Strings[i])) return $"string {i} differs";
            return null;
        }
        double[] e, a;
        switch (expected.ElementType)
        {
            case ElementType.Float or ElementType.Complex64:
                e = [.. expected.Span<float>().ToArray().Select(x => (double)x)];
                a = [.. actual.Span<float>().ToArray().Select(x => (double)x)];
                break;
            case ElementType.Double or ElementType.Complex128:
                e = expected.Span<double>().ToArray();
                a = actual.Span<double>().ToArray();
                break;
            case ElementType.Bool or ElementType.Float16 or ElementType.BFloat16 or ElementType.Int8 or ElementType.UInt8
                or ElementType.Int16 or ElementType.UInt16 or ElementType.Int32 or ElementType.UInt32
                or ElementType.Int64 or ElementType.UInt64 or ElementType.Int4 or ElementType.UInt4:
                e = expected.ToDoubles();
                a = actual.ToDoubles();
                break;
            default:
                return expected.Raw.Span.SequenceEqual(actual.Raw.Span) ? null : "bytes differ";
        }
        for (var i = 0; i < e.Length; i++)
        {
            if (double.IsNaN(e[i]) && double.IsNaN(a[i])) continue;
            if (e[i] == a[i]) continue;
            if (!(Math.Abs(a[i] - e[i]) <= atol + rtol * Math.Abs(e[i])))
                return $"element {i}: {a[i]} vs expected {e[i]}";
        }
        return null;
    }

    /// <summary>Largest |a - e| over all elements (float outputs), for model-to-model comparisons.</summary>
    public static double MaxAbsDiff(TensorData expected, TensorData actual)
    {
        Assert.True(expected.Dims.SequenceEqual(actual.Dims), $"shape {actual} differs from {expected}");
        var e = expected.ToDoubles();
        var a = actual.ToDoubles();
        var max = 0.0;
        for (var i = 0; i < e.Length; i++)
        {
            if (double.IsNaN(e[i]) && double.IsNaN(a[i])) continue;
            max = Math.Max(max, Math.Abs(a[i] - e[i]));
            if (double.IsNaN(a[i]) || double.IsNaN(e[i])) return double.PositiveInfinity;
        }
        return max;
    }
}
