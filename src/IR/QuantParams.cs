using System.Collections.Immutable;

namespace ArchNet.IR;

/// <summary>
/// How a value is represented as integers: real = (q - zeroPoint) * scale, q in [QMin, QMax].
/// Axis is the channel axis for per-channel parameters, or null for per-tensor.
/// </summary>
public sealed record QuantParams(
    int Bits,
    bool Signed,
    ImmutableArray<float> Scales,
    ImmutableArray<long> ZeroPoints,
    int? Axis = null)
{
    public long QMin => Signed ? -(1L << (Bits - 1)) : 0;
    public long QMax => Signed ? (1L << (Bits - 1)) - 1 : (1L << Bits) - 1;
    public bool PerChannel => Axis.HasValue;

    public static QuantParams PerTensor(int bits, bool signed, float scale, long zeroPoint = 0) =>
        new(bits, signed, [scale], [zeroPoint]);

    /// <summary>The same representation: equal widths, signedness, axis, scales and zero points. (A record compares its
    /// arrays by reference, so two values given equal parameters by different passes would differ.)</summary>
    public bool Equals(QuantParams? other) =>
        other is not null && Bits == other.Bits && Signed == other.Signed && Axis == other.Axis
        && Scales.AsSpan().SequenceEqual(other.Scales.AsSpan()) && ZeroPoints.AsSpan().SequenceEqual(other.ZeroPoints.AsSpan());

    public override int GetHashCode() => HashCode.Combine(Bits, Signed, Axis, Scales.Length, Scales.IsDefaultOrEmpty ? 0f : Scales[0]);

    public override string ToString() =>
        $"{(Signed ? "i" : "u")}{Bits} scale={(Scales.Length == 1 ? Scales[0].ToString("G6") : $"[{Scales.Length}]")}" +
        $" zp={(ZeroPoints.Length == 1 ? ZeroPoints[0].ToString() : $"[{ZeroPoints.Length}]")}" +
        (Axis is { } a ? $" axis={a}" : "");
}

/// <summary>How a chip rounds: to nearest with ties to even, away from zero, or towards +infinity.</summary>
public enum RoundingMode { HalfToEven, HalfAwayFromZero, HalfUp }

/// <summary>How an accumulator is brought back to a narrow output: a float32 multiply, or an integer multiplier and right shift.</summary>
public enum RequantMode { FloatScale, MultiplierShift }

/// <summary>
/// The integer semantics a quantized model was built for (the arithmetic itself is defined once, in
/// ArchNet.Backends.Emulation.IntegerArithmetic). Kept in the model's metadata so that every backend reads the same
/// choice the quantizer made from the capability file.
/// </summary>
public sealed record QuantSemantics(
    RoundingMode Rounding = RoundingMode.HalfToEven,
    RequantMode Requantization = RequantMode.FloatScale,
    int AccumulatorBits = 32)
{
    public const string MetadataKey = "archnet.quant.semantics";

    public string Encode() => $"rounding={Rounding};requantization={Requantization};accumulator_bits={AccumulatorBits}";

    /// <summary>The semantics recorded in <paramref name="model"/>, or null when the model is not quantized.</summary>
    public static QuantSemantics? Of(Model model)
    {
        var text = model.Metadata.FirstOrDefault(kv => kv.Key == MetadataKey).Value;
        if (text is null) return null;
        var parts = text.Split(';').Select(p => p.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1]);
        try
        {
            return new QuantSemantics(
                Enum.Parse<RoundingMode>(parts.GetValueOrDefault("rounding", nameof(RoundingMode.HalfToEven))),
                Enum.Parse<RequantMode>(parts.GetValueOrDefault("requantization", nameof(RequantMode.FloatScale))),
                int.Parse(parts.GetValueOrDefault("accumulator_bits", "32"), System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (Exception e) when (e is ArgumentException or FormatException or OverflowException)
        {
            throw new ArchNetException($"model metadata '{MetadataKey}' is malformed: '{text}'");
        }
    }

    public void WriteTo(Model model)
    {
        model.Metadata.RemoveAll(kv => kv.Key == MetadataKey);
        model.Metadata.Add(new(MetadataKey, Encode()));
    }
}
