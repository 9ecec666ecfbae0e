using ArchNet.IR;

namespace ArchNet.Backends.Emulation;

/// <summary>
/// A dense row-major tensor as the emulator holds it: float32 values (float mode, host ops), integers with their
/// quantization parameters (integer mode), or int64 (shape arithmetic). Exactly one of the arrays is set.
/// </summary>
public sealed class Tensor
{
    private Tensor(int[] shape, float[]? floats, int[]? ints, long[]? longs, QuantParams? quant)
    {
        Shape = shape;
        Floats = floats;
        Ints = ints;
        Longs = longs;
        Quant = quant;
        var n = Length;
        if ((floats?.Length ?? ints?.Length ?? longs?.Length) != n)
            throw new ArgumentException($"tensor of shape [{string.Join(",", shape)}] needs {n} elements");
    }

    public int[] Shape { get; }
    public float[]? Floats { get; }
    /// <summary>Quantized integers (interpretation in <see cref="Quant"/>).</summary>
    public int[]? Ints { get; }
    public long[]? Longs { get; }
    public QuantParams? Quant { get; }

    public int Rank => Shape.Length;
    public int Length => ShapeLength(Shape);
    public bool IsQuantized => Ints is not null;

    public static int ShapeLength(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (var d in shape) n *= d;
        return checked((int)n);
    }

    public static Tensor FromFloats(int[] shape, float[] values) => new(shape, values, null, null, null);
    public static Tensor FromInts(int[] shape, int[] values, QuantParams quant) => new(shape, null, values, null, quant);
    public static Tensor FromLongs(int[] shape, long[] values) => new(shape, null, null, values, null);

    /// <summary>Float32 data stays float; integer element types become int64 (shape arithmetic), bool too.</summary>
    public static Tensor FromTensorData(TensorData data)
    {
        var shape = data.Dims.Select(d => checked((int)d)).ToArray();
        if (data.ElementType.IsFloatingPoint()) return FromFloats(shape, data.ToFloats());
        return FromLongs(shape, data.ToInt64s());
    }

    public TensorData ToTensorData() =>
        Floats is not null ? TensorData.FromFloats(Dims(), Floats)
        : Longs is not null ? TensorData.FromInt64s(Dims(), Longs)
        : TensorData.FromInt32s(Dims(), Ints!);

    public long[] Dims() => [.. Shape.Select(d => (long)d)];

    /// <summary>Real values: floats as they are, integers dequantized (f32(q - z) * s), longs converted.</summary>
    public float[] ToReal()
    {
        if (Floats is not null) return Floats;
        if (Longs is not null) return [.. Longs.Select(v => (float)v)];
        var q = Quant!;
        var result = new float[Ints!.Length];
        if (!q.PerChannel)
        {
            var s = q.Scales[0];
            var z = q.ZeroPoints[0];
            for (var i = 0; i < result.Length; i++) result[i] = IntegerArithmetic.Dequantize(Ints[i], s, z);
            return result;
        }
        var axis = q.Axis!.Value;
        var inner = ShapeLength(Shape.AsSpan(axis + 1));
        var channels = Shape[axis];
        for (var i = 0; i < result.Length; i++)
        {
            var c = i / inner % channels;
            result[i] = IntegerArithmetic.Dequantize(Ints[i], q.Scales[c], q.ZeroPoints[c]);
        }
        return result;
    }

    /// <summary>The same data viewed with another shape of equal length.</summary>
    public Tensor Reshaped(int[] shape) => new(shape, Floats, Ints, Longs, Quant);

    public Tensor WithQuant(QuantParams quant) => new(Shape, Floats, Ints, Longs, quant);

    /// <summary>A tensor of the same kind with elements gathered by <paramref name="map"/> (-1 writes <paramref name="fill"/>).</summary>
    public Tensor Gather(int[] shape, int[] map, double fill = 0)
    {
        if (Floats is not null)
        {
            var r = new float[map.Length];
            for (var i = 0; i < map.Length; i++) r[i] = map[i] < 0 ? (float)fill : Floats[map[i]];
            return FromFloats(shape, r);
        }
        if (Ints is not null)
        {
            var r = new int[map.Length];
            var f = (int)fill;
            for (var i = 0; i < map.Length; i++) r[i] = map[i] < 0 ? f : Ints[map[i]];
            return FromInts(shape, r, Quant!);
        }
        var l = new long[map.Length];
        for (var i = 0; i < map.Length; i++) l[i] = map[i] < 0 ? (long)fill : Longs![map[i]];
        return FromLongs(shape, l);
    }

    public override string ToString() =>
        $"{(Floats is not null ? "f32" : Ints is not null ? Quant!.ToString() : "i64")}[{string.Join(",", Shape)}]";
}
