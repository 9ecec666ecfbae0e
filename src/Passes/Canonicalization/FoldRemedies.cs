using ArchNet.Capabilities;
using ArchNet.IR;
using ArchNet.Passes.Rewriting;

namespace ArchNet.Passes.Canonicalization;

/// <summary>
/// How the audit sees a model's nodes as the compile will: after canonicalization. Exporters write a model's shape
/// arithmetic as nodes (Shape -> Gather -> Unsqueeze -> Concat -> Reshape); once the inputs' sizes are bound, as the
/// compile binds them, those nodes fold into constants, and Identity and Dropout go: those nodes get the remedy "fold".
/// Canonicalization also merges nodes into others: a GELU written as Div, Erf, Add and Mul becomes one Gelu, a
/// BatchNormalization joins its Conv. Such a node is judged as the node that took it in (<see cref="JudgedAs"/>), and
/// so is every other node: as its namesake in the canonical copy (static shapes, constants where shape arithmetic was),
/// which is what legalization sees. Found on a copy of the model with its still-symbolic input sizes taken as 1: which
/// nodes fold or merge does not depend on the sizes, only on their being known.
/// </summary>
public sealed class FoldRemedies : IRemedySource
{
    private readonly HashSet<string> _folded;
    private readonly HashSet<(string Domain, string OpType)> _ops;
    private readonly Dictionary<string, Node> _judged;

    private FoldRemedies(HashSet<string> folded, HashSet<(string, string)> ops, Dictionary<string, Node> judged) =>
        (_folded, _ops, _judged) = (folded, ops, judged);

    /// <summary>Display names of the nodes that fold.</summary>
    public IReadOnlySet<string> Folded => _folded;

    /// <summary>The node legalization will see for <paramref name="node"/>: its namesake in the canonical copy, or the copy's
    /// node it was merged into; <paramref name="node"/> itself when it folds or nothing is known of it.</summary>
    public Node JudgedAs(Node node) => _judged.GetValueOrDefault(node.DisplayName) ?? node;

    /// <summary>
    /// The canonical view of <paramref name="model"/>, found on <paramref name="copy"/>: the same model loaded again (with
    /// the same --dim sizes), which this changes.
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
        var afterFolding = copy.Graph.Nodes.Select(n => n.DisplayName).ToHashSet(StringComparer.Ordinal);
        Canonicalize.Run(copy, context);
        var canonical = copy.Graph.Nodes.GroupBy(n => n.DisplayName, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var folded = model.Graph.Nodes.Where(n => !afterFolding.Contains(n.DisplayName)).ToList();
        var judged = new Dictionary<string, Node>(StringComparer.Ordinal);
        foreach (var node in model.Graph.Nodes)
        {
            if (canonical.TryGetValue(node.DisplayName, out var same)) judged[node.DisplayName] = same;
            else if (afterFolding.Contains(node.DisplayName) && MergedInto(model.Graph, node, copy.Graph, canonical) is { } into)
                judged[node.DisplayName] = into;
        }
        return new FoldRemedies([.. folded.Select(n => n.DisplayName)], [.. folded.Select(n => (n.Domain, n.OpType))], judged);
    }

    /// <summary>
    /// The canonical node that took in <paramref name="node"/>: follow its results forward through the nodes that are gone
    /// too, to the first reader that is still there (or a graph output); the canonical value it reads in that place is
    /// produced by the merged node.
    /// </summary>
    private static Node? MergedInto(Graph graph, Node node, Graph canonicalGraph, Dictionary<string, Node> canonical)
    {
        var queue = new Queue<Value>(node.Outputs);
        var seen = new HashSet<Value>();
        while (queue.TryDequeue(out var v))
        {
            if (!seen.Add(v)) continue;
            if (graph.Outputs.Contains(v) && canonicalGraph.Outputs.FirstOrDefault(o => o.Name == v.Name)?.Producer is { } producer)
                return producer;
            foreach (var (reader, index) in v.Uses)
            {
                if (canonical.TryGetValue(reader.DisplayName, out var kept))
                {
                    if (kept.Input(index)?.Producer is { } merged) return merged;
                    continue;
                }
                foreach (var o in reader.Outputs) queue.Enqueue(o);
            }
        }
        return null;
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
