using System.Buffers;
using System.Collections.Immutable;
using System.Runtime.InteropServices;

namespace ArchNet.IR;

/// <summary>
/// Constant tensor contents in ONNX's raw little-endian layout (sub-byte types packed, low bits first).
/// The bytes are never copied on the way in: <see cref="Raw"/> may view a buffer owned by the frontend
/// (a protobuf ByteString or a mapped external-data file). String tensors keep their elements separately.
/// </summary>
public sealed class TensorData
{
    public ElementType ElementType { get; }
    public ImmutableArray<long> Dims { get; }
    public ReadOnlyMemory<byte> Raw { get; }
    public ImmutableArray<byte[]> Strings { get; }

    public TensorData(ElementType elementType, IEnumerable<long> dims, ReadOnlyMemory<byte> raw)
    {
        ElementType = elementType;
        Dims = [.. dims];
        var expected = elementType.ByteCount(ElementCount);
        if (elementType == ElementType.String)
            throw new ArgumentException("string tensors are built with FromStrings");
        if (raw.Length != expected)
            throw new ArchNetException(
                $"tensor of {elementType.ShortName()}[{string.Join(",", Dims)}] needs {expected} bytes, has {raw.Length}");
        Raw = raw;
        Strings = [];
    }

    private TensorData(IEnumerable<long> dims, ImmutableArray<byte[]> strings)
    {
        ElementType = ElementType.String;
        Dims = [.. dims];
        Strings = strings;
        if (strings.Length != ElementCount)
            throw new ArchNetException($"string tensor [{string.Join(",", Dims)}] has {strings.Length} elements");
    }

    public static TensorData FromStrings(IEnumerable<long> dims, IEnumerable<byte[]> strings) => new(dims, [.. strings]);

    public long ElementCount => Dims.Aggregate(1L, (acc, d) => acc * d);

    public Shape Shape => Shape.Of([.. Dims]);

    public TensorType Type => new(ElementType, Shape);

    /// <summary>Typed view of the raw bytes; T must match the element type's size.</summary>
    public ReadOnlySpan<T> Span<T>() where T : unmanaged => MemoryMarshal.Cast<byte, T>(Raw.Span);

    public static TensorData Create<T>(ElementType type, long[] dims, T[] values) where T : unmanaged =>
        new(type, dims, MemoryMarshal.AsBytes(values.AsSpan()).ToArray());

    public static TensorData FromFloats(long[] dims, float[] values) => Create(ElementType.Float, dims, values);

    /// <summary>
    /// A float tensor over <paramref name="values"/> itself, not a copy, for an array a pass has just computed and hands
    /// over: the caller must not change it afterwards. Folding BatchNormalization into ResNet18's convolutions would
    /// otherwise copy every weight once more.
    /// </summary>
    public static TensorData OwnFloats(long[] dims, float[] values) => new(ElementType.Float, dims, new ArrayBytes<float>(values).Memory);
    public static TensorData FromInt64s(long[] dims, long[] values) => Create(ElementType.Int64, dims, values);
    public static TensorData FromInt32s(long[] dims, int[] values) => Create(ElementType.Int32, dims, values);
    public static TensorData Scalar(float value) => FromFloats([], [value]);

    /// <summary>The elements as doubles, for any numeric or bool type (used by folding, calibration, reports).</summary>
    public double[] ToDoubles()
    {
        var n = checked((int)ElementCount);
        var result = new double[n];
        var raw = Raw.Span;
        switch (ElementType)
        {
            case ElementType.Float: Copy(Span<float>(), result, v => v); break;
            case ElementType.Double: Span<double>().CopyTo(result); break;
            case ElementType.Float16: Copy(Span<Half>(), result, v => (double)v); break;
            case ElementType.BFloat16: Copy(Span<ushort>(), result, v => BitConverter.Int32BitsToSingle(v << 16)); break;
            case ElementType.Int8: Copy(Span<sbyte>(), result, v => v); break;
            case ElementType.UInt8: Copy(Span<byte>(), result, v => v); break;
            case ElementType.Bool: Copy(Span<byte>(), result, v => v != 0 ? 1 : 0); break;
            case ElementType.Int16: Copy(Span<short>(), result, v => v); break;
            case ElementType.UInt16: Copy(Span<ushort>(), result, v => v); break;
            case ElementType.Int32: Copy(Span<int>(), result, v => v); break;
            case ElementType.UInt32: Copy(Span<uint>(), result, v => v); break;
            case ElementType.Int64: Copy(Span<long>(), result, v => v); break;
            case ElementType.UInt64: Copy(Span<ulong>(), result, v => v); break;
            case ElementType.Int4 or ElementType.UInt4 or ElementType.Int2 or ElementType.UInt2:
                var bits = ElementType.BitWidth();
                var signed = ElementType.IsSignedInteger();
                for (var i = 0; i < n; i++)
                {
                    var bitPos = i * bits;
                    var v = (raw[bitPos / 8] >> (bitPos % 8)) & ((1 << bits) - 1);
                    if (signed && v >= 1 << (bits - 1)) v -= 1 << bits;
                    result[i] = v;
                }
                break;
            default:
                throw new ArchNetException($"cannot read {ElementType.ShortName()} tensor as numbers");
        }
        return result;
    }

    public float[] ToFloats() => ElementType == ElementType.Float ? Span<float>().ToArray() : [.. ToDoubles().Select(d => (float)d)];

    public long[] ToInt64s() => ElementType switch
    {
        ElementType.Int64 => Span<long>().ToArray(),
        ElementType.Int32 => [.. Span<int>().ToArray().Select(v => (long)v)],
        _ => [.. ToDoubles().Select(d => (long)d)],
    };

    private static void Copy<T>(ReadOnlySpan<T> source, double[] dest, Func<T, double> convert) where T : unmanaged
    {
        for (var i = 0; i < source.Length; i++) dest[i] = convert(source[i]);
    }

    public override string ToString() => $"{ElementType.ShortName()}[{string.Join(",", Dims)}]";

    /// <summary>The bytes of an array of <typeparamref name="T"/> as memory, without copying them.</summary>
    private sealed class ArrayBytes<T>(T[] array) : MemoryManager<byte> where T : unmanaged
    {
        public override Span<byte> GetSpan() => MemoryMarshal.AsBytes(array.AsSpan());

        public override unsafe MemoryHandle Pin(int elementIndex = 0)
        {
            var handle = GCHandle.Alloc(array, GCHandleType.Pinned);
            return new MemoryHandle((byte*)handle.AddrOfPinnedObject() + elementIndex, handle, this);
        }

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing)
        {
        }
    }
}
