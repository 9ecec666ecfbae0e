using System.Collections.Immutable;

namespace ArchNet.Backends.Abstractions;

/// <summary>
/// A read-only view of a legal quantized graph, as the host hands it to a backend: values with their shapes, element
/// types, quantization parameters and constant data; nodes in topological order. The integer meaning of every node is
/// fixed by <see cref="Semantics"/> and documented on <see cref="IntegerSemantics"/>; a backend's output must equal
/// that of the emulator bit for bit.
/// </summary>
public sealed class QuantizedGraph
{
    public QuantizedGraph(string name, string target, QuantSemantics semantics, IEnumerable<TensorValue> inputs,
        IEnumerable<TensorValue> outputs, IEnumerable<Operation> nodes, object? source = null)
    {
        Name = name;
        Target = target;
        Semantics = semantics;
        Inputs = [.. inputs];
        Outputs = [.. outputs];
        Nodes = [.. nodes];
        Source = source;
        var values = new Dictionary<string, TensorValue>(StringComparer.Ordinal);
        foreach (var v in Inputs) values[v.Name] = v;
        foreach (var n in Nodes)
        {
            foreach (var v in n.Inputs) if (v is not null) values.TryAdd(v.Name, v);
            foreach (var v in n.Outputs) values[v.Name] = v;
        }
        foreach (var v in Outputs) values.TryAdd(v.Name, v);
        Values = values;
    }

    /// <summary>The model's graph name (usable as an identifier stem after sanitising).</summary>
    public string Name { get; }

    /// <summary>The capability (target name) the graph was compiled for.</summary>
    public string Target { get; }

    /// <summary>Rounding, requantization and accumulator width the quantizer chose from the capability file.</summary>
    public QuantSemantics Semantics { get; }

    /// <summary>Graph inputs: float32 tensors that the backend quantizes with their <see cref="TensorValue.Quant"/>.</summary>
    public ImmutableArray<TensorValue> Inputs { get; }

    /// <summary>Graph outputs: quantized tensors the caller dequantizes (real = (q - z) * s).</summary>
    public ImmutableArray<TensorValue> Outputs { get; }

    /// <summary>Nodes in an order where every value is computed before it is read.</summary>
    public ImmutableArray<Operation> Nodes { get; }

    /// <summary>Every value by name: inputs, constants, node outputs.</summary>
    public IReadOnlyDictionary<string, TensorValue> Values { get; }

    /// <summary>
    /// The host's own representation of the graph, for built-in backends only. Not part of the contract: its type may
    /// change in any release, and plugins must not use it.
    /// </summary>
    public object? Source { get; }
}

/// <summary>
/// A tensor value. <see cref="Shape"/> is static (every dimension known) in a legal quantized graph. Constants carry
/// <see cref="FloatData"/> (the trained real values, when they were float) and, when quantized or integral,
/// <see cref="IntegerData"/>: the exact integers the emulator computes with (weights quantized per channel with ties
/// to even, biases at scale s_x * s_w[c] in the accumulator's width).
/// </summary>
public sealed record TensorValue(
    string Name,
    TensorElementType ElementType,
    ImmutableArray<long> Shape,
    QuantInfo? Quant = null,
    ImmutableArray<float>? FloatData = null,
    ImmutableArray<long>? IntegerData = null)
{
    public bool IsConstant => FloatData is not null || IntegerData is not null;

    public long ElementCount => Shape.Aggregate(1L, (acc, d) => acc * d);

    public override string ToString() =>
        $"{Name}: {ElementType}[{string.Join(",", Shape)}]{(Quant is null ? "" : " " + Quant)}{(IsConstant ? " const" : "")}";
}

/// <summary>
/// How a tensor is represented as integers: real = (q - ZeroPoint) * Scale, q in [<see cref="QMin"/>, <see cref="QMax"/>].
/// Per-channel parameters (<see cref="Axis"/> set) hold one scale and zero point per index along that axis.
/// </summary>
public sealed record QuantInfo(int Bits, bool Signed, ImmutableArray<float> Scales, ImmutableArray<long> ZeroPoints, int? Axis = null)
{
    public long QMin => Signed ? -(1L << (Bits - 1)) : 0;
    public long QMax => Signed ? (1L << (Bits - 1)) - 1 : (1L << Bits) - 1;
    public bool PerChannel => Axis.HasValue;

