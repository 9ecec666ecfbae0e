using ArchNet.IR;

namespace ArchNet.Passes.Rewriting;

/// <summary>Puts a built replacement into the graph and drops the matched nodes that nobody reads any more.</summary>
internal static class RewriteApplier
{
    public static void Apply(Model model, RewriteMatch match, RewriteBuilder builder)
    {
        var graph = builder.Root.Graph ?? throw new InvalidOperationException($"{builder.Root} is not in a graph");
        if (builder.RequiredOpset > model.Opset("")) OpsetUpgrade.Upgrade(model, builder.RequiredOpset);
        foreach (var (domain, version) in builder.RequiredDomains)
            if (model.Opset(domain) < version) model.SetOpset(domain, version);
        graph.Constants.AddRange(builder.Constants);
        foreach (var node in builder.Nodes) graph.InsertBefore(builder.Root, node);
        foreach (var (old, replacement) in builder.Replacements)
        {
            // Graph outputs keep their names: callers (and ORT feeds/fetches) know the model by them.
            if (graph.Outputs.Contains(old) && !graph.Inputs.Contains(replacement) && !replacement.IsConstant
                && !graph.Outputs.Contains(replacement))
            {
                var name = old.Name;
                old.Name = replacement.Name;
                replacement.Name = name;
            }
            graph.ReplaceAllUses(old, replacement);
        }
        for (var i = match.Matched.Count - 1; i >= 0; i--)
        {
            var node = match.Matched[i];
            if (node.Graph == graph && node.Outputs.All(o => o.Uses.Count == 0 && !graph.Outputs.Contains(o)))
                graph.Remove(node);
        }
    }
}

/// <summary>
/// Applies a set of rules wherever they match, again and again until none does (bounded), then removes
/// dead code. Node order is the graph's order, and the first rule (in the given order) that matches wins,
/// so the result is deterministic.
/// </summary>
public sealed class GreedyRewritePass(string name, IEnumerable<RewriteRule> rules, int maxRounds = 32) : IPass
{
    private readonly IReadOnlyList<RewriteRule> _rules = [.. rules];

    /// <summary>How <see cref="RewriteRule.RootOps"/> names a node: "Conv" in the default domain, "domain:Op" elsewhere.</summary>
    public static string RootKey(Node node) => node.IsDefaultDomain ? node.OpType : node.Domain + ":" + node.OpType;

    public string Name { get; } = name;
    public IReadOnlyList<RewriteRule> Rules => _rules;

    public int Run(Model model, PassContext context)
    {
        var byOp = _rules.SelectMany(r => r.RootOps.Select(op => (op, r)))
            .GroupBy(p => p.op).ToDictionary(g => g.Key, g => g.Select(p => p.r).ToList());
        var rewriteContext = new RewriteContext(model);
        var total = 0;
        for (var round = 0; round < maxRounds; round++)
        {
            var graph = model.Graph;
            var names = new NameScope(graph);
            var changed = 0;
            foreach (var node in graph.Nodes.ToList())
            {
                if (node.Graph != graph || !byOp.TryGetValue(RootKey(node), out var candidates)) continue;
                foreach (var rule in candidates)
                {
                    var match = rule.Match(node, rewriteContext);
                    if (match is null) continue;
                    var builder = new RewriteBuilder(node, names, rule.Name);
                    match.Build(builder);
                    var display = node.DisplayName;
                    RewriteApplier.Apply(model, match, builder);
                    context.Rewrites.Add(new RewriteRecord(Name, rule.Name, display, node.OpType));
                    changed++;
                    break;
                }
            }
            if (changed == 0) break;
            total += changed;
            graph.SortTopologically();
            graph.RemoveDeadCode();
            ShapeInference.Run(graph);
        }
        if (total > 0) model.Graph.RemoveDeadCode();
        return total;
    }
}
