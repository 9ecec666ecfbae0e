using ArchNet.Backends.Emulation;
using ArchNet.IR;

namespace ArchNet.Backends.Tests;

/// <summary>The integer semantics at their boundaries: ties, saturation limits, shifts, multipliers.</summary>
public sealed class IntegerArithmeticTests
{
    [Theory]
    [InlineData(2.5, RoundingMode.HalfToEven, 2)]
    [InlineData(3.5, RoundingMode.HalfToEven, 4)]
    [InlineData(-2.5, RoundingMode.HalfToEven, -2)]
    [InlineData(2.5, RoundingMode.HalfAwayFromZero, 3)]
    [InlineData(-2.5, RoundingMode.HalfAwayFromZero, -3)]
    [InlineData(-2.5, RoundingMode.HalfUp, -2)]
    [InlineData(2.5, RoundingMode.HalfUp, 3)]
    [InlineData(2.4999999, RoundingMode.HalfAwayFromZero, 2)]
    public void Round_Ties_FollowTheMode(double v, RoundingMode mode, long expected) =>
        Assert.Equal(expected, IntegerArithmetic.Round(v, mode));

    [Theory]
    [InlineData(5, 1, RoundingMode.HalfToEven, 2)]   // 2.5
    [InlineData(7, 1, RoundingMode.HalfToEven, 4)]   // 3.5
    [InlineData(-5, 1, RoundingMode.HalfToEven, -2)] // -2.5
    [InlineData(-5, 1, RoundingMode.HalfAwayFromZero, -3)]
    [InlineData(-5, 1, RoundingMode.HalfUp, -2)]
    [InlineData(-7, 2, RoundingMode.HalfAwayFromZero, -2)] // -1.75
    [InlineData(6, 2, RoundingMode.HalfToEven, 2)]   // 1.5
    [InlineData(1L << 40, 40, RoundingMode.HalfToEven, 1)]
    public void RoundShift_IsExactRounding(long p, int n, RoundingMode mode, long expected) =>
        Assert.Equal(expected, IntegerArithmetic.RoundShift(p, n, mode));

    [Fact]
    public void RoundShift_AgreesWithDoubleRounding_OnManyValues()
    {
        var rng = new Random(7);
        foreach (var mode in Enum.GetValues<RoundingMode>())
            for (var i = 0; i < 20000; i++)
            {
                var p = rng.NextInt64(-1L << 40, 1L << 40);
                var n = rng.Next(0, 20);
                Assert.Equal(IntegerArithmetic.Round(p / Math.Pow(2, n), mode), IntegerArithmetic.RoundShift(p, n, mode));
            }
    }

    [Theory]
    [InlineData(127.49f, 127)]
    [InlineData(127.5f, 127)]   // saturates at qmax, not 128
    [InlineData(-128.5f, -128)] // saturates at qmin
    [InlineData(-127.5f, -128)] // tie to even: -128
    [InlineData(float.PositiveInfinity, 127)]
    [InlineData(float.NaN, 0)]
    public void QuantizeFloat_SaturatesAtTheLimits(float x, long expected) =>
        Assert.Equal(expected, IntegerArithmetic.QuantizeFloat(x, 1f, 0, -128, 127, RoundingMode.HalfToEven));

    [Fact]
    public void SaturateAccumulator_ClampsAtTheWidth()
    {
        Assert.Equal(int.MaxValue, IntegerArithmetic.SaturateAccumulator(1L << 40, 32));
        Assert.Equal(int.MinValue, IntegerArithmetic.SaturateAccumulator(-(1L << 40), 32));
        Assert.Equal(32767, IntegerArithmetic.SaturateAccumulator(32768, 16));
        Assert.Equal(32767, IntegerArithmetic.SaturateAccumulator(32767, 16));
    }

    [Theory]
    [InlineData(0.5f)]
    [InlineData(0.25f)]
    [InlineData(1f)]
    [InlineData(4f)]
    public void FixedMultiplier_PowerOfTwo_IsExact(float m)
    {
        var f = FixedMultiplier.From(m);
        Assert.Equal((double)m, f.Multiplier / Math.Pow(2, f.Shift));
    }

