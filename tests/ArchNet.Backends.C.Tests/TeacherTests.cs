using Xunit.Abstractions;
using ArchNet.Backends.Emulation;
using ArchNet.Compiler;
using ArchNet.Frontend.Data;
using ArchNet.IR;
using ArchNet.Testing;
using Tensor = ArchNet.Backends.Emulation.Tensor;

namespace ArchNet.Backends.C.Tests;

/// <summary>
/// The acceptance check: the shipped Fashion-MNIST teachers compiled by the real pipeline (256 training images to
/// calibrate), emitted by the c backend, built with gcc, and run on 100 t10k images; every output integer must equal
/// the emulator's on the same quantized model.
/// </summary>
[Trait("Category", "Gate")]
public sealed class TeacherTests(ITestOutputHelper output)
{
    private const int Items = 100;

    [Theory]
    [InlineData("fmnist_cnn", "archnet", 8, 8)]
    [InlineData("fmnist_cnn", "archnet", 4, 4)]
    // archnet has no elementwise Add: the compile retrains fmnist_resnet's residual blocks (distillation) first.
    [InlineData("fmnist_resnet", "archnet", 8, 8)]
    [InlineData("fmnist_resnet", "archnet", 4, 4)]
    [InlineData("fmnist_resnet", "arm-ethos-u55", 8, 8)]
    [InlineData("fmnist_resnet", "reference-cpu", 8, 8)]
    [InlineData("fmnist_resnet", "reference-cpu", 4, 4)]
    public void Teacher_CompiledForTarget_CEqualsTheEmulator_On100TestImages(string teacher, string target, int wbits, int abits)
    {
        var mnist = TestData.FashionMnist;
        using var c = new CHarness();
        var pipeline = new Compilation(new CompileOptions(TestData.Teacher(teacher).Onnx, target, c.Directory)
        {
            Calibration = $"idx:{mnist.TrainImages}:256",
            Evaluation = $"idx:{mnist.TestImages}:{Items}",
            WeightBits = wbits,
            ActivationBits = abits,
            Backend = "c",
            LayerFidelityItems = 8,
            // Bit-exactness does not depend on how well the replacements are trained: a few steps keep the check fast.
            DistillSteps = 16,
        }, new CollectingDiagnostics());

        var report = pipeline.Run();
        var exe = c.Compile("-O2");
        var images = Idx.Read(mnist.TestImages, Items).ToFloats();
        var size = images.Length / Items;
        var items = Enumerable.Range(0, Items).Select(i => images.AsSpan(i * size, size).ToArray()).ToList();
        var actual = c.RunQuantized(exe, items);

        var model = pipeline.Quantized!;
        var emulator = new Emulator(model, EmulatorMode.Integer);
        Assert.Empty(emulator.HostFloatNodes);
        var input = model.Graph.Inputs.Single(v => !v.IsConstant);
        var shape = input.Shape!.ToArray()!.Select(d => (int)d).ToArray();
        long mismatches = 0, total = 0, maxLsb = 0;
        for (var i = 0; i < Items; i++)
        {
            var expected = emulator.Run(new Dictionary<string, Tensor> { [input.Name] = Tensor.FromFloats(shape, items[i]) })
                .Outputs[model.Graph.Outputs[0].Name].Ints!;
            for (var k = 0; k < expected.Length; k++)
            {
                total++;
                if (expected[k] != actual[i][k]) mismatches++;
                maxLsb = Math.Max(maxLsb, Math.Abs(expected[k] - actual[i][k]));
            }
        }
        output.WriteLine($"{teacher} {target} W{wbits}A{abits}: {total} output integers over {Items} images, {mismatches} differ, max {maxLsb} LSB; " +
            $"top-1 agreement {report.Fidelity.Top1Agreement}, distilled blocks {report.Distillation?.Blocks.Count ?? 0}, ops after {string.Join(",", report.OpsAfter.Select(kv => $"{kv.Key}={kv.Value}"))}");
        Assert.Equal(0, maxLsb);
        if (target == "archnet" && teacher == "fmnist_resnet") Assert.NotNull(report.Distillation); // the Adds were retrained
    }

    /// <summary>
    /// BlazeFace (the fetched registry model) compiled for arm-ethos-u55 at W8A8 with the c backend: all four outputs
    /// (box regressors and scores at two resolutions) equal the emulator's integers on a few random images in [-1, 1].
    /// </summary>
    [Fact]
    public void BlazeFace_CompiledForEthosU55_CEqualsTheEmulator_OnEveryOutput()
    {
        const int count = 3;
        using var c = new CHarness();
        var pipeline = new Compilation(new CompileOptions(TestData.Model("blazeface"), "arm-ethos-u55", c.Directory)
        {
            Calibration = "random:16?seed=1&min=-1&max=1",
            WeightBits = 8,
            ActivationBits = 8,
            Backend = "c",
            LayerFidelityItems = 2,
        }, new CollectingDiagnostics());
        pipeline.Run();
        var exe = c.Compile("-O2");

        var model = pipeline.Quantized!;
        var emulator = new Emulator(model, EmulatorMode.Integer);
        Assert.Empty(emulator.HostFloatNodes);
        var input = model.Graph.Inputs.Single(v => !v.IsConstant);
        var shape = input.Shape!.ToArray()!.Select(d => (int)d).ToArray();
        var rng = new Random(23);
        var items = Enumerable.Range(0, count)
            .Select(_ => Enumerable.Range(0, shape.Aggregate(1, (a, d) => a * d)).Select(_ => rng.NextSingle() * 2 - 1).ToArray()).ToList();
        var expected = items.Select(item => emulator.Run(new Dictionary<string, Tensor> { [input.Name] = Tensor.FromFloats(shape, item) })).ToList();

        Assert.Equal(4, model.Graph.Outputs.Count); // box regressors and scores at two resolutions
        for (var o = 0; o < model.Graph.Outputs.Count; o++)
        {
            var actual = c.RunQuantized(exe, items, o);
            long mismatches = 0, total = 0, maxLsb = 0;
            var distinct = new HashSet<int>();
            for (var i = 0; i < count; i++)
            {
                var want = expected[i].Outputs[model.Graph.Outputs[o].Name].Ints
                    ?? throw new InvalidOperationException($"output {model.Graph.Outputs[o].Name} is not integer in the emulator");
                Assert.Equal(want.Length, actual[i].Length);
                for (var k = 0; k < want.Length; k++)
                {
                    total++;
                    if (want[k] != actual[i][k]) mismatches++;
                    maxLsb = Math.Max(maxLsb, Math.Abs((long)want[k] - actual[i][k]));
                    distinct.Add(actual[i][k]);
                }
            }
            output.WriteLine($"blazeface arm-ethos-u55 W8A8 output {model.Graph.Outputs[o].Name}: {total} integers over {count} images, {mismatches} differ, max {maxLsb} LSB");
            Assert.Equal(0, maxLsb);
            Assert.True(distinct.Count > 5, $"output {o} should vary, or the comparison proves little");
        }
    }
}
