using ArchNet.IR;

namespace ArchNet.Cli.Tests;

/// <summary>
/// Unusable model files, as a user hands them to archnetc: one line on stderr that names the file and the
/// problem, exit code <see cref="ExitCodes.BadInput"/>, no stack trace, and nothing left in the output folder.
/// </summary>
public sealed class BadInputTests : IDisposable
{
    private readonly Scratch _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Each kind of broken file, and a word the error must contain to name the problem.</summary>
    public static TheoryData<string> Kinds => ["truncated", "random-bytes", "cycle", "undefined-value", "external-data-up-the-tree", "external-data-absolute"];

    private (string Path, string Problem) Make(string kind) => kind switch
    {
        "truncated" => (Models.Truncated(_dir.File("truncated.onnx")), "not a valid ONNX model"),
        "random-bytes" => (Models.RandomBytes(_dir.File("random.onnx")), "ONNX"),
        "cycle" => (Models.Cycle(_dir.File("cycle.onnx")), "cycle"),
        "undefined-value" => (Models.UndefinedValue(_dir.File("undefined.onnx")), "'nowhere'"),
        "external-data-up-the-tree" => (Models.ExternalData(_dir.File("up.onnx"), "../../etc/passwd"), "'../../etc/passwd'"),
        "external-data-absolute" => (Models.ExternalData(_dir.File("absolute.onnx"), "/etc/passwd"), "'/etc/passwd'"),
        _ => throw new ArgumentException(kind),
    };

