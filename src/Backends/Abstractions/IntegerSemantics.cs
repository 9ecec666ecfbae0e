namespace ArchNet.Backends.Abstractions;

/// <summary>
/// The integer semantics of a quantized graph, as the emulator (the golden model) computes them; every backend must
/// reproduce them bit for bit. These functions are the emulator's arithmetic restated for implementers: the host's
/// tests check that they agree with the emulator on every boundary (docs/backends.md walks through them).
/// <para>
/// Representation: real = (q - z) * s, q in [qmin, qmax] of the value's <see cref="QuantInfo"/>. Weights arrive in
/// <see cref="TensorValue.IntegerData"/> already quantized (per channel, ties to even); biases of Conv/Gemm/MatMul as
/// integers at scale s_x * s_w[c] (zero point 0) in the accumulator's width.
/// </para>
/// <para>
/// R(v) rounds an exact value with the graph's <see cref="QuantSemantics.Rounding"/>; sat(v) clamps to the output's
/// [qmin, qmax]. Accumulators are exact integers, clamped once to the accumulator width after the last term.
/// Requantization of an accumulator acc by a float32 multiplier M to an output with zero point z:
/// FloatScale: y = sat(R(f32(f32(acc) * M)) + z); MultiplierShift: M = m * 2^-n (<see cref="FixedMultiplier"/>),
/// y = sat(R(acc * m / 2^n) + z) computed exactly in 64 bits.
/// </para>
/// <para>
/// Per op (x, w, y: input, weight, output; every multiplier is float32 arithmetic, left to right):
/// graph input: q = sat(R(f32(x / s)) + z). Graph output: real = f32(q - z) * s.
/// Conv, Gemm, MatMul with constant weight: acc = sum (x - zx)(w - zw[c]) + b[c], M = f32(f32(sx * sw[c]) / sy); padding reads zx.
/// MatMul of two activations and Mul: acc = (a - za)(b - zb) (summed for MatMul), M = f32(f32(sa * sb) / sy).
/// Add, Sub: FloatScale y = sat(R(f32(f32(a - za) * Ma) ± f32(f32(b - zb) * Mb)) + zy) with Ma = f32(sa / sy);
/// MultiplierShift: Ma = ma 2^-n, Mb = mb 2^-n with one shared n, y = sat(R(((a - za) ma ± (b - zb) mb) / 2^n) + zy).
/// Relu: y = rescale(max(x, zx)). Clip(lo, hi): y = rescale(clamp(x, sat(R(lo / sx) + zx), sat(R(hi / sx) + zx))).
/// MaxPool: y = rescale(max over the window); padding is ignored.
/// AveragePool, GlobalAveragePool: acc = sum over the window of (x - zx), M = f32(sx / f32(sy * count)), count the
/// elements in the window (padding counted only when count_include_pad = 1).
/// Concat: each input rescaled to the output's parameters. Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Slice,
/// Identity, Dropout, Pad (constant 0, writes zx): integers move unchanged, then rescale.
/// Softmax along the last axis: T[d] = round-half-even(2^16 exp(-sx d)) in double on the host (d = 0 .. qmax - qmin, a
/// table a backend emits as constants); per row e_i = T[max - x_i], sum = sum e_i, p_i = floor((2^17 e_i + sum) / (2 sum)),
/// then acc = p_i with M = f32(f32(2^-16) / sy).
/// rescale(v): identity when input and output parameters are equal, otherwise requantization of acc = v - zx with
/// M = f32(sx / sy).
/// </para>
/// </summary>
public static class IntegerSemantics
{
    /// <summary>R(v): rounds an exact double (every float32, and every product of two float32s) to an integer.</summary>
    public static long Round(double v, RoundingMode rounding) => rounding switch
    {
        RoundingMode.HalfToEven => (long)Math.Round(v, MidpointRounding.ToEven),
        RoundingMode.HalfAwayFromZero => (long)Math.Round(v, MidpointRounding.AwayFromZero),
        _ => (long)Math.Floor(v + 0.5),
    };

    /// <summary>R(p / 2^n) for an exact integer p, without floating point.</summary>
    public static long RoundShift(long p, int n, RoundingMode rounding)
    {
        if (n == 0) return p;
        var floor = p >> n; // arithmetic shift: floor division
        var rem = p - (floor << n);
        var half = 1L << (n - 1);
        if (rem > half) return floor + 1;
        if (rem < half) return floor;
        return rounding switch
        {
            RoundingMode.HalfUp => floor + 1,
            RoundingMode.HalfToEven => (floor & 1) == 0 ? floor : floor + 1,
            _ => p < 0 ? floor : floor + 1,
        };
    }

    /// <summary>sat(v): clamps to [min, max].</summary>
    public static long Saturate(long v, long min, long max) => v < min ? min : v > max ? max : v;

    /// <summary>q = sat(R(f32(x / s)) + z): graph inputs (with the graph's rounding) and weights (ties to even).</summary>
    public static long QuantizeFloat(float x, float scale, long zeroPoint, long qmin, long qmax, RoundingMode rounding)
    {
        var v = x / scale;
        if (float.IsNaN(v)) return Saturate(zeroPoint, qmin, qmax);
        if (float.IsInfinity(v)) return v > 0 ? qmax : qmin;
        return Saturate(Round(v, rounding) + zeroPoint, qmin, qmax);
    }

