using ArchNet.Backends.Abstractions;

namespace Good.Backend;

/// <summary>Writes the node list: the smallest backend that works.</summary>
public sealed class GoodBackend : IBackend
{
    public string Name => "good";
    public string Description => "test plugin that lists the nodes";
    public int ContractVersion => BackendContract.Version;
    public IReadOnlyList<string> ServedTargets => ["*"];
    public IReadOnlyList<BackendDiagnostic> Validate(QuantizedGraph graph, string capability) => [];
    public IReadOnlyList<Artifact> Emit(QuantizedGraph graph, string outputDirectory)
    {
        File.WriteAllLines(Path.Combine(outputDirectory, "nodes.txt"), graph.Nodes.Select(n => n.OpType));
        return [new Artifact("nodes.txt", "node list")];
    }
}
