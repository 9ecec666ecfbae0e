using System.Collections.Immutable;
using System.Numerics;
using System.Runtime.InteropServices;
using ArchNet.Backends.Emulation;
using ArchNet.IR;

namespace ArchNet.Backends.Onnx;

/// <summary>
/// Turns a quantized IR model (float ops whose values carry <see cref="QuantParams"/>) into a QDQ ONNX model:
/// every quantized activation is followed by QuantizeLinear + DequantizeLinear, weights and biases become integer
/// constants read through DequantizeLinear. ONNX Runtime fuses these patterns into its integer kernels.
/// Widths: 8 bits as int8/uint8 (opset 13 is enough); 4 bits as int4/uint4 and 16 bits as int16/uint16 (opset 21);
/// 2-bit and 3-bit weights are stored in int8/uint8 holding only their clamped range.
/// The integer value of an activation <c>v</c> is exposed as <c>v + "_q"</c>; the dequantized value keeps the name <c>v</c>.
/// </summary>
public static class QdqWriter
{
    public const string QuantizedSuffix = "_q";

    public static Model Build(Model quantized)
    {
        var src = quantized.Graph;
        var semantics = QuantSemantics.Of(quantized) ?? new QuantSemantics();
        var graph = new Graph(src.Name) { DocString = src.DocString };
        var model = new Model(graph)
        {
            IrVersion = Math.Max(quantized.IrVersion, 10),
            ProducerName = "archnetc",
            ProducerVersion = quantized.ProducerVersion,
            Domain = quantized.Domain,
            ModelVersion = quantized.ModelVersion,
            DocString = quantized.DocString,
        };
        var needsOpset21 = src.DefinedValues().Any(v => v.Quant is { } q && q.Bits is not 8 and not 32 && StorageType(q) is not (ElementType.Int8 or ElementType.UInt8));
        foreach (var (domain, version) in quantized.OpsetImports)
            model.SetOpset(domain, domain is "" or "ai.onnx" ? Math.Max(version, needsOpset21 ? 21 : 13) : version);
        if (model.Opset("") == 0) model.SetOpset("", needsOpset21 ? 21 : 13);
        foreach (var kv in quantized.Metadata) model.Metadata.Add(kv);

        var map = new Dictionary<Value, Value>();
        var reserved = new HashSet<string>(src.DefinedValues().Select(v => v.Name), StringComparer.Ordinal);
        string Fresh(string hint)
        {
            var name = hint;
            for (var i = 1; !reserved.Add(name); i++) name = $"{hint}_{i}";
            return name;
        }

        // Q then DQ after a float value: returns the dequantized value that consumers read, named `name`.
        Value QuantDequant(Value floatValue, QuantParams q, string name, TensorType? type)
        {
            var (scale, zp) = ParamConstants(graph, q, name, Fresh);
            var storage = StorageType(q);
            var qv = new Value(Fresh(name + QuantizedSuffix), new TensorType(storage, type?.Shape));
            graph.Add(new Node("QuantizeLinear", [floatValue, scale, zp], [qv], name: Fresh(name + "_QuantizeLinear")));
            var dq = new Value(name, type);
            graph.Add(new Node("DequantizeLinear", [qv, scale, zp], [dq], name: Fresh(name + "_DequantizeLinear")));
            return dq;
        }

        foreach (var input in src.Inputs)
        {
            if (input.IsConstant) continue;
            if (input.Quant is { PerChannel: false } q && input.ElementType == ElementType.Float)
            {
                var raw = new Value(input.Name, input.Type);
                graph.Inputs.Add(raw);
                // The input keeps its name; the quantized copy gets a fresh one.
                map[input] = QuantDequant(raw, q, Fresh(input.Name + "_dq"), input.TensorType);
            }
            else
            {
                var v = new Value(input.Name, input.Type);
                graph.Inputs.Add(v);
                map[input] = v;
            }
        }

        // Quantized float constants (weights, biases) become integer constants. Weights are most of a model's bytes: each
        // is quantized to its storage type on its own core, before the graph is built in node order.
        var constants = src.Nodes.SelectMany(n => n.Inputs).OfType<Value>()
            .Where(v => v is { IsConstant: true, Quant: not null } && v.Constant!.ElementType == ElementType.Float)
            .Distinct().ToList();
        var integerData = new TensorData[constants.Count];
        Parallel.For(0, constants.Count, i => integerData[i] = QuantizeToStorage(constants[i].Constant!, constants[i].Quant!));
        var storage = constants.Zip(integerData).ToDictionary();

        Value MapConstant(Value c)
        {
            if (map.TryGetValue(c, out var known)) return known;
            Value result;
            if (storage.TryGetValue(c, out var integers))
            {
                var q = c.Quant!;
                var stored = graph.AddConstant(Fresh(c.Name + QuantizedSuffix), integers);
                var (scale, zp) = ParamConstants(graph, q, c.Name, Fresh);
                var attrs = q.Axis is { } axis ? new[] { IR.Attribute.Int("axis", axis) } : [];
                result = new Value(c.Name, c.Type);
                graph.Add(new Node("DequantizeLinear", [stored, scale, zp], [result], attrs, Fresh(c.Name + "_DequantizeLinear")));
            }
            else
            {
                result = new Value(c.Name, c.Type, c.Constant);
                graph.Constants.Add(result);
            }
            map[c] = result;
            return result;
        }

        foreach (var node in src.Nodes)
        {
            var inputs = node.Inputs.Select(v => v is null ? null : v.IsConstant ? MapConstant(v) : map[v]).ToList();
            var outputs = new List<Value>();
            var after = new List<(Value Raw, Value Original)>();
            foreach (var o in node.Outputs)
            {
                if (o.Quant is { PerChannel: false } && o.ElementType == ElementType.Float && !o.IsAbsent)
                {
                    var raw = new Value(Fresh(o.Name + "_float"), o.Type);
                    outputs.Add(raw);
                    after.Add((raw, o));
                }
                else
                {
                    var v = new Value(o.Name, o.Type);
                    outputs.Add(v);
                    map[o] = v;
                }
            }
            var copy = new Node(node.OpType, inputs, outputs, node.Attributes.Values, node.Name, node.Domain) { DocString = node.DocString };
            graph.Add(copy);
            foreach (var (raw, original) in after)
                map[original] = QuantDequant(raw, original.Quant!, original.Name, original.TensorType);
        }
        foreach (var o in src.Outputs) graph.Outputs.Add(map[o]);
        var semanticsNote = $"QDQ model written by archnetc; integer semantics {semantics.Encode()}";
        // ONNX Runtime 1.31's extended optimizations move QDQ groups into kernels without 4-bit types (MaxPool, QLinearConv)
        // and then refuse the model; its basic level runs it.
        if (src.DefinedValues().Any(v => !v.IsConstant && v.Quant is { Bits: 4 }))
            semanticsNote += "; 4-bit activations: load in ONNX Runtime with GraphOptimizationLevel ORT_ENABLE_BASIC (its QDQ fusions reject int4/uint4 activations)";
        model.DocString = string.IsNullOrEmpty(model.DocString) ? semanticsNote : model.DocString + "\n" + semanticsNote;
        return model;
    }

