using System.Text.Json;
using ArchNet.IR;
using ArchNet.Testing;

namespace ArchNet.Cli.Tests;

/// <summary>The informational verbs (inspect, targets, backends, --help) as a user meets them.</summary>
public sealed class CommandTests : IDisposable
{
    private readonly Scratch _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void InspectJson_IsValidJson_WithTheDocumentedFields()
    {
        var model = Models.TinyClassifier(_dir.File("tiny.onnx"));
        var r = Archnetc.Run(_dir.Path, "inspect", model, "--json");
        Assert.True(r.ExitCode == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Stdout);
        var root = doc.RootElement;
        foreach (var field in new[] { "model", "irVersion", "opsets", "producer", "inputs", "outputs", "nodes", "parameters", "parameterBytes",
                     "macs", "nodesWithUnknownMacs", "symbolsTakenAsOne", "ops", "unknownDomainOps", "opsWithoutSchema" })
            Assert.True(root.TryGetProperty(field, out _), $"inspect --json lacks '{field}':\n{r.Stdout}");
        Assert.Equal(5, root.GetProperty("nodes").GetInt32());
        Assert.Equal(4 * 9 + 4 + 10 * 4 + 10, root.GetProperty("parameters").GetInt64());
        var ops = root.GetProperty("ops").EnumerateArray().Select(o => o.GetProperty("op").GetString()).Order().ToList();
        Assert.Equal(["Conv", "Flatten", "Gemm", "GlobalAveragePool", "Relu"], ops);
        Assert.True(root.GetProperty("macs").GetInt64() > 0);
    }

    [Fact]
    public void Inspect_Text_NamesInputOutputAndOps()
    {
        var model = Models.TinyClassifier(_dir.File("tiny.onnx"));
        var r = Archnetc.Run(_dir.Path, "inspect", model);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("input ", r.Stdout);
        Assert.Contains("Conv", r.Stdout);
        Assert.Equal("", r.Stderr);
    }

    /// <summary>A 3x3 Conv over an input [n, 1, h, w] (three symbolic dimensions), saved under <paramref name="file"/>.</summary>
    private string SymbolicConv(string file)
    {
        var b = new GraphBuilder(seed: 1);
        var x = b.Input("x", 1, 1, 8, 8);
        x.Type = x.TensorType! with { Shape = new Shape([Dim.Sym("n"), 1, Dim.Sym("h"), Dim.Sym("w")]) };
        b.Output(b.Op("Conv", [x, b.Random([4, 1, 3, 3])], ArchNet.IR.Attribute.Ints("pads", 1, 1, 1, 1)));
        var model = _dir.File(file);
        ArchNet.Frontend.OnnxExporter.Save(b.Build(), model);
        return model;
    }

    /// <summary>inspect --dim: MACs at the sizes given; only the symbols left are taken as 1, and a name the model lacks
    /// is a one-line error.</summary>
    [Fact]
    public void Inspect_Dim_CountsMacsAtTheGivenSizes()
    {
        var model = SymbolicConv("symbolic.onnx");
        (long Macs, string[] AsOne) Inspect(params string[] extra)
        {
            var r = Archnetc.Run(_dir.Path, ["inspect", model, "--json", .. extra]);
            Assert.True(r.ExitCode == 0, r.ToString());
            using var doc = JsonDocument.Parse(r.Stdout);
            return (doc.RootElement.GetProperty("macs").GetInt64(),
                [.. doc.RootElement.GetProperty("symbolsTakenAsOne").EnumerateArray().Select(e => e.GetString()!)]);
        }

        var (macs, asOne) = Inspect();
        Assert.Equal(4L * 9, macs);
        Assert.Equal(["h", "n", "w"], asOne);
        (macs, asOne) = Inspect("--dim", "h=16", "--dim", "w=12");
        Assert.Equal(4L * 9 * 16 * 12, macs);
        Assert.Equal(["n"], asOne);
        var typo = Archnetc.Run(_dir.Path, "inspect", model, "--dim", "height=16");
        Assert.Equal(2, typo.ExitCode);
        Assert.Equal("error: --dim height: no input dimension of the model is named 'height' (symbolic dimensions: h, n, w)", typo.Stderr.Trim());
    }