    /// <summary>The one error line: names the file and the problem; nothing else on stderr unless allowed; no stack trace.</summary>
    private static void AssertOneErrorLine(CliResult r, string path, string problem, bool progressAllowed = false)
    {
        Assert.True(r.ExitCode == ExitCodes.BadInput, r.ToString());
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.DoesNotContain("   at ", r.Stdout);
        Assert.DoesNotContain("Exception", r.Stderr);
        var lines = r.StderrLines;
        var errors = lines.Where(l => l.StartsWith("error:", StringComparison.Ordinal)).ToList();
        Assert.True(errors.Count == 1, r.ToString());
        if (!progressAllowed) Assert.True(lines.Length == 1, r.ToString());
        Assert.Contains(Path.GetFileName(path), errors[0]);
        Assert.Contains(problem, errors[0]);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Convert_BadModel_FailsWithOneLine_ExitTwo_AndLeavesNoOutputOrTempFile(string kind)
    {
        var (model, problem) = Make(kind);
        var outDir = Directory.CreateDirectory(_dir.File("out")).FullName;
        var r = Archnetc.Run(_dir.Path, "convert", model, "-o", Path.Combine(outDir, "converted.onnx"));
        AssertOneErrorLine(r, model, problem);
        Assert.Empty(Directory.EnumerateFileSystemEntries(outDir));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Inspect_BadModel_FailsWithOneLine_ExitTwo(string kind)
    {
        var (model, problem) = Make(kind);
        var r = Archnetc.Run(_dir.Path, "inspect", model);
        AssertOneErrorLine(r, model, problem);
        Assert.Equal("", r.Stdout);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void InspectJson_BadModel_FailsWithOneLine_ExitTwo_AndPrintsNoJson(string kind)
    {
        var (model, problem) = Make(kind);
        var r = Archnetc.Run(_dir.Path, "inspect", model, "--json");
        AssertOneErrorLine(r, model, problem);
        Assert.Equal("", r.Stdout);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Compile_BadModel_FailsWithOneErrorLine_ExitTwo_AndCreatesNoOutputFolder(string kind)
    {
        var (model, problem) = Make(kind);
        var outDir = _dir.File("compiled");
        var r = Archnetc.Run(_dir.Path, model, "--target", "reference-cpu", "-o", outDir, "--calib", "random:4");
        AssertOneErrorLine(r, model, problem, progressAllowed: true);
        Assert.False(Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any(), "the compile left files in its output folder");
    }

    [Fact]
    public void Convert_MissingModel_FailsWithOneLine_ExitTwo()
    {
        var model = _dir.File("absent.onnx");
        var r = Archnetc.Run(_dir.Path, "convert", model, "-o", _dir.File("out.onnx"));
        AssertOneErrorLine(r, model, "not found");
        Assert.False(File.Exists(_dir.File("out.onnx")));
    }

    [Fact]
    public void Convert_OutputIntoAMissingFolder_FailsWithOneLine_ExitTwo()
    {
        var model = Models.Write(Models.AddRelu(), _dir.File("good.onnx"));
        var r = Archnetc.Run(_dir.Path, "convert", model, "-o", _dir.File("no/such/folder/out.onnx"));
        Assert.True(r.ExitCode == ExitCodes.BadInput, r.ToString());
        Assert.Single(r.StderrLines);
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    [Fact]
    public void Inspect_AFolderInsteadOfAModel_SaysItIsAFolder_ExitTwo()
    {
        var folder = Directory.CreateDirectory(_dir.File("models")).FullName;
        var r = Archnetc.Run(_dir.Path, "inspect", folder);
        AssertOneErrorLine(r, folder, "is a folder");
    }

    /// <summary>-o names a file, or a folder below one: refused before any long stage, naming the file, which is untouched.</summary>
    [Theory]
    [InlineData("", "existing file")]
    [InlineData("sub/out", "is a file")]
    public void Compile_OutputIsOrIsUnderAFile_FailsBeforeTheLongStages_ExitTwo(string below, string problem)
    {
        var model = Models.TinyClassifier(_dir.File("tiny.onnx"));
        var taken = _dir.File("taken");
        File.WriteAllText(taken, "mine");
        var r = Archnetc.Run(_dir.Path, model, "--target", "reference-cpu", "-o", Path.Combine(taken, below), "--calib", "random:4");
        AssertOneErrorLine(r, taken, problem, progressAllowed: true);
        Assert.DoesNotContain("calibrate", r.Stderr);
        Assert.Equal("mine", File.ReadAllText(taken));
    }

    [Fact]
    public void Compile_OutputWhereNoFileCanBeCreated_FailsBeforeTheLongStages_ExitTwo()
    {
        // /proc refuses new files even to root, unlike a folder without write permission.
        var model = Models.TinyClassifier(_dir.File("tiny.onnx"));
        var r = Archnetc.Run(_dir.Path, model, "--target", "reference-cpu", "-o", "/proc/archnet-out", "--calib", "random:4");
        AssertOneErrorLine(r, "/proc/archnet-out", "cannot be written", progressAllowed: true);
        Assert.DoesNotContain("calibrate", r.Stderr);
    }

    [Theory]
    [InlineData("random:4?min=abc", "option min: 'abc' is not a finite number")]
    [InlineData("random:4?sead=3", "unknown option 'sead'")]
    public void Compile_BadDataOption_FailsWithOneErrorLine_ExitTwo(string spec, string problem)
    {
        var model = Models.TinyClassifier(_dir.File("tiny.onnx"));
        var outDir = _dir.File("compiled");
        var r = Archnetc.Run(_dir.Path, model, "--target", "reference-cpu", "-o", outDir, "--calib", spec);
        AssertOneErrorLine(r, spec, problem, progressAllowed: true);
        Assert.False(Directory.Exists(outDir));
    }

    [Fact]
    public void Convert_OntoItsOwnInput_IsRefused_AndTheInputIsUnchanged()
    {
        var model = Models.Write(Models.AddRelu(), _dir.File("good.onnx"));
        var before = File.ReadAllBytes(model);
        var r = Archnetc.Run(_dir.Path, "convert", model, "-o", model);
        AssertOneErrorLine(r, model, "overwrite");
        Assert.Equal(before, File.ReadAllBytes(model));
    }

    [Fact]
    public void Convert_GoodModel_WritesOnlyTheOutputFile_ExitZero()
    {
        var model = Models.Write(Models.AddRelu(), _dir.File("good.onnx"));
        var outDir = Directory.CreateDirectory(_dir.File("out")).FullName;
        var r = Archnetc.Run(_dir.Path, "convert", model, "-o", Path.Combine(outDir, "converted.onnx"));
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Equal(["converted.onnx"], Directory.EnumerateFileSystemEntries(outDir).Select(Path.GetFileName));
        ArchNet.Frontend.OnnxImporter.Load(Path.Combine(outDir, "converted.onnx"));
    }

    [Fact]
    public void UnknownVerbOption_IsAUsageError_NotAStackTrace()
    {
        var r = Archnetc.Run(_dir.Path, "inspect", "--no-such-option");
        Assert.NotEqual(0, r.ExitCode);
        Assert.DoesNotContain("   at ", r.Stderr);
    }
}
