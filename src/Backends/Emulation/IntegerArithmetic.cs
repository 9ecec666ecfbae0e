using ArchNet.IR;

namespace ArchNet.Backends.Emulation;

/// <summary>
/// The integer semantics of a quantized ArchNet graph, defined once. The emulator calls these functions and
/// nothing else for its arithmetic; every backend (QDQ ONNX, C, vendor plugins) must reproduce them bit for bit.
///
/// Representation. A quantized value carries <see cref="QuantParams"/>: real = (q - z) * s, q in [qmin, qmax]
/// (per channel along Axis for weights). Weights are stored as float constants with their QuantParams; their
/// integers are <see cref="QuantizeFloat"/>(w, s_c, z_c) with ties to even (whatever the chip's rounding, because
/// weight quantization happens on the host). Biases of Conv/Gemm/MatMul are int32 at scale s_x * s_w[c], zero point 0,
/// rounded the same way and saturated to the accumulator range.
///
/// Rounding R(v) of an exact value v (the model's <see cref="QuantSemantics.Rounding"/>): HalfToEven, HalfAwayFromZero
/// or HalfUp (ties towards +infinity, what an add-half-then-arithmetic-shift does).
///
/// Saturation sat(v) clamps to [qmin, qmax] of the output's QuantParams. Accumulators are exact integers clamped
/// to [-2^(A-1), 2^(A-1)-1] (A = AccumulatorBits) once, after the last term.
///
/// Requantization of an accumulator acc with real multiplier M to an output with zero point z:
///   FloatScale:      y = sat(R(f32(acc) * M32) + z), M32 the float32 multiplier computed as written for each op
///                    (f32 arithmetic, left to right), the product rounded to float32 before R.
///   MultiplierShift: M32 is written as m * 2^-n with m a 31-bit integer in [2^30, 2^31) (or a power of two) and
///                    0 &lt;= n &lt;= 62; y = sat(R(acc * m / 2^n) + z), the product exact in 64 bits and R applied to the
///                    exact rational.
///
/// Per op (x, w, y: input, weight, output; M names the float32 multiplier then requantized as above):
///   graph input       q = sat(R(f32(x / s)) + z)                       (float32 division)
///   graph output      real = f32(q - z) * s
///   Conv, Gemm, MatMul with constant weight:
///                     acc = sum (x - zx)(w - zw[c]) + b[c];  M = f32(f32(sx * sw[c]) / sy). Padding reads zx.
///   MatMul of two activations: acc = sum (a - za)(b - zb); M = f32(f32(sa * sb) / sy).
///   Mul               acc = (a - za)(b - zb); M = f32(f32(sa * sb) / sy).
///   Add, Sub          FloatScale: y = sat(R(f32(f32(a - za) * Ma) +- f32(f32(b - zb) * Mb)) + zy), Ma = f32(sa / sy).
///                     MultiplierShift: Ma = ma 2^-n, Mb = mb 2^-n with one shared n; y = sat(R(((a-za) ma +- (b-zb) mb) / 2^n) + zy).
///   Relu              y = rescale(max(x, zx)); Clip(lo, hi): y = rescale(clamp(x, sat(R(lo/sx)+zx), sat(R(hi/sx)+zx))).
///   MaxPool           y = rescale(max over the window of x); padding is ignored.
///   AveragePool, GlobalAveragePool: acc = sum over the window of (x - zx); M = f32(sx / f32(sy * count)),
///                     count = elements in the window (padding counted only with count_include_pad = 1).
///   Concat            each input rescaled to the output's parameters.
///   Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Slice, Identity, Dropout, Pad (constant 0): integers move
///                     unchanged, then rescale (Pad writes zx).
///   rescale(v)        identity when the input and output parameters are equal; otherwise requantization of
///                     acc = v - zx with M = f32(sx / sy).
///   any other op      a host float op: inputs dequantized (real = f32(q - z) * s), the float op, output as a graph input.
/// </summary>
public static class IntegerArithmetic
{
    /// <summary>Rounds an exact double (every float32 and every product of two float32s fits) to the nearest integer.</summary>
    public static long Round(double v, RoundingMode rounding) => rounding switch
    {
        RoundingMode.HalfToEven => (long)Math.Round(v, MidpointRounding.ToEven),
        RoundingMode.HalfAwayFromZero => (long)Math.Round(v, MidpointRounding.AwayFromZero),
        _ => (long)Math.Floor(v + 0.5),
    };

