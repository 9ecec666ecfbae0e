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
[Trait("Category", "Slow")]
public sealed class TeacherTests(ITestOutputHelper output)
{
    private const int Items = 100;

    [Theory]
    [InlineData("fmnist_cnn", "archnet", 8, 8)]
    [InlineData("fmnist_cnn", "archnet", 4, 4)]
    // fmnist_resnet on archnet needs its residual Adds retrained (distillation), which the compile does not run yet
    // (7 nodes unsupported after legalization): arm-ethos-u55 and reference-cpu meanwhile.
    [InlineData("fmnist_resnet", "arm-ethos-u55", 8, 8)]
    [InlineData("fmnist_resnet", "reference-cpu", 8, 8)]
    [InlineData("fmnist_resnet", "reference-cpu", 4, 4)]
    public void Teacher_CompiledForTarget_CEqualsTheEmulator_On100TestImages(string teacher, string target, int wbits, int abits)
    {
        var mnist = TestData.FashionMnist;
        using var c = new CHarness();
        var pipeline = new CompilePipeline(new CompileOptions(TestData.Teacher(teacher).Onnx, target, c.Directory)
        {
            Calibration = $"idx:{mnist.TrainImages}:256",
            Evaluation = $"idx:{mnist.TestImages}:{Items}",
            WeightBits = wbits,
            ActivationBits = abits,
            Backend = "c",
            LayerFidelityItems = 8,
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
            $"top-1 agreement {report.Fidelity.Top1Agreement}, ops after {string.Join(",", report.OpsAfter.Select(kv => $"{kv.Key}={kv.Value}"))}");
        Assert.Equal(0, maxLsb);
    }
}
