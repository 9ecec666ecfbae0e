using ArchNet.IR;
using ArchNet.Passes.Rewriting;

namespace ArchNet.Passes.Legalization;

/// <summary>What legalization needs to know about a chip: whether a node runs (and why not), and what it costs.
/// The capability adapter implements it; tests can implement it with a small set of ops.</summary>
public interface ISupportOracle
{
    /// <summary>Empty when the node runs on the chip; otherwise one line per broken constraint.</summary>
    IReadOnlyList<string> Violations(Node node);

    /// <summary>Estimated cost of running a supported node (any unit; only compared between candidates).</summary>
    double Cost(Node node);

    /// <summary>True when the chip's activations cannot hold negative values (see <see cref="RewriteContext.NonNegativeActivations"/>).</summary>
    bool NonNegativeActivations => false;
}

/// <summary>A node left for the distillation pass, with the constraints it breaks.</summary>
public sealed record RetrainEntry(string Node, string OpType, IReadOnlyList<string> Violations);

/// <summary>What legalization did: rewrites applied (rule per node), and nodes left for retraining.</summary>
public sealed record LegalizationReport(IReadOnlyList<RewriteRecord> Rewrites, IReadOnlyList<RetrainEntry> Retrain, int UnsupportedBefore, int UnsupportedAfter);

/// <summary>
/// For every node the chip rejects, tries the exact rewrites whose roots match it. A candidate is kept only when
/// every node it produces is supported, directly or through further candidates (at most <see cref="MaxDepth"/>
/// levels). Among kept candidates the cheapest by the oracle's cost wins; ties go to the earlier rule in the
/// catalog, so the result is deterministic. Nodes with no candidate are marked for retraining: the node gets
/// the metadata entry <see cref="RetrainKey"/> (its value lists the broken constraints), which the distillation
/// pass reads, and the report lists them.
/// </summary>
public sealed class Legalizer(ISupportOracle oracle, IEnumerable<RewriteRule>? rules = null, int maxDepth = 4)
{
    /// <summary>Node metadata key marking a node for the distillation pass; the value is "; "-joined violations.</summary>
    public const string RetrainKey = "archnet.retrain";

    private readonly IReadOnlyList<RewriteRule> _rules = [.. rules ?? RuleCatalog.Legalization];
    private readonly Dictionary<string, List<(RewriteRule Rule, int Order)>> _byRoot = Index(rules ?? RuleCatalog.Legalization);

    public int MaxDepth { get; } = maxDepth;

    private static Dictionary<string, List<(RewriteRule, int)>> Index(IEnumerable<RewriteRule> rules) =>
        rules.Select((r, i) => (r, i)).SelectMany(p => p.r.RootOps.Select(op => (op, p)))
            .GroupBy(x => x.op).ToDictionary(g => g.Key, g => g.Select(x => x.p).ToList());

    public LegalizationReport Run(Model model, PassContext context, string passName = "legalize")
    {
        var graph = model.Graph;
        var rewriteContext = new RewriteContext(model) { NonNegativeActivations = oracle.NonNegativeActivations };
        var unsupportedBefore = graph.Nodes.Count(n => oracle.Violations(n).Count > 0);
        var retrain = new List<RetrainEntry>();
        var firstRewrite = context.Rewrites.Count;
        var names = new NameScope(graph);
        foreach (var node in graph.Nodes.ToList())
        {
            if (node.Graph != graph) continue;
            var violations = oracle.Violations(node);
            if (violations.Count == 0) continue;
            var plan = BestPlan(node, rewriteContext, names, 0);
            if (plan is null)
            {
                node.Metadata.RemoveAll(kv => kv.Key == RetrainKey);
                node.Metadata.Add(new(RetrainKey, string.Join("; ", violations)));
                retrain.Add(new RetrainEntry(node.DisplayName, node.OpType, violations));
                continue;
            }
            Apply(model, plan, context, passName);
        }
        graph.SortTopologically();
        graph.RemoveDeadCode();
        ShapeInference.Run(graph);
        var unsupportedAfter = graph.Nodes.Count(n => oracle.Violations(n).Count > 0);
        return new LegalizationReport(context.Rewrites.Skip(firstRewrite).ToList(), retrain, unsupportedBefore, unsupportedAfter);
    }

