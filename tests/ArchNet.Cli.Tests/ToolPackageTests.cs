using System.Diagnostics;
using ArchNet.Testing;
using Xunit.Abstractions;

namespace ArchNet.Cli.Tests;

/// <summary>
/// archnetc as a .NET tool: packed from src/Cli, installed with <c>dotnet tool install</c> from the local folder into a
/// temporary tool path (never the machine's global tools), then run on a shipped teacher from a clean folder. The
/// teacher is retrained (--distill Always), so TorchSharp's patched native library and libtorch must come with the
/// package, and the report's charts need SkiaSharp's.
/// </summary>
public sealed class ToolPackageTests(ITestOutputHelper output) : IDisposable
{
    private readonly Scratch _scratch = new();

    public void Dispose() => _scratch.Dispose();

    [Fact]
    [Trait("Category", "Slow")]
    public void PackedTool_InstallsWithDotnetTool_AndCompilesATeacher()
    {
        var packages = Directory.CreateDirectory(_scratch.File("packages")).FullName;
        var tools = _scratch.File("tools");
        Run("dotnet", TestData.RepoRoot, TimeSpan.FromMinutes(15), "pack", Path.Combine(TestData.RepoRoot, "src", "Cli", "ArchNet.Cli.csproj"),
            "-c", "Release", "-o", packages, "-nologo", "-v", "q", "-clp:ErrorsOnly");
        var package = Assert.Single(Directory.GetFiles(packages, "archnetc.*.nupkg"));
        output.WriteLine($"{Path.GetFileName(package)}: {new FileInfo(package).Length / 1e6:F0} MB");
        Run("dotnet", _scratch.Path, TimeSpan.FromMinutes(10), "tool", "install", "--tool-path", tools, "--add-source", packages, "archnetc");

        var work = Directory.CreateDirectory(_scratch.File("work")).FullName;
        var f = TestData.FashionMnist;
        var result = Run(Path.Combine(tools, "archnetc"), work, TimeSpan.FromMinutes(10), TestData.Teacher("fmnist_cnn").Onnx, "--target", "archnet",
            "-o", "out", "--calib", $"idx:{f.TrainImages}:64", "--eval", $"idx:{f.TestImages}:64", "--eval-labels", $"idx:{f.TestLabels}:64",
            "--distill", "Always", "--distill-steps", "20", "--threads", "1");
        Assert.Contains("compiled fmnist_cnn.onnx for archnet (W8A8, backend onnx)", result);
        foreach (var file in new[] { "model.qdq.onnx", "report.json", "report.md", "report.html" })
            Assert.True(File.Exists(Path.Combine(work, "out", file)), $"{file} missing");
        Assert.Contains("## Distillation", File.ReadAllText(Path.Combine(work, "out", "report.md")));
        Assert.Contains("<svg", File.ReadAllText(Path.Combine(work, "out", "report.html")));
    }

    private string Run(string program, string directory, TimeSpan timeout, params string[] args)
    {
        var info = new ProcessStartInfo(program)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        var r = Archnetc.Run(info, timeout);
        output.WriteLine($"$ {Path.GetFileName(program)} {string.Join(' ', args)}\n{r.Stdout}{r.Stderr}");
        Assert.True(r.ExitCode == 0, $"{Path.GetFileName(program)} exited {r.ExitCode}: {r.Stderr}");
        return r.Stdout;
    }
}
