using System.Collections;
using ArchNet.Frontend.Onnx;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace ArchNet.Frontend;

/// <summary>
/// Parses a model whose bytes are already in memory without copying its tensor data. Protobuf always copies
/// a bytes field into a new array, which would hold every weight twice while a model loads. Instead, a pass
/// over the wire format (guided by the message descriptors) cuts large TensorProto.raw_data fields out
/// and remembers where each was; protobuf parses what is left (the small structure), and every cut field
/// is put back as a ByteString that wraps the original buffer. The buffer then backs the IR's constants.
/// For the importer, large packed float_data fields can be cut the same way: their bytes are exactly raw_data's
/// little-endian layout, so a float tensor stored either way (ResNet18's weights come as float_data) then arrives as
/// raw_data over the buffer instead of being parsed into a list of floats and copied once more into raw form.
/// </summary>
internal static class ZeroCopyModelReader
{
    /// <summary>Smaller raw_data fields are left to protobuf: wrapping them would save nothing worth the bookkeeping.</summary>
    private const int MinWrappedBytes = 1024;

    private const int MaxDepth = 100;

    private const int RawDataField = TensorProto.RawDataFieldNumber;

    private const int FloatDataField = TensorProto.FloatDataFieldNumber;

    private readonly record struct Step(int Field, int Index);

    /// <param name="Floats">A packed float_data field (raw_data otherwise).</param>
    private sealed record Cut(Step[] Path, int Offset, int Length, bool Floats);

    /// <summary>The model in <paramref name="buffer"/>, with large raw_data fields sharing it. Malformed input
    /// is left to protobuf's own parser, whose error then describes it.</summary>
    /// <param name="floatDataAsRawData">Large float_data fields of float tensors become raw_data over the buffer too
    /// (an equivalent tensor, not the same message).</param>
    public static ModelProto Parse(byte[] buffer, bool floatDataAsRawData = false)
    {
        var cuts = new List<Cut>();
        byte[]? structure;
        try
        {
            structure = Rewrite(buffer, 0, buffer.Length, ModelProto.Descriptor, [], cuts, 0, floatDataAsRawData);
        }
        catch (Exception e) when (e is FormatException or OverflowException) // a field number or length past int: malformed
        {
            return ModelProto.Parser.ParseFrom(buffer);
        }
        if (cuts.Count == 0) return ModelProto.Parser.ParseFrom(buffer);

        var model = ModelProto.Parser.ParseFrom(structure ?? buffer);
        foreach (var cut in cuts)
        {
            if (Navigate(model, cut.Path) is not TensorProto tensor)
                return ModelProto.Parser.ParseFrom(buffer); // the structure did not parse as the walk assumed
            // float_data stands for raw_data only in a float tensor that has no other data; anything else is parsed
            // as protobuf would, so that the importer sees (and reports) exactly what the file holds.
            if (cut.Floats && (tensor.HasRawData || tensor.FloatData.Count > 0
                    || tensor.DataType is not ((int)TensorProto.Types.DataType.Float or (int)TensorProto.Types.DataType.Complex64)))
                return ModelProto.Parser.ParseFrom(buffer);
            tensor.RawData = UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(cut.Offset, cut.Length));
        }
        return model;
    }

    /// <summary>The message's bytes with large raw_data fields removed (recorded in <paramref name="cuts"/>),
    /// or null when nothing inside it was removed and the original bytes stand.</summary>
    private static byte[]? Rewrite(byte[] buffer, int start, int end, MessageDescriptor descriptor, Step[] path, List<Cut> cuts, int depth,
        bool floats)
    {
        if (depth > MaxDepth) throw new FormatException("nesting too deep");
        MemoryStream? output = null;
        var copiedUpTo = start;
        var occurrences = new Dictionary<int, int>();
        var pos = start;
        while (pos < end)
        {
            var fieldStart = pos;
            var tag = ReadVarint(buffer, ref pos, end);
            var number = checked((int)(tag >> 3));
            var wire = (int)(tag & 7);
            switch (wire)
            {
                case 0:
                    ReadVarint(buffer, ref pos, end);
                    continue;
                case 1:
                    pos = Skip(pos, 8, end);
                    continue;
                case 5:
                    pos = Skip(pos, 4, end);
                    continue;
                case 2:
                    break;
                default:
                    throw new FormatException("groups are not used by ONNX");
            }

            var length = checked((int)ReadVarint(buffer, ref pos, end));
            var payload = pos;
            pos = Skip(pos, length, end);
            var field = descriptor.FindFieldByNumber(number);
            if (field is null) continue;

            var index = occurrences.GetValueOrDefault(number);
            occurrences[number] = index + 1;

            byte[]? replacement = null;
            var cut = false;
            if (descriptor == TensorProto.Descriptor && length >= MinWrappedBytes
                && (number == RawDataField || (floats && number == FloatDataField && length % sizeof(float) == 0)))
            {
                if (index > 0) throw new FormatException($"field {number} given twice");
                cuts.Add(new Cut(path, payload, length, Floats: number == FloatDataField));
                cut = true;
            }
            else if (field.FieldType == FieldType.Message)
            {
                // A singular message given twice is merged by protobuf; paths could not say which part is which.
                if (!field.IsRepeated && index > 0) throw new FormatException("singular message given twice");
                replacement = Rewrite(buffer, payload, payload + length, field.MessageType, [.. path, new Step(number, index)], cuts, depth + 1, floats);
            }
            if (!cut && replacement is null) continue;

            output ??= new MemoryStream();
            output.Write(buffer, copiedUpTo, fieldStart - copiedUpTo);
            if (replacement is not null)
            {
                WriteVarint(output, tag);
                WriteVarint(output, (ulong)replacement.Length);
                output.Write(replacement);
            }
            copiedUpTo = pos;
        }
        if (pos != end) throw new FormatException("field runs past its message");
        if (output is null) return null;
        output.Write(buffer, copiedUpTo, end - copiedUpTo);
        return output.ToArray();
    }

    private static object? Navigate(IMessage message, Step[] path)
    {
        object? current = message;
        foreach (var step in path)
        {
            if (current is not IMessage m) return null;
            var field = m.Descriptor.FindFieldByNumber(step.Field);
            var value = field?.Accessor.GetValue(m);
            current = field is { IsRepeated: true }
                ? value is IList list && step.Index < list.Count ? list[step.Index] : null
                : value;
        }
        return current;
    }

    private static ulong ReadVarint(byte[] buffer, ref int pos, int end)
    {
        ulong result = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (pos >= end) throw new FormatException("truncated varint");
            var b = buffer[pos++];
            result |= (ulong)(b & 0x7f) << shift;
            if ((b & 0x80) == 0) return result;
        }
        throw new FormatException("malformed varint");
    }

    private static int Skip(int pos, int count, int end)
    {
        if (count < 0 || count > end - pos) throw new FormatException("field runs past its message");
        return pos + count;
    }

    private static void WriteVarint(Stream output, ulong value)
    {
        while (value >= 0x80)
        {
            output.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }
        output.WriteByte((byte)value);
    }
}
