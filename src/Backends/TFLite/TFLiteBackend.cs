using ArchNet.Backends.Abstractions;

namespace ArchNet.Backends.TFLite;

/// <summary>
/// Built-in backend <c>tflite</c>: writes <c>model.tflite</c>, a fully integer TFLite flatbuffer (float32 in and out
/// through QUANTIZE and DEQUANTIZE, int8 inside), the format Arm's Vela and the Edge TPU compiler take. Served for
/// the two targets whose toolchains start from it.
/// </summary>
public sealed class TFLiteBackend : IBackend
{
    public const string ArtifactName = "model.tflite";

    public string Name => "tflite";
    public string Description => "int8 TFLite flatbuffer (model.tflite) for Vela (arm-ethos-u55) and the Edge TPU compiler (google-edgetpu)";
    public int ContractVersion => BackendContract.Version;
    public IReadOnlyList<string> ServedTargets => ["arm-ethos-u55", "google-edgetpu"];

    public IReadOnlyList<BackendDiagnostic> Validate(QuantizedGraph graph, string capability) => TFLiteLowering.Lower(graph).Problems;

    public IReadOnlyList<Artifact> Emit(QuantizedGraph graph, string outputDirectory)
    {
        var (model, problems) = TFLiteLowering.Lower(graph);
        if (problems.Count > 0) throw new InvalidOperationException($"the tflite backend cannot emit this graph: {problems[0]}");
        var bytes = model.Serialize(graph.Name, $"archnetc {graph.Target}");
        var path = Path.Combine(outputDirectory, ArtifactName);
        var temp = path + ".tmp";
        File.WriteAllBytes(temp, bytes);
        File.Move(temp, path, overwrite: true);
        var ins = string.Join(", ", graph.Inputs.Select(v => $"{v.Name} float32 NHWC [{string.Join(",", Nhwc(v))}]"));
        var outs = string.Join(", ", graph.Outputs.Select(v => $"{v.Name} float32 [{string.Join(",", Nhwc(v))}]"));
        return [new Artifact(ArtifactName, $"TFLite int8 model: inputs {ins} quantized by QUANTIZE; outputs {outs} by DEQUANTIZE; int8 per-tensor activations, int8 per-channel conv weights, int32 biases; host: transpose NCHW inputs to NHWC")];
    }

    private static IEnumerable<long> Nhwc(TensorValue v) => v.Shape.Length == 4 ? [v.Shape[0], v.Shape[2], v.Shape[3], v.Shape[1]] : v.Shape;
}