    [Fact]
    public void FixedMultiplier_IsWithinHalfAUnitOfThe31BitMantissa()
    {
        var rng = new Random(3);
        for (var i = 0; i < 1000; i++)
        {
            var m = (float)Math.Pow(2, rng.NextDouble() * 20 - 16);
            var f = FixedMultiplier.From(m);
            Assert.InRange(f.Multiplier, 1L << 30, 1L << 31);
            var back = f.Multiplier / Math.Pow(2, f.Shift);
            Assert.True(Math.Abs(back - m) <= Math.Pow(2, -f.Shift), $"{m} -> {f}");
        }
    }

    [Fact]
    public void FixedMultiplier_Apply_RoundsTiesByTheMode()
    {
        var half = FixedMultiplier.From(0.5f);
        Assert.Equal(2, half.Apply(3, RoundingMode.HalfAwayFromZero)); // 1.5 -> 2
        Assert.Equal(-2, half.Apply(-3, RoundingMode.HalfAwayFromZero)); // -1.5 -> -2
        Assert.Equal(2, half.Apply(3, RoundingMode.HalfToEven));
        Assert.Equal(2, half.Apply(5, RoundingMode.HalfToEven)); // 2.5 -> 2
    }

    private static (Model Model, Value X, Value Y, Value Z) Add(float sx, float sy, float sz)
    {
        var b = new ArchNet.Testing.GraphBuilder();
        var x = b.Input("x", 1, 4);
        var y = b.Input("y", 1, 4);
        var z = b.Op("Add", x, y);
        b.Output(z);
        var model = b.Build();
        QuantParams Q(float scale) => new(8, false, [scale], [128]);
        (x.Quant, y.Quant, z.Quant) = (Q(sx), Q(sy), Q(sz));
        new QuantSemantics(RoundingMode.HalfAwayFromZero, RequantMode.MultiplierShift).WriteTo(model);
        return (model, x, y, z);
    }

    private static Dictionary<string, Tensor> Inputs(Value x, Value y, int[] xs, int[] ys) => new()
    {
        ["x"] = Tensor.FromInts([1, 4], xs, x.Quant!),
        ["y"] = Tensor.FromInts([1, 4], ys, y.Quant!),
    };

    /// <summary>Multiplier-shift Add with one input at the output's scale (multiplier 1, shift 0) and one 200 times finer
    /// (shift 38): the shifts are 38 apart, which used to be refused ("differ too much"), yet the products stay far inside
    /// 64 bits; the result is the exact sum rounded once.</summary>
    [Fact]
    public void Add_ShiftsFarApartButSmallProducts_IsComputedExactly()
    {
        var (model, x, y, z) = Add(0.5f, 0.0025f, 0.5f);
        int[] xs = [0, 100, 200, 255], ys = [0, 28, 255, 128];

        var result = new Emulator(model, EmulatorMode.Integer).Run(Inputs(x, y, xs, ys)).Outputs[z.Name].Ints!;

        var mb = (double)(0.0025f / 0.5f); // f32(s_y / s_z), as the contract computes it
        var expected = xs.Zip(ys, (a, b) => (int)Math.Clamp(Math.Round((a - 128) + (b - 128) * mb, MidpointRounding.AwayFromZero) + 128, 0, 255));
        Assert.Equal(expected, result);
    }

    /// <summary>An Add whose products could leave 64 bits is refused, and the refusal names the node, not only the
    /// arithmetic.</summary>
    [Fact]
    public void Add_ProductsPast64Bits_IsRefused_NamingTheNode()
    {
        var (model, x, y, z) = Add(1f, 1e-12f, 1f);

        var e = Assert.Throws<ArchNetException>(() => new Emulator(model, EmulatorMode.Integer).Run(Inputs(x, y, [1, 2, 3, 4], [1, 2, 3, 4])));

        Assert.Equal($"emulator: node '{z.Producer!.DisplayName}' (Add): Add/Sub input scales 1 and 1E-12 over output scale 1: " +
                     "the sum of their multiplier-shift products can leave 64 bits", e.Message);
    }
}
