using System.Buffers.Binary;
using System.Text;

namespace Acme.NpuBackend;

/// <summary>Opcodes of the Acme NPU-1 command stream (FORMAT.md).</summary>
public enum Opcode : byte
{
    Input = 0x01,
    Output = 0x02,
    Conv = 0x10,
    Dense = 0x11,
    MaxPool = 0x20,
    GlobalAveragePool = 0x21,
    Add = 0x30,
    Clamp = 0x40,
    Copy = 0x41,
}

/// <summary>One tensor of the arena: where it lives and how its integers read (FORMAT.md, "Tensor table").</summary>
public sealed record StreamTensor(int Offset, int[] Dims, int Bits, bool Signed, float Scale, int ZeroPoint)
{
    public int Count => Dims.Aggregate(1, (a, d) => a * d);
    public int QMin => Signed ? -(1 << (Bits - 1)) : 0;
    public int QMax => Signed ? (1 << (Bits - 1)) - 1 : (1 << Bits) - 1;
}

/// <summary>One command: an opcode and its 32-bit fields.</summary>
public sealed record StreamCommand(Opcode Opcode, int[] Fields);

/// <summary>A whole program: the file's contents, before and after serialisation.</summary>
public sealed record CommandStream(
    byte Rounding, byte Requantization, byte AccumulatorBits, int ArenaBytes,
    IReadOnlyList<StreamTensor> Tensors, IReadOnlyList<StreamCommand> Commands, byte[] Weights)
{
    public const string Magic = "ACMS";
    public const ushort FormatVersion = 1;
    public const int HeaderBytes = 32;
    public const int TensorBytes = 36;
    public const int RequantRecordBytes = 12;

    public byte[] Serialize()
    {
        using var ms = new MemoryStream();
        using var w = new BinaryWriter(ms, Encoding.ASCII); // BinaryWriter is little-endian on every platform
        w.Write(Encoding.ASCII.GetBytes(Magic));
        w.Write(FormatVersion);
        w.Write(Rounding);
        w.Write(Requantization);
        w.Write(AccumulatorBits);
        w.Write(new byte[3]);
        w.Write(ArenaBytes);
        w.Write(Tensors.Count);
        w.Write(Commands.Count);
        w.Write(Weights.Length);
        w.Write(0);
        foreach (var t in Tensors)
        {
            w.Write(t.Offset);
            w.Write(t.Count);
            w.Write((byte)t.Bits);
            w.Write((byte)(t.Signed ? 1 : 0));
            w.Write((byte)t.Dims.Length);
            w.Write((byte)0);
            for (var i = 0; i < 4; i++) w.Write(i < t.Dims.Length ? t.Dims[i] : 1);
            w.Write(t.Scale);
            w.Write(t.ZeroPoint);
        }
        foreach (var c in Commands)
        {
            w.Write((byte)c.Opcode);
            w.Write((byte)0);
            w.Write(checked((ushort)(c.Fields.Length * 4)));
            foreach (var f in c.Fields) w.Write(f);
        }
        w.Write(Weights);
        w.Flush();
        return ms.ToArray();
    }

    public static CommandStream Parse(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < HeaderBytes || Encoding.ASCII.GetString(bytes[..4]) != Magic)
            throw new InvalidDataException("not an Acme NPU command stream (magic 'ACMS' missing)");
        var version = BinaryPrimitives.ReadUInt16LittleEndian(bytes[4..]);
        if (version != FormatVersion) throw new InvalidDataException($"command stream version {version}, expected {FormatVersion}");
        static int I32(ReadOnlySpan<byte> s, int at) => BinaryPrimitives.ReadInt32LittleEndian(s[at..]);
        var (rounding, requant, acc) = (bytes[6], bytes[7], bytes[8]);
        var arena = I32(bytes, 12);
        var tensorCount = I32(bytes, 16);
        var commandCount = I32(bytes, 20);
        var weightBytes = I32(bytes, 24);
        var pos = HeaderBytes;
        var tensors = new List<StreamTensor>();
        for (var i = 0; i < tensorCount; i++, pos += TensorBytes)
        {
            var rank = bytes[pos + 10];
            var dims = new int[rank];
            for (var d = 0; d < rank; d++) dims[d] = I32(bytes, pos + 12 + 4 * d);
            tensors.Add(new StreamTensor(I32(bytes, pos), dims, bytes[pos + 8], bytes[pos + 9] != 0,
                BinaryPrimitives.ReadSingleLittleEndian(bytes[(pos + 28)..]), I32(bytes, pos + 32)));
        }
        var commands = new List<StreamCommand>();
        for (var i = 0; i < commandCount; i++)
        {
            var op = (Opcode)bytes[pos];
            var length = BinaryPrimitives.ReadUInt16LittleEndian(bytes[(pos + 2)..]);
            var fields = new int[length / 4];
            for (var f = 0; f < fields.Length; f++) fields[f] = I32(bytes, pos + 4 + 4 * f);
            commands.Add(new StreamCommand(op, fields));
            pos += 4 + length;
        }
        if (bytes.Length - pos != weightBytes) throw new InvalidDataException($"weights section is {bytes.Length - pos} bytes, header says {weightBytes}");
        return new CommandStream(rounding, requant, acc, arena, tensors, commands, bytes[pos..].ToArray());
    }
}
