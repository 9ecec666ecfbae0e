using ArchNet.Capabilities;
using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Passes.Canonicalization;
using ArchNet.Passes.Legalization;
using ArchNet.Testing;
using Xunit.Abstractions;

namespace ArchNet.Passes.Tests;

/// <summary>Issue 4's acceptance: each real model legalized to archnet, arm-ethos-u55 and kendryte-k210 (and to every
/// other shipped chip: 30 s more) keeps ORT's output (cosine at least 0.99999) and has fewer unsupported nodes. Each row
/// prints a line of the table.</summary>
public sealed class AcceptanceTests(ITestOutputHelper output)
{
    public static readonly string[] Targets =
        ["archnet", "arm-ethos-u55", "kendryte-k210", "google-edgetpu", "rockchip-rk3588", "ti-tda4vm", "archnet-transformer"];

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var m in RealModels.Names)
            foreach (var t in Targets) data.Add(m, t);
        return data;
    }

    internal static Capability Target(string name) => new TargetCatalog(Path.Combine(TestData.RepoRoot, "targets")).Load(name);

    /// <summary>Nodes breaking a structural rule of the target (element types are quantization's, see <see cref="CapabilityOracle"/>).</summary>
    internal static int Unsupported(Model model, Capability target)
    {
        var oracle = new CapabilityOracle(target);
        return model.Graph.Nodes.Count(n => oracle.Structural(n).Count > 0);
    }

    [Theory]
    [Trait("Category", "Slow")]
    [MemberData(nameof(Cases))]
    public void RealModel_Legalized_KeepsOutputs_AndHasFewerUnsupportedNodes(string modelName, string targetName)
    {
        var target = Target(targetName);
        var model = RealModels.Load(modelName);
        var before = OnnxExporter.ToBytes(model);
        var inputs = RealModels.Inputs(model);
        var unsupportedOriginal = Unsupported(model, target);
        var nodesOriginal = model.Graph.Nodes.Count;
        var context = new PassContext(SilentDiagnostics.Instance);
        var legalize = new LegalizePass(target);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        new PassManager([.. Canonicalize.Passes(), legalize, new DeadCodeElimination()]).Run(model, context);
        clock.Stop();
        var report = legalize.Report!;

        var expected = OrtRunner.Run(before, inputs);
        var actual = OrtRunner.Run(OnnxExporter.ToBytes(model), inputs);
        var cosine = expected.Min(e => OrtRunner.Cosine(actual[e.Key], e.Value));
        var rules = string.Join(", ", report.Rewrites.GroupBy(r => r.Rule).OrderByDescending(g => g.Count()).Select(g => $"{g.Key} {g.Count()}"));
        var left = string.Join(", ", report.Retrain.GroupBy(r => r.OpType).Select(g => $"{g.Key} {g.Count()}"));
        output.WriteLine($"| {modelName} | {targetName} | {nodesOriginal} | {unsupportedOriginal} | {report.UnsupportedBefore} | {report.UnsupportedAfter} | {report.Rewrites.Count} | {cosine:F7} | {clock.Elapsed.TotalSeconds:F1} s | {rules} | {left} |");
        foreach (var r in report.Retrain) output.WriteLine($"retrain: {r.Node} ({r.OpType}): {string.Join("; ", r.Violations)}");

        Assert.True(cosine >= 0.99999, $"{modelName} on {targetName}: cosine {cosine}");
        Assert.Equal(report.UnsupportedAfter, Unsupported(model, target));
        if (unsupportedOriginal > 0) Assert.True(report.UnsupportedAfter < unsupportedOriginal, $"{modelName} on {targetName}: {unsupportedOriginal} -> {report.UnsupportedAfter} unsupported");
        Assert.Equal(report.UnsupportedAfter, report.Retrain.Count);
    }
}
