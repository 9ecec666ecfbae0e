using ArchNet.Backends.Emulation;
using ArchNet.Backends.Onnx;
using ArchNet.IR;

namespace ArchNet.Backends.Tests;

/// <summary>Weight quantization in the QDQ writer: the stored integers are the emulator's, element by element,
/// whatever the storage type and the channel axis.</summary>
public sealed class QdqWriterTests
{
    [Theory]
    [InlineData(8, true, null)]
    [InlineData(8, false, 0)]
    [InlineData(8, true, 1)]
    [InlineData(8, true, 2)]
    [InlineData(4, true, 0)]
    [InlineData(4, false, 1)]
    [InlineData(2, true, 0)]
    [InlineData(3, false, null)]
    [InlineData(16, true, 1)]
    [InlineData(16, false, 0)]
    [InlineData(32, true, 0)]
    public void QuantizeToStorage_MatchesElementwiseQuantization(int bits, bool signed, int? axis)
    {
        long[] dims = [3, 5, 7]; // odd element count: the last int4 byte holds one nibble
        var n = 3 * 5 * 7;
        var random = new Random(bits * 31 + (axis ?? 9));
        var values = new float[n];
        for (var i = 0; i < n; i++) values[i] = (float)(random.NextDouble() * 40 - 20);
        values[0] = float.NaN;
        values[1] = float.PositiveInfinity;
        values[2] = float.NegativeInfinity;
        values[3] = 2.5f * 0.125f; // a tie at scale 0.125 (channel 0 on every axis)
        var channels = axis is { } a ? (int)dims[a] : 1;
        var scales = Enumerable.Range(0, channels).Select(c => 0.125f * (c + 1)).ToArray();
        var zeroPoints = Enumerable.Range(0, channels).Select(c => signed ? (long)(c % 3) - 1 : 3L + c).ToArray();
        var q = new QuantParams(bits, signed, [.. scales], [.. zeroPoints], axis);
        var data = TensorData.FromFloats(dims, values);

        var expected = new long[n];
        var inner = axis is { } ax ? dims.Skip(ax + 1).Aggregate(1L, (x, y) => x * y) : n;
        for (var i = 0; i < n; i++)
        {
            var c = axis is null ? 0 : (int)(i / inner % channels);
            expected[i] = IntegerArithmetic.QuantizeFloat(values[i], scales[c], zeroPoints[c], q.QMin, q.QMax, RoundingMode.HalfToEven);
        }

        Assert.Equal(expected, QdqWriter.QuantizeConstant(data, q));
        var stored = QdqWriter.QuantizeToStorage(data, q);
        Assert.Equal(QdqWriter.StorageType(q), stored.ElementType);
        Assert.Equal(dims, stored.Dims);
        Assert.Equal(expected.Select(v => (double)v), stored.ToDoubles());
        Assert.Equal(QdqWriter.Pack(expected, dims, stored.ElementType).Raw.ToArray(), stored.Raw.ToArray());
    }
}