    /// <summary>The rule legalization would apply first at <paramref name="node"/> on <paramref name="capability"/>, or null
    /// when no exact plan exists. Nothing changes: the trial is discarded.</summary>
    public static string? ChosenRule(Node node, Capabilities.Capability capability, long opset = 17)
    {
        if (node.Graph is not { } graph) return null;
        var root = graph;
        while (root.Parent is not null) root = root.Parent;
        // The audit sees a graph, not a model: the opset only shapes how reductions and slices are spelled.
        var model = new Model(root);
        model.SetOpset("", opset);
        var legalizer = new Legalizer(new CapabilityOracle(capability));
        var plan = legalizer.BestPlan(node, new RewriteContext(model) { NonNegativeActivations = capability.Numerics.ActivationsNonNegative }, new NameScope(root), 0);
        plan?.Discard();
        return plan?.Rule.Name;
    }

    /// <summary>A chosen rewrite: the rule, its built replacement, and plans for the new nodes that need one.</summary>
    private sealed record Plan(RewriteRule Rule, RewriteMatch Match, RewriteBuilder Builder, List<(Node Node, Plan Plan)> Children, double Cost)
    {
        public void Discard()
        {
            foreach (var (_, child) in Children) child.Discard();
            Builder.Discard();
        }
    }

    // Searches that found nothing, by node signature, with the shallowest depth they failed at: a node of the same
    // structure fails again at that depth or deeper. Keeps the search linear on models with many alike nodes.
    private readonly Dictionary<string, int> _failed = new(StringComparer.Ordinal);

    private static string Signature(Node n) =>
        $"{n.Domain}:{n.OpType}|{string.Join(",", n.Attributes.Values.Select(a => a.Name + "=" + a.ValueText()))}|" +
        string.Join(",", n.Inputs.Select(v => v is null ? "_" : $"{v.Type}{(v.IsConstant ? "c" : "")}{v.Producer?.OpType}")) + "|" +
        string.Join(",", n.Outputs.Select(o => $"{o.Type}{o.Uses.Count}"));

    private Plan? BestPlan(Node node, RewriteContext context, NameScope names, int depth)
    {
        if (depth >= MaxDepth || !_byRoot.TryGetValue(GreedyRewritePass.RootKey(node), out var candidates)) return null;
        var signature = Signature(node);
        if (_failed.TryGetValue(signature, out var failedAt) && depth >= failedAt) return null;
        var found = BestPlanUncached(node, candidates, context, names, depth);
        if (found is null) _failed[signature] = Math.Min(depth, _failed.GetValueOrDefault(signature, int.MaxValue));
        return found;
    }

    private Plan? BestPlanUncached(Node node, List<(RewriteRule Rule, int Order)> candidates, RewriteContext context, NameScope names, int depth)
    {
        // First rank every candidate (discarding each trial so that none affects the next), then build the winner.
        (RewriteRule Rule, double Cost)? best = null;
        foreach (var (rule, _) in candidates)
        {
            var plan = TryRule(rule, node, context, names, depth);
            if (plan is null) continue;
            plan.Discard();
            if (best is null || plan.Cost < best.Value.Cost) best = (rule, plan.Cost);
        }
        return best is null ? null : TryRule(best.Value.Rule, node, context, names, depth);
    }

    private Plan? TryRule(RewriteRule rule, Node node, RewriteContext context, NameScope names, int depth)
    {
        var match = rule.Match(node, context);
        if (match is null) return null;
        var builder = new RewriteBuilder(node, names, rule.Name);
        match.Build(builder);
        if (builder.RequiredOpset > context.Opset && !context.CanUseOpset(builder.RequiredOpset)) { builder.Discard(); return null; }
        var children = new List<(Node, Plan)>();
        var cost = 0.0;
        foreach (var produced in builder.Nodes)
        {
            if (oracle.Violations(produced).Count == 0) { cost += oracle.Cost(produced); continue; }
            var child = BestPlan(produced, context, names, depth + 1);
            if (child is null)
            {
                foreach (var (_, c) in children) c.Discard();
                builder.Discard();
                return null;
            }
            children.Add((produced, child));
            cost += child.Cost;
        }
        return new Plan(rule, match, builder, children, cost);
    }

    private static void Apply(Model model, Plan plan, PassContext context, string passName)
    {
        var root = plan.Builder.Root;
        context.Rewrites.Add(new RewriteRecord(passName, plan.Rule.Name, root.DisplayName, root.OpType));
        RewriteApplier.Apply(model, plan.Match, plan.Builder);
        foreach (var (_, child) in plan.Children) Apply(model, child, context, passName);
    }
}
