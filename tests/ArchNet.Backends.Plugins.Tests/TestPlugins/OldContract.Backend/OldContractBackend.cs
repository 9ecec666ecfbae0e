using ArchNet.Backends.Abstractions;

namespace OldContract.Backend;

/// <summary>Claims a contract version this host does not speak (as a plugin built against an old release would).</summary>
public sealed class OldContractBackend : IBackend
{
    public string Name => "old-contract";
    public string Description => "test plugin built for contract 0";
    public int ContractVersion => 0;
    public IReadOnlyList<string> ServedTargets => ["*"];
    public IReadOnlyList<BackendDiagnostic> Validate(QuantizedGraph graph, string capability) => [];
    public IReadOnlyList<Artifact> Emit(QuantizedGraph graph, string outputDirectory) => throw new NotSupportedException();
}
