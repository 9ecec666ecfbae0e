using System.Text.Json;
using ArchNet.Compiler;
using ArchNet.IR;
using ArchNet.Testing;
using Xunit.Abstractions;

namespace ArchNet.Compiler.Tests;

/// <summary>Issue 6's ViT acceptance: fmnist_vit (LayerNorm, GELU, softmax attention) compiled for archnet-transformer.</summary>
public sealed class VitCompileTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("archnet-vit-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    [Trait("Category", "Slow")]
    public void FmnistVit_OnArchnetTransformer_W8A8_LayerNormAndGeluAreGone_AndTop1StaysNearTheTeacher()
    {
        var teacher = TestData.Teacher("fmnist_vit");
        var f = TestData.FashionMnist;
        var options = new CompileOptions(teacher.Onnx, "archnet-transformer", Path.Combine(_dir, "w8a8"))
        {
            Calibration = $"idx:{f.TrainImages}:1024",
            Evaluation = $"idx:{f.TestImages}:1000",
            EvaluationLabels = $"idx:{f.TestLabels}:1000",
            TargetsDirectory = Path.Combine(TestData.RepoRoot, "targets"),
            DistillSteps = 480,
            Threads = 1,
        };

        var report = new CompilePipeline(options, new CollectingDiagnostics()).Run();

        output.WriteLine($"accuracy {report.Accuracy}, fidelity {report.Fidelity}, item by item: {report.ItemByItem}");
        Assert.DoesNotContain("LayerNormalization", report.OpsAfter.Keys);
        Assert.DoesNotContain("Gelu", report.OpsAfter.Keys);
        Assert.Equal(0, report.UnsupportedNodesAfter);
        Assert.Empty(report.HostFloatOps);
        // Its attention is sequence-first (the items merged with the heads): once bound to batch 1 its shape constants hold
        // one item. Training and the emulator stack items through constants that take them (ItemAxes), not item by item.
        Assert.Null(report.ItemByItem);
        Assert.Null(report.Distillation?.ItemByItem);
        var a = report.Accuracy!;
        Assert.True(a.Original - a.Compiled <= MaxDrop, $"top-1 {a.Compiled:P2} vs teacher {a.Original:P2} on the same {a.Items} items");
    }

    /// <summary>Measured drop 1.5 pt (85.70 % vs 87.20 % on these 1000 items, 480 steps, seed 0), plus a margin for the platform.</summary>
    private const double MaxDrop = 0.025;
}
