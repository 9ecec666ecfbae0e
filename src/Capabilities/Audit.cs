using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using ArchNet.IR;

namespace ArchNet.Capabilities;

/// <summary>One node the chip cannot run, with why.</summary>
public sealed record UnsupportedNode(string Name, long Macs, ImmutableArray<Violation> Violations);

/// <summary>Unsupported nodes of one op type failing the same rules, with the compiler's remedy for them.</summary>
public sealed record UnsupportedGroup(
    string OpType,
    string Reason,
    ImmutableArray<string> ConstraintIds,
    int NodeCount,
    long Macs,
    double? MacShare,
    string Remedy,
    RemedyKind RemedyKind,
    string RemedySummary,
    ImmutableArray<UnsupportedNode> Nodes);

/// <summary>How much of a model one target runs.</summary>
public sealed record TargetAudit(
    string Target,
    bool IsIntersection,
    int SupportedNodes,
    int TotalNodes,
    long SupportedMacs,
    long TotalMacs,
    double? EstimatedMilliseconds,
    ImmutableArray<UnsupportedGroup> Unsupported)
{
    public double NodeShare => TotalNodes == 0 ? 1 : (double)SupportedNodes / TotalNodes;
    /// <summary>Null when the model's MACs are unknown (symbolic shapes: bind them with <see cref="InputShapes"/>).</summary>
    public double? MacShare => TotalMacs == 0 ? null : (double)SupportedMacs / TotalMacs;
}

/// <summary>
/// The audit of one model against one or more targets (and their intersection): per target, the count and share of
/// nodes and of MACs that can run, and the unsupported nodes grouped by op and reason, ranked by share of MACs, each with
/// its remedy. The CLI only prints it (<see cref="ToText"/>, <see cref="ToMarkdown"/>, <see cref="ToJson"/>); the JSON
/// follows targets/audit.schema.json.
/// </summary>
public sealed record AuditReport(string Model, int TotalNodes, long TotalMacs, int NodesWithUnknownMacs, ImmutableArray<TargetAudit> Targets)
{
    /// <summary>Audits the main graph's nodes; Constant nodes are data, not work, and are not counted.
    /// MACs come from the IR's op registry (run shape inference first for them to be known).</summary>
    /// <param name="judgedAs">The node a remedy is judged on, for each node of <paramref name="model"/>: the same node in
    /// the form the compile's legalization sees (sizes bound, shape arithmetic folded: a Div whose divisor is computed
    /// from shapes is a Div by a constant there), or the node canonicalization merges it into (an Erf into a Gelu), whose
    /// support and remedy are then this node's. Null: the node itself.</param>
    public static AuditReport Run(Model model, IReadOnlyList<Capability> targets, RemedyRegistry remedies, bool withIntersection = true,
        Func<Node, Node>? judgedAs = null)
    {
        var nodes = model.Graph.Nodes.Where(n => !(n.OpType == "Constant" && n.IsDefaultDomain)).ToList();
        var macs = nodes.Select(n => OpRegistry.Macs(n)).ToList();
        var totalMacs = macs.Sum(m => m ?? 0);
        var name = model.SourcePath is { } p ? Path.GetFileNameWithoutExtension(p) : model.Graph.Name;
        var audits = targets.Select(t => AuditTarget(t, false)).ToList();
        if (withIntersection && targets.Count > 1)
            audits.Add(AuditTarget(CapabilityIntersection.Of(targets), true));
        // The registry answers null both for "shape unknown" and for ops it has no MAC model for; only the first is unknown.
        var unknown = nodes.Where((n, i) => macs[i] is null && n.Outputs.Any(o => !o.IsAbsent && o.Shape?.IsStatic != true)).Count();
        return new AuditReport(name, nodes.Count, totalMacs, unknown, [.. audits]);

        TargetAudit AuditTarget(Capability target, bool isIntersection)
        {
            var failing = new List<(Node Node, long Macs, CheckResult Result)>();
            long supportedMacs = 0;
            double? ms = target.Cost is null ? null : 0;
            for (var i = 0; i < nodes.Count; i++)
            {
                var result = target.Check(nodes[i]);
                var m = macs[i] ?? 0;
                if (result.IsSupported)
                {
                    supportedMacs += m;
                    if (ms is not null) ms += target.Milliseconds(target.Find(nodes[i].Domain, nodes[i].OpType), m) ?? 0;
                }
                else failing.Add((nodes[i], m, result));
            }
            // Nodes of one op failing the same rules can still differ in remedy (most of a model's Unsqueezes fold, one
            // may not): the remedy is part of the group.
            var groups = failing
                .Select(f => (f.Node, f.Macs, f.Result, Remedy: RemedyFor(f.Node, f.Result.Violations)))
                .GroupBy(f => f.Node.OpType + "\n" + string.Join("\n", f.Result.Violations.Select(v => v.ConstraintId).Distinct().Order(StringComparer.Ordinal))
                    + "\n" + f.Remedy.Name)
                .Select(g =>
                {
                    var first = g.First();
                    var ids = first.Result.Violations.Select(v => v.ConstraintId).Distinct().Order(StringComparer.Ordinal).ToImmutableArray();
                    var reason = string.Join("; ", first.Result.Violations.DistinctBy(v => v.ConstraintId).Select(v => v.Message));
                    var remedy = first.Remedy;
                    var groupMacs = g.Sum(f => f.Macs);
                    return new UnsupportedGroup(first.Node.OpType, reason, ids, g.Count(), groupMacs,
                        totalMacs == 0 ? null : (double)groupMacs / totalMacs, remedy.Name, remedy.Kind, remedy.Summary,
                        [.. g.Select(f => new UnsupportedNode(f.Node.DisplayName, f.Macs, f.Result.Violations))]);
                })
                .OrderByDescending(g => g.Macs).ThenByDescending(g => g.NodeCount)
                .ThenBy(g => g.OpType, StringComparer.Ordinal).ThenBy(g => g.Reason, StringComparer.Ordinal)
                .ToImmutableArray();
            return new TargetAudit(target.Name, isIntersection, nodes.Count - failing.Count, nodes.Count, supportedMacs, totalMacs, ms, groups);

            Remedy RemedyFor(Node node, IReadOnlyList<Violation> violations)
            {
                var judged = judgedAs?.Invoke(node) ?? node;
                if (judged.OpType == node.OpType && judged.Domain == node.Domain) return remedies.Find(judged, target, violations);
                // Merged into another op (an Erf into the Gelu canonicalization recognizes): that op's fate is this node's.
                var check = target.Check(judged);
                if (check.IsSupported) return Remedy.Merged(judged.DisplayName, judged.OpType);
                var remedy = remedies.Find(judged, target, check.Violations);
                return remedy with { Summary = $"canonicalization merges it into '{judged.DisplayName}' ({judged.OpType}), which the chip cannot run: {remedy.Summary}" };
            }
        }
    }

