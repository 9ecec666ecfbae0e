using System.Diagnostics;
using ArchNet.Compiler;
using ArchNet.IR;
using ArchNet.Passes.Distillation;
using ArchNet.Passes.Quantization;
using ArchNet.Testing;
using Xunit.Abstractions;

namespace ArchNet.Compiler.Tests;

/// <summary>
/// Issue 6's acceptance on the shipped teacher: fmnist_resnet (7x7 stem, 3x3 max-pool, residual adds, 1x1 shortcuts)
/// compiled for archnet at sub-8-bit widths, at the distillation defaults (2400 steps below 8 bits, batch 32), first and
/// last layers at 8 bits as in the published W4A4 baselines (BRECQ, QDrop), 2048 training images for calibration (no
/// labels read), the whole t10k for evaluation. Both are held to the goals: W4A4 0.5 pt (measured -0.48 / -0.45
/// / -0.47 on seeds 0 / 1 / 2 at one thread, -0.49 / -0.58 on seeds 0 / 1 at two: on the bound; on an AVX-512 machine,
/// whose kernels round differently, -0.54 at one thread and -0.49 at two, seed 0, so W4A4 fails there by 0.04 pt), W2A4
/// 1.5 pt (measured -0.83 / -1.07 / -0.89).
/// </summary>
public sealed class DistillationAcceptanceTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("archnet-distill-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [Trait("Category", "Slow")]
    [InlineData(4, 4, 0.5)]
    [InlineData(2, 4, 1.5)]
    public void FmnistResnet_OnArchnet_RunsEverything_AndKeepsTop1(int wbits, int abits, double maxDropPoints)
    {
        var options = AcceptanceSetting.For("fmnist_resnet", "archnet", Path.Combine(_dir, $"w{wbits}a{abits}")) with
        {
            WeightBits = wbits,
            ActivationBits = abits,
            EdgeLayers = LayerPrecision.EightBit,
        };
        var clock = Stopwatch.StartNew();
        var report = new CompilePipeline(options, new CollectingDiagnostics()).Run();
        var a = report.Accuracy!;
        output.WriteLine($"W{wbits}A{abits}: original {100 * a.Original:F2} %, compiled {100 * a.Compiled:F2} % ({100 * (a.Compiled - a.Original):+0.00;-0.00} pt) " +
                         $"on {a.Items} items; agreement {report.Fidelity.Top1Agreement:P2}; {clock.Elapsed.TotalSeconds:F0} s (distill {report.Distillation!.Seconds:F0} s)");

        Assert.Equal(0, report.UnsupportedNodesAfter);
        Assert.NotNull(report.Distillation);
        Assert.Equal(10000, a.Items);
        Assert.True(100 * (a.Original - a.Compiled) <= maxDropPoints,
            $"top-1 fell {100 * (a.Original - a.Compiled):F2} pt (limit {maxDropPoints} pt)");
    }
}
