using System.Text.Json;
using System.Text.Json.Nodes;
using ArchNet.Testing;
using Json.Schema;
using Xunit.Abstractions;

namespace ArchNet.Capabilities.Tests;

/// <summary>The capability files in targets/: they load, follow schema.json, and their generated documents are committed.</summary>
public sealed class ShippedTargetTests(ITestOutputHelper output)
{
    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var n in Fixtures.Catalog.Names) data.Add(n);
        return data;
    }

    [Fact]
    public void AtLeastEightTargets_IncludingTheRequiredOnes()
    {
        var names = Fixtures.Catalog.Names;
        Assert.True(names.Count >= 8, string.Join(", ", names));
        foreach (var required in new[] { "archnet", "archnet-transformer", "arm-ethos-u55", "kendryte-k210", "rockchip-rk3588", "google-edgetpu", "reference-cpu" })
            Assert.Contains(required, names);
        Assert.Contains(names, n => n is "ti-tda4vm" or "hailo-8" or "nxp-imx93");
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Loads_WithItsFileName_AndCitesASource(string name)
    {
        var c = Fixtures.Catalog.Load(name);
        Assert.Equal(name, c.Name);
        Assert.False(string.IsNullOrWhiteSpace(c.Source));
        Assert.NotEmpty(c.Ops);
    }

    internal static JsonNode ParseJsonc(string path) =>
        JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true })!;

    /// <summary>JsonSchema.Net 8 evaluates JsonElements.</summary>
    internal static JsonElement Element(JsonNode node) => JsonSerializer.SerializeToElement(node);

    // JsonSchema.Net registers each schema's $id globally and refuses a second registration: parse each file once.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Lazy<JsonSchema>> Schemas = new();

    internal static JsonSchema LoadSchema(string file) =>
        Schemas.GetOrAdd(file, f => new Lazy<JsonSchema>(() => JsonSchema.FromText(File.ReadAllText(Path.Combine(Fixtures.TargetsDir, f))))).Value;

    internal static string Errors(EvaluationResults results) =>
        string.Join("\n", (results.Details ?? []).Where(d => d.Errors is { Count: > 0 })
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Key}: {e.Value}")));

    [Theory]
    [MemberData(nameof(Names))]
    public void FollowsTheSchema(string name)
    {
        var schema = LoadSchema("schema.json");
        var results = schema.Evaluate(Element(ParseJsonc(Path.Combine(Fixtures.TargetsDir, name + ".json"))), new EvaluationOptions { OutputFormat = OutputFormat.List });
        Assert.True(results.IsValid, Errors(results));
    }

    [Fact]
    public void Schema_RejectsAnUnknownKey()
    {
        var schema = LoadSchema("schema.json");
        var doc = ParseJsonc(Path.Combine(Fixtures.TargetsDir, "archnet.json"));
        doc["colour"] = "blue";
        Assert.False(schema.Evaluate(Element(doc)).IsValid);
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void CommittedDocument_EqualsTheGeneratorsOutput(string name)
    {
        var generated = SupportedOpsDocument.Generate(Fixtures.Catalog.Load(name));
        var path = Path.Combine(TestData.RepoRoot, "docs", "targets", name + ".md");
        Assert.True(File.Exists(path), $"missing {path}: run archnetc targets --docs docs/targets");
        Assert.True(generated == File.ReadAllText(path), $"{path} is stale: run archnetc targets --docs docs/targets");
    }

    [Fact]
    public void ReferenceCpu_RunsEveryOp_AtAnyBitWidth()
    {
        var c = Fixtures.Catalog.Load("reference-cpu");
        Assert.True(c.Numerics.Weights.Bits.IsAny && c.Numerics.Activations.Bits.IsAny);
        Assert.True(c.Check(Fixtures.Conv(kernel: 7, stride: 5, pad: 0, group: 8).Conv).IsSupported);
        output.WriteLine(SupportedOpsDocument.Generate(c));
    }
}
