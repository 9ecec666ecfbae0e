using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using ArchNet.Frontend;
using ArchNet.IR;

namespace ArchNet.Cli.Tests;

/// <summary><c>archnetc MODEL --target T -o DIR --calib random:N</c> end to end: the report, determinism, the input untouched.</summary>
public sealed class CompileTests : IDisposable
{
    private readonly Scratch _dir = new();

    public void Dispose() => _dir.Dispose();

    private CliResult Compile(string model, string outDir, params string[] more) =>
        Archnetc.Run(_dir.Path, TimeSpan.FromSeconds(120), [model, "--target", "reference-cpu", "-o", outDir, "--calib", "random:16?seed=3", .. more]);

    [Fact]
    public void Compile_TinyModel_WritesReportJson_WithTheFieldsOfTheIssue()
    {
        var model = Models.TinyClassifier(_dir.File("tiny.onnx"));
        var outDir = _dir.File("out");
        var r = Compile(model, outDir);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("LOW CONFIDENCE", r.Stdout);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "report.json")));
        var root = doc.RootElement;
        foreach (var field in new[] { "target", "wbits", "abits", "unsupported_nodes_after", "ops_after", "fidelity", "layers", "timings_s" })
            Assert.True(root.TryGetProperty(field, out _), $"report.json lacks '{field}'");
        Assert.Equal("reference-cpu", root.GetProperty("target").GetString());
        Assert.Equal(8, root.GetProperty("wbits").GetInt32());
        Assert.Equal(8, root.GetProperty("abits").GetInt32());
        Assert.Equal(0, root.GetProperty("unsupported_nodes_after").GetInt32());
        Assert.True(root.GetProperty("ops_after").EnumerateObject().Any(), "ops_after is empty");
        foreach (var f in new[] { "top1_agreement", "cosine", "sqnr_db" })
            Assert.True(root.GetProperty("fidelity").TryGetProperty(f, out _), $"fidelity lacks '{f}'");
        Assert.True(root.GetProperty("fidelity").GetProperty("cosine").GetDouble() > 0.9);
        Assert.True(root.GetProperty("timings_s").EnumerateObject().Any(), "timings_s is empty");
        Assert.True(File.Exists(Path.Combine(outDir, "report.md")));
        foreach (var artifact in root.GetProperty("artifacts").EnumerateArray())
            Assert.True(File.Exists(Path.Combine(outDir, artifact.GetString()!)), $"artifact {artifact} is missing");
        Assert.DoesNotContain(Directory.EnumerateFiles(outDir), f => f.EndsWith(".tmp", StringComparison.Ordinal));
    }

    [Fact]
    public void Compile_Twice_GivesByteIdenticalArtifacts_AndLeavesTheInputModelUnchanged()
    {
        var model = Models.TinyClassifier(_dir.File("tiny.onnx"));
        var hashBefore = SHA256.HashData(File.ReadAllBytes(model));
        var (a, b) = (_dir.File("a"), _dir.File("b"));
        var ra = Compile(model, a);
        var rb = Compile(model, b);
        Assert.True(ra.ExitCode == 0, ra.ToString());
        Assert.True(rb.ExitCode == 0, rb.ToString());
        Assert.Equal(hashBefore, SHA256.HashData(File.ReadAllBytes(model)));

        var filesA = Directory.EnumerateFiles(a, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(a, f)).Order().ToList();
        var filesB = Directory.EnumerateFiles(b, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(b, f)).Order().ToList();
        Assert.Equal(filesA, filesB);
        // Timings differ run to run by nature; everything else is the same bytes.
        foreach (var f in filesA.Where(f => f is not ("report.json" or "report.md" or "report.html")))
            Assert.True(File.ReadAllBytes(Path.Combine(a, f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(b, f))), $"{f} differs between two runs");
        Assert.Equal(WithoutTimings(Path.Combine(a, "report.json")), WithoutTimings(Path.Combine(b, "report.json")));
        Assert.Equal(HtmlWithoutTimings(Path.Combine(a, "report.html")), HtmlWithoutTimings(Path.Combine(b, "report.html")));
    }

    /// <summary>report.html less its timings chart (the only figure that differs run to run).</summary>
    private static string HtmlWithoutTimings(string path)
    {
        var html = File.ReadAllText(path);
        var start = html.IndexOf("<figure id=\"chart-timings\">", StringComparison.Ordinal);
        Assert.True(start > 0, "report.html has no timings chart");
        return html[..start] + html[(html.IndexOf("</figure>", start, StringComparison.Ordinal) + "</figure>".Length)..];
    }

    private static string WithoutTimings(string reportPath)
    {
        var node = JsonNode.Parse(File.ReadAllText(reportPath))!.AsObject();
        node.Remove("timings_s");
        return node.ToJsonString();
    }

    [Fact]
    public void Compile_WithTheCBackend_WritesCSources()
    {
        var model = Models.TinyClassifier(_dir.File("tiny.onnx"));
        var outDir = _dir.File("c");
        var r = Compile(model, outDir, "--backend", "c");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains(Directory.EnumerateFiles(outDir, "*", SearchOption.AllDirectories), f => f.EndsWith(".c", StringComparison.Ordinal));
    }

    [Fact]
    public void Compile_UnknownBackend_FailsWithOneErrorLine_ExitTwo()
    {
        var model = Models.TinyClassifier(_dir.File("tiny.onnx"));
        var r = Compile(model, _dir.File("x"), "--backend", "no-such-backend");
        Assert.True(r.ExitCode == ExitCodes.BadInput, r.ToString());
        Assert.Single(r.StderrLines, l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.Contains("no-such-backend", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    [Fact]
    public void Compile_BadCalibrationSpec_FailsWithOneErrorLine_ExitTwo()
    {
        var model = Models.TinyClassifier(_dir.File("tiny.onnx"));
        var r = Archnetc.Run(_dir.Path, model, "--target", "reference-cpu", "-o", _dir.File("x"), "--calib", "bogus:thing");
        Assert.True(r.ExitCode == ExitCodes.BadInput, r.ToString());
        Assert.Single(r.StderrLines, l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    /// <summary>
    /// A compile killed while it writes its artifacts: what is in the output folder under an artifact's name is a
    /// complete file (artifacts are staged under hidden names and renamed). The kill is deterministic: the test-only
    /// ARCHNETC_TEST_KILL_AT makes the process SIGKILL itself at a writer's point between staging and renaming, so the
    /// staged bytes are there and the rename is not. A SIGKILL cannot clean up the staging, so a hidden name remains;
    /// it is never mistaken for an artifact.
    /// </summary>
    [Theory]
    [InlineData(KillPoint.ArtifactsStaged)]
    [InlineData(KillPoint.ReportStaged)]
    public void Compile_KilledWhileEmitting_LeavesOnlyCompleteFiles(string point)
    {
        var model = Models.TinyClassifier(_dir.File("tiny.onnx"));
        var outDir = _dir.File("killed-" + point);
        var r = Archnetc.Run(_dir.Path, new Dictionary<string, string> { [KillPoint.Variable] = point },
            model, "--target", "reference-cpu", "-o", outDir, "--calib", "random:16", "--backend", "c");
        AssertKilledWithStagingLeft(r, outDir);
    }

    /// <summary>convert killed after its model's bytes are staged and before the rename: no visible model, no
    /// visible temporary file, the staged bytes under a hidden name.</summary>
    [Fact]
    public void Convert_KilledBeforeRename_LeavesNoVisibleModel()
    {
        var model = Models.TinyClassifier(_dir.File("tiny.onnx"));
        var outDir = Directory.CreateDirectory(_dir.File("killed-convert")).FullName;
        var r = Archnetc.Run(_dir.Path, new Dictionary<string, string> { [KillPoint.Variable] = KillPoint.OnnxStaged },
            "convert", model, "-o", Path.Combine(outDir, "out.onnx"));
        AssertKilledWithStagingLeft(r, outDir);
    }

    private static void AssertKilledWithStagingLeft(CliResult r, string outDir)
    {
        Assert.True(r.ExitCode == 128 + 9, $"expected a SIGKILL (exit 137) at the kill point\n{r}");
        var all = Directory.EnumerateFileSystemEntries(outDir, "*", SearchOption.AllDirectories).ToList();
        bool Hidden(string f) => Path.GetRelativePath(outDir, f).Split(Path.DirectorySeparatorChar).Any(s => s.StartsWith('.'));
        Assert.Contains(all, Hidden); // the kill came while something was staged: the test saw a write interrupted
        foreach (var file in Directory.EnumerateFiles(outDir, "*", SearchOption.AllDirectories).Where(f => !Hidden(f)))
        {
            var name = Path.GetFileName(file);
            Assert.False(name.EndsWith(".tmp", StringComparison.Ordinal), $"visible temporary file {name}");
            if (name.EndsWith(".onnx", StringComparison.Ordinal)) OnnxImporter.Load(file);
            if (name.EndsWith(".json", StringComparison.Ordinal)) JsonDocument.Parse(File.ReadAllText(file)).Dispose();
        }
    }
}
