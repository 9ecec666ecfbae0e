using ArchNet.Capabilities;
using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Passes;
using ArchNet.Passes.Canonicalization;
using ArchNet.Passes.Distillation;
using ArchNet.Passes.Legalization;

namespace ArchNet.Compiler;

/// <summary>
/// The audit's view of what distillation builds beyond the replacement templates: nodes a synthesized student stands in
/// for ("retrain (synthesized student)") and nodes an exact rewrite reaches only once the replacements around them are
/// made ("retrain (then rewrite)"). Found as the compile finds them: legalization, then the student built on a copy of
/// the audited graph (no calibration: the fit does not change which nodes are covered), once per graph and target.
/// </summary>
/// <param name="audited">The model as loaded: its opset imports spell the copies.</param>
public sealed class StudentRemedies(Model audited) : IRemedySource
{
    public static readonly Remedy Synthesized = new(RemedyKind.Retrain, "retrain (synthesized student)",
        "a sub-network of the chip's ops with the region's shapes, fitted by least squares on calibration features and trained blockwise");

    public static readonly Remedy RewriteAfterReplacement = new(RemedyKind.Retrain, "retrain (then rewrite)",
        "an exact rewrite, " + ReplacementCatalog.AfterReplacement);

    private readonly Dictionary<(Graph, string), Dictionary<string, Remedy>> _byGraph = [];

    public void RegisterRemedies(RemedyRegistry registry)
    {
        registry.Register(new RemedyRegistration(RemedyRegistration.AnyOp, Synthesized) { CanHandle = (n, c) => Of(n, c) == Synthesized });
        registry.Register(new RemedyRegistration(RemedyRegistration.AnyOp, RewriteAfterReplacement) { CanHandle = (n, c) => Of(n, c) == RewriteAfterReplacement });
    }

    private Remedy? Of(Node node, Capability capability)
    {
        if (node.Graph is not { } graph) return null;
        while (graph.Parent is not null) graph = graph.Parent;
        if (!_byGraph.TryGetValue((graph, capability.Name), out var remedies))
            _byGraph[(graph, capability.Name)] = remedies = Simulate(graph, capability);
        return remedies.GetValueOrDefault(node.DisplayName);
    }

    private Dictionary<string, Remedy> Simulate(Graph graph, Capability capability)
    {
        var found = new Dictionary<string, Remedy>(StringComparer.Ordinal);
        try
        {
            var original = new Model(graph) { IrVersion = audited.IrVersion };
            foreach (var (domain, version) in audited.OpsetImports) original.SetOpset(domain, version);
            var copy = OnnxImporter.Import(OnnxExporter.ToProto(original));
            InputShapes.Fix(copy);
            ShapeInference.Run(copy.Graph);
            Canonicalize.Run(copy, new PassContext(SilentDiagnostics.Instance));
            new Legalizer(new CapabilityOracle(capability)).Run(copy, new PassContext(SilentDiagnostics.Instance));
            var rejected = copy.Graph.Nodes.Where(n => !capability.Check(n).IsSupported).Select(n => n.DisplayName).ToList();
            var records = ReplacementCatalog.BuildStudent(copy, capability,
                n => n.Metadata.Any(kv => kv.Key == Legalizer.RetrainKey), keepUnreplaced: true);
            foreach (var r in records.Where(r => r.Replacement.StartsWith(SynthesizedStudent.Summary, StringComparison.Ordinal)))
                foreach (var name in r.Covers) found.TryAdd(name, Synthesized);
            // Gone without a template of their own: an exact rewrite took them once the replacements were made (the rewrite
            // consumes a whole pattern, e.g. both Transposes and the bias Adds of a channels-last Linear).
            var templated = records.SelectMany(r => r.Covers).ToHashSet(StringComparer.Ordinal);
            var left = copy.Graph.Nodes.Select(n => n.DisplayName).ToHashSet(StringComparer.Ordinal);
            foreach (var name in rejected.Where(n => !left.Contains(n) && !templated.Contains(n)))
                found.TryAdd(name, RewriteAfterReplacement);
            foreach (var r in records.Where(r => r.Replacement.EndsWith($"({ReplacementCatalog.AfterReplacement})", StringComparison.Ordinal)))
                foreach (var name in r.Covers) found.TryAdd(name, RewriteAfterReplacement);
        }
        catch (ArchNetException)
        {
            // A graph the compile would refuse earlier gets no student remedy: the audit says "none yet" there.
        }
        return found;
    }
}
