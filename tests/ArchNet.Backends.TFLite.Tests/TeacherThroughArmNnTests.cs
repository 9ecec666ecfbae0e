using ArchNet.Backends.Emulation;
using ArchNet.Compiler;
using ArchNet.Frontend.Data;
using ArchNet.IR;
using ArchNet.Testing;
using Xunit.Abstractions;
using Tensor = ArchNet.Backends.Emulation.Tensor;

namespace ArchNet.Backends.TFLite.Tests;

/// <summary>
/// The Fashion-MNIST teachers compiled for arm-ethos-u55 at W8A8 by the real pipeline (256 training images to
/// calibrate), written by the tflite backend and run by Arm NN's CpuRef on t10k: its top-1 accuracy against the labels
/// equals the emulator's within 0.05 points, and its output integers stay within a few LSB of the emulator's (CpuRef
/// dequantizes and computes in float, so ties and their propagation differ).
/// </summary>
public sealed class TeacherThroughArmNnTests(ITestOutputHelper output)
{
    private sealed record Outcome(double EmulatorTop1, double ArmNnTop1, long Differing, long Total, long MaxLsb);

    private Outcome Run(string teacher, int items)
    {
        var mnist = TestData.FashionMnist;
        var dir = Directory.CreateTempSubdirectory("tflite-").FullName;
        try
        {
            var pipeline = new Compilation(new CompileOptions(TestData.Teacher(teacher).Onnx, "arm-ethos-u55", dir)
            {
                Calibration = $"idx:{mnist.TrainImages}:256",
                Evaluation = $"idx:{mnist.TestImages}:100",
                Backend = "tflite",
                LayerFidelityItems = 8,
            }, new CollectingDiagnostics());
            pipeline.Run();
            var images = Idx.Read(mnist.TestImages, items).ToFloats();
            var labels = Idx.Read(mnist.TestLabels, items).ToFloats();
            var size = images.Length / items;
            // One channel: NCHW and NHWC hold the same bytes.
            var armnn = ArmNn.Run(Path.Combine(dir, TFLiteBackend.ArtifactName), TensorData.FromFloats([items, 1, 28, 28, 1], images));

            var model = pipeline.Quantized!;
            var emulator = new Emulator(model, EmulatorMode.Integer);
            Assert.Empty(emulator.HostFloatNodes);
            var input = model.Graph.Inputs.Single(v => !v.IsConstant);
            var shape = input.Shape!.ToArray()!.Select(d => (int)d).ToArray();
            long differing = 0, total = 0, maxLsb = 0, emuRight = 0, armRight = 0;
            for (var i = 0; i < items; i++)
            {
                var y = emulator.Run(new Dictionary<string, Tensor> { [input.Name] = Tensor.FromFloats(shape, images.AsSpan(i * size, size).ToArray()) })
                    .Outputs[model.Graph.Outputs[0].Name];
                var q = y.Quant!;
                var classes = y.Ints!.Length;
                int emuBest = 0, armBest = 0;
                for (var k = 0; k < classes; k++)
                {
                    var f = armnn[i * classes + k];
                    var qa = (long)Math.Round(f / q.Scales[0], MidpointRounding.AwayFromZero) + q.ZeroPoints[0];
                    total++;
                    if (qa != y.Ints[k]) differing++;
                    maxLsb = Math.Max(maxLsb, Math.Abs(qa - y.Ints[k]));
                    if (y.Ints[k] > y.Ints[emuBest]) emuBest = k;
                    if (f > armnn[i * classes + armBest]) armBest = k;
                }
                if (emuBest == (int)labels[i]) emuRight++;
                if (armBest == (int)labels[i]) armRight++;
            }
            var outcome = new Outcome(100.0 * emuRight / items, 100.0 * armRight / items, differing, total, maxLsb);
            output.WriteLine($"{teacher} arm-ethos-u55 W8A8 on {items} t10k images: top-1 emulator {outcome.EmulatorTop1:F2} %, Arm NN {outcome.ArmNnTop1:F2} %; " +
                $"{differing} of {total} output integers differ, max {maxLsb} LSB");
            return outcome;
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    // fmnist_resnet's stride-2 convs and stem max-pool carry pads TFLite's SAME cannot express, so the artifact holds
    // PAD ops; Arm NN 20.08's CpuRef fills PAD with raw 0 instead of the zero point (int8 zero points here are not 0),
    // so its result is wrong there, not the artifact's: that model waits for the padding folded into the conv.
    private const string PadSkip = "Arm NN CpuRef pads with raw 0, not the zero point; fmnist_resnet's explicit PADs need folding first";

    [Theory]
    [InlineData("fmnist_cnn")]
    [InlineData("fmnist_resnet", Skip = PadSkip)]
    public void Teacher_ForEthosU55_ThroughArmNn_MatchesTheEmulator_On200Images(string teacher)
    {
        var o = Run(teacher, 200);
        Assert.True(o.EmulatorTop1 > 80, $"emulator top-1 {o.EmulatorTop1}"); // the teachers are ~90 % models
        Assert.True(Math.Abs(o.EmulatorTop1 - o.ArmNnTop1) <= 0.5, $"top-1 {o.EmulatorTop1} vs {o.ArmNnTop1}");
        Assert.True(o.MaxLsb <= 3, $"max {o.MaxLsb} LSB");
    }

    [Theory]
    [Trait("Category", "Slow")]
    [InlineData("fmnist_cnn")]
    [InlineData("fmnist_resnet", Skip = PadSkip)]
    public void Teacher_ForEthosU55_ThroughArmNn_Top1WithinFiveHundredthsOfAPoint_OnAllOfT10k(string teacher)
    {
        var o = Run(teacher, 10000);
        Assert.True(Math.Abs(o.EmulatorTop1 - o.ArmNnTop1) <= 0.05, $"top-1 {o.EmulatorTop1} vs {o.ArmNnTop1}");
    }
}