    /// <summary>R(p / 2^n) for an exact integer p, without going through floating point.</summary>
    public static long RoundShift(long p, int n, RoundingMode rounding)
    {
        if (n == 0) return p;
        var floor = p >> n; // arithmetic shift: floor division
        var rem = p - (floor << n); // in [0, 2^n)
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

    public static long Saturate(long v, long min, long max) => v < min ? min : v > max ? max : v;

    /// <summary>q = sat(R(f32(x / s)) + z): graph inputs (with the model's rounding) and weights (ties to even).</summary>
    public static long QuantizeFloat(float x, float scale, long zeroPoint, long qmin, long qmax, RoundingMode rounding)
    {
        var v = x / scale;
        if (float.IsNaN(v)) return Saturate(zeroPoint, qmin, qmax);
        if (float.IsInfinity(v)) return v > 0 ? qmax : qmin;
        return Saturate(Round(v, rounding) + zeroPoint, qmin, qmax);
    }

    public static float Dequantize(long q, float scale, long zeroPoint) => (float)(q - zeroPoint) * scale;

    /// <summary>A bias at scale sx * sw: int32 (accumulator) with ties to even.</summary>
    public static long QuantizeBias(float b, float accScale, int accumulatorBits) =>
        QuantizeFloat(b, accScale, 0, -(1L << (accumulatorBits - 1)), (1L << (accumulatorBits - 1)) - 1, RoundingMode.HalfToEven);

    /// <summary>Clamps an exact accumulator to the accumulator's width.</summary>
    public static long SaturateAccumulator(long acc, int accumulatorBits) =>
        Saturate(acc, -(1L << (accumulatorBits - 1)), (1L << (accumulatorBits - 1)) - 1);

    /// <summary>The float32 multiplier of a Conv/Gemm/MatMul/Mul: f32(f32(sa * sb) / sy).</summary>
    public static float ProductMultiplier(float sa, float sb, float sy) => sa * sb / sy;

    /// <summary>The float32 multiplier of a rescale: f32(sx / sy).</summary>
    public static float RatioMultiplier(float sx, float sy) => sx / sy;

    /// <summary>The float32 multiplier of an average over <paramref name="count"/> elements: f32(sx / f32(sy * count)).</summary>
    public static float AverageMultiplier(float sx, float sy, long count) => sx / (sy * count);
}

/// <summary>A float32 multiplier written as m * 2^-n for integer requantization (m in [2^30, 2^31), or a power of two).</summary>
public readonly record struct FixedMultiplier(long Multiplier, int Shift)
{
    public static FixedMultiplier From(float m)
    {
        if (!(m > 0) || float.IsInfinity(m)) throw new ArchNetException($"requantization multiplier {m} is not a positive finite number");
        // A power of two is exact with a one-bit multiplier: keeps power-of-two-scale chips exact.
        var bits = BitConverter.SingleToInt32Bits(m);
        if ((bits & 0x7FFFFF) == 0 && ((bits >> 23) & 0xFF) != 0)
        {
            var e = ((bits >> 23) & 0xFF) - 127; // m = 2^e
            if (e >= 0) return new(1L << e, 0);
            if (-e <= 62) return new(1, -e);
        }
        // m = frac * 2^exp with frac in [0.5, 1): multiplier = round(frac * 2^31), shift = 31 - exp.
        var frac = Math.ILogB((double)m);
        var exp = frac + 1;
        var mult = (long)Math.Round((double)m * Math.Pow(2, 31 - exp), MidpointRounding.ToEven);
        var shift = 31 - exp;
        if (mult == 1L << 31) { mult >>= 1; shift--; }
        if (shift < 0) throw new ArchNetException($"requantization multiplier {m} is too large for a multiplier and right shift");
        while (shift > 62) { mult >>= 1; shift--; }
        return new(mult, shift);
    }

    public long Apply(long acc, RoundingMode rounding) => IntegerArithmetic.RoundShift(acc * Multiplier, Shift, rounding);
}
