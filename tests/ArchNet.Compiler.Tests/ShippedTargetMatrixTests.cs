using ArchNet.Compiler;
using ArchNet.IR;
using ArchNet.Testing;
using Xunit.Abstractions;

namespace ArchNet.Compiler.Tests;

/// <summary>
/// Every shipped teacher on every shipped target, distillation off: the compile either succeeds or refuses with the
/// audit's list of the nodes the target still cannot run after legalization. Nothing else: not a rule that leaves an op
/// the integer emulator cannot run (fmnist_vit on rockchip-rk3588 once stopped there: its Softmax decomposition left
/// ReduceMax and ReduceSum), not an internal error. Which pairs compile is pinned, so a capability file or a rule that
/// changes it shows here.
/// </summary>
public sealed class ShippedTargetMatrixTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("archnet-matrix-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Targets => Path.Combine(TestData.RepoRoot, "targets");

    /// <summary>The pairs that compile without distillation (the rest need retraining for what legalization cannot rewrite).</summary>
    private static readonly Dictionary<string, string[]> Compiles = new()
    {
        ["fmnist_cnn"] = ["archnet", "archnet-transformer", "arm-ethos-u55", "google-edgetpu", "reference-cpu", "rockchip-rk3588", "ti-tda4vm"],
        ["fmnist_resnet"] = ["arm-ethos-u55", "google-edgetpu", "reference-cpu", "rockchip-rk3588", "ti-tda4vm"],
        ["fmnist_vit"] = ["reference-cpu", "rockchip-rk3588"],
    };

    public static TheoryData<string> Teachers => [.. TestData.TeacherNames];

    [Theory]
    [MemberData(nameof(Teachers))]
    public void Teacher_OnEveryShippedTarget_CompilesOrListsWhatTheTargetCannotRun(string teacher)
    {
        var targets = Directory.GetFiles(Targets, "*.json").Select(Path.GetFileNameWithoutExtension)
            .Where(n => !n!.EndsWith("schema", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList();
        Assert.True(targets.Count >= 8, $"only {targets.Count} shipped targets");
        var compiled = new List<string>();
        foreach (var target in targets)
        {
            var outDir = Path.Combine(_dir, $"{teacher}-{target}");
            try
            {
                var report = new CompilePipeline(new CompileOptions(TestData.Teacher(teacher).Onnx, target!, outDir)
                {
                    Calibration = "random:4",
                    TargetsDirectory = Targets,
                    LayerFidelityItems = 0,
                    Distill = DistillMode.Off,
                }, new CollectingDiagnostics()).Run();
                Assert.Equal(0, report.UnsupportedNodesAfter);
                Assert.Empty(report.HostFallbackNodes);
                compiled.Add(target!);
                output.WriteLine($"{target}: compiled, {report.HostFloatOps.Count} host float op(s)");
            }
            catch (ArchNetException e)
            {
                var first = e.Message.Split('\n')[0];
                Assert.Matches($@"^\d+ node\(s\) are not supported by {target} after legalization:$", first);
                Assert.False(Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any(), $"{target}: a refused compile wrote into {outDir}");
                output.WriteLine($"{target}: {first}");
            }
        }
        Assert.Equal(Compiles[teacher], compiled);
    }
}
