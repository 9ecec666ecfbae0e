using ArchNet.Capabilities;
using ArchNet.IR;
using ArchNet.Testing;
using Xunit.Abstractions;
using Attribute = ArchNet.IR.Attribute;

namespace ArchNet.Passes.Distillation.Tests;

public sealed class DistillerTests(ITestOutputHelper output)
{
    private static Capability Archnet => CapabilityLoader.LoadFile(Path.Combine(TestData.RepoRoot, "targets", "archnet.json"));

    /// <summary>A small CNN with a 5x5 stem, which archnet (3x3 only) cannot run.</summary>
    private static Model TinyTeacher()
    {
        var b = new GraphBuilder(seed: 7);
        var x = b.Input("x", 1, 1, 8, 8);
        var c1 = b.Op("Conv", [x, b.Random([4, 1, 5, 5], -0.4f, 0.4f), b.Random([4], -0.1f, 0.1f)],
            Attribute.Ints("kernel_shape", 5, 5), Attribute.Ints("pads", 2, 2, 2, 2));
        var r1 = b.Op("Relu", c1);
        var c2 = b.Op("Conv", [r1, b.Random([4, 4, 3, 3], -0.3f, 0.3f), b.Random([4], -0.1f, 0.1f)],
            Attribute.Ints("kernel_shape", 3, 3), Attribute.Ints("pads", 1, 1, 1, 1));
        var r2 = b.Op("Relu", c2);
        var gap = b.Op("GlobalAveragePool", r2);
        var flat = b.Op("Flatten", [gap], Attribute.Int("axis", 1));
        var y = b.Op("Gemm", [flat, b.Random([3, 4]), b.Random([3], -0.1f, 0.1f)], Attribute.Int("transB", 1));
        b.Output(y);
        var m = b.Build();
        ShapeInference.Run(m.Graph);
        return m;
    }

    private static TensorData Inputs(int count)
    {
        var rng = new Random(3);
        return TensorData.FromFloats([count, 1, 8, 8], [.. Enumerable.Range(0, count * 64).Select(_ => (float)rng.NextDouble())]);
    }

    [Fact]
    public void Conv5x5_IsReplacedByTwo3x3_AndTheStudentIsSupportedByArchnet()
    {
        var student = TinyTeacher();
        var records = ReplacementCatalog.BuildStudent(student, Archnet);

        var replaced = Assert.Single(records);
        Assert.Equal("Conv", replaced.OpType);
        Assert.Equal(2, student.Graph.Nodes.Count(n => n.OpType == "Conv" && n.GetInts("kernel_shape")!.Value[0] == 3) - 1);
        Assert.All(student.Graph.Nodes, n => Assert.True(Archnet.Check(n).IsSupported, $"{n}: {Archnet.Check(n)}"));
    }

    [Fact]
    public void Distillation_OneReplacement_LossFalls_AndFidelityRises()
    {
        var teacher = TinyTeacher();
        var student = TinyTeacher();
        var records = ReplacementCatalog.BuildStudent(student, Archnet);
        var options = new DistillationOptions { Steps = 300, BatchSize = 16, LearningRate = 2e-3, FidelityItems = 128 };

        var report = new Distiller(options, SilentDiagnostics.Instance)
            .Run(teacher, student, Inputs(256), new QuantizationPlan(4, 8, true, false), records);

        foreach (var block in report.Blocks)
            output.WriteLine($"{block.Block} {block.Tensor}: cos {block.CosineBefore} -> {block.CosineAfter}, sqnr {block.SqnrDbBefore} -> {block.SqnrDbAfter}");
        output.WriteLine($"loss {report.FirstLoss} -> {report.LastLoss}");
        var (firstLoss, lastLoss) = report.PeriodLosses[0];
        Assert.True(lastLoss < firstLoss * 0.7, $"first period's loss {firstLoss} -> {lastLoss}");
        var first = report.Blocks[0];
        Assert.Contains(first.Replacements, r => r.Contains("3x3"));
        Assert.True(first.SqnrDbAfter > first.SqnrDbBefore + 1, $"block 1 SQNR {first.SqnrDbBefore} -> {first.SqnrDbAfter}");
        Assert.True(report.Blocks[^1].CosineAfter > report.Blocks[^1].CosineBefore);
        Assert.NotNull(report.Quantization);
    }

    [Fact]
    public void SameSeed_SameWeights()
    {
        var options = new DistillationOptions { Steps = 30, BatchSize = 8, Seed = 5 };
        Assert.Equal(TrainedWeights(options), TrainedWeights(options));
    }

    /// <summary>The tiny teacher's student distilled at W4A4 on 64 items; its Conv and Gemm weights after training.</summary>
    private static float[] TrainedWeights(DistillationOptions options)
    {
        var teacher = TinyTeacher();
        var student = TinyTeacher();
        var records = ReplacementCatalog.BuildStudent(student, Archnet);
        new Distiller(options, SilentDiagnostics.Instance).Run(teacher, student, Inputs(64), new QuantizationPlan(4, 4, true, false), records);
        return [.. student.Graph.Nodes.Where(n => n.OpType is "Conv" or "Gemm").SelectMany(n => n.Input(1)!.Constant!.ToFloats())];
    }

