using System.Text.Json.Nodes;
using ArchNet.IR;
using ArchNet.Testing;
using Json.Schema;
using Attribute = ArchNet.IR.Attribute;

namespace ArchNet.Capabilities.Tests;

public sealed class AuditTests
{
    /// <summary>conv3x3 -> relu -> depthwise conv3x3 -> add(residual) -> global pool -> gemm.</summary>
    private static Model SmallNet()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 8, 16, 16);
        Value Conv(Value input, long group) => b.Op("Conv", [input, b.Random([8, 8 / group, 3, 3])],
            Attribute.Ints("kernel_shape", 3, 3), Attribute.Ints("pads", 1, 1, 1, 1), Attribute.Int("group", group));
        var c1 = b.Op("Relu", Conv(x, 1));
        var dw = Conv(c1, 8);
        var sum = b.Op("Add", c1, dw);
        var pooled = b.Op("Flatten", [b.Op("GlobalAveragePool", sum)], Attribute.Int("axis", 1));
        var y = b.Op("Gemm", pooled, b.Random([8, 4]), b.Random([4]));
        b.Output(y);
        return b.Build();
    }

    [Fact]
    public void Archnet_NamesTheDepthwiseConvAndTheAdd_RankedByMacs()
    {
        var archnet = Fixtures.Catalog.Load("archnet");
        var report = AuditReport.Run(SmallNet(), [archnet], new RemedyRegistry());
        var t = Assert.Single(report.Targets);
        Assert.Equal(7, t.TotalNodes);
        Assert.Equal(5, t.SupportedNodes);
        Assert.Equal(["Conv", "Add"], t.Unsupported.Select(g => g.OpType));
        Assert.Equal(["Conv.oneOf.group"], t.Unsupported[0].ConstraintIds.ToArray());
        Assert.Equal(["Add.supported"], t.Unsupported[1].ConstraintIds.ToArray());
        Assert.All(t.Unsupported, g => Assert.Equal("none yet", g.Remedy));
        // The depthwise conv does 8*16*16*9 MACs of the model's total.
        Assert.Equal(8L * 16 * 16 * 9, t.Unsupported[0].Macs);
        Assert.Equal((double)(t.TotalMacs - t.SupportedMacs) / t.TotalMacs, t.Unsupported.Sum(g => g.MacShare!.Value), 9);
    }

    [Fact]
    public void Remedies_ComeFromTheRegistry_RewritesBeforeRetraining()
    {
        var archnet = Fixtures.Catalog.Load("archnet");
        var registry = new RemedyRegistry()
            .Register("Add", Remedy.Retrain("concat + 3x3 conv"))
            .Register("Conv", Remedy.Retrain("3x3 conv, centre-initialised"), violation: "oneOf.group")
            .Register("Conv", Remedy.Rewrite("depthwise-to-dense", "a dense conv with zero off-diagonal blocks"), violation: "oneOf.group",
                canHandle: (node, _) => node.GetInt("group", 1) <= 8);
        var t = AuditReport.Run(SmallNet(), [archnet], registry).Targets.Single();
        Assert.Equal("depthwise-to-dense", t.Unsupported[0].Remedy);
        Assert.Equal(RemedyKind.Rewrite, t.Unsupported[0].RemedyKind);
        Assert.Equal("retrain", t.Unsupported[1].Remedy);
    }

    /// <summary>"fold" (canonicalization removes the node) wins over a rewrite; nodes of one op and reason that differ in
    /// remedy are separate groups, each with its own remedy.</summary>
    [Fact]
    public void Remedies_FoldWinsOverRewrite_AndSplitsAGroupByRemedy()
    {
        var archnet = Fixtures.Catalog.Load("archnet");
        var model = SmallNet();
        var dw = model.Graph.Nodes.Single(n => n.OpType == "Conv" && n.GetInt("group", 1) == 8);
        var registry = new RemedyRegistry()
            .Register("Conv", Remedy.Rewrite("depthwise-to-dense", "dense"), violation: "oneOf.group")
            .Register("Add", Remedy.Rewrite("add-to-concat", "concat"))
            .Register("Add", Remedy.Fold, canHandle: (node, _) => node.OpType == "Add");
        var t = AuditReport.Run(model, [archnet], registry).Targets.Single();
        Assert.Equal(("Add", "fold", RemedyKind.Fold), t.Unsupported.Where(g => g.OpType == "Add").Select(g => (g.OpType, g.Remedy, g.RemedyKind)).Single());
        Assert.Equal("depthwise-to-dense", t.Unsupported.Single(g => g.OpType == "Conv").Remedy);

        // Two Adds failing alike, one folding: two groups.
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 4);
        var first = b.Op("Add", x, b.Random([4]));
        b.Output(b.Op("Add", first, b.Random([4])));
        var twoAdds = b.Build();
        var folding = new RemedyRegistry().Register("Add", Remedy.Fold, canHandle: (node, _) => node.Outputs[0] == first);
        var groups = AuditReport.Run(twoAdds, [archnet], folding).Targets.Single().Unsupported;
        Assert.Equal(["fold", "none yet"], groups.Select(g => g.Remedy).Order(StringComparer.Ordinal));
        Assert.All(groups, g => Assert.Equal(1, g.NodeCount));
    }

    /// <summary>A remedy is judged on the node legalization will see (sizes bound, shape arithmetic folded) when the
    /// caller gives one.</summary>
    [Fact]
    public void Remedies_AreJudgedOnTheNodeTheCallerMaps()
    {
        var archnet = Fixtures.Catalog.Load("archnet");
        var model = SmallNet();
        var judged = new HashSet<Node>();
        var registry = new RemedyRegistry().Register("Add", Remedy.Retrain("concat + 3x3 conv"), canHandle: (node, _) => judged.Add(node));
        var stand = new Node("Add", [], [], [], "stand-in");
        var t = AuditReport.Run(model, [archnet], registry, judgedAs: n => n.OpType == "Add" ? stand : n).Targets.Single();
        Assert.Equal("retrain", t.Unsupported.Single(g => g.OpType == "Add").Remedy);
        Assert.Equal([stand], judged);
    }

    /// <summary>A node canonicalization merges into another op takes that op's fate: "fold" when the chip runs it, else
    /// that op's remedy, saying so.</summary>
    [Fact]
    public void Remedies_OfAMergedNode_AreThoseOfTheOpItIsMergedInto()
    {
        var archnet = Fixtures.Catalog.Load("archnet");
        var model = SmallNet();
        var relu = model.Graph.Nodes.First(n => n.OpType == "Relu");
        var exp = new Node("Exp", [relu.Outputs[0]], [new Value("e")], [], "merged-exp");
        var registry = new RemedyRegistry().Register("Exp", Remedy.Retrain("3x3 conv + ReLU"));
        var t = AuditReport.Run(model, [archnet], registry, judgedAs: n => n.OpType switch
        {
            "Add" => relu,
            "Conv" => exp,
            _ => n,
        }).Targets.Single();
        var add = t.Unsupported.Single(g => g.OpType == "Add");
        Assert.Equal((RemedyKind.Fold, "fold"), (add.RemedyKind, add.Remedy));
        Assert.Contains($"merges it into '{relu.DisplayName}' (Relu), which the chip runs", add.RemedySummary);
        var conv = t.Unsupported.Single(g => g.OpType == "Conv");
        Assert.Equal((RemedyKind.Retrain, "retrain"), (conv.RemedyKind, conv.Remedy));
        Assert.StartsWith("canonicalization merges it into 'merged-exp' (Exp), which the chip cannot run: 3x3 conv + ReLU", conv.RemedySummary);
    }

    [Fact]
    public void SeveralTargets_AddTheIntersectionLine_AndAMatrix()
    {
        var targets = Fixtures.Catalog.LoadMany("archnet,arm-ethos-u55");
        var report = AuditReport.Run(SmallNet(), targets, new RemedyRegistry());
        Assert.Equal(["archnet", "arm-ethos-u55", "archnet+arm-ethos-u55"], report.Targets.Select(t => t.Target));
        Assert.True(report.Targets[2].IsIntersection);
        Assert.True(report.Targets[2].SupportedNodes <= Math.Min(report.Targets[0].SupportedNodes, report.Targets[1].SupportedNodes));
        Assert.Contains("archnet+arm-ethos-u55", AuditMatrix.ToMarkdown([report]));
        Assert.Contains("intersection", report.ToText());
    }

    [Fact]
    public void Json_FollowsTheAuditSchema_AndIsDeterministic()
    {
        var report = AuditReport.Run(SmallNet(), Fixtures.Catalog.LoadMany("all"), new RemedyRegistry());
        var json = report.ToJson();
        Assert.Equal(json, AuditReport.Run(SmallNet(), Fixtures.Catalog.LoadMany("all"), new RemedyRegistry()).ToJson());
        var schema = ShippedTargetTests.LoadSchema("audit.schema.json");
        var results = schema.Evaluate(ShippedTargetTests.Element(JsonNode.Parse(json)!), new EvaluationOptions { OutputFormat = OutputFormat.List });
        Assert.True(results.IsValid, ShippedTargetTests.Errors(results));

        var broken = JsonNode.Parse(json)!;
        broken["targets"]![0]!["macShare"] = 1.5;
        Assert.False(schema.Evaluate(ShippedTargetTests.Element(broken)).IsValid);
    }
}
