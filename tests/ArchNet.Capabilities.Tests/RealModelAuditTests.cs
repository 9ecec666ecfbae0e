using System.Diagnostics;
using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Testing;
using Xunit.Abstractions;

namespace ArchNet.Capabilities.Tests;

/// <summary>The registry models from tests/data/fetch.sh, imported once for the class, with their symbolic input
/// dimensions bound to the sizes they are deployed at (so that MACs and shape limits can be judged).</summary>
public sealed class RegistryModels
{
    public static readonly Dictionary<string, Dictionary<string, long>> DeployedDims = new()
    {
        ["minilm"] = new() { ["batch"] = 1, ["sequence"] = 128 },
        ["ppocrv4_det"] = new() { ["p2o.DynamicDimension.0"] = 1, ["p2o.DynamicDimension.1"] = 640, ["p2o.DynamicDimension.2"] = 640 },
        ["silero_vad"] = new() { ["batch"] = 1, ["sequence"] = 512 },
    };

    public RegistryModels()
    {
        foreach (var name in TestData.ModelNames)
        {
            var model = OnnxImporter.Load(TestData.Model(name));
            InputShapes.Bind(model, DeployedDims.GetValueOrDefault(name) ?? []);
            Models[name] = model;
        }
    }

    public Dictionary<string, Model> Models { get; } = [];
}

/// <summary>Acceptance: every fetched model against every shipped target, fast, with BlazeFace's problems named.</summary>
public sealed class RealModelAuditTests(RegistryModels registry, ITestOutputHelper output) : IClassFixture<RegistryModels>
{
    [Fact]
    public void EveryModel_AgainstEveryTarget_RunsInUnderFiveSeconds_AndPrintsTheMatrix()
    {
        var targets = Fixtures.Catalog.LoadMany("all");
        var clock = Stopwatch.StartNew();
        var reports = TestData.ModelNames.Select(n => AuditReport.Run(registry.Models[n], targets, new RemedyRegistry())).ToList();
        clock.Stop();
        foreach (var n in TestData.ModelNames)
        {
            var c = Stopwatch.StartNew();
            AuditReport.Run(registry.Models[n], targets, new RemedyRegistry());
            output.WriteLine($"{n}: {registry.Models[n].Graph.Nodes.Count} nodes, {c.Elapsed.TotalMilliseconds:F0} ms; inputs " + string.Join(", ", registry.Models[n].Graph.Inputs.Select(i => i.Name + ":" + i.Type)));
        }

        output.WriteLine($"Audit of {reports.Count} models x {targets.Count} targets (+ intersection): {clock.Elapsed.TotalMilliseconds:F0} ms");
        output.WriteLine(AuditMatrix.ToMarkdown(reports));
        foreach (var r in reports.Where(r => r.NodesWithUnknownMacs > 0))
            output.WriteLine($"{r.Model}: {r.NodesWithUnknownMacs} nodes with unknown MACs");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"audit took {clock.Elapsed.TotalSeconds:F2} s");
        Assert.All(reports, r => Assert.Equal(targets.Count + 1, r.Targets.Length));
        // reference-cpu runs every op; the intersection runs no more than any one target.
        Assert.All(reports, r => Assert.Equal(1.0, r.Targets.Single(t => t.Target == "reference-cpu").NodeShare));
        Assert.All(reports, r => Assert.True(r.Targets[^1].SupportedNodes <= r.Targets.Min(t => t.SupportedNodes)));

        // Real reports (including unknown MACs, null shares) follow the audit schema.
        var schema = ShippedTargetTests.LoadSchema("audit.schema.json");
        foreach (var r in reports)
        {
            var results = schema.Evaluate(ShippedTargetTests.Element(System.Text.Json.Nodes.JsonNode.Parse(r.ToJson())!),
                new Json.Schema.EvaluationOptions { OutputFormat = Json.Schema.OutputFormat.List });
            Assert.True(results.IsValid, r.Model + ": " + ShippedTargetTests.Errors(results));
        }
    }

    [Fact]
    public void BlazeFace_OnArchnet_NamesDepthwiseConvs_ResidualAdds_AndZeroChannelPadding()
    {
        var report = AuditReport.Run(registry.Models["blazeface"], [Fixtures.Catalog.Load("archnet")], new RemedyRegistry());
        var t = report.Targets.Single();
        output.WriteLine(report.ToText());

        var depthwise = t.Unsupported.Where(g => g.OpType == "Conv" && g.ConstraintIds.Contains("Conv.oneOf.group")).SelectMany(g => g.Nodes).ToList();
        Assert.NotEmpty(depthwise);
        Assert.All(depthwise, n => Assert.Contains("depthwise", n.Name));
        Assert.All(depthwise, n => Assert.Contains(n.Violations, v => v.ConstraintId == "Conv.oneOf.group" && v.Actual.StartsWith("group ") && v.Limit == "{1}"));

        var adds = t.Unsupported.Single(g => g.OpType == "Add");
        Assert.Equal("op Add is not supported by archnet", adds.Reason);
        Assert.All(adds.Nodes, n => Assert.Contains("/add", n.Name));

        // tf2onnx turned BlazeFace's channel padding (tf Pad on channels) into ConstantOfShape (zeros) + Concat.
        var padding = t.Unsupported.Single(g => g.OpType == "ConstantOfShape");
        Assert.Equal("op ConstantOfShape is not supported by archnet", padding.Reason);
        Assert.All(padding.Nodes, n => Assert.Contains("Pad", n.Name));
        Assert.All(padding.Nodes, n => Assert.Contains(registry.Models["blazeface"].Graph.Nodes,
            node => node.DisplayName == n.Name && node.Outputs[0].Users.Any(u => u.OpType == "Concat")));

        // Ranked by share of MACs.
        Assert.Equal(t.Unsupported.Select(g => g.Macs).OrderByDescending(m => m), t.Unsupported.Select(g => g.Macs));
    }
}
