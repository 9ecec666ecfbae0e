using System.Buffers.Binary;
using System.IO.Compression;
using ArchNet.IR;

namespace ArchNet.Frontend.Data;

/// <summary>
/// IDX files as MNIST and Fashion-MNIST ship them (gzip-compressed or not): a magic of two zero bytes, a type code,
/// the rank, big-endian int32 dimensions, then the elements. Unsigned-byte images (rank 3) are read as float32
/// pixel/255 shaped N x 1 x H x W; rank-1 files (labels) as int64 [N].
/// </summary>
public static class Idx
{
    public static TensorData Read(string path, int? count = null)
    {
        if (count is < 0) throw new ArchNetException($"{path}: count must not be negative");
        try
        {
            return ReadUnchecked(path, count);
        }
        catch (EndOfStreamException)
        {
            throw new ArchNetException($"{path}: not an IDX file (it ends inside its header)");
        }
        catch (InvalidDataException e)
        {
            throw new ArchNetException($"{path}: the gzip stream is damaged ({e.Message})");
        }
    }

    private static TensorData ReadUnchecked(string path, int? count)
    {
        using var file = File.OpenRead(path);
        Stream stream = file;
        var first = new byte[2];
        file.ReadExactly(first);
        file.Position = 0;
        if (first[0] == 0x1f && first[1] == 0x8b) stream = new GZipStream(file, CompressionMode.Decompress);
        using var reader = new BinaryReader(stream);
        var magic = reader.ReadBytes(4);
        if (magic.Length < 4 || magic[0] != 0 || magic[1] != 0)
            throw new ArchNetException($"{path}: not an IDX file (bad magic)");
        if (magic[2] != 0x08)
            throw new ArchNetException($"{path}: IDX element type 0x{magic[2]:x2} is not supported (unsigned byte 0x08 is)");
        int rank = magic[3];
        if (rank == 0) throw new ArchNetException($"{path}: IDX rank 0 holds no items");
        var dims = new int[rank];
        for (var i = 0; i < rank; i++)
        {
            dims[i] = BinaryPrimitives.ReadInt32BigEndian(reader.ReadBytes(4) is { Length: 4 } d ? d : throw new EndOfStreamException());
            if (dims[i] < 0) throw new ArchNetException($"{path}: IDX dimension {i} is {dims[i]}");
        }
        var n = count is { } c ? Math.Min(c, dims[0]) : dims[0];
        var itemSize = dims.Skip(1).Aggregate(1L, (a, b) => a * b);
        if (n * itemSize > Array.MaxLength)
            throw new ArchNetException($"{path}: {n} items of {itemSize} bytes are more than one array holds; keep fewer items (SPEC:COUNT)");
        var bytes = reader.ReadBytes((int)(n * itemSize));
        if (bytes.Length < n * itemSize) throw new ArchNetException($"{path}: file ends before its {n} items");
        if (rank == 1) return TensorData.FromInt64s([n], [.. bytes.Select(b => (long)b)]);
        var values = new float[bytes.Length];
        for (var i = 0; i < values.Length; i++) values[i] = bytes[i] / 255f;
        long[] shape = rank == 3 ? [n, 1, dims[1], dims[2]] : [n, .. dims.Skip(1).Select(d => (long)d)];
        return TensorData.FromFloats(shape, values);
    }
}
