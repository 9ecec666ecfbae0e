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
/// </summary>
internal static class ZeroCopyModelReader
{
    /// <summary>Smaller raw_data fields are left to protobuf: wrapping them would save nothing worth the bookkeeping.</summary>
    private const int MinWrappedBytes = 1024;

    private const int MaxDepth = 100;

    private const int RawDataField = TensorProto.RawDataFieldNumber;

    private readonly record struct Step(int Field, int Index);

    private sealed record Cut(Step[] Path, int Offset, int Length);

    /// <summary>The model in <paramref name="buffer"/>, with large raw_data fields sharing it. Malformed input
    /// is left to protobuf's own parser, whose error then describes it.</summary>
    public static ModelProto Parse(byte[] buffer)
    {
        var cuts = new List<Cut>();
        byte[]? structure;
        try
        {
            structure = Rewrite(buffer, 0, buffer.Length, ModelProto.Descriptor, [], cuts, 0);
        }
        catch (FormatException)
        {
            return ModelProto.Parser.ParseFrom(buffer);
        }
        if (cuts.Count == 0) return ModelProto.Parser.ParseFrom(buffer);

        var model = ModelProto.Parser.ParseFrom(structure ?? buffer);
        foreach (var cut in cuts)
        {
            if (Navigate(model, cut.Path) is not TensorProto tensor)
                return ModelProto.Parser.ParseFrom(buffer); // the structure did not parse as the walk assumed
            tensor.RawData = UnsafeByteOperations.UnsafeWrap(buffer.AsMemory(cut.Offset, cut.Length));
        }
        return model;
    }

    /// <summary>The message's bytes with large raw_data fields removed (recorded in <paramref name="cuts"/>),
    /// or null when nothing inside it was removed and the original bytes stand.</summary>
    private static byte[]? Rewrite(byte[] buffer, int start, int end, MessageDescriptor descriptor, Step[] path, List<Cut> cuts, int depth)
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
            if (descriptor == TensorProto.Descriptor && number == RawDataField && length >= MinWrappedBytes)
            {
                if (index > 0) throw new FormatException("raw_data given twice");
                cuts.Add(new Cut(path, payload, length));
                cut = true;
            }
            else if (field.FieldType == FieldType.Message)
            {
                // A singular message given twice is merged by protobuf; paths could not say which part is which.
                if (!field.IsRepeated && index > 0) throw new FormatException("singular message given twice");
                replacement = Rewrite(buffer, payload, payload + length, field.MessageType, [.. path, new Step(number, index)], cuts, depth + 1);
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
