using ArchNet.Capabilities;
using ArchNet.IR;
using ArchNet.Passes.Rewriting;

namespace ArchNet.Passes.Canonicalization;

/// <summary>
/// The audit's "fold" remedy: the nodes of a model that canonicalization removes before the chip's rules are applied.
/// Exporters write a model's shape arithmetic as nodes (Shape -> Gather -> Unsqueeze -> Concat -> Reshape); once the
/// inputs' sizes are bound, as the compile binds them, those nodes are constants, and so are Identity and Dropout
/// no-ops. Found by running exactly those canonical rules (and dead code removal, nothing that recognizes patterns) on
/// a copy of the model with its still-symbolic input sizes taken as 1: which nodes fold does not depend on the sizes,
/// only on their being known. The nodes that stay are where the audit judges the other remedies (<see cref="JudgedAs"/>):
/// legalization sees them so.
/// </summary>
public sealed class FoldRemedies : IRemedySource
{
    private readonly HashSet<string> _folded;
    private readonly HashSet<(string Domain, string OpType)> _ops;
    private readonly Dictionary<string, Node> _kept;

    private FoldRemedies(HashSet<string> folded, HashSet<(string, string)> ops, Dictionary<string, Node> kept) =>
        (_folded, _ops, _kept) = (folded, ops, kept);

    /// <summary>Display names of the nodes that fold.</summary>
    public IReadOnlySet<string> Folded => _folded;

    /// <summary>The node as legalization sees it: in the folded copy (static shapes, constants where shape arithmetic
    /// was), or <paramref name="node"/> itself when it folds or the copy has no node of its name.</summary>
    public Node JudgedAs(Node node) => _kept.GetValueOrDefault(node.DisplayName) ?? node;

    /// <summary>
    /// The nodes of <paramref name="model"/> that canonicalization removes, found on <paramref name="copy"/>: the same
    /// model loaded again (with the same --dim sizes), which this changes.
    /// </summary>
    public static FoldRemedies Of(Model model, Model copy)
    {
        InputShapes.Fix(copy);
        var context = new PassContext(SilentDiagnostics.Instance);
        new PassManager([
            new ShapePropagation(),
            new GreedyRewritePass("fold", [new FoldConstants(), new RemoveIdentity(), new RemoveDropout()]),
            new DeadCodeElimination(),
        ]).Run(copy, context);
        var kept = copy.Graph.Nodes.GroupBy(n => n.DisplayName, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var folded = model.Graph.Nodes.Where(n => !kept.ContainsKey(n.DisplayName)).ToList();
        return new FoldRemedies([.. folded.Select(n => n.DisplayName)], [.. folded.Select(n => (n.Domain, n.OpType))], kept);
    }

    public void RegisterRemedies(RemedyRegistry registry)
    {
        foreach (var (domain, op) in _ops)
            registry.Register(new RemedyRegistration(op, Remedy.Fold)
            {
                Domain = domain,
                CanHandle = (node, _) => _folded.Contains(node.DisplayName),
            });
    }
}
