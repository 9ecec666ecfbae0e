using System.Text.Json.Nodes;
using ArchNet.IR;
using ArchNet.Testing;
using Json.Schema;

namespace ArchNet.Cli.Tests;

/// <summary><c>archnetc audit</c>: exit 0 whenever the audit ran, 2 for bad input; --json validates against the shipped schema.</summary>
public sealed class AuditTests : IDisposable
{
    private readonly Scratch _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>JsonSchema.Net registers each schema's $id globally: parse the file once per test run.</summary>
    private static readonly Lazy<JsonSchema> Schema = new(() =>
        JsonSchema.FromText(File.ReadAllText(Path.Combine(TestData.RepoRoot, "targets", "audit.schema.json"))));

    [Fact]
    public void Audit_ModelWithUnsupportedNodes_ExitsZero_AndNamesThem()
    {
        // Gemm and GlobalAveragePool on a 1x1x8x8 input: the tiny classifier has nodes archnet cannot run as they are.
        var model = Models.TinyClassifier(_dir.File("tiny.onnx"));
        var r = Archnetc.Run(_dir.Path, "audit", model, "--target", "archnet,reference-cpu");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("archnet", r.Stdout);
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    [Fact]
    public void Audit_AllTargets_ExitsZero()
    {
        var model = Models.TinyClassifier(_dir.File("tiny.onnx"));
        var r = Archnetc.Run(_dir.Path, "audit", model, "--target", "all");
        Assert.True(r.ExitCode == 0, r.ToString());
    }

    [Fact]
    public void Audit_BadModel_ExitsTwo_WithOneLine()
    {
        var model = Models.Truncated(_dir.File("truncated.onnx"));
        var r = Archnetc.Run(_dir.Path, "audit", model, "--target", "archnet");
        Assert.True(r.ExitCode == ExitCodes.BadInput, r.ToString());
        var line = Assert.Single(r.StderrLines);
        Assert.Contains("truncated.onnx", line);
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    [Fact]
    public void Audit_UnknownTarget_ExitsTwo_WithOneLine()
    {
        var model = Models.TinyClassifier(_dir.File("tiny.onnx"));
        var r = Archnetc.Run(_dir.Path, "audit", model, "--target", "no-such-chip");
        Assert.True(r.ExitCode == ExitCodes.BadInput, r.ToString());
        Assert.Contains("no-such-chip", Assert.Single(r.StderrLines));
    }

    /// <summary>
    /// A PyTorch export as it is: its shape arithmetic (Shape, Gather, Unsqueeze, Concat on shapes) is unsupported on most
    /// chips, but canonicalization folds it once the batch is bound, so the audit says "fold", not "none yet"; and the
    /// rewrites are judged as legalization will see the nodes (the patch Conv on a [1,1,28,28] input, a Div by a
    /// computed constant, an Erf inside a recognized Gelu), so they match what the compile does.
    /// </summary>
    [Fact]
    public void Audit_PyTorchExport_ShapeArithmeticFolds_AndRewritesAreJudgedAsTheCompileSeesThem()
    {
        var json = _dir.File("vit.json");
        var r = Archnetc.Run(_dir.Path, "audit", TestData.Teacher("fmnist_vit").Onnx, "--target", "ti-tda4vm", "--json", json);
        Assert.True(r.ExitCode == 0, r.ToString());
        var text = File.ReadAllText(json);
        using var doc = System.Text.Json.JsonDocument.Parse(text);
        Assert.True(Schema.Value.Evaluate(doc.RootElement).IsValid, text);
        var groups = JsonNode.Parse(text)!["targets"]![0]!["unsupported"]!.AsArray()
            .Select(g => (Op: (string)g!["opType"]!, Remedy: (string)g["remedy"]!, Kind: (string)g["remedyKind"]!)).ToList();
        Assert.All(groups.Where(g => g.Op is "Shape" or "Unsqueeze" or "ConstantOfShape"), g => Assert.Equal(("fold", "fold"), (g.Remedy, g.Kind)));
        Assert.Contains(("Conv", "PatchifyConvToMatMul", "rewrite"), groups);
        Assert.Contains(("Div", "DivConstantToMul", "rewrite"), groups);
        // GELU's Erf is part of the Gelu canonicalization recognizes, which ti-tda4vm lacks: retrained, as the compile does.
        Assert.Contains(("Erf", "retrain", "retrain"), groups);
        Assert.Contains("remedy: fold", r.Stdout);
    }

    [Fact]
    public void AuditJson_ValidatesAgainstTheShippedSchema()
    {
        var model = Models.TinyClassifier(_dir.File("tiny.onnx"));
        var json = _dir.File("audit.json");
        var r = Archnetc.Run(_dir.Path, "audit", model, "--target", "archnet,kendryte-k210", "--json", json);
        Assert.True(r.ExitCode == 0, r.ToString());
        var text = File.ReadAllText(json);
        using var doc = System.Text.Json.JsonDocument.Parse(text);
        var results = Schema.Value.Evaluate(doc.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        Assert.True(results.IsValid, string.Join("\n", (results.Details ?? []).Where(d => d.Errors is not null)
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}"))) + "\n" + text);
        var targets = JsonNode.Parse(text)!["targets"]!.AsArray();
        Assert.Equal(3, targets.Count); // two chips and their intersection
    }
}