    /// <summary>The value holding the integers of graph output <paramref name="output"/> in a model this writer built: the
    /// QuantizeLinear output that the DequantizeLinear naming the output reads. Null when the output is not quantized.</summary>
    public static string? QuantizedName(Model qdq, string output) =>
        qdq.Graph.Nodes.FirstOrDefault(d => d.OpType == "DequantizeLinear" && d.Outputs[0].Name == output
            && d.Inputs[0]?.Producer?.OpType == "QuantizeLinear")?.Inputs[0]!.Name;

    /// <summary>The ONNX element type holding a quantized tensor: 2- and 3-bit values live in 8-bit types.</summary>
    public static ElementType StorageType(QuantParams q) => q.Bits switch
    {
        4 => q.Signed ? ElementType.Int4 : ElementType.UInt4,
        <= 8 => q.Signed ? ElementType.Int8 : ElementType.UInt8,
        <= 16 => q.Signed ? ElementType.Int16 : ElementType.UInt16,
        _ => q.Signed ? ElementType.Int32 : ElementType.UInt32,
    };

    /// <summary>Integers of a float constant under its parameters, by the emulator's rule (ties to even, saturated).</summary>
    public static long[] QuantizeConstant(TensorData data, QuantParams q)
    {
        var result = new long[checked((int)data.ElementCount)];
        Quantize(data, q, result.AsSpan());
        return result;
    }

