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
