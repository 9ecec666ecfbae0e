using System.Text.RegularExpressions;

namespace ArchNet.Cli.Tests;

/// <summary>What a compile prints when stderr is a log (not a terminal): greppable lines, progress at 10 % marks.</summary>
public sealed class LogTests : IDisposable
{
    private readonly Scratch _dir = new();

    public void Dispose() => _dir.Dispose();

    private CliResult Compile(params string[] more) =>
        Archnetc.Run(_dir.Path, TimeSpan.FromSeconds(120), [Models.TinyClassifier(_dir.File("tiny.onnx")), "--target", "reference-cpu",
            "-o", _dir.File("out"), "--calib", "random:64?seed=3", "--eval", "random:3000?seed=4", .. more]);

    [Fact]
    public void EveryStderrLine_KeepsItsPrefix_AndProgressComesAtTenPercentMarks()
    {
        var r = Compile();
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.All(r.StderrLines, line => Assert.Matches("^(info|warning|error): ", line));
        var progress = r.StderrLines.Select(l => Regex.Match(l, @"^info: \[([^\]]+)\] (\d+)/(\d+) (\d+)%")).Where(m => m.Success).ToList();
        var evaluate = progress.Where(m => m.Groups[1].Value == "evaluate").ToList();
        // 3000 items in batches: a line as each 10 % is passed (at most nine) and the final one; never one a batch.
        Assert.InRange(evaluate.Count, 2, 10);
        Assert.Equal("100", evaluate[^1].Groups[4].Value);
        Assert.Contains(r.StderrLines, l => l.StartsWith("info: [evaluate] 3000/3000 100%", StringComparison.Ordinal) && l.Contains(" done in "));
    }

    [Fact]
    public void Quiet_KeepsWarningsAndTheClosingFigures_Only()
    {
        var r = Compile("--quiet");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.DoesNotContain(r.StderrLines, l => l.StartsWith("info:", StringComparison.Ordinal));
        Assert.Contains("compiled tiny.onnx for reference-cpu", r.Stdout);
    }

    [Fact]
    public void QuietAndVerbose_Together_AreRefused()
    {
        var r = Compile("--quiet", "--verbose");
        Assert.Equal(2, r.ExitCode);
        Assert.Equal(["error: --quiet and --verbose contradict each other: give one"], r.StderrLines);
    }
}
