using ArchNet.Backends.Abstractions;

namespace Empty.Backend;

public sealed class EmptyBackend : IBackend
{
    public string Name => "empty";
    public string Description => "test plugin whose Emit returns nothing";
    public int ContractVersion => BackendContract.Version;
    public IReadOnlyList<string> ServedTargets => ["*"];
    public IReadOnlyList<BackendDiagnostic> Validate(QuantizedGraph graph, string capability) => [];
    public IReadOnlyList<Artifact> Emit(QuantizedGraph graph, string outputDirectory) => null!;
}
