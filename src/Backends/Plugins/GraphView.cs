using System.Collections.Immutable;
using System.Globalization;
using System.Runtime.InteropServices;
using ArchNet.Backends.Abstractions;
using ArchNet.IR;
using IrAttribute = ArchNet.IR.Attribute;
using QuantSemantics = ArchNet.Backends.Abstractions.QuantSemantics;
using RoundingMode = ArchNet.Backends.Abstractions.RoundingMode;

namespace ArchNet.Backends.Plugins;

/// <summary>
/// Builds the contract's read-only <see cref="QuantizedGraph"/> from an IR model. Constant integers are computed here,
/// once, with the contract's <see cref="IntegerSemantics"/>, so that no backend re-derives them differently.
/// </summary>
public static class GraphView
{
    /// <summary>Model metadata key under which the quantizer records the integer semantics it chose.</summary>
    public const string SemanticsMetadataKey = "archnet.quant.semantics";

    /// <param name="constantData">False for a backend that reads only the host's model (<see cref="IHostModelBackend"/>):
    /// constants then carry no data.</param>
    public static QuantizedGraph Of(Model model, string target, bool constantData = true)
    {
        var graph = model.Graph;
        var semantics = SemanticsOf(model);
        var views = new Dictionary<Value, TensorValue>();
        var biasQuant = BiasQuantization(graph, semantics);
        var weights = graph.Nodes.Where(n => n.OpType is "Conv" or "Gemm" or "MatMul" or "ConvTranspose")
            .Select(n => n.Input(1)).OfType<Value>().Where(v => v.IsConstant).ToHashSet();

        TensorValue View(Value v)
        {
            if (views.TryGetValue(v, out var view)) return view;
            var shape = v.Shape?.ToArray() ?? v.Constant?.Dims.ToArray()
                ?? throw new ArchNetException($"value '{v.Name}' has no static shape; a backend needs every shape known");
            // The emulator derives biases from the float data at s_x * s_w[c], whatever parameters they carry.
            var quant = biasQuant.GetValueOrDefault(v) ?? (v.Quant is { } q ? Info(q) : null);
            ImmutableArray<float>? floats = null;
            ImmutableArray<long>? integers = null;
            if (constantData && v.Constant is { } data)
            {
                if (data.ElementType.IsFloatingPoint())
                {
                    // ToFloats and ToInt64s return fresh arrays: wrapping them saves a copy of every weight.
                    floats = ImmutableCollectionsMarshal.AsImmutableArray(data.ToFloats());
                    if (quant is not null)
                        integers = QuantizeConstant(floats.Value, shape, quant,
                            weights.Contains(v) || biasQuant.ContainsKey(v) ? RoundingMode.HalfToEven : semantics.Rounding);
                }
                else if (data.ElementType.IsInteger() || data.ElementType == ElementType.Bool)
                {
                    integers = ImmutableCollectionsMarshal.AsImmutableArray(data.ToInt64s());
                }
            }
            view = new TensorValue(v.Name, (TensorElementType)(int)v.ElementType, [.. shape], quant, floats, integers);
            views[v] = view;
            return view;
        }

        var nodes = graph.Nodes.Select(n => new Operation(
            n.Name, n.OpType, n.Domain,
            [.. n.Inputs.Select(i => i is null || i.IsAbsent ? null : View(i))],
            [.. n.Outputs.Select(View)],
            n.Attributes.Values.Where(a => a.Kind is not (AttributeKind.Graph or AttributeKind.Graphs or AttributeKind.Tensor
                    or AttributeKind.Tensors or AttributeKind.SparseTensor or AttributeKind.SparseTensors or AttributeKind.TypeProto or AttributeKind.TypeProtos))
                .ToDictionary(a => a.Name, Attr, StringComparer.Ordinal))).ToList();
        var inputs = graph.Inputs.Where(i => !i.IsConstant).Select(View).ToList();
        var outputs = graph.Outputs.Select(View).ToList();
        return new QuantizedGraph(graph.Name, target, semantics, inputs, outputs, nodes, model);
    }

