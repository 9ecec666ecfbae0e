using System.Runtime.CompilerServices;
using ArchNet.IR;
using Contract = ArchNet.Backends.Abstractions;

namespace ArchNet.Backends.Emulation;

/// <summary>
/// The integer semantics of a quantized ArchNet graph as the emulator applies them, on the IR's types. The arithmetic
/// itself is defined once, in <see cref="Contract.IntegerSemantics"/> (whose documentation states it per op): the
/// contract every backend, plugins included, reproduces bit for bit. This class only adapts the IR's rounding mode
/// and adds what is the emulator's own: weights are stored as float constants with their QuantParams and quantized
/// here with ties to even (whatever the chip's rounding: weight quantization happens on the host), biases become
/// int32 at scale s_x * s_w[c]; any op without an integer kernel is a host float op (inputs dequantized, the float
/// op, its output quantized as a graph input).
/// </summary>
public static class IntegerArithmetic
{
    /// <summary>The contract's rounding mode of the IR's: the two enums have the same members in the same order
    /// (a Plugins test holds them to it), so the conversion is a cast.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Contract.RoundingMode ToContract(RoundingMode rounding) => (Contract.RoundingMode)(int)rounding;

    /// <summary>R(v) of an exact double (every float32 and every product of two float32s fits).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Round(double v, RoundingMode rounding) => Contract.IntegerSemantics.Round(v, ToContract(rounding));

    /// <summary>R(p / 2^n) for an exact integer p, without going through floating point.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long RoundShift(long p, int n, RoundingMode rounding) => Contract.IntegerSemantics.RoundShift(p, n, ToContract(rounding));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long Saturate(long v, long min, long max) => Contract.IntegerSemantics.Saturate(v, min, max);

    /// <summary>q = sat(R(f32(x / s)) + z): graph inputs (with the model's rounding) and weights (ties to even).</summary>
    public static long QuantizeFloat(float x, float scale, long zeroPoint, long qmin, long qmax, RoundingMode rounding) =>
        Contract.IntegerSemantics.QuantizeFloat(x, scale, zeroPoint, qmin, qmax, ToContract(rounding));

    public static float Dequantize(long q, float scale, long zeroPoint) => Contract.IntegerSemantics.Dequantize(q, scale, zeroPoint);

    /// <summary>A bias at scale sx * sw: int32 (accumulator) with ties to even.</summary>
    public static long QuantizeBias(float b, float accScale, int accumulatorBits) =>
        QuantizeFloat(b, accScale, 0, -(1L << (accumulatorBits - 1)), (1L << (accumulatorBits - 1)) - 1, RoundingMode.HalfToEven);

    /// <summary>Clamps an exact accumulator to the accumulator's width.</summary>
    public static long SaturateAccumulator(long acc, int accumulatorBits) => Contract.IntegerSemantics.SaturateAccumulator(acc, accumulatorBits);

    /// <summary>The float32 multiplier of a Conv/Gemm/MatMul/Mul: f32(f32(sa * sb) / sy).</summary>
    public static float ProductMultiplier(float sa, float sb, float sy) => Contract.IntegerSemantics.ProductMultiplier(sa, sb, sy);

    /// <summary>The float32 multiplier of a rescale: f32(sx / sy).</summary>
    public static float RatioMultiplier(float sx, float sy) => Contract.IntegerSemantics.RatioMultiplier(sx, sy);

    /// <summary>The float32 multiplier of an average over <paramref name="count"/> elements: f32(sx / f32(sy * count)).</summary>
    public static float AverageMultiplier(float sx, float sy, long count) => Contract.IntegerSemantics.AverageMultiplier(sx, sy, count);
}

/// <summary>A float32 multiplier written as m * 2^-n for integer requantization: the contract's
/// <see cref="Contract.FixedMultiplier"/>, with a multiplier no right shift can express reported as the user's error.</summary>
public readonly record struct FixedMultiplier(long Multiplier, int Shift)
{
    public static FixedMultiplier From(float m)
    {
        if (!(m > 0) || float.IsInfinity(m)) throw new ArchNetException($"requantization multiplier {m} is not a positive finite number");
        try
        {
            var f = Contract.FixedMultiplier.From(m);
            return new(f.Multiplier, f.Shift);
        }
        catch (ArgumentOutOfRangeException)
        {
            // Its only other argument check: a scale ratio of 2^31 or more that is not a power of two.
            throw new ArchNetException($"requantization multiplier {m} is too large for a multiplier and right shift");
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long Apply(long acc, RoundingMode rounding) => IntegerArithmetic.RoundShift(acc * Multiplier, Shift, rounding);
}
