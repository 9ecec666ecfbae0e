using ArchNet.Backends.Emulation;
using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Passes.Rewriting;
using ArchNet.Testing;

namespace ArchNet.Passes.Tests;

/// <summary>Every rule proves itself: it fires on its pattern and ONNX Runtime gives the same outputs before
/// and after (relative error at most 1e-5), and it leaves a near miss alone.</summary>
public sealed class RuleTests
{
    public const double Tolerance = 1e-5;

    /// <summary>Applies one rule wherever it matches; returns the number of rewrites.</summary>
    internal static int Apply(RewriteRule rule, Model model)
    {
        var context = new PassContext(SilentDiagnostics.Instance);
        // One round: rules such as channel splits would otherwise keep splitting their own output.
        var results = new PassManager([new GreedyRewritePass("rule", [rule], maxRounds: 1)]).Run(model, context);
        Assert.All(context.Rewrites, r => Assert.Equal(rule.Name, r.Rule));
        return results[0].Changes;
    }

    [Theory]
    [MemberData(nameof(RuleCases.Names), MemberType = typeof(RuleCases))]
    public void Rule_Fires_AndOrtOutputsAreUnchanged(string name)
    {
        var rule = RuleCatalog.Find(name);
        var spec = RuleCases.Get(name);
        var model = spec.Fires();
        var inputs = OrtRunner.RandomInputs(model.Graph, seed: 7, lo: -8, hi: 8);
        var before = OrtRunner.Run(OnnxExporter.ToBytes(model), inputs);
        var context = new Rewriting.RewriteContext(model);
        var roots = model.Graph.Nodes.Where(n => rule.RootOps.Contains(GreedyRewritePass.RootKey(n)) && rule.Match(n, context) is not null).ToList();

        Assert.True(Apply(rule, model) > 0, $"{name} did not fire on its pattern:\n{TextDump.Dump(model)}");

        Assert.All(roots, n => Assert.Null(n.Graph));
        if (spec.Gone is { } gone) Assert.DoesNotContain(model.Graph.Nodes, n => n.OpType == gone);
        var after = OrtRunner.Run(OnnxExporter.ToBytes(model), inputs);
        Assert.Equal(before.Keys, after.Keys);
        foreach (var (output, expected) in before)
        {
            Assert.Equal(expected.Dims.ToArray(), after[output].Dims.ToArray());
            var error = OrtRunner.MaxRelativeError(after[output], expected);
            Assert.True(error <= Tolerance, $"{name}: output {output} differs by {error:G3} after the rewrite:\n{TextDump.Dump(model)}");
        }
    }

    /// <summary>
    /// What a rule leaves behind runs on the integer emulator (every compile measures itself there, and stops before
    /// calibration on an op it has no kernel for), and its float mode computes what ONNX Runtime computes on the
    /// rewritten graph.
    /// </summary>
    [Theory]
    [MemberData(nameof(RuleCases.Names), MemberType = typeof(RuleCases))]
    public void Rule_Output_RunsOnTheEmulator(string name)
    {
        var model = RuleCases.Get(name).Fires();
        Assert.True(Apply(RuleCatalog.Find(name), model) > 0);
        var unemulated = Emulator.Unemulated(model.Graph);
        Assert.True(unemulated.Count == 0, $"{name} leaves ops the emulator cannot run: {string.Join(", ", unemulated.Select(n => n.OpType).Distinct())}");
        var inputs = OrtRunner.RandomInputs(model.Graph, seed: 7, lo: -8, hi: 8);
        var expected = OrtRunner.Run(OnnxExporter.ToBytes(model), inputs);
        var actual = new Emulator(model, EmulatorMode.Float).Run(inputs.ToDictionary(kv => kv.Key, kv => Tensor.FromTensorData(kv.Value))).Outputs;
        foreach (var (output, e) in expected)
        {
            var a = actual[output];
            Assert.Equal(e.Dims.Select(d => (int)d), a.Shape);
            var error = OrtRunner.MaxRelativeError(TensorData.FromFloats(a.Dims(), a.ToReal()), e);
            Assert.True(error <= Tolerance, $"{name}: the emulator's {output} differs from ONNX Runtime's by {error:G3}:\n{TextDump.Dump(model)}");
        }
    }

    [Theory]
    [MemberData(nameof(RuleCases.Names), MemberType = typeof(RuleCases))]
    public void Rule_DoesNotFire_OutsideItsPreconditions(string name)
    {
        var model = RuleCases.Get(name).DoesNotFire();
        var dump = TextDump.Dump(model);
        Assert.Equal(0, Apply(RuleCatalog.Find(name), model));
        Assert.Equal(dump, TextDump.Dump(model));
    }

    [Fact]
    public void Catalog_HasAtLeastThirtyRules_EachWithATestCase_AndUniqueNames()
    {
        var names = RuleCatalog.All.Select(r => r.Name).ToList();
        Assert.True(names.Count >= 30, $"only {names.Count} rules");
        Assert.Equal(names.Count, names.Distinct().Count());
        Assert.Empty(names.Except(RuleCases.All.Select(c => c.Rule)));
        Assert.All(RuleCatalog.All, r => Assert.False(string.IsNullOrWhiteSpace(r.Summary)));
    }
}