    /// <summary>The semantics recorded by the quantizer ("rounding=...;requantization=...;accumulator_bits=..."), or the defaults.</summary>
    public static QuantSemantics SemanticsOf(Model model)
    {
        var text = model.Metadata.FirstOrDefault(kv => kv.Key == SemanticsMetadataKey).Value;
        if (text is null) return new QuantSemantics();
        var parts = text.Split(';').Select(p => p.Split('=', 2)).Where(p => p.Length == 2)
            .ToDictionary(p => p[0].Trim(), p => p[1].Trim(), StringComparer.Ordinal);
        try
        {
            return new QuantSemantics(
                Enum.Parse<RoundingMode>(parts.GetValueOrDefault("rounding", nameof(RoundingMode.HalfToEven))),
                parts.GetValueOrDefault("requantization", nameof(RequantizationMode.FloatScale)) switch
                {
                    "Float" or "FloatScale" => RequantizationMode.FloatScale,
                    var other => Enum.Parse<RequantizationMode>(other),
                },
                int.Parse(parts.GetValueOrDefault("accumulator_bits", "32"), CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
        {
            throw new ArchNetException($"model metadata '{SemanticsMetadataKey}' is malformed: '{text}'");
        }
    }

    private static QuantInfo Info(QuantParams q) => new(q.Bits, q.Signed, q.Scales, q.ZeroPoints, q.Axis);

    /// <summary>
    /// A quantized float constant's integers, per channel along Axis: weights and biases with ties to even (the host
    /// quantizes them, whatever the chip rounds), other constants (operands of Add, Concat, ...) with the graph's rounding,
    /// as the emulator does.
    /// </summary>
    private static ImmutableArray<long> QuantizeConstant(ImmutableArray<float> values, long[] shape, QuantInfo q, RoundingMode rounding)
    {
        var result = new long[values.Length];
        long inner = values.Length, channels = 1;
        if (q.Axis is { } axis)
        {
            var a = axis < 0 ? axis + shape.Length : axis;
            channels = shape[a];
            inner = 1;
            for (var i = a + 1; i < shape.Length; i++) inner *= shape[i];
        }
        if (inner <= 0 && values.Length > 0)
            throw new ArchNetException($"constant of {values.Length} elements does not fit its shape [{string.Join(",", shape)}]");
        // Runs of `inner` elements share a channel's parameters: no division per element (weights are millions of them).
        var source = values.AsSpan();
        long qmin = q.QMin, qmax = q.QMax;
        for (var start = 0; start < source.Length;)
            for (var c = 0; c < channels && start < source.Length; c++)
            {
                var count = (int)Math.Min(inner, source.Length - start);
                float scale = q.Scale(c);
                var zeroPoint = q.ZeroPoint(c);
                for (var i = start; i < start + count; i++)
                    result[i] = IntegerSemantics.QuantizeFloat(source[i], scale, zeroPoint, qmin, qmax, rounding);
                start += count;
            }
        return ImmutableCollectionsMarshal.AsImmutableArray(result);
    }

    /// <summary>
    /// Float biases of Conv, ConvTranspose and Gemm (input 2): int at scale f32(sx * sw[c]),
    /// zero point 0, in the accumulator's width, as the emulator reads them.
    /// </summary>
    private static Dictionary<Value, QuantInfo> BiasQuantization(Graph graph, QuantSemantics semantics)
    {
        var result = new Dictionary<Value, QuantInfo>();
        foreach (var n in graph.Nodes)
        {
            if (n.OpType is not ("Conv" or "ConvTranspose" or "Gemm") || n.Input(2) is not { Constant: not null } bias || !bias.Constant.ElementType.IsFloatingPoint()) continue;
            if (n.Input(0)?.Quant is not { } x || n.Input(1)?.Quant is not { } w) continue;
            var channels = bias.Constant.ElementCount;
            var scales = new float[channels];
            for (var c = 0; c < channels; c++) scales[c] = x.Scales[0] * (w.Scales.Length == 1 ? w.Scales[0] : w.Scales[c]);
            result[bias] = new QuantInfo(semantics.AccumulatorBits, true, [.. scales], [0], 0);
        }
        return result;
    }

    private static AttributeValue Attr(IrAttribute a) => a.Kind switch
    {
        AttributeKind.Int => new(Int: a.AsInt()),
        AttributeKind.Float => new(Float: a.AsFloat()),
        AttributeKind.String => new(String: a.AsString()),
        AttributeKind.Ints => new(Ints: a.AsInts()),
        AttributeKind.Floats => new(Floats: a.AsFloats()),
        AttributeKind.Strings => new(Strings: a.AsStrings()),
        _ => new(),
    };
}