    // ---- output ----

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    /// <summary>Machine-readable form (schema: targets/audit.schema.json).</summary>
    public string ToJson()
    {
        var doc = new
        {
            schemaVersion = 1,
            model = Model,
            totalNodes = TotalNodes,
            totalMacs = TotalMacs,
            nodesWithUnknownMacs = NodesWithUnknownMacs,
            targets = Targets.Select(t => new
            {
                target = t.Target,
                isIntersection = t.IsIntersection,
                supportedNodes = t.SupportedNodes,
                totalNodes = t.TotalNodes,
                nodeShare = Math.Round(t.NodeShare, 6),
                supportedMacs = t.SupportedMacs,
                totalMacs = t.TotalMacs,
                macShare = t.MacShare is { } ts ? Math.Round(ts, 6) : (double?)null,
                estimatedMilliseconds = t.EstimatedMilliseconds is { } ms ? Math.Round(ms, 6) : (double?)null,
                unsupported = t.Unsupported.Select(g => new
                {
                    opType = g.OpType,
                    reason = g.Reason,
                    constraintIds = g.ConstraintIds,
                    nodeCount = g.NodeCount,
                    macs = g.Macs,
                    macShare = g.MacShare is { } gs ? Math.Round(gs, 6) : (double?)null,
                    remedy = g.Remedy,
                    remedyKind = g.RemedyKind,
                    remedySummary = g.RemedySummary,
                    nodes = g.Nodes.Select(n => new
                    {
                        name = n.Name,
                        macs = n.Macs,
                        violations = n.Violations.Select(v => new { constraintId = v.ConstraintId, message = v.Message, actual = v.Actual, limit = v.Limit }),
                    }),
                }),
            }),
        };
        return JsonSerializer.Serialize(doc, JsonOptions) + "\n";
    }

