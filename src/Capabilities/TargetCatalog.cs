using ArchNet.IR;

namespace ArchNet.Capabilities;

/// <summary>
/// The capability files of one folder (archnetc's targets/, copied beside it from the repo's targets/), by name.
/// A target spec is a name, a path to a .json file, a comma-separated list of either, or "all".
/// </summary>
public sealed class TargetCatalog(string directory)
{
    public string Directory { get; } = directory;

    /// <summary>Names of the shipped targets (file names without .json; schema files excluded), sorted.</summary>
    public IReadOnlyList<string> Names =>
        System.IO.Directory.Exists(Directory)
            ? [.. System.IO.Directory.EnumerateFiles(Directory, "*.json")
                .Select(p => Path.GetFileNameWithoutExtension(p)!)
                .Where(n => !n.EndsWith("schema", StringComparison.Ordinal))
                .Order(StringComparer.Ordinal)]
            : [];

    /// <summary>One target by name, or by path to a capability file.</summary>
    public Capability Load(string nameOrPath)
    {
        if (nameOrPath.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || nameOrPath.Contains(Path.DirectorySeparatorChar) || nameOrPath.Contains('/'))
        {
            if (!File.Exists(nameOrPath)) throw new ArchNetException($"capability file {nameOrPath} not found");
            return CapabilityLoader.LoadFile(nameOrPath);
        }
        var path = Path.Combine(Directory, nameOrPath + ".json");
        if (!File.Exists(path))
            throw new ArchNetException($"unknown target '{nameOrPath}'; known: {string.Join(", ", Names)} (or give a path to a .json capability file)");
        return CapabilityLoader.LoadFile(path);
    }

    /// <summary>The targets a spec names, each loaded: "all", "a,b,c", or paths.</summary>
    public IReadOnlyList<Capability> LoadMany(string spec)
    {
        var parts = spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0) throw new ArchNetException("--target needs a target name, a list a,b, a .json path, or 'all'");
        if (parts is ["all"]) return [.. Names.Select(Load)];
        return [.. parts.Select(Load)];
    }

    /// <summary>What a spec means for compiling: one capability, the intersection of several (named "a+b").</summary>
    public Capability Resolve(string spec) => CapabilityIntersection.Of(LoadMany(spec));
}
