using System.Reflection;
using System.Text.RegularExpressions;
using ArchNet.Testing;

namespace ArchNet.Cli.Tests;

/// <summary>The CLI is a shell over the compiler library (docs/architecture.md): it parses options and prints. It never
/// reaches into distillation, the emulator, the built-in backends or ONNX Runtime itself, and the compile's stages run
/// through the pass manager, so <c>--dump-after</c> sees each one.</summary>
public sealed class ArchitectureTests : IDisposable
{
    private readonly Scratch _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Assemblies archnetc.dll may not reference directly: the compile's internals, reached only through ArchNet.Compiler.</summary>
    public static readonly TheoryData<string> Internals = new()
    {
        "ArchNet.Passes.Distillation", "ArchNet.Backends", "ArchNet.Backends.C", "ArchNet.Backends.TFLite", "ArchNet.Backends.Reference",
        "TorchSharp", "Microsoft.ML.OnnxRuntime",
    };

    [Theory]
    [MemberData(nameof(Internals))]
    public void Cli_DoesNotReference_CompilerInternals(string internals)
    {
        var references = ReferencedAssemblies(Archnetc.DllPath);
        Assert.Contains("ArchNet.Compiler", references);
        Assert.DoesNotContain(internals, references);
    }

    private static List<string> ReferencedAssemblies(string path)
    {
        using var stream = File.OpenRead(path);
        using var pe = new System.Reflection.PortableExecutable.PEReader(stream);
        var reader = System.Reflection.Metadata.PEReaderExtensions.GetMetadataReader(pe);
        return [.. reader.AssemblyReferences.Select(h => reader.GetString(reader.GetAssemblyReference(h).Name))];
    }

    /// <summary><c>--dump-after all</c> prints the IR after every stage of the compile, in the order they run.</summary>
    [Fact]
    public void DumpAfterAll_PrintsTheIrAfterEveryStage()
    {
        var model = Models.TinyClassifier(_dir.File("tiny.onnx"));
        var r = Archnetc.Run(_dir.Path, TimeSpan.FromSeconds(120), model, "--target", "reference-cpu", "-o", _dir.File("out"),
            "--calib", "random:4?seed=1", "--dump-after", "all");
        Assert.True(r.ExitCode == 0, r.ToString());
        var stages = Regex.Matches(r.Stdout, "^--- IR after (\\S+) ---$", RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToList();
        Assert.Equal(["import", "target", "data", "canonicalize", "audit", "legalize", "distill", "equalize", "calibrate", "quantize",
            "fidelity", "emit", "cross-check", "translate"], stages);
        // The dump after quantize shows the integer formats quantization chose; the one after import shows none.
        var afterImport = r.Stdout[r.Stdout.IndexOf("--- IR after import ---", StringComparison.Ordinal)..r.Stdout.IndexOf("--- IR after target ---", StringComparison.Ordinal)];
        Assert.Contains("Conv", afterImport);
    }

    /// <summary>A stage name the compile does not have is a one-line error that lists the stages.</summary>
    [Fact]
    public void DumpAfter_UnknownStage_IsOneLineListingTheStages()
    {
        var model = Models.TinyClassifier(_dir.File("tiny.onnx"));
        var r = Archnetc.Run(_dir.Path, model, "--target", "reference-cpu", "-o", _dir.File("out"), "--calib", "random:4", "--dump-after", "quantise");
        Assert.Equal(2, r.ExitCode);
        Assert.Single(r.StderrLines);
        Assert.Contains("'quantise'", r.Stderr);
        Assert.Contains("calibrate, quantize", r.Stderr);
        Assert.False(Directory.Exists(_dir.File("out")), "nothing is written when the options are wrong");
    }

    /// <summary>The library's errors speak of settings by concept; the CLI's line names the option that sets each.</summary>
    [Fact]
    public void SettingErrors_NameTheOption()
    {
        var model = Models.TinyClassifier(_dir.File("tiny.onnx"));
        var r = Archnetc.Run(_dir.Path, "inspect", model, "--dim", "height=16");
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error: --dim height: no input dimension of the model is named 'height'", r.Stderr);
        r = Archnetc.Run(_dir.Path, "convert", model, "--target", "reference-cpu", "--input-shape", "img=1,1,8,8", "-o", _dir.File("c.onnx"));
        Assert.Equal(2, r.ExitCode);
        Assert.StartsWith("error: --input-shape img: the model has no input named 'img'", r.Stderr);
    }
}