    [Fact]
    public void ClassScores_LastPeriodAddsTheSoftmaxKl_EarlierPeriodsUnchanged()
    {
        (DistillationReport Report, float[] Head) Train(double weight)
        {
            var teacher = TinyTeacher();
            var student = TinyTeacher();
            var records = ReplacementCatalog.BuildStudent(student, Archnet);
            var report = new Distiller(new DistillationOptions { Steps = 30, BatchSize = 8, Seed = 4, ClassScoreWeight = weight },
                SilentDiagnostics.Instance).Run(teacher, student, Inputs(64), new QuantizationPlan(4, 4, true, false), records);
            return (report, [.. student.Graph.Nodes.Single(n => n.OpType == "Gemm").Input(1)!.Constant!.ToFloats()]);
        }
        var (without, headWithout) = Train(0);
        var (with, headWith) = Train(1);

        // The tiny teacher's output is 3 class scores: the KL term (>= 0, > 0 for an imperfect student) joins the
        // last period's loss only; the periods before it train the same way.
        Assert.Equal(without.PeriodLosses.SkipLast(1), with.PeriodLosses.SkipLast(1));
        Assert.True(with.PeriodLosses[^1].First > without.PeriodLosses[^1].First,
            $"last period's first loss with KL {with.PeriodLosses[^1].First} vs without {without.PeriodLosses[^1].First}");
        Assert.NotEqual(headWithout, headWith);
    }

    [Theory]
    [InlineData(4, 4, 3000)]
    [InlineData(2, 4, 3000)]
    [InlineData(8, 4, 3000)]
    [InlineData(8, 8, 1500)]
    public void DefaultSteps_FollowTheNarrowestWidth(int wbits, int abits, int steps)
    {
        Assert.Equal(steps, DistillationOptions.DefaultSteps(new QuantizationPlan(wbits, abits, true, false)));
        Assert.Equal(1500, DistillationOptions.DefaultSteps(null));
    }

    [Fact]
    public void LastPeriod_TrainsOutputPeriodShareTimesAsLong_WithinTheStepBudget()
    {
        var teacher = TinyTeacher();
        var student = TinyTeacher();
        var records = ReplacementCatalog.BuildStudent(student, Archnet);
        var progress = new CollectingDiagnostics();

        var report = new Distiller(new DistillationOptions { Steps = 40, BatchSize = 8, Seed = 1 }, progress)
            .Run(teacher, student, Inputs(64), new QuantizationPlan(4, 4, true, false), records);

        var periods = progress.Progress.Where(p => p.Title.StartsWith("distill block ", StringComparison.Ordinal))
            .Select(p => p.Total).ToList();
        Assert.Equal(report.Periods, periods.Count);
        Assert.True(periods.Count >= 2, $"{periods.Count} period(s): the tiny teacher should have a cut before its output");
        Assert.All(periods.SkipLast(1), p => Assert.Equal(periods[0], p));
        Assert.Equal(DistillationOptions.OutputPeriodShare * periods[0], periods[^1]);
        Assert.Equal(periods.Sum(), report.Steps);
        Assert.InRange(report.Steps, 40 - (periods.Count - 1 + DistillationOptions.OutputPeriodShare), 40);
    }

    /// <summary>QDrop's masks come from the distillation's own generators: two distillations training at once in one
    /// process (as tests do) end exactly where each ends alone. From torch's global generator, they took each other's draws.</summary>
    [Fact]
    public void QDropMasks_DoNotDependOnOtherTorchWorkInTheProcess()
    {
        float[] Train() => TrainedWeights(new DistillationOptions { Steps = 30, BatchSize = 8, Seed = 2, ActivationDrop = 0.5 });
        var alone = Train();
        var together = new float[2][];
        Parallel.For(0, 2, new ParallelOptions { MaxDegreeOfParallelism = 2 }, i => together[i] = Train());
        Assert.Equal(alone, together[0]);
        Assert.Equal(alone, together[1]);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.5)] // QDrop's random masks too
    public void Checkpoint_ResumedRun_EndsWithTheSameWeights(double drop)
    {
        var dir = Path.Combine(Path.GetTempPath(), "archnet-distill-" + Guid.NewGuid().ToString("N"));
        try
        {
            float[] Train(int? stop, string? ckpt)
            {
                var teacher = TinyTeacher();
                var student = TinyTeacher();
                var records = ReplacementCatalog.BuildStudent(student, Archnet);
                new Distiller(new DistillationOptions { Steps = 30, BatchSize = 8, Seed = 2, CheckpointDirectory = ckpt, StopAfterPeriods = stop, ActivationDrop = drop },
                    SilentDiagnostics.Instance).Run(teacher, student, Inputs(64), new QuantizationPlan(4, 4, true, false), records);
                return [.. student.Graph.Nodes.Where(n => n.OpType is "Conv" or "Gemm").SelectMany(n => n.Input(1)!.Constant!.ToFloats())];
            }
            var whole = Train(null, null);
            Train(1, dir);
            Assert.True(File.Exists(Path.Combine(dir, "distill.ckpt")));
            var resumed = Train(null, dir);
            Assert.Equal(whole, resumed);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }
}
