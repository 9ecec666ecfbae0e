using System.Reflection;
using ArchNet.IR;

namespace ArchNet.Cli.Tests;

/// <summary>
/// Broken backend plugins as a user meets them through archnetc: a compile that asks for one fails with one error line
/// naming the plugin and exit 3, no stack trace; the built-in backends keep working with the same plugin folders given.
/// The plugins are the Plugins tests' own (built beside them); the in-process behaviour is tested there.
/// </summary>
public sealed class PluginTests : IDisposable
{
    private readonly Scratch _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string PluginRoot { get; } = LocatePluginRoot();

    private static string LocatePluginRoot()
    {
        var path = Path.GetFullPath(typeof(PluginTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "TestPluginRoot").Value!);
        return Directory.Exists(path) ? path : throw new DirectoryNotFoundException($"the test plugins are not built at {path}: build tests/ArchNet.Cli.Tests");
    }

    private static string Plugin(string name) => Path.Combine(PluginRoot, name);

    private CliResult Compile(string backend, params string[] pluginDirs)
    {
        var model = Models.TinyClassifier(_dir.File("tiny.onnx"));
        string[] args = [model, "--target", "reference-cpu", "-o", _dir.File("out"), "--calib", "random:8?seed=3", "--backend", backend];
        foreach (var d in pluginDirs) args = [.. args, "--plugin-dir", d];
        return Archnetc.Run(_dir.Path, TimeSpan.FromSeconds(120), args);
    }

    private static void AssertOneClearError(CliResult r, string plugin, string reason)
    {
        Assert.True(r.ExitCode == ExitCodes.PluginFailed, r.ToString());
        var error = Assert.Single(r.StderrLines, l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.Contains($"backend plugin '{plugin}'", error);
        Assert.Contains(reason, error);
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.DoesNotContain("Unhandled exception", r.Stderr);
    }

    [Fact]
    public void Compile_ThroughAPluginThatThrowsInEmit_FailsWithOneLineNamingIt_ExitThree()
    {
        var r = Compile("throws", Plugin("Throwing.Backend"));
        AssertOneClearError(r, "throws", "failed in Emit: InvalidOperationException: register file overflow");
        Assert.Contains("Throwing.Backend.dll", r.Stderr);
    }

    [Fact]
    public void Compile_ThroughAPluginOfAnotherContractVersion_FailsWithOneLineNamingIt_ExitThree()
    {
        var r = Compile("old-contract", Plugin("OldContract.Backend"));
        AssertOneClearError(r, "old-contract", "was built for backend contract version 0, but this archnetc speaks version 1");
    }

    [Fact]
    public void Compile_ThroughAPluginMissingADependency_FailsWithOneLineNamingIt_ExitThree()
    {
        var r = Compile("missing-dependency", Plugin("MissingDependency.Backend"));
        AssertOneClearError(r, "missing-dependency", "a dependency is missing: Vendor.Dependency");
    }

    [Fact]
    public void Compile_WithABuiltInBackend_Succeeds_WhileBrokenPluginsSitInThePluginFolder()
    {
        var r = Compile("onnx", PluginRoot);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.DoesNotContain(r.StderrLines, l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.True(File.Exists(Path.Combine(_dir.File("out"), "report.json")), r.ToString());
        Assert.Contains(Directory.EnumerateFiles(_dir.File("out")), f => f.EndsWith(".onnx", StringComparison.Ordinal));
    }

    [Fact]
    public void Backends_WithBrokenPlugins_ListsTheBuiltIns_AndEachBrokenPluginWithItsReason_ExitThree()
    {
        var r = Archnetc.Run(_dir.Path, "backends", "--plugin-dir", PluginRoot);
        Assert.True(r.ExitCode == ExitCodes.PluginFailed, r.ToString());
        var rows = r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).ToList();
        Assert.Contains(rows, c => c[0] == "onnx" && c[1] == "built-in");
        Assert.Contains(rows, c => c[0] == "c" && c[1] == "built-in");
        Assert.Contains(rows, c => c[0] == "throws" && c[1] == "plugin"); // loads fine; it fails only when it emits
        var old = Assert.Single(rows, c => c[0] == "old-contract");
        Assert.Contains("BROKEN:", string.Join(' ', old));
        Assert.DoesNotContain("   at ", r.Stderr);
    }
}
