using ArchNet.Backends.Abstractions;

namespace Acme.NpuBackend;

/// <summary>
/// The Acme NPU-1 backend: writes <c>model.acms</c>, a binary command stream (FORMAT.md) that the NPU's firmware
/// runs. Serves the chip's own capability file, <c>acme-npu.json</c>, shipped beside this assembly.
/// </summary>
public sealed class AcmeNpuBackend : IBackend
{
    public const string ArtifactName = "model.acms";

    public string Name => "acme-npu";
    public string Description => "Acme NPU-1 binary command stream (model.acms)";
    public int ContractVersion => BackendContract.Version;
    public IReadOnlyList<string> ServedTargets => ["acme-npu"];

    public IReadOnlyList<BackendDiagnostic> Validate(QuantizedGraph graph, string capability) => Lowering.Run(graph).Problems;

    public IReadOnlyList<Artifact> Emit(QuantizedGraph graph, string outputDirectory)
    {
        var (stream, problems) = Lowering.Run(graph);
        if (stream is null) throw new InvalidOperationException($"graph cannot run on the Acme NPU-1: {problems[0]}");
        File.WriteAllBytes(Path.Combine(outputDirectory, ArtifactName), stream.Serialize());
        return [new Artifact(ArtifactName, "Acme NPU-1 command stream")];
    }
}
