using ArchNet.Capabilities;
using ArchNet.IR;
using ArchNet.Passes.Rewriting;

namespace ArchNet.Passes.Legalization;

/// <summary>
/// The capability file's checker and cost model as legalization sees them (the one checker, no copy of its logic).
/// Legalization works on the float model, so element-type rules (<see cref="Violation.AboutElementTypes"/>) are left to
/// quantization, which chooses the integer types; every structural rule (ops, attributes, shapes) counts.
/// </summary>
public sealed class CapabilityOracle(Capability capability) : ISupportOracle
{
    public Capability Capability { get; } = capability;

    /// <summary>True for element-type rules, which quantization (not legalization) satisfies.</summary>
    public static bool IsNumericsRule(Violation v) => v.AboutElementTypes;

    /// <summary>The structural violations of <paramref name="node"/> (element-type rules left out).</summary>
    public IReadOnlyList<Violation> Structural(Node node)
    {
        if (node.OpType == "Constant" && node.IsDefaultDomain) return [];
        var result = Capability.Check(node);
        return result.IsSupported ? [] : [.. result.Violations.Where(v => !IsNumericsRule(v))];
    }

    public IReadOnlyList<string> Violations(Node node) => [.. Structural(node).Select(v => v.ToString())];

    public bool NonNegativeActivations => Capability.Numerics.ActivationsNonNegative;

    /// <summary>Estimated milliseconds from the file's cost model (MACs when it has none), plus a small
    /// per-node charge so that, at equal work, fewer nodes win.</summary>
    public double Cost(Node node)
    {
        var macs = OpRegistry.Macs(node) ?? 0;
        var perNode = 1e-6;
        return (Capability.Milliseconds(Capability.Find(node.Domain, node.OpType), macs) ?? macs * 1e-6) + perNode;
    }
}

/// <summary>Legalization as a pass: its last report stays readable for the CLI and the distillation pass.</summary>
public sealed class LegalizePass(Capability capability, IEnumerable<RewriteRule>? rules = null) : IPass
{
    private readonly Legalizer _legalizer = new(new CapabilityOracle(capability), rules);

    public string Name => "legalize";
    public LegalizationReport? Report { get; private set; }

    public int Run(Model model, PassContext context)
    {
        Report = _legalizer.Run(model, context, Name);
        return Report.Rewrites.Count;
    }
}

/// <summary>
/// Registers every exact rewrite with the audit's remedy registry. A rule is named as the remedy for a node
/// only when legalization would pick it there on that chip (a full plan exists and this rule heads it), so the
/// audit never promises what the pass cannot do.
/// The registry asks every rule registered for a node's op in turn (a Conv has a dozen), and each would run the same
/// full plan search: the search's answer for the last node and chip asked is kept, so one Find searches once. The
/// audit does not change the graph between those questions (trials are discarded), and a different node or chip
/// searches afresh.
/// </summary>
public sealed class RewriteRemedies : IRemedySource
{
    private (Node Node, Capability Capability, string? Rule)? _last;

    private string? ChosenRule(Node node, Capability capability)
    {
        if (_last is { } last && ReferenceEquals(last.Node, node) && ReferenceEquals(last.Capability, capability)) return last.Rule;
        var rule = Legalizer.ChosenRule(node, capability);
        _last = (node, capability, rule);
        return rule;
    }

    public void RegisterRemedies(RemedyRegistry registry)
    {
        foreach (var rule in RuleCatalog.Legalization)
            foreach (var root in rule.RootOps)
            {
                var (domain, op) = root.Contains(':') ? (root[..root.IndexOf(':')], root[(root.IndexOf(':') + 1)..]) : ("", root);
                registry.Register(new RemedyRegistration(op, Remedy.Rewrite(rule.Name, rule.Summary))
                {
                    Domain = domain,
                    CanHandle = (node, capability) => ChosenRule(node, capability) == rule.Name,
                });
            }
    }
}
