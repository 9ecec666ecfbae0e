using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Passes.Canonicalization;
using ArchNet.Testing;
using Xunit.Abstractions;

namespace ArchNet.Passes.Tests;

public sealed class CanonicalizationTests(ITestOutputHelper output)
{
    private static string Histogram(Model m) =>
        string.Join(", ", m.Graph.Nodes.GroupBy(n => n.OpType).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).Select(g => $"{g.Key} {g.Count()}"));

    /// <summary>A model that is malformed as given, where only inferred shapes show it (a Gemm whose K disagrees with
    /// the flattened input's), is reported as such, not as if the first pass had broken it.</summary>
    [Fact]
    public void MalformedAsGiven_IsReportedAsTheModel_NotAsAPass()
    {
        var b = new GraphBuilder();
        var flat = b.Op("Flatten", [b.Input("x", 1, 2, 3, 4)], ArchNet.IR.Attribute.Int("axis", 1));
        b.Output(b.Op("Gemm", flat, b.Random([20, 5])));
        flat.Type = null; // as an exporter leaves intermediate values: untyped until shapes are inferred
        var e = Assert.Throws<ArchNetException>(() => Canonicalize.Run(b.Model, new PassContext(SilentDiagnostics.Instance)));
        Assert.Contains("invalid graph after its shapes were inferred (the model as given is malformed): node 'gemm", e.Message);
        Assert.Contains("A has 24 columns, B has 20 rows", e.Message);
    }

    [Theory]
    [InlineData("minilm", "LayerNormalization", 13)]
    [InlineData("minilm", "Gelu", 6)]
    [InlineData("minilm", "Shape", 0)]
    [InlineData("fmnist_vit", "Gelu", 3)]
    [InlineData("resnet18", "BatchNormalization", 0)]
    [InlineData("ppocrv4_det", "HardSwish", 24)]
    [InlineData("blazeface", "ConstantOfShape", 0)]
    public void RealModel_IsCanonicalized_WithOrtOutputsUnchanged(string name, string op, int expectedCount)
    {
        var model = RealModels.Load(name);
        var before = OnnxExporter.ToBytes(model);
        var inputs = RealModels.Inputs(model);
        var context = new PassContext(SilentDiagnostics.Instance);

        var results = Canonicalize.Run(model, context);

        output.WriteLine($"{name}: {Histogram(model)}");
        output.WriteLine(string.Join(", ", results.Select(r => $"{r.Pass}: {r.Changes} in {r.Elapsed.TotalMilliseconds:F0} ms")));
        Assert.Equal(expectedCount, model.Graph.Nodes.Count(n => n.OpType == op));
        var expected = OrtRunner.Run(before, inputs);
        var actual = OrtRunner.Run(OnnxExporter.ToBytes(model), inputs);
        foreach (var (output, e) in expected)
            Assert.True(OrtRunner.Cosine(actual[output], e) >= 0.99999, $"{name} output {output}: cosine {OrtRunner.Cosine(actual[output], e)}");
    }

    [Fact]
    public void PassManager_VerifiesTimesAndDumpsAfterTheNamedPass()
    {
        var b = new GraphBuilder();
        b.Output(b.Op("Relu", b.Op("Identity", b.Input("x", 1, 4))));
        var model = b.Build();
        var dumps = new List<(string Pass, string Text)>();
        var manager = new PassManager(Canonicalize.Passes()) { DumpAfter = (p, t) => dumps.Add((p, t)) };
        manager.DumpAfterPasses.Add("canonicalize");

        var results = manager.Run(model, new PassContext(SilentDiagnostics.Instance));

        Assert.Equal(["shape-propagation", "canonicalize", "dead-code", "shape-propagation"], results.Select(r => r.Pass));
        Assert.Equal(1, results.Single(r => r.Pass == "canonicalize").Changes);
        var (pass, text) = Assert.Single(dumps);
        Assert.Equal("canonicalize", pass);
        Assert.DoesNotContain("Identity", text);
    }

    [Fact]
    public void PassManager_NamesThePassThatBrokeTheGraph()
    {
        var b = new GraphBuilder();
        b.Output(b.Op("Relu", b.Input("x", 1, 4)));
        var model = b.Build();
        var breaker = new LambdaPass("breaker", (m, _) => { m.Graph.Outputs.Add(new Value("ghost")); return 1; });

        var e = Assert.Throws<ArchNetException>(() => new PassManager([breaker]).Run(model, new PassContext(SilentDiagnostics.Instance)));

        Assert.Contains("pass 'breaker'", e.Message);
        Assert.Contains("ghost", e.Message);
    }

    [Fact]
    public void DumpAfter_UnknownPass_IsAUserError()
    {
        var manager = new PassManager(Canonicalize.Passes()) { DumpAfter = (_, _) => { } };
        manager.DumpAfterPasses.Add("no-such-pass");
        var e = Assert.Throws<ArchNetException>(() => manager.Run(new GraphBuilder().Build(), new PassContext(SilentDiagnostics.Instance)));
        Assert.Contains("no-such-pass", e.Message);
    }
}
