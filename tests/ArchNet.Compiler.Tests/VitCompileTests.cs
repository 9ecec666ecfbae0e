using System.Text.Json;
using ArchNet.Compiler;
using ArchNet.IR;
using ArchNet.Testing;
using Xunit.Abstractions;

namespace ArchNet.Compiler.Tests;

/// <summary>Issue 6's ViT acceptance: fmnist_vit (LayerNorm, GELU, softmax attention) compiled for archnet-transformer.</summary>
[Collection(Gates.Sequential)]
public sealed class VitCompileTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("archnet-vit-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    [Trait("Category", "Gate")]
    public void FmnistVit_OnArchnetTransformer_W8A8_LayerNormAndGeluAreGone_AndTop1StaysNearTheTeacher()
    {
        // Issue 6's acceptance: the distillation defaults (1500 steps at 8 bits, the last period three periods long,
        // batch 32) and the whole t10k.
        var options = AcceptanceSetting.For("fmnist_vit", "archnet-transformer", Path.Combine(_dir, "w8a8"));

        var report = new Compilation(options, new CollectingDiagnostics()).Run();

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

    /// <summary>The goal, 1 pt. Measured on an AVX-512 machine (seeds 0 / 1 / 2): -0.69 / -0.58 / -0.83 pt. Before
    /// 2026-11-30 (1200 equal steps): -0.75 / -1.02 / -0.82 with <see cref="AcceptanceSetting.CalibrationItems"/> (8192)
    /// images, -1.03 / -0.95 / -1.06 with 2048 there, and -0.79 (seed 0) with 2048 on an older machine, whose kernels
    /// round differently.</summary>
    private const double MaxDrop = 0.010;
}