    /// <summary>convert --target needs static shapes: --dim and --input-shape give them, and a non-batch dimension that
    /// neither gives is refused in one line naming it (never a model that accepts only size 1); the items' axis
    /// becomes 1 silently (chips run one item).</summary>
    [Fact]
    public void Convert_UnsetSymbolicDimensions_AreRefusedByName_UnlessGivenWithDim()
    {
        var model = SymbolicConv("symbolic-convert.onnx");

        var r = Archnetc.Run(_dir.Path, "convert", model, "--target", "reference-cpu", "-o", _dir.File("c1.onnx"));
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("error: convert --target needs static shapes, and h, w are not given: set --dim h=SIZE --dim w=SIZE", r.Stderr.Trim());
        Assert.False(File.Exists(_dir.File("c1.onnx")), "a refused convert wrote its output");
        r = Archnetc.Run(_dir.Path, "convert", model, "--target", "reference-cpu", "--dim", "h=16", "-o", _dir.File("c2.onnx"));
        Assert.Equal(2, r.ExitCode);
        Assert.Equal("error: convert --target needs static shapes, and w is not given: set --dim w=SIZE", r.Stderr.Trim());
        r = Archnetc.Run(_dir.Path, "convert", model, "--target", "reference-cpu", "--dim", "h=16", "--dim", "w=12", "-o", _dir.File("c3.onnx"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("[1,1,16,12]", ArchNet.Frontend.OnnxImporter.Load(_dir.File("c3.onnx")).Graph.Inputs[0].Shape!.ToString());
        // "*" covers every symbolic dimension, the items' axis included.
        r = Archnetc.Run(_dir.Path, "convert", model, "--target", "reference-cpu", "--dim", "*=12", "-o", _dir.File("c4.onnx"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal("[12,1,12,12]", ArchNet.Frontend.OnnxImporter.Load(_dir.File("c4.onnx")).Graph.Inputs[0].Shape!.ToString());
    }

    /// <summary>Exit code 70 is the internal-error path (a bug in archnetc): one line, no stack trace unless asked.
    /// No input reaches it, so the test injects the fault through the test-only ARCHNETC_TEST_INJECT_INTERNAL_ERROR.</summary>
    [Fact]
    public void InternalError_ExitsWith70_InOneLine()
    {
        var r = Archnetc.Run(_dir.Path, new Dictionary<string, string> { ["ARCHNETC_TEST_INJECT_INTERNAL_ERROR"] = "1" }, "targets");
        Assert.Equal(70, r.ExitCode);
        Assert.Equal("error: internal error in archnetc (InvalidOperationException: injected by ARCHNETC_TEST_INJECT_INTERNAL_ERROR=1); " +
            "please report it with the command line; ARCHNETC_STACK_TRACE=1 prints the stack trace", r.Stderr.Trim());
        Assert.Equal("", r.Stdout);
    }

    [Fact]
    public void Targets_ListsAtLeastEightTargets_IncludingArchnetAndReferenceCpu()
    {
        var r = Archnetc.Run(_dir.Path, "targets");
        Assert.True(r.ExitCode == 0, r.ToString());
        var names = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(l => l.Split(' ')[0]).ToList();
        Assert.True(names.Count >= 8, r.Stdout);
        Assert.Contains("archnet", names);
        Assert.Contains("reference-cpu", names);
    }

    [Fact]
    public void TargetsShowArchnet_EqualsTheShippedDocument()
    {
        var r = Archnetc.Run(_dir.Path, "targets", "show", "archnet");
        Assert.True(r.ExitCode == 0, r.ToString());
        var shipped = File.ReadAllText(Path.Combine(TestData.RepoRoot, "docs", "targets", "archnet.md"));
        Assert.Equal(shipped.ReplaceLineEndings("\n"), r.Stdout.ReplaceLineEndings("\n"));
    }

    [Fact]
    public void TargetsShow_UnknownName_FailsWithOneLine_ExitTwo()
    {
        var r = Archnetc.Run(_dir.Path, "targets", "show", "no-such-chip");
        Assert.True(r.ExitCode == ExitCodes.BadInput, r.ToString());
        Assert.Single(r.StderrLines);
        Assert.Contains("no-such-chip", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    [Fact]
    public void Backends_ListsOnnxAndC_AsBuiltIns()
    {
        var r = Archnetc.Run(_dir.Path, "backends");
        Assert.True(r.ExitCode == 0, r.ToString());
        var rows = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        Assert.Contains(rows, c => c[0] == "onnx" && c[1] == "built-in");
        Assert.Contains(rows, c => c[0] == "c" && c[1] == "built-in");
    }

    public static TheoryData<string> Verbs => ["inspect", "convert", "targets", "backends", "compile", "audit"];

    [Theory]
    [MemberData(nameof(Verbs))]
    public void Help_OfEveryVerb_PrintsUsage_ExitZero(string verb)
    {
        var r = Archnetc.Run(_dir.Path, verb, "--help");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("Usage:", r.Stdout);
        Assert.Contains($"archnetc {verb}", r.Stdout);
        Assert.DoesNotContain("<MODEL> " + verb, r.Stdout); // the root command's MODEL is no part of a verb's command line
        Assert.Equal("", r.Stderr);
    }

    [Fact]
    public void Help_OfTheRootCommand_ListsTheVerbs()
    {
        var r = Archnetc.Run(_dir.Path, "--help");
        Assert.True(r.ExitCode == 0, r.ToString());
        foreach (var verb in new[] { "inspect", "convert", "targets", "backends", "compile", "audit" })
            Assert.Contains(verb, r.Stdout);
        Assert.Contains("--target", r.Stdout);
    }
}
