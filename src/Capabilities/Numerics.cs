using System.Collections.Immutable;
using ArchNet.IR;

namespace ArchNet.Capabilities;

public enum Signedness { Signed, Unsigned }

/// <summary>One scale for the whole tensor, or one per output channel.</summary>
public enum Granularity { PerTensor, PerChannel }

/// <summary>Symmetric: zero point fixed at 0 (for unsigned values that means the range [0, max]); asymmetric: a free zero point.</summary>
public enum Symmetry { Symmetric, Asymmetric }

/// <summary>How the chip rounds when it rescales: half away from zero (round(2.5) = 3, round(-2.5) = -3) or half to even (banker's).</summary>
public enum Rounding { HalfAwayFromZero, HalfToEven }

/// <summary>How the chip rescales an accumulator to the output: an integer multiplier and a right shift, or a float multiply.</summary>
public enum Requantization { MultiplierShift, Float }

/// <summary>Allowed integer bit widths: a set, or any width (the reference CPU).</summary>
public sealed record BitWidths(bool IsAny, ImmutableArray<int> Values)
{
    public static BitWidths Any { get; } = new(true, []);
    public static BitWidths Of(params int[] values) => new(false, [.. values.Distinct().Order()]);
    public bool Allows(int bits) => IsAny || Values.Contains(bits);
    public BitWidths Intersect(BitWidths other) =>
        IsAny ? other : other.IsAny ? this : Of([.. Values.Intersect(other.Values)]);
    public bool IsEmpty => !IsAny && Values.IsEmpty;
    public override string ToString() => IsAny ? "any" : string.Join(", ", Values);
}

/// <summary>
/// How one class of tensors (weights, or activations) may be quantized. Lists are in order of preference: the
/// quantizer takes the first entry that the model allows.
/// </summary>
public sealed record QuantizationSpec(
    BitWidths Bits,
    ImmutableArray<Signedness> Signedness,
    ImmutableArray<Granularity> Granularity,
    ImmutableArray<Symmetry> Symmetry,
    bool PowerOfTwoScales)
{
    /// <summary>Common ground of two chips: shared widths, signedness, granularities, symmetries; power-of-two scales if either needs them.</summary>
    public QuantizationSpec Intersect(QuantizationSpec other) => new(
        Bits.Intersect(other.Bits),
        [.. Signedness.Intersect(other.Signedness)],
        [.. Granularity.Intersect(other.Granularity)],
        [.. Symmetry.Intersect(other.Symmetry)],
        PowerOfTwoScales || other.PowerOfTwoScales);

    public bool IsEmpty => Bits.IsEmpty || Signedness.IsEmpty || Granularity.IsEmpty || Symmetry.IsEmpty;
}

/// <summary>
/// The chip's arithmetic: float types it runs natively, how weights and activations are quantized, accumulator
/// width, rounding and requantization. The quantization pass reads this; the checker uses it to judge float
/// values that quantization will turn into integers.
/// </summary>
public sealed record Numerics(
    ImmutableArray<ElementType> FloatTypes,
    QuantizationSpec Weights,
    QuantizationSpec Activations,
    int AccumulatorBits,
    ImmutableArray<Rounding> Rounding,
    ImmutableArray<Requantization> Requantization)
{
    public Numerics Intersect(Numerics other) => new(
        [.. FloatTypes.Intersect(other.FloatTypes)],
        Weights.Intersect(other.Weights),
        Activations.Intersect(other.Activations),
        Math.Min(AccumulatorBits, other.AccumulatorBits),
        [.. Rounding.Intersect(other.Rounding)],
        [.. Requantization.Intersect(other.Requantization)]);

    /// <summary>
    /// True when no activation can hold a negative value: no float activations, unsigned only, and symmetric only
    /// (no zero point to shift the range). Such a chip clips every signed intermediate at 0, so exact rewrites must
    /// carry a signed value as its positive and negative parts.
    /// </summary>
    public bool ActivationsNonNegative =>
        FloatTypes.IsEmpty && !Activations.Signedness.Contains(Capabilities.Signedness.Signed)
        && !Activations.Symmetry.Contains(Symmetry.Asymmetric);

    /// <summary>Whether integer element type <paramref name="t"/> is one the chip's quantization can produce.</summary>
    public bool Quantizes(ElementType t) =>
        t.IsInteger() && (Weights.Bits.Allows(t.BitWidth()) || Activations.Bits.Allows(t.BitWidth()))
        && (Weights.Signedness.Concat(Activations.Signedness).Contains(t.IsSignedInteger() ? Capabilities.Signedness.Signed : Capabilities.Signedness.Unsigned));

    /// <summary>Bits an activation of type <paramref name="t"/> occupies on the chip: float types it runs keep their width,
    /// other floats become the narrowest activation width it quantizes to.</summary>
    public int StorageBits(ElementType t, QuantParams? quant)
    {
        if (quant is not null) return quant.Bits;
        if (!t.IsFloatingPoint() || FloatTypes.Contains(t)) return Math.Max(t.BitWidth(), 1);
        return Activations.Bits.IsAny || Activations.Bits.Values.IsEmpty ? t.BitWidth() : Activations.Bits.Values.Min();
    }

    public static string Name(Signedness s) => s == Capabilities.Signedness.Signed ? "signed" : "unsigned";
    public static string Name(Granularity g) => g == Capabilities.Granularity.PerChannel ? "per-channel" : "per-tensor";
    public static string Name(Symmetry s) => s == Capabilities.Symmetry.Symmetric ? "symmetric" : "asymmetric";
    public static string Name(Rounding r) => r == Capabilities.Rounding.HalfAwayFromZero ? "half-away-from-zero" : "half-to-even";
    public static string Name(Requantization r) => r == Capabilities.Requantization.MultiplierShift ? "multiplier-shift" : "float";
}
