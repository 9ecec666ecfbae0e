using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using ArchNet.IR;

namespace ArchNet.Frontend.Data;

/// <summary>
/// NumPy's .npy format (version 1-3): a magic string, a Python-dict header with 'descr', 'fortran_order' and 'shape',
/// then the raw little-endian elements. Reads float32/float64/int64/int32/uint8/int8/bool in C order; writes float32,
/// int64 and int32 (version 1).
/// </summary>
public static partial class Npy
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    public static TensorData Read(string path)
    {
        using var stream = File.OpenRead(path);
        return Read(stream, path);
    }

    public static TensorData Read(Stream stream, string name)
    {
        try
        {
            return ReadUnchecked(stream, name);
        }
        catch (EndOfStreamException)
        {
            throw new ArchNetException($"{name}: not a .npy file (it ends inside its header)");
        }
    }

    private static TensorData ReadUnchecked(Stream stream, string name)
    {
        var prefix = new byte[8];
        stream.ReadExactly(prefix);
        if (!prefix.AsSpan(0, 6).SequenceEqual(Magic)) throw new ArchNetException($"{name}: not a .npy file (bad magic)");
        int major = prefix[6];
        int headerLength;
        if (major == 1)
        {
            var len = new byte[2];
            stream.ReadExactly(len);
            headerLength = BitConverter.ToUInt16(len);
        }
        else
        {
            var len = new byte[4];
            stream.ReadExactly(len);
            headerLength = checked((int)BitConverter.ToUInt32(len));
        }
        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        var header = (major >= 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(headerBytes);
        var descr = DescrPattern().Match(header);
        var fortran = FortranPattern().Match(header);
        var shapeMatch = ShapePattern().Match(header);
        if (!descr.Success || !shapeMatch.Success) throw new ArchNetException($"{name}: malformed .npy header '{Printable(header.Trim())}'");
        if (fortran.Success && fortran.Groups[1].Value == "True")
            throw new ArchNetException($"{name}: Fortran-order arrays are not supported; save the array in C order");
        var dims = shapeMatch.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(d => long.TryParse(d.TrimEnd('L'), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n
                : throw new ArchNetException($"{name}: malformed .npy shape '({shapeMatch.Groups[1].Value})'")).ToArray();
        var (type, size, bigEndian) = ParseDescr(descr.Groups[1].Value, name);
        // One array in memory: at most what a .NET array holds.
        var bytes = dims.Aggregate((decimal)size, (a, b) => a * b);
        if (bytes > Array.MaxLength)
            throw new ArchNetException($"{name}: .npy shape [{string.Join(",", dims)}] needs {bytes / (1L << 30):F0} GiB, more than one array can hold ({Array.MaxLength / (double)(1L << 30):F1} GiB); keep fewer items");
        var count = dims.Aggregate(1L, (a, b) => a * b);
        if (stream.CanSeek && stream.Length - stream.Position < count * size) throw Short(name, dims);
        var raw = new byte[count * size];
        try { stream.ReadExactly(raw); }
        catch (EndOfStreamException) { throw Short(name, dims); }
        if (bigEndian && size > 1)
            for (var i = 0; i < raw.Length; i += size) Array.Reverse(raw, i, size);
        return type switch
        {
            ElementType.Double => TensorData.FromFloats(dims, [.. new TensorData(ElementType.Double, dims, raw).ToDoubles().Select(d => (float)d)]),
            ElementType.Bool => new TensorData(ElementType.UInt8, dims, raw),
            _ => new TensorData(type, dims, raw),
        };
    }

    /// <summary>Header text fit for a one-line message: control characters shown as '?', at most 160 characters.</summary>
    private static string Printable(string text)
    {
        var shown = new string([.. text.Take(160).Select(c => char.IsControl(c) ? '?' : c)]);
        return text.Length > 160 ? shown + "..." : shown;
    }

    private static ArchNetException Short(string name, long[] dims) =>
        new($"{name}: .npy data is shorter than its shape [{string.Join(",", dims)}] needs");

    private static (ElementType Type, int Size, bool BigEndian) ParseDescr(string descr, string name)
    {
        var big = descr.StartsWith('>');
        var code = descr.TrimStart('<', '>', '|', '=');
        return code switch
        {
            "f4" => (ElementType.Float, 4, big),
            "f8" => (ElementType.Double, 8, big),
            "f2" => (ElementType.Float16, 2, big),
            "i8" => (ElementType.Int64, 8, big),
            "i4" => (ElementType.Int32, 4, big),
            "i2" => (ElementType.Int16, 2, big),
            "i1" => (ElementType.Int8, 1, false),
            "u1" => (ElementType.UInt8, 1, false),
            "b1" => (ElementType.Bool, 1, false),
            _ => throw new ArchNetException($"{name}: .npy element type '{descr}' is not supported (float32, float64, int64, int32, uint8, int8, bool are)"),
        };
    }

    public static void Write(string path, TensorData data)
    {
        var temp = path + ".tmp";
        using (var stream = File.Create(temp)) Write(stream, data);
        File.Move(temp, path, overwrite: true);
    }

    public static void Write(Stream stream, TensorData data)
    {
        var descr = data.ElementType switch
        {
            ElementType.Float => "<f4",
            ElementType.Int64 => "<i8",
            ElementType.Int32 => "<i4",
            ElementType.UInt8 => "|u1",
            ElementType.Int8 => "|i1",
            _ => throw new ArchNetException($"cannot write {data.ElementType.ShortName()} to .npy"),
        };
        var shape = data.Dims.Length == 1 ? $"({data.Dims[0]},)" : "(" + string.Join(", ", data.Dims) + ")";
        var header = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}";
        var total = 10 + header.Length + 1;
        header = header.PadRight(header.Length + (64 - total % 64) % 64) + "\n";
        stream.Write(Magic);
        stream.Write([1, 0]);
        stream.Write(BitConverter.GetBytes((ushort)header.Length));
        stream.Write(Encoding.Latin1.GetBytes(header));
        stream.Write(data.Raw.Span);
    }

    [GeneratedRegex(@"'descr'\s*:\s*'([^']+)'")]
    private static partial Regex DescrPattern();
    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")]
    private static partial Regex FortranPattern();
    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapePattern();
}

