using System.Globalization;
using ArchNet.Frontend.Onnx;
using ArchNet.IR;

namespace ArchNet.Frontend;

/// <summary>
/// Reads tensor bytes stored beside a model file (ONNX external data). A location must be a relative
/// path that stays inside the model's folder, also after following symbolic links: a model file is
/// untrusted input and must not make the compiler read arbitrary files.
/// </summary>
public sealed class ExternalData
{
    private readonly string _modelFile;
    private readonly string? _folder;

    /// <param name="modelFile">The model file, as the user named it (used in messages).</param>
    /// <param name="folder">The folder locations are relative to; null when the model did not come from a file.</param>
    public ExternalData(string modelFile, string? folder)
    {
        _modelFile = modelFile;
        _folder = folder is null ? null : RealPath(Path.GetFullPath(folder));
    }

    /// <summary>The bytes of <paramref name="tensor"/>; <paramref name="expectedBytes"/> is what its type and dims need.</summary>
    public byte[] Read(TensorProto tensor, string what, long expectedBytes)
    {
        string? location = null, offsetText = null, lengthText = null;
        foreach (var e in tensor.ExternalData)
        {
            switch (e.Key)
            {
                case "location": location = e.Value; break;
                case "offset": offsetText = e.Value; break;
                case "length": lengthText = e.Value; break;
            }
        }

        if (string.IsNullOrEmpty(location))
            throw Fail(what, "is marked as external data but has no 'location'");
        if (_folder is null)
            throw Fail(what, $"external data location '{location}' cannot be resolved: the model was not loaded from a file");
        if (Path.IsPathRooted(location) || location.Contains('\\') || location.Contains(':') || location.Contains('\0'))
            throw Fail(what, $"external data location '{location}' is not a relative path; only paths inside the model's folder are allowed");

        var lexical = Path.GetFullPath(Path.Combine(_folder, location));
        if (!IsInside(lexical, _folder))
            throw Fail(what, $"external data location '{location}' resolves outside the model's folder");
        if (!File.Exists(lexical))
            throw Fail(what, $"external data file '{location}' not found next to the model");
        var real = RealPath(lexical);
        if (!IsInside(real, _folder))
            throw Fail(what, $"external data location '{location}' resolves outside the model's folder (through a symbolic link)");

        var offset = ParseCount(offsetText, "offset", what, location) ?? 0;
        using var handle = File.OpenHandle(real, FileMode.Open, FileAccess.Read, FileShare.Read);
        var fileLength = RandomAccess.GetLength(handle);
        var length = ParseCount(lengthText, "length", what, location) ?? fileLength - offset;
        if (offset > fileLength || length < 0 || length > fileLength - offset)
            throw Fail(what, $"external data '{location}' offset {offset} length {length} runs past the end of the file ({fileLength} bytes)");
        if (length != expectedBytes)
            throw Fail(what, $"external data '{location}' holds {length} bytes but the tensor needs {expectedBytes}");

        var bytes = GC.AllocateUninitializedArray<byte>(checked((int)length));
        var done = 0;
        while (done < bytes.Length)
        {
            var n = RandomAccess.Read(handle, bytes.AsSpan(done), offset + done);
            if (n == 0) throw Fail(what, $"external data '{location}' ended early");
            done += n;
        }
        return bytes;
    }

    private long? ParseCount(string? text, string key, string what, string location)
    {
        if (text is null) return null;
        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var v))
            throw Fail(what, $"external data '{location}' has {key} '{text}', which is not a non-negative integer");
        return v;
    }

    private ArchNetException Fail(string what, string problem) => new($"{_modelFile}: {what}: {problem}");

    private static bool IsInside(string path, string folder)
    {
        var root = Path.EndsInDirectorySeparator(folder) ? folder : folder + Path.DirectorySeparatorChar;
        return path.StartsWith(root, StringComparison.Ordinal);
    }

    /// <summary>The path with every symbolic link along it followed (like POSIX realpath) for parts that exist.</summary>
    private static string RealPath(string fullPath)
    {
        var root = Path.GetPathRoot(fullPath) ?? "/";
        var current = root;
        var parts = fullPath[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries);
        var hops = 0;
        foreach (var part in parts)
        {
            var next = Path.Combine(current, part);
            FileSystemInfo info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            while (info.Exists && info.LinkTarget is not null)
            {
                if (++hops > 40) throw new ArchNetException($"{fullPath}: too many levels of symbolic links");
                var target = info.LinkTarget;
                next = Path.GetFullPath(Path.IsPathRooted(target) ? target : Path.Combine(Path.GetDirectoryName(next)!, target));
                next = RealPath(next);
                info = Directory.Exists(next) ? new DirectoryInfo(next) : new FileInfo(next);
            }
            current = next;
        }
        return current;
    }
}
