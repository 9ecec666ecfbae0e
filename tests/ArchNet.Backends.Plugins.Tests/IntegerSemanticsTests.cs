using ArchNet.Backends.Abstractions;

namespace ArchNet.Backends.Plugins.Tests;

public sealed class IntegerSemanticsTests
{
    [Theory]
    [InlineData(5, 1, RoundingMode.HalfToEven, 2)]     // 2.5 -> 2
    [InlineData(7, 1, RoundingMode.HalfToEven, 4)]     // 3.5 -> 4
    [InlineData(-5, 1, RoundingMode.HalfToEven, -2)]   // -2.5 -> -2
    [InlineData(-5, 1, RoundingMode.HalfAwayFromZero, -3)]
    [InlineData(5, 1, RoundingMode.HalfAwayFromZero, 3)]
    [InlineData(-5, 1, RoundingMode.HalfUp, -2)]       // ties towards +infinity
    [InlineData(-7, 2, RoundingMode.HalfUp, -2)]       // -1.75 -> -2
    [InlineData(9, 2, RoundingMode.HalfToEven, 2)]     // 2.25 -> 2
    public void RoundShift_RoundsTiesByTheMode(long p, int n, RoundingMode mode, long expected) =>
        Assert.Equal(expected, IntegerSemantics.RoundShift(p, n, mode));

    [Fact]
    public void RoundShift_AgreesWithRoundingTheExactQuotient()
    {
        var rng = new Random(7);
        foreach (var mode in Enum.GetValues<RoundingMode>())
        {
            for (var i = 0; i < 10_000; i++)
            {
                var p = rng.NextInt64(-1L << 40, 1L << 40);
                var n = rng.Next(0, 20);
                Assert.Equal(IntegerSemantics.Round(p / Math.Pow(2, n), mode), IntegerSemantics.RoundShift(p, n, mode));
            }
        }
    }

    [Fact]
    public void QuantizeFloat_SaturatesAtTheLastValueAndBeyond()
    {
        Assert.Equal(127, IntegerSemantics.QuantizeFloat(1.27f, 0.01f, 0, -128, 127, RoundingMode.HalfToEven));
        Assert.Equal(127, IntegerSemantics.QuantizeFloat(1.29f, 0.01f, 0, -128, 127, RoundingMode.HalfToEven));
        Assert.Equal(-128, IntegerSemantics.QuantizeFloat(float.NegativeInfinity, 0.01f, 0, -128, 127, RoundingMode.HalfToEven));
        Assert.Equal(3, IntegerSemantics.QuantizeFloat(float.NaN, 0.01f, 3, 0, 255, RoundingMode.HalfToEven));
    }

    [Theory]
    [InlineData(0.5f)]
    [InlineData(0.0123f)]
    [InlineData(3.0f)]
    [InlineData(1e-9f)]
    public void FixedMultiplier_ReproducesTheFloatWithin31Bits(float m)
    {
        var f = FixedMultiplier.From(m);
        Assert.InRange(f.Shift, 0, 62);
        Assert.Equal(m, f.Multiplier / Math.Pow(2, f.Shift), m * 1e-9);
    }

    [Fact]
    public void FixedMultiplier_OfAPowerOfTwo_IsExact()
    {
        Assert.Equal(new FixedMultiplier(1, 3), FixedMultiplier.From(0.125f));
        Assert.Equal(-2, FixedMultiplier.From(0.125f).Apply(-20, RoundingMode.HalfToEven)); // -2.5 -> -2
    }

    [Fact]
    public void Requantize_FloatScale_RoundsTheFloat32Product()
    {
        Assert.Equal(14, IntegerSemantics.Requantize(7, 0.5f, 10, 0, 255, new QuantSemantics()));      // 3.5 -> 4
        Assert.Equal(12, IntegerSemantics.Requantize(5, 0.5f, 10, 0, 255, new QuantSemantics()));      // 2.5 -> 2
        Assert.Equal(255, IntegerSemantics.Requantize(1000, 0.5f, 10, 0, 255, new QuantSemantics()));  // saturates
        Assert.Equal(7, IntegerSemantics.Requantize(-5, 0.5f, 10, 0, 255,
            new QuantSemantics(RoundingMode.HalfAwayFromZero, RequantizationMode.MultiplierShift)));  // -2.5 -> -3
    }

    [Fact]
    public void RoundingModes_OfTheIrAndTheContract_HaveTheSameMembersInTheSameOrder() =>
        // The emulator converts one to the other with a cast (IntegerArithmetic.ToContract).
        Assert.Equal(Enum.GetValues<ArchNet.IR.RoundingMode>().Select(v => $"{(int)v}={v}"),
            Enum.GetValues<RoundingMode>().Select(v => $"{(int)v}={v}"));
}