    /// <summary>For people: a summary table, then per target the unsupported groups with an example and the remedy.</summary>
    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        void Line(string s = "") => sb.Append(s).Append('\n');
        Line($"# Audit of {Model}");
        Line();
        Line($"{TotalNodes} nodes, {Macs(TotalMacs)} MACs" + (NodesWithUnknownMacs > 0 ? $" ({NodesWithUnknownMacs} nodes with unknown MACs counted as 0: bind symbolic dimensions with --dim)" : "") + ".");
        Line();
        Line("| target | nodes that run | MACs that run | est. time |");
        Line("| --- | --- | --- | --- |");
        foreach (var t in Targets)
            Line($"| {(t.IsIntersection ? "**" + t.Target + "** (intersection)" : t.Target)} | {t.SupportedNodes}/{t.TotalNodes} ({Pct(t.NodeShare)}) | {Pct(t.MacShare)} | {(t.EstimatedMilliseconds is { } ms ? ms.ToString("F3", CultureInfo.InvariantCulture) + " ms" : "-")} |");
        foreach (var t in Targets)
        {
            Line();
            Line($"## {t.Target}");
            Line();
            if (t.Unsupported.IsEmpty)
            {
                Line("Every node runs.");
                continue;
            }
            Line("| op | nodes | MAC share | reason | example | remedy |");
            Line("| --- | --- | --- | --- | --- | --- |");
            foreach (var g in t.Unsupported)
            {
                var ex = g.Nodes[0];
                var detail = string.Join("; ", ex.Violations.Select(v => $"found {v.Actual}, limit {v.Limit}"));
                Line($"| {g.OpType} | {g.NodeCount} | {Pct(g.MacShare)} | {Escape(g.Reason)} | {Escape(ex.Name)}: {Escape(detail)} | {g.Remedy} |");
            }
        }
        return sb.ToString();
    }

    /// <summary>For the console: the same content as <see cref="ToMarkdown"/> in plain lines.</summary>
    public string ToText()
    {
        var sb = new StringBuilder();
        void Line(string s = "") => sb.Append(s).Append('\n');
        Line($"{Model}: {TotalNodes} nodes, {Macs(TotalMacs)} MACs" + (NodesWithUnknownMacs > 0 ? $" ({NodesWithUnknownMacs} nodes with unknown MACs: bind symbolic dimensions with --dim)" : ""));
        foreach (var t in Targets)
        {
            Line();
            Line($"{t.Target}{(t.IsIntersection ? " (intersection)" : "")}: {t.SupportedNodes}/{t.TotalNodes} nodes ({Pct(t.NodeShare)}), {Pct(t.MacShare)} of MACs run"
                 + (t.EstimatedMilliseconds is { } ms ? $", est. {ms.ToString("F3", CultureInfo.InvariantCulture)} ms" : ""));
            foreach (var g in t.Unsupported)
            {
                var ex = g.Nodes[0];
                Line($"  {Pct(g.MacShare),7} MACs  {g.NodeCount,4} x {g.OpType}: {g.Reason}  -> remedy: {g.Remedy}");
                foreach (var v in ex.Violations)
                    Line($"      e.g. {ex.Name}: found {v.Actual}, limit {v.Limit}");
            }
        }
        if (Targets.Length > 1)
        {
            Line();
            Line(AuditMatrix.ToText([this]));
        }
        return sb.ToString();
    }

    internal static string Pct(double? share) => share is { } s ? (s * 100).ToString("F1", CultureInfo.InvariantCulture) + "%" : "n/a";
    internal static string Macs(long macs) => macs.ToString("N0", CultureInfo.InvariantCulture);
    private static string Escape(string s) => s.Replace("|", "\\|");
}

/// <summary>Models x targets: each cell the share of nodes and of MACs that run.</summary>
public static class AuditMatrix
{
    public static string ToMarkdown(IReadOnlyList<AuditReport> reports)
    {
        var columns = Columns(reports);
        var sb = new StringBuilder();
        sb.Append("| model | ").Append(string.Join(" | ", columns.Select(c => c.Intersection ? "intersection" : c.Name))).Append(" |\n");
        sb.Append("| --- |").Append(string.Concat(columns.Select(_ => " --- |"))).Append('\n');
        foreach (var r in reports)
            sb.Append("| ").Append(r.Model).Append(" | ").Append(string.Join(" | ", columns.Select(c => Cell(r, c.Name)))).Append(" |\n");
        sb.Append("\nCells: share of nodes that run / share of MACs that run (n/a: MACs unknown).");
        if (columns.FirstOrDefault(c => c.Intersection) is { Name: { } both }) sb.Append(" intersection = ").Append(both).Append('.');
        sb.Append('\n');
        return sb.ToString();
    }

    public static string ToText(IReadOnlyList<AuditReport> reports)
    {
        var columns = Columns(reports);
        var headers = new[] { "model" }.Concat(columns.Select(c => c.Intersection ? "intersection" : c.Name)).ToList();
        var rows = reports.Select(r => new[] { r.Model }.Concat(columns.Select(c => Cell(r, c.Name))).ToList()).ToList();
        var widths = headers.Select((h, i) => Math.Max(h.Length, rows.Count == 0 ? 0 : rows.Max(r => r[i].Length))).ToList();
        var sb = new StringBuilder();
        sb.Append(string.Join("  ", headers.Select((h, i) => h.PadRight(widths[i]))).TrimEnd()).Append('\n');
        foreach (var row in rows) sb.Append(string.Join("  ", row.Select((c, i) => c.PadRight(widths[i]))).TrimEnd()).Append('\n');
        sb.Append("(cells: nodes that run / MACs that run)\n");
        return sb.ToString();
    }

    private static List<(string Name, bool Intersection)> Columns(IReadOnlyList<AuditReport> reports) =>
        reports.SelectMany(r => r.Targets.Select(t => (t.Target, t.IsIntersection))).Distinct().ToList();

    private static string Cell(AuditReport r, string target) =>
        r.Targets.FirstOrDefault(t => t.Target == target) is { } t ? $"{AuditReport.Pct(t.NodeShare)} / {AuditReport.Pct(t.MacShare)}" : "-";
}