/// <summary>NumPy's .npz: a zip of .npy members; each array is named after its member without ".npy".</summary>
public static class Npz
{
    public static IReadOnlyDictionary<string, TensorData> Read(string path)
    {
        try
        {
            return ReadZip(path);
        }
        catch (InvalidDataException e)
        {
            throw new ArchNetException($"{path}: not a valid .npz (zip) file: {e.Message}");
        }
    }

    private static IReadOnlyDictionary<string, TensorData> ReadZip(string path)
    {
        using var zip = ZipFile.OpenRead(path);
        var result = new SortedDictionary<string, TensorData>(StringComparer.Ordinal);
        foreach (var entry in zip.Entries)
        {
            if (!entry.FullName.EndsWith(".npy", StringComparison.Ordinal)) continue;
            using var s = entry.Open();
            using var buffer = new MemoryStream();
            s.CopyTo(buffer);
            buffer.Position = 0;
            result[entry.FullName[..^4]] = Npy.Read(buffer, $"{path}:{entry.FullName}");
        }
        return result;
    }

    public static void Write(string path, IReadOnlyDictionary<string, TensorData> arrays)
    {
        var temp = path + ".tmp";
        using (var file = File.Create(temp))
        using (var zip = new ZipArchive(file, ZipArchiveMode.Create))
        {
            foreach (var (name, data) in arrays.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                var entry = zip.CreateEntry(name + ".npy", CompressionLevel.NoCompression);
                entry.LastWriteTime = new DateTimeOffset(1980, 1, 1, 0, 0, 0, TimeSpan.Zero); // same bytes for the same arrays
                using var s = entry.Open();
                Npy.Write(s, data);
            }
        }
        File.Move(temp, path, overwrite: true);
    }
}
