using System.Collections.Immutable;
using ArchNet.IR;

namespace ArchNet.Capabilities;

/// <summary>What a chip can run of one op type: the constraints a node must meet, and its speed when known.</summary>
public sealed record OpCapability(string OpType, string Domain, ImmutableArray<Constraint> Constraints)
{
    /// <summary>"*" stands for every op of <see cref="Domain"/>.</summary>
    public bool IsWildcard => OpType == "*";
    public string? Description { get; init; }
    /// <summary>Multiply-accumulates per clock cycle for this op; overrides the chip's figure.</summary>
    public double? MacsPerCycle { get; init; }

    /// <summary>The key used in capability files: <c>Conv</c>, <c>com.microsoft:Gelu</c>, <c>*</c>, <c>com.microsoft:*</c>.</summary>
    public string Key => Capability.OpKey(Domain, OpType);
}

/// <summary>A simple speed model for ranking chips: clock and default MACs per cycle.</summary>
public sealed record Cost(double ClockMHz, double MacsPerCycle);

/// <summary>Supported, or the list of rules the node breaks.</summary>
public sealed record CheckResult(ImmutableArray<Violation> Violations)
{
    public bool IsSupported => Violations.IsEmpty;
    public static CheckResult Supported { get; } = new([]);
    public override string ToString() => IsSupported ? "supported" : string.Join("; ", Violations);
}

/// <summary>
/// A chip as the compiler sees it, loaded from one capability file (targets/NAME.json) or intersected from several.
/// The audit, legalization, quantization and the backends all read this one object; <see cref="Check"/> is the only
/// place that decides whether a node runs on the chip.
/// </summary>
public sealed class Capability
{
    private readonly Dictionary<string, OpCapability> _ops;

    public Capability(string name, string vendor, string version, string source, string description, Numerics numerics,
        IEnumerable<OpCapability> ops, IEnumerable<Constraint> chipConstraints, Cost? cost, string? path = null)
    {
        Name = name;
        Vendor = vendor;
        Version = version;
        Source = source;
        Description = description;
        Numerics = numerics;
        _ops = ops.ToDictionary(o => o.Key, StringComparer.Ordinal);
        ChipConstraints = [.. chipConstraints];
        Cost = cost;
        Path = path;
    }

    public string Name { get; }
    public string Vendor { get; }
    public string Version { get; }
    /// <summary>The public document the file is modeled on.</summary>
    public string Source { get; }
    public string Description { get; }
    public Numerics Numerics { get; }
    /// <summary>Rules every node must meet (Vela's "generic constraints"), e.g. rank at most 4, largest tensor in on-chip memory.</summary>
    public ImmutableArray<Constraint> ChipConstraints { get; }
    public Cost? Cost { get; }
    /// <summary>The file it was loaded from; null for intersections and capabilities built in code.</summary>
    public string? Path { get; }

    /// <summary>Listed ops, ordered by domain then op type (for documents and reports).</summary>
    public IEnumerable<OpCapability> Ops => _ops.Values.OrderBy(o => o.Domain, StringComparer.Ordinal).ThenBy(o => o.OpType, StringComparer.Ordinal);

    public static string OpKey(string domain, string opType) => domain is "" or "ai.onnx" ? opType : domain + ":" + opType;

    /// <summary>The entry for an op: its own, else its domain's wildcard; null when the chip does not run it.</summary>
    public OpCapability? Find(string domain, string opType)
    {
        domain = domain == "ai.onnx" ? "" : domain;
        return _ops.GetValueOrDefault(OpKey(domain, opType)) ?? _ops.GetValueOrDefault(OpKey(domain, "*"));
    }

    /// <summary>Checks one node: its op must be listed, and it must meet the chip-wide and the op's constraints.</summary>
    public CheckResult Check(Node node)
    {
        var op = Find(node.Domain, node.OpType);
        if (op is null)
        {
            var shown = OpKey(node.Domain, node.OpType);
            return new([new Violation($"{shown}.supported", $"op {shown} is not supported by {Name}", shown, "ops listed in " + Name)]);
        }
        var violations = ImmutableArray.CreateBuilder<Violation>();
        foreach (var c in ChipConstraints)
        {
            if (c.ExceptOps.Contains(node.OpType)) continue;
            if (c.Check(node, Numerics) is { } v) violations.Add(v);
        }
        foreach (var c in op.Constraints)
            if (c.Check(node, Numerics) is { } v) violations.Add(v);
        return violations.Count == 0 ? CheckResult.Supported : new(violations.ToImmutable());
    }

    /// <summary>Estimated run time of <paramref name="macs"/> multiply-accumulates of <paramref name="op"/>, when the file gives a cost.</summary>
    public double? Milliseconds(OpCapability? op, long macs)
    {
        if (Cost is not { } cost || cost.ClockMHz <= 0) return null;
        var perCycle = op?.MacsPerCycle ?? cost.MacsPerCycle;
        return perCycle <= 0 ? null : macs / perCycle / (cost.ClockMHz * 1e3);
    }

    public override string ToString() => Name;
}
