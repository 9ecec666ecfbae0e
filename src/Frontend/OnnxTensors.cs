using System.Runtime.InteropServices;
using ArchNet.Frontend.Onnx;
using ArchNet.IR;
using Google.Protobuf;

namespace ArchNet.Frontend;

/// <summary>Conversions between ONNX TensorProto and the IR's <see cref="TensorData"/>.</summary>
public static class OnnxTensors
{
    /// <summary>
    /// The tensor's contents. raw_data is wrapped, not copied; the typed fields (float_data, int32_data, ...)
    /// are packed into ONNX's raw layout. <paramref name="what"/> names the tensor in messages.
    /// </summary>
    public static TensorData ToTensorData(TensorProto t, string what, ExternalData? external = null, string file = "tensor")
    {
        if (!Enum.IsDefined((ElementType)t.DataType) || t.DataType == 0)
            throw new ArchNetException($"{file}: {what}: unknown element type {t.DataType}");
        var type = (ElementType)t.DataType;
        long count = 1;
        foreach (var d in t.Dims)
        {
            if (d < 0) throw new ArchNetException($"{file}: {what}: negative dimension {d}");
            try { count = checked(count * d); }
            catch (OverflowException) { throw new ArchNetException($"{file}: {what}: dimensions [{string.Join(",", t.Dims)}] are too large"); }
        }
        if (count > int.MaxValue)
            throw new ArchNetException($"{file}: {what}: {count} elements is more than one tensor may hold");

        if (type == ElementType.String)
        {
            if (t.DataLocation == TensorProto.Types.DataLocation.External)
                throw new ArchNetException($"{file}: {what}: string tensors cannot use external data");
            if (t.StringData.Count != count)
                throw new ArchNetException($"{file}: {what}: string tensor [{string.Join(",", t.Dims)}] has {t.StringData.Count} elements");
            return TensorData.FromStrings(t.Dims, t.StringData.Select(s => s.ToByteArray()));
        }

        var expected = type.ByteCount(count);
        ReadOnlyMemory<byte> raw;
        if (t.DataLocation == TensorProto.Types.DataLocation.External)
        {
            if (external is null)
                throw new ArchNetException($"{file}: {what}: external data is not available here");
            raw = external.Read(t, what, expected);
        }
        else if (t.HasRawData)
        {
            raw = t.RawData.Memory;
        }
        else
        {
            raw = FromTypedFields(t, type, count, expected, what, file);
        }

        if (raw.Length != expected)
            throw new ArchNetException(
                $"{file}: {what}: {type.ShortName()}[{string.Join(",", t.Dims)}] needs {expected} bytes of data, the file has {raw.Length}");
        return new TensorData(type, t.Dims, raw);
    }

    private static byte[] FromTypedFields(TensorProto t, ElementType type, long count, long expected, string what, string file)
    {
        // A tensor with no data field at all is an empty or malformed one: leave the size check to the caller.
        switch (type)
        {
            case ElementType.Float or ElementType.Complex64:
                return Bytes(t.FloatData.ToArray());
            case ElementType.Double or ElementType.Complex128:
                return Bytes(t.DoubleData.ToArray());
            case ElementType.Int64:
                return Bytes(t.Int64Data.ToArray());
            case ElementType.UInt64:
                return Bytes(t.Uint64Data.ToArray());
            case ElementType.UInt32:
                return Bytes(t.Uint64Data.Select(v => (uint)v).ToArray());
            case ElementType.Int32:
                return Bytes(t.Int32Data.ToArray());
            case ElementType.Int16 or ElementType.UInt16 or ElementType.Float16 or ElementType.BFloat16:
                return Bytes(t.Int32Data.Select(v => (ushort)v).ToArray());
            default:
                // 8-bit types hold one element per int32; sub-byte types hold one packed byte per int32.
                if (type.BitWidth() > 8 || type.BitWidth() == 0)
                    throw new ArchNetException($"{file}: {what}: cannot read {type.ShortName()} from typed fields");
                return t.Int32Data.Select(v => (byte)v).ToArray();
        }
    }

    private static byte[] Bytes<T>(T[] values) where T : unmanaged => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    /// <summary>A TensorProto holding <paramref name="data"/> in raw_data; the bytes are shared, not copied.</summary>
    public static TensorProto FromTensorData(TensorData data, string? name = null)
    {
        var t = new TensorProto { DataType = (int)data.ElementType };
        t.Dims.AddRange(data.Dims);
        if (name is not null) t.Name = name;
        if (data.ElementType == ElementType.String)
            t.StringData.AddRange(data.Strings.Select(ByteString.CopyFrom));
        else
            t.RawData = UnsafeByteOperations.UnsafeWrap(data.Raw);
        return t;
    }

    /// <summary>The dense tensor a SparseTensorProto stands for (values scattered into zeros).</summary>
    public static TensorData Densify(SparseTensorProto sparse, string what, ExternalData? external = null, string file = "tensor")
    {
        if (sparse.Values is null || sparse.Indices is null)
            throw new ArchNetException($"{file}: {what}: sparse tensor lacks values or indices");
        var values = ToTensorData(sparse.Values, what + " values", external, file);
        var indices = ToTensorData(sparse.Indices, what + " indices", external, file);
        var bits = values.ElementType.BitWidth();
        if (bits < 8)
            throw new ArchNetException($"{file}: {what}: sparse {values.ElementType.ShortName()} tensors are not supported");
        var dims = sparse.Dims.ToArray();
        long total = 1;
        foreach (var d in dims)
        {
            if (d < 0) throw new ArchNetException($"{file}: {what}: negative dimension {d}");
            total = checked(total * d);
        }
        var size = bits / 8;
        var dense = new byte[checked(total * size)];
        var nnz = values.ElementCount;
        var idx = indices.ToInt64s();
        var coordinates = indices.Dims.Length == 2;
        if (idx.Length != (coordinates ? nnz * dims.Length : nnz))
            throw new ArchNetException($"{file}: {what}: {idx.Length} indices for {nnz} values");
        var src = values.Raw.Span;
        for (var i = 0; i < nnz; i++)
        {
            long linear;
            if (coordinates)
            {
                linear = 0;
                for (var k = 0; k < dims.Length; k++) linear = linear * dims[k] + idx[i * dims.Length + k];
            }
            else
            {
                linear = idx[i];
            }
            if (linear < 0 || linear >= total)
                throw new ArchNetException($"{file}: {what}: index {linear} is outside the tensor");
            src.Slice(i * size, size).CopyTo(dense.AsSpan((int)(linear * size), size));
        }
        return new TensorData(values.ElementType, dims, dense);
    }
}
