using ArchNet.IR;

namespace ArchNet.Passes.Rewriting;

/// <summary>
/// An exact rewrite: a pattern rooted at one node, every precondition checked in <see cref="Match"/>,
/// and a replacement built only from what was matched. The driver (not the rule) decides where and how
/// often rules run, applies the replacement, verifies the graph and removes what became dead.
/// </summary>
public abstract class RewriteRule
{
    /// <summary>Stable PascalCase name used in reports, the remedy registry and <c>--rules</c> lists.</summary>
    public abstract string Name { get; }

    /// <summary>One line for reports: what becomes what.</summary>
    public abstract string Summary { get; }

    /// <summary>Op types (default domain) the pattern may be rooted at; the driver only offers those nodes.</summary>
    public abstract IReadOnlyList<string> RootOps { get; }

    /// <summary>
    /// Checks every precondition at <paramref name="root"/>; null when one fails. The returned match names
    /// the nodes it covers and builds the replacement; it must not fail once returned.
    /// </summary>
    public abstract RewriteMatch? Match(Node root, RewriteContext context);

    public override string ToString() => Name;
}

/// <summary>A successful match: the nodes of the pattern (root last) and how to build their replacement.</summary>
public sealed record RewriteMatch(IReadOnlyList<Node> Matched, Action<RewriteBuilder> Build)
{
    public static RewriteMatch Of(Node root, Action<RewriteBuilder> build) => new([root], build);
}

/// <summary>What a rule may consult while matching: the model (for opset) and the optional opset upgrades.</summary>
public sealed class RewriteContext(Model model)
{
    public Model Model { get; } = model;
    public Graph Graph => Model.Graph;

    /// <summary>Default-domain opset of the model.</summary>
    public long Opset => Model.Opset("");

    /// <summary>True when the model's opset is at least <paramref name="version"/>, or can be raised to it exactly.</summary>
    public bool CanUseOpset(long version) => Opset >= version || OpsetUpgrade.CanUpgrade(Model, version);

    /// <summary>
    /// The target's activations cannot be negative (unsigned, symmetric, integer only): a rule whose output graph
    /// would pass a signed intermediate through an activation tensor must split it into positive and negative parts.
    /// Set by legalization from the chip's numerics; false for target-independent rewriting.
    /// </summary>
    public bool NonNegativeActivations { get; init; }
}
