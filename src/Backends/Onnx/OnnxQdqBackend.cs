using ArchNet.Backends.Abstractions;
using ArchNet.Frontend;
using ArchNet.IR;

namespace ArchNet.Backends.Onnx;

/// <summary>
/// Built-in backend <c>onnx</c>: writes <c>model.qdq.onnx</c>, a QDQ model ONNX Runtime runs (and Netron shows), for any
/// target. It is also the cross-check of every compile: ORT's result on it is compared with the emulator's.
/// </summary>
public sealed class OnnxQdqBackend : IHostModelBackend
{
    public const string ArtifactName = "model.qdq.onnx";

    public string Name => "onnx";
    public string Description => "QDQ ONNX model (QuantizeLinear/DequantizeLinear around float ops) that ONNX Runtime runs";
    public int ContractVersion => BackendContract.Version;
    public IReadOnlyList<string> ServedTargets => ["*"];

    public IReadOnlyList<BackendDiagnostic> Validate(QuantizedGraph graph, string capability)
    {
        if (graph.Source is not Model model)
            return [BackendDiagnostic.Error("the onnx backend needs the host's IR model (it is a built-in backend)")];
        var problems = new List<BackendDiagnostic>();
        foreach (var v in model.Graph.DefinedValues())
            if (v.Quant is { Bits: > 16 and < 32 or > 32 } q)
                problems.Add(BackendDiagnostic.Error($"value '{v.Name}' is quantized to {q.Bits} bits; QDQ ONNX stores up to 16 (32 for biases)"));
        return problems;
    }

    public IReadOnlyList<Artifact> Emit(QuantizedGraph graph, string outputDirectory)
    {
        var model = graph.Source as Model ?? throw new ArchNetException("the onnx backend needs the host's IR model");
        var qdq = QdqWriter.Build(model);
        OnnxExporter.Save(qdq, Path.Combine(outputDirectory, ArtifactName));
        return [new Artifact(ArtifactName, "QDQ ONNX model")];
    }
}