    /// <summary>A float constant quantized straight into its storage type (what <see cref="Pack"/> of
    /// <see cref="QuantizeConstant"/> gives, without the long[] in between: weights are most of a model's bytes).</summary>
    public static TensorData QuantizeToStorage(TensorData data, QuantParams q)
    {
        var type = StorageType(q);
        var n = checked((int)data.ElementCount);
        switch (type)
        {
            case ElementType.Int8: return Stored<sbyte>(data, q, type, n);
            case ElementType.UInt8: return Stored<byte>(data, q, type, n);
            case ElementType.Int16: return Stored<short>(data, q, type, n);
            case ElementType.UInt16: return Stored<ushort>(data, q, type, n);
            case ElementType.Int32: return Stored<int>(data, q, type, n);
            case ElementType.UInt32: return Stored<uint>(data, q, type, n);
            case ElementType.Int4 or ElementType.UInt4:
            {
                var ints = new sbyte[n];
                Quantize(data, q, ints.AsSpan());
                var bytes = new byte[(n + 1) / 2];
                for (var i = 0; i < n; i++)
                    bytes[i >> 1] |= (byte)((ints[i] & 0xF) << (4 * (i & 1))); // low nibble first
                return new TensorData(type, data.Dims, bytes);
            }
            default: throw new ArchNetException($"cannot store quantized values as {type.ShortName()}");
        }
    }

    private static TensorData Stored<T>(TensorData data, QuantParams q, ElementType type, int n) where T : unmanaged, IBinaryInteger<T>
    {
        var bytes = new byte[type.ByteCount(n)];
        Quantize(data, q, MemoryMarshal.Cast<byte, T>(bytes.AsSpan()));
        return new TensorData(type, data.Dims, bytes);
    }

    // Channel by channel: the scale, zero point and bounds are read once per run of `inner` elements, not per element
    // (no division per element). The cast to T truncates like the casts Pack applies to a long.
    private static void Quantize<T>(TensorData data, QuantParams q, Span<T> result) where T : unmanaged, IBinaryInteger<T>
    {
        var floats = data.ElementType == ElementType.Float ? data.Span<float>() : data.ToFloats();
        var dims = data.Dims;
        var channels = q.Axis is { } axis ? checked((int)dims[axis]) : 1;
        var inner = 1;
        if (q.Axis is { } ax) for (var d = ax + 1; d < dims.Length; d++) inner = checked(inner * (int)dims[d]);
        else inner = floats.Length;
        long qmin = q.QMin, qmax = q.QMax;
        for (var start = 0; start < floats.Length;)
            for (var c = 0; c < channels && start < floats.Length; c++)
            {
                var count = Math.Min(inner, floats.Length - start);
                var source = floats.Slice(start, count);
                var target = result.Slice(start, count);
                float scale = q.Scales[c];
                var zeroPoint = q.ZeroPoints[c];
                for (var i = 0; i < source.Length; i++)
                    target[i] = T.CreateTruncating(IntegerArithmetic.QuantizeFloat(source[i], scale, zeroPoint, qmin, qmax, RoundingMode.HalfToEven));
                start += count;
            }
    }

    public static TensorData Pack(long[] values, IEnumerable<long> dims, ElementType type)
    {
        var d = dims.ToArray();
        switch (type)
        {
            case ElementType.Int8: return Packed<sbyte>(values, d, type);
            case ElementType.UInt8: return Packed<byte>(values, d, type);
            case ElementType.Int16: return Packed<short>(values, d, type);
            case ElementType.UInt16: return Packed<ushort>(values, d, type);
            case ElementType.Int32: return Packed<int>(values, d, type);
            case ElementType.UInt32: return Packed<uint>(values, d, type);
            case ElementType.Int4 or ElementType.UInt4:
            {
                var bytes = new byte[(values.Length + 1) / 2];
                for (var i = 0; i < values.Length; i++)
                    bytes[i / 2] |= (byte)((values[i] & 0xF) << (4 * (i % 2))); // low nibble first
                return new TensorData(type, d, bytes);
            }
            default: throw new ArchNetException($"cannot store quantized values as {type.ShortName()}");
        }
    }

    private static TensorData Packed<T>(long[] values, long[] dims, ElementType type) where T : unmanaged, IBinaryInteger<T>
    {
        var bytes = new byte[type.ByteCount(values.Length)];
        var target = MemoryMarshal.Cast<byte, T>(bytes.AsSpan());
        for (var i = 0; i < values.Length; i++) target[i] = T.CreateTruncating(values[i]);
        return new TensorData(type, dims, bytes);
    }

    private static (Value Scale, Value ZeroPoint) ParamConstants(Graph graph, QuantParams q, string name, Func<string, string> fresh)
    {
        var perChannel = q.PerChannel;
        long[] dims = perChannel ? [q.Scales.Length] : [];
        var scale = new Value(fresh(name + "_scale"), null, TensorData.FromFloats(dims, [.. q.Scales]));
        var zpType = StorageType(q);
        var zp = new Value(fresh(name + "_zero_point"), null, Pack([.. q.ZeroPoints], dims, zpType));
        graph.Constants.Add(scale);
        graph.Constants.Add(zp);
        return (scale, zp);
    }
}
