using System.Text.RegularExpressions;
using ArchNet.IR;
using ArchNet.Testing;

namespace ArchNet.Cli.Tests;

/// <summary>A capability file a vendor wrote, with a typo, passed as a --target path.</summary>
public sealed class CapabilityFileTests : IDisposable
{
    private readonly Scratch _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>targets/archnet.json with one key misspelt; the expected file:line:col is where the typo is.</summary>
    private (string Path, string Position) ChipWithTypo()
    {
        var text = File.ReadAllText(Path.Combine(TestData.RepoRoot, "targets", "archnet.json"));
        const string key = "\"vendor\"";
        var i = text.IndexOf(key, StringComparison.Ordinal);
        Assert.True(i >= 0, "archnet.json has no vendor key");
        text = text[..i] + "\"vendr\"" + text[(i + key.Length)..];
        var before = text[..i];
        var line = before.Count(c => c == '\n') + 1;
        var col = i - (before.LastIndexOf('\n') + 1) + 1;
        var path = _dir.File("mychip.json");
        File.WriteAllText(path, text);
        return (path, $"mychip.json:{line}:{col}");
    }

    private static void AssertPositionedError(CliResult r, string position)
    {
        Assert.True(r.ExitCode == ExitCodes.BadInput, r.ToString());
        Assert.DoesNotContain("   at ", r.Stderr);
        var error = Assert.Single(r.StderrLines, l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.Contains(position, error);
        Assert.Matches(new Regex(@"\.json:\d+:\d+: "), error);
        Assert.Contains("vendr", error);
    }

    [Fact]
    public void TargetsShow_CapabilityFileWithATypo_FailsWithFileLineColumn_ExitTwo()
    {
        var (chip, position) = ChipWithTypo();
        var r = Archnetc.Run(_dir.Path, "targets", "show", chip);
        AssertPositionedError(r, position);
        Assert.Single(r.StderrLines);
    }

    [Fact]
    public void Compile_CapabilityFileWithATypo_FailsWithFileLineColumn_ExitTwo_BeforeWritingAnything()
    {
        var (chip, position) = ChipWithTypo();
        var model = Models.TinyClassifier(_dir.File("tiny.onnx"));
        var outDir = _dir.File("out");
        var r = Archnetc.Run(_dir.Path, model, "--target", chip, "-o", outDir, "--calib", "random:4");
        AssertPositionedError(r, position);
        Assert.False(Directory.Exists(outDir));
    }
}