    /// <summary>The scale of channel <paramref name="c"/> (or the only one).</summary>
    public float Scale(long c = 0) => Scales.Length == 1 ? Scales[0] : Scales[(int)c];

    /// <summary>The zero point of channel <paramref name="c"/> (or the only one).</summary>
    public long ZeroPoint(long c = 0) => ZeroPoints.Length == 1 ? ZeroPoints[0] : ZeroPoints[(int)c];

    public override string ToString() =>
        $"{(Signed ? "i" : "u")}{Bits} scale={(Scales.Length == 1 ? Scales[0].ToString("G9", System.Globalization.CultureInfo.InvariantCulture) : $"[{Scales.Length}]")}" +
        $" zp={(ZeroPoints.Length == 1 ? ZeroPoints[0].ToString(System.Globalization.CultureInfo.InvariantCulture) : $"[{ZeroPoints.Length}]")}" +
        (Axis is { } a ? $" axis={a}" : "");

    public bool Equals(QuantInfo? other) => other is not null && Bits == other.Bits && Signed == other.Signed
        && Axis == other.Axis && Scales.SequenceEqual(other.Scales) && ZeroPoints.SequenceEqual(other.ZeroPoints);

    public override int GetHashCode() => HashCode.Combine(Bits, Signed, Axis, Scales.Length);
}

/// <summary>An operator application, with ONNX's op names and attribute names (<see cref="Domain"/> "" is ai.onnx).</summary>
public sealed record Operation(
    string Name,
    string OpType,
    string Domain,
    ImmutableArray<TensorValue?> Inputs,
    ImmutableArray<TensorValue> Outputs,
    IReadOnlyDictionary<string, AttributeValue> Attributes)
{
    /// <summary>Input <paramref name="i"/>, or null when omitted.</summary>
    public TensorValue? Input(int i) => i < Inputs.Length ? Inputs[i] : null;

    public long Int(string name, long fallback) => Attributes.TryGetValue(name, out var a) && a.Int is { } v ? v : fallback;
    public float Float(string name, float fallback) => Attributes.TryGetValue(name, out var a) && a.Float is { } v ? v : fallback;
    public string String(string name, string fallback) => Attributes.TryGetValue(name, out var a) && a.String is { } v ? v : fallback;
    public ImmutableArray<long>? Ints(string name) => Attributes.TryGetValue(name, out var a) ? a.Ints : null;

    /// <summary>An ints attribute, or <paramref name="fallback"/> when absent (ONNX's defaults, e.g. strides 1).</summary>
    public ImmutableArray<long> Ints(string name, params long[] fallback) => Ints(name) ?? [.. fallback];

    public override string ToString() => Name.Length > 0 ? $"{Name} ({OpType})" : OpType;
}

/// <summary>A node attribute: exactly one of the fields is set (tensors and subgraphs never reach a backend).</summary>
public sealed record AttributeValue(
    long? Int = null,
    float? Float = null,
    string? String = null,
    ImmutableArray<long>? Ints = null,
    ImmutableArray<float>? Floats = null,
    ImmutableArray<string>? Strings = null);

/// <summary>Element types; the numbering is ONNX's TensorProto.DataType.</summary>
public enum TensorElementType
{
    Undefined = 0, Float = 1, UInt8 = 2, Int8 = 3, UInt16 = 4, Int16 = 5, Int32 = 6, Int64 = 7, String = 8, Bool = 9,
    Float16 = 10, Double = 11, UInt32 = 12, UInt64 = 13, BFloat16 = 16, UInt4 = 21, Int4 = 22, UInt2 = 25, Int2 = 26,
}

/// <summary>How a chip rounds an exact value to an integer: ties to even, away from zero, or towards +infinity.</summary>
public enum RoundingMode { HalfToEven, HalfAwayFromZero, HalfUp }

/// <summary>How an accumulator becomes a narrow output: a float32 multiply, or an integer multiplier and right shift.</summary>
public enum RequantizationMode { FloatScale, MultiplierShift }

/// <summary>The integer semantics a graph was quantized for (see <see cref="IntegerSemantics"/>).</summary>
public sealed record QuantSemantics(
    RoundingMode Rounding = RoundingMode.HalfToEven,
    RequantizationMode Requantization = RequantizationMode.FloatScale,
    int AccumulatorBits = 32);
