using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Passes.Distillation.Lowering;
using ArchNet.Testing;
using static TorchSharp.torch;

namespace ArchNet.Passes.Distillation.Tests;

/// <summary>Runs a model in ONNX Runtime and through the torch lowering on the same inputs, and compares.</summary>
internal static class OrtParity
{
    public const double Tolerance = 1e-4;

    /// <summary>Largest relative difference over all outputs (exported with the frontend, run in ORT).</summary>
    public static double MaxDifference(Model model, IReadOnlyDictionary<string, TensorData>? inputs = null) =>
        MaxDifference(model, OnnxExporter.ToBytes(model), inputs);

    public static double MaxDifference(Model model, byte[] onnx, IReadOnlyDictionary<string, TensorData>? inputs = null)
    {
        inputs ??= OrtRunner.RandomInputs(model.Graph);
        var expected = OrtRunner.Run(onnx, inputs);
        var actual = RunLowered(model, inputs);
        var worst = 0.0;
        foreach (var output in model.Graph.Outputs)
        {
            var want = expected[output.Name];
            var got = actual[output.Name];
            Assert.Equal(want.Dims.ToArray(), got.Dims.ToArray());
            Assert.Equal(want.ElementType, got.ElementType);
            worst = Math.Max(worst, OrtRunner.MaxRelativeError(got, want));
        }
        return worst;
    }

    public static Dictionary<string, TensorData> RunLowered(Model model, IReadOnlyDictionary<string, TensorData> inputs)
    {
        using var module = new GraphModule(model);
        using var scope = NewDisposeScope();
        var args = module.Inputs.Select(v => TorchTensors.FromData(inputs[v.Name])).ToArray();
        var outs = module.forward(args);
        return module.Outputs.Zip(outs).ToDictionary(p => p.First.Name, p => TorchTensors.ToData(p.Second));
    }
}
