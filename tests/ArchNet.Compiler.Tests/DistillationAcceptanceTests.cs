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
/// compiled for archnet at sub-8-bit widths, at the distillation defaults (3000 steps below 8 bits, the last period
/// three periods long, batch 32), first and last layers at 8 bits as in the published W4A4 baselines (BRECQ, QDrop),
/// <see cref="AcceptanceSetting.CalibrationItems"/> training images for calibration (no labels read), the whole t10k for
/// evaluation. Both are held to the goals: W4A4 0.5 pt, W2A4 1.5 pt. Measured on an AVX-512 machine at one
/// thread, seeds 0 / 1 / 2: W4A4 -0.18 / -0.48 / -0.49, W2A4 -0.56 (seed 0); at the 2400 equal steps used before,
/// -0.33 / -0.35 / -0.44 and -0.61. With the 2048 images used before that, W4A4 sat on the bound: -0.48 / -0.45 / -0.47
/// on an older machine, -0.54 / -0.53 / -0.40 on the AVX-512 one (whose kernels round differently); W2A4 -0.83 / -1.07
/// / -0.89.
/// </summary>
[Collection(Gates.Sequential)]
public sealed class DistillationAcceptanceTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("archnet-distill-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>The README's first job (W4A4, 8-bit edge layers): its figure gates CI (category Gate, in the README's test
    /// command's default run).</summary>
    [Fact]
    [Trait("Category", "Gate")]
    public void ReadmeJob_W4A4_KeepsTop1WithinHalfAPoint() => FmnistResnet_OnArchnet_RunsEverything_AndKeepsTop1(4, 4, 0.5);

    [Theory]
    [Trait("Category", "Slow")]
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
        var report = new Compilation(options, new CollectingDiagnostics()).Run();
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