    /// <summary>real = f32(q - z) * s.</summary>
    public static float Dequantize(long q, float scale, long zeroPoint) => (float)(q - zeroPoint) * scale;

    /// <summary>Clamps an exact accumulator to a signed <paramref name="accumulatorBits"/>-bit integer.</summary>
    public static long SaturateAccumulator(long acc, int accumulatorBits) =>
        Saturate(acc, -(1L << (accumulatorBits - 1)), (1L << (accumulatorBits - 1)) - 1);

    /// <summary>The multiplier of Conv/Gemm/MatMul/Mul: f32(f32(sa * sb) / sy).</summary>
    public static float ProductMultiplier(float sa, float sb, float sy) => sa * sb / sy;

    /// <summary>The multiplier of a rescale: f32(sx / sy).</summary>
    public static float RatioMultiplier(float sx, float sy) => sx / sy;

    /// <summary>The multiplier of an average of <paramref name="count"/> elements: f32(sx / f32(sy * count)).</summary>
    public static float AverageMultiplier(float sx, float sy, long count) => sx / (sy * count);

    /// <summary>
    /// Requantizes an exact accumulator by multiplier <paramref name="m"/> to an output with zero point
    /// <paramref name="zeroPoint"/> and range [qmin, qmax], in the graph's semantics: clamp to the accumulator width,
    /// scale and round, add the zero point, saturate. Every requantizing op (rescale included) goes through this.
    /// </summary>
    public static long Requantize(long acc, float m, long zeroPoint, long qmin, long qmax, QuantSemantics semantics)
    {
        acc = SaturateAccumulator(acc, semantics.AccumulatorBits);
        var r = semantics.Requantization == RequantizationMode.FloatScale
            ? Round((float)acc * m, semantics.Rounding)
            : FixedMultiplier.From(m).Apply(acc, semantics.Rounding);
        return Saturate(r + zeroPoint, qmin, qmax);
    }
}

/// <summary>A float32 multiplier written as Multiplier * 2^-Shift (Multiplier in [2^30, 2^31), or a power of two).</summary>
public readonly record struct FixedMultiplier(long Multiplier, int Shift)
{
    /// <summary>The decomposition the emulator uses; a power of two is exact with a one-bit multiplier.</summary>
    public static FixedMultiplier From(float m)
    {
        if (!(m > 0) || float.IsInfinity(m)) throw new ArgumentOutOfRangeException(nameof(m), m, "requantization multiplier must be positive and finite");
        var bits = BitConverter.SingleToInt32Bits(m);
        if ((bits & 0x7FFFFF) == 0 && ((bits >> 23) & 0xFF) != 0)
        {
            var e = ((bits >> 23) & 0xFF) - 127;
            if (e >= 0) return new(1L << e, 0);
            if (-e <= 62) return new(1, -e);
        }
        var exp = Math.ILogB((double)m) + 1; // m = frac * 2^exp, frac in [0.5, 1)
        var mult = (long)Math.Round((double)m * Math.Pow(2, 31 - exp), MidpointRounding.ToEven);
        var shift = 31 - exp;
        if (mult == 1L << 31) { mult >>= 1; shift--; }
        if (shift < 0) throw new ArgumentOutOfRangeException(nameof(m), m, "requantization multiplier too large for a right shift");
        while (shift > 62) { mult >>= 1; shift--; }
        return new(mult, shift);
    }

    /// <summary>R(acc * Multiplier / 2^Shift), exact in 64 bits for 32-bit accumulators.</summary>
    public long Apply(long acc, RoundingMode rounding) => IntegerSemantics.RoundShift(acc * Multiplier, Shift, rounding);

    /// <summary>
    /// Add and Sub under <c>MultiplierShift</c>: the inputs' multipliers <paramref name="a"/> and <paramref name="b"/>
    /// brought to one shift n = max(n_a, n_b), as (m_a', m_b', n). Null when (a - z_a) m_a' ± (b - z_b) m_b' could leave
    /// 64 bits for inputs within ±<paramref name="maxA"/> and ±<paramref name="maxB"/> of their zero points: the
    /// contract lets the products wrap, so a backend refuses such an Add rather than compute a wrapped sum. (A power-of-two
    /// multiplier has shift 0, so shifts far apart are common and harmless: it is the products' size that limits.)
    /// </summary>
    public static (long A, long B, int Shift)? Shared(FixedMultiplier a, FixedMultiplier b, long maxA, long maxB)
    {
        var n = Math.Max(a.Shift, b.Shift);
        double Widened(FixedMultiplier f) => f.Multiplier * Math.Pow(2, n - f.Shift);
        if (Widened(a) * maxA + Widened(b) * maxB >= Math.Pow(2, 62)) return null;
        return (a.Multiplier << (n - a.Shift), b.Multiplier << (n - b.Shift), n);
    }
}
