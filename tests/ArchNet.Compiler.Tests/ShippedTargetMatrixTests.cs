using ArchNet.Compiler;
using ArchNet.IR;
using ArchNet.Testing;
using Xunit.Abstractions;

namespace ArchNet.Compiler.Tests;

/// <summary>
/// Every shipped teacher on every shipped target, with distillation off and on (a few steps: the paths, not the
/// accuracy): the compile either succeeds or refuses with the list of the nodes the target still cannot run (after
/// legalization, or that no replacement covers). Nothing else: not a rule that leaves an op the integer emulator cannot
/// run (fmnist_vit on rockchip-rk3588 once stopped there: its Softmax decomposition left ReduceMax and ReduceSum), not an
/// internal error (fmnist_vit on ti-tda4vm once compared a sequence-first attention tensor item by item against the
/// stacked teacher's). Which pairs compile is pinned, so a capability file or a rule that changes it shows here.
/// </summary>
public sealed class ShippedTargetMatrixTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("archnet-matrix-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Targets => Path.Combine(TestData.RepoRoot, "targets");

    /// <summary>The pairs that compile, without distillation and with it (retraining what legalization cannot rewrite).</summary>
    private static readonly Dictionary<(string, DistillMode), string[]> Compiles = new()
    {
        [("fmnist_cnn", DistillMode.Off)] = ["archnet", "archnet-transformer", "arm-ethos-u55", "google-edgetpu", "reference-cpu", "rockchip-rk3588", "ti-tda4vm"],
        [("fmnist_resnet", DistillMode.Off)] = ["arm-ethos-u55", "google-edgetpu", "reference-cpu", "rockchip-rk3588", "ti-tda4vm"],
        [("fmnist_vit", DistillMode.Off)] = ["reference-cpu", "rockchip-rk3588"],
        [("fmnist_cnn", DistillMode.Auto)] = ["archnet", "archnet-transformer", "arm-ethos-u55", "google-edgetpu", "reference-cpu", "rockchip-rk3588", "ti-tda4vm"],
        [("fmnist_resnet", DistillMode.Auto)] = ["archnet", "archnet-transformer", "arm-ethos-u55", "google-edgetpu", "reference-cpu", "rockchip-rk3588", "ti-tda4vm"],
        [("fmnist_vit", DistillMode.Auto)] = ["archnet-transformer", "reference-cpu", "rockchip-rk3588", "ti-tda4vm"],
    };

    public static TheoryData<string, DistillMode> Cases()
    {
        var cases = new TheoryData<string, DistillMode>();
        foreach (var teacher in TestData.TeacherNames)
            foreach (var mode in new[] { DistillMode.Off, DistillMode.Auto })
                cases.Add(teacher, mode);
        return cases;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Teacher_OnEveryShippedTarget_CompilesOrListsWhatTheTargetCannotRun(string teacher, DistillMode distill)
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
                var report = new Compilation(new CompileOptions(TestData.Teacher(teacher).Onnx, target!, outDir)
                {
                    Calibration = "random:4",
                    TargetsDirectory = Targets,
                    LayerFidelityItems = 0,
                    Distill = distill,
                    DistillSteps = 8,
                    DistillBatch = 4,
                    Threads = 1,
                }, new CollectingDiagnostics()).Run();
                Assert.Equal(0, report.UnsupportedNodesAfter);
                Assert.Empty(report.HostFallbackNodes);
                compiled.Add(target!);
                output.WriteLine($"{target}: compiled, {report.HostFloatOps.Count} host float op(s)");
            }
            catch (ArchNetException e)
            {
                var first = e.Message.Split('\n')[0];
                Assert.Matches($@"^(\d+ node\(s\) are not supported by {target} after legalization:$|distillation has no replacement for \d+ node\(s\) on {target}:$)", first);
                // Then one node a line (name, op, reasons; distillation's refusal names the first ten), why no synthesized
                // student can stand in for them (one tensor or region a line), and the way out.
                var rest = e.Message.Split('\n').Skip(1).ToList();
                Assert.Contains(rest, l => l.StartsWith("  ", StringComparison.Ordinal));
                Assert.All(rest, l => Assert.Matches(@"^(  \S.* \([A-Za-z]+\): .+|  \.\.\. and \d+ more|no synthesized student can stand in for them:|  (tensor|region of) '[^']+'.*: .+|\(--allow-host-fallback keeps them as float host ops\))$", l));
                Assert.False(Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any(), $"{target}: a refused compile wrote into {outDir}");
                output.WriteLine($"{target}: {first}");
            }
        }
        Assert.Equal(Compiles[(teacher, distill)], compiled);
    }
}
