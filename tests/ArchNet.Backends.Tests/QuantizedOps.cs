using ArchNet.Backends.Emulation;
using ArchNet.Backends.Onnx;
using ArchNet.Backends.Reference;
using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Passes.Quantization;
using ArchNet.Testing;

namespace ArchNet.Backends.Tests;

/// <summary>Quantizes an op graph on its own random inputs and runs it in the emulator and, as QDQ, in ONNX Runtime.</summary>
public static class QuantizedOps
{
    public static Dictionary<string, Tensor> Tensors(Dictionary<string, TensorData> inputs) =>
        inputs.ToDictionary(kv => kv.Key, kv => Tensor.FromTensorData(kv.Value));

    public static CalibrationRunner Runner(Model model, IEnumerable<Dictionary<string, TensorData>> batches) => (wanted, observe) =>
    {
        var emulator = new Emulator(model, EmulatorMode.Float);
        var byName = model.Graph.DefinedValues().Where(wanted).ToDictionary(v => v.Name);
        foreach (var inputs in batches)
            foreach (var (name, t) in emulator.Run(Tensors(inputs), wanted).Values)
                if (byName.TryGetValue(name, out var v) && t.Floats is not null) observe(v, t.Floats, t.Shape);
    };

    public static Model Quantize(string op, QuantizationTarget target, out List<Dictionary<string, TensorData>> data, int seed = 5)
    {
        var model = OpGraphs.Build(op);
        data = [.. Enumerable.Range(0, 3).Select(i => OrtRunner.RandomInputs(model.Graph, seed: seed + i, lo: -2, hi: 2))];
        Quantizer.Run(model, Runner(model, data), target, new QuantizationOptions { BiasCorrection = false });
        return model;
    }

    /// <summary>(emulator integers, ORT integers) of every graph output, on one input set.</summary>
    public static List<(string Name, int[] Emulator, long[] Ort)> Compare(Model model, Dictionary<string, TensorData> inputs, bool optimize)
    {
        var qdq = QdqWriter.Build(model);
        var quantizedNames = model.Graph.Outputs.ToDictionary(o => o.Name, o => QdqWriter.QuantizedName(qdq, o.Name)!);
        using var ort = new ReferenceRunner(OnnxExporter.ToBytes(qdq), quantizedNames.Values, optimize ? OrtOptimizations.All : OrtOptimizations.None);
        var ortOut = ort.Run(inputs);
        var emu = new Emulator(model, EmulatorMode.Integer).Run(Tensors(inputs));
        return [.. model.Graph.Outputs.Select(o => (o.Name, emu.Outputs[o.Name].Ints!, ortOut[quantizedNames[o.Name]].ToInt64s()))];
    }
}
