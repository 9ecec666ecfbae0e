using ArchNet.Backends.Abstractions;

namespace Throwing.Backend;

public sealed class ThrowingBackend : IBackend
{
    public string Name => "throws";
    public string Description => "test plugin whose Emit throws";
    public int ContractVersion => BackendContract.Version;
    public IReadOnlyList<string> ServedTargets => ["*"];
    public IReadOnlyList<BackendDiagnostic> Validate(QuantizedGraph graph, string capability) => [];
    public IReadOnlyList<Artifact> Emit(QuantizedGraph graph, string outputDirectory) =>
        throw new InvalidOperationException("register file overflow in the vendor's allocator");
}
