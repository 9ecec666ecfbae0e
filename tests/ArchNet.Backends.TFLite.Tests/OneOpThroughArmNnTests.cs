using ArchNet.Backends.Emulation;
using ArchNet.Compiler;
using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Testing;
using Xunit.Abstractions;
using Attribute = ArchNet.IR.Attribute;
using Tensor = ArchNet.Backends.Emulation.Tensor;

namespace ArchNet.Backends.TFLite.Tests;

/// <summary>
/// One op at a time: a one-node ONNX model compiled for arm-ethos-u55 at W8A8 (random calibration), written by the
/// tflite backend and run by Arm NN's CpuRef on 16 random inputs; every output integer equals the emulator's or is
/// 1 LSB away (CpuRef computes in float and rounds once, the chip's integer kernels requantize by multiplier and shift).
/// </summary>
public sealed class OneOpThroughArmNnTests(ITestOutputHelper output)
{
    private const int Items = 16;

    private static Value Conv(GraphBuilder b, Value x, long cout, long k, long stride, long pad, long group = 1) =>
        b.Op("Conv", [x, b.Random([cout, x.Shape![1].Value!.Value / group, k, k], -0.4f, 0.4f), b.Random([cout], -0.1f, 0.1f)],
            Attribute.Ints("kernel_shape", k, k), Attribute.Ints("pads", pad, pad, pad, pad), Attribute.Ints("strides", stride, stride),
            Attribute.Int("group", group));

    public static TheoryData<string> Ops => new() { "Conv", "ConvStride2Valid", "Depthwise", "Gemm", "Add", "MaxPool", "AveragePool", "GlobalAveragePool", "Concat", "Relu", "Softmax" };

    private static Model Build(string op)
    {
        var b = new GraphBuilder(seed: 7);
        var x = b.Input("x", 1, 4, 8, 8);
        Value y = op switch
        {
            "Conv" => Conv(b, x, 6, 3, 1, 1),
            "ConvStride2Valid" => Conv(b, x, 6, 3, 2, 0),
            "Depthwise" => Conv(b, x, 4, 3, 1, 1, group: 4),
            "Gemm" => b.Op("Gemm", [b.Op("Flatten", [b.Op("GlobalAveragePool", x)], Attribute.Int("axis", 1)), b.Random([5, 4], -0.5f, 0.5f), b.Random([5], -0.1f, 0.1f)], Attribute.Int("transB", 1)),
            "Add" => b.Op("Add", x, Conv(b, x, 4, 1, 1, 0)),
            "MaxPool" => b.Op("MaxPool", [x], Attribute.Ints("kernel_shape", 2, 2), Attribute.Ints("strides", 2, 2)),
            "AveragePool" => b.Op("AveragePool", [x], Attribute.Ints("kernel_shape", 2, 2), Attribute.Ints("strides", 2, 2)),
            "GlobalAveragePool" => b.Op("GlobalAveragePool", x),
            "Concat" => b.Op("Concat", [x, Conv(b, x, 2, 1, 1, 0)], Attribute.Int("axis", 1)),
            "Relu" => b.Op("Relu", Conv(b, x, 4, 1, 1, 0)),
            "Softmax" => b.Op("Softmax", [b.Op("Flatten", [b.Op("GlobalAveragePool", x)], Attribute.Int("axis", 1))], Attribute.Int("axis", 1)),
            _ => throw new ArgumentException(op),
        };
        b.Output(y);
        return b.Build();
    }

    [Theory]
    [MemberData(nameof(Ops))]
    public void Op_ForEthosU55_ThroughArmNn_EqualsTheEmulator_OrIsOneLsbAway(string op)
    {
        var dir = Directory.CreateTempSubdirectory("tflite-op-").FullName;
        try
        {
            var onnx = Path.Combine(dir, "op.onnx");
            File.WriteAllBytes(onnx, OnnxExporter.ToBytes(Build(op)));
            var pipeline = new Compilation(new CompileOptions(onnx, "arm-ethos-u55", dir)
            {
                Calibration = "random:64?seed=1&min=-1&max=1",
                Evaluation = "random:8?seed=2&min=-1&max=1",
                Backend = "tflite",
                LayerFidelityItems = 4,
            }, new CollectingDiagnostics());
            pipeline.Run();
            var model = pipeline.Quantized!;
            var input = model.Graph.Inputs.Single(v => !v.IsConstant);
            int[] shape = [1, 4, 8, 8];
            var rng = new Random(3);
            var items = Enumerable.Range(0, Items).Select(_ => Enumerable.Range(0, 256).Select(_ => rng.NextSingle() * 2 - 1).ToArray()).ToList();
            // NCHW -> NHWC for Arm NN.
            var nhwc = new float[Items * 256];
            for (var i = 0; i < Items; i++)
                for (var c = 0; c < 4; c++)
                    for (var p = 0; p < 64; p++)
                        nhwc[i * 256 + p * 4 + c] = items[i][c * 64 + p];
            var armnn = ArmNn.Run(Path.Combine(dir, TFLiteBackend.ArtifactName), TensorData.FromFloats([Items, 1, 8, 8, 4], nhwc));

            var emulator = new Emulator(model, EmulatorMode.Integer);
            long total = 0, differing = 0, maxLsb = 0;
            for (var i = 0; i < Items; i++)
            {
                var y = emulator.Run(new Dictionary<string, Tensor> { [input.Name] = Tensor.FromFloats(shape, items[i]) }).Outputs[model.Graph.Outputs[0].Name];
                var q = y.Quant!;
                var per = y.Ints!.Length;
                var ys = y.Shape;
                for (var k = 0; k < per; k++)
                {
                    // The emulator's index k in NCHW; Arm NN's output is NHWC for 4D results.
                    var a = k;
                    if (ys.Length == 4)
                    {
                        int C = ys[1], H = ys[2], W = ys[3];
                        int c = k / (H * W), p = k % (H * W);
                        a = p * C + c;
                    }
                    var qa = (long)Math.Round(armnn[i * per + a] / q.Scales[0], MidpointRounding.AwayFromZero) + q.ZeroPoints[0];
                    total++;
                    if (qa != y.Ints[k]) differing++;
                    maxLsb = Math.Max(maxLsb, Math.Abs(qa - y.Ints[k]));
                }
            }
            output.WriteLine($"{op}: {differing} of {total} output integers differ from the emulator's, max {maxLsb} LSB");
            Assert.True(maxLsb <= 1, $"{op}: max {maxLsb} LSB");
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
