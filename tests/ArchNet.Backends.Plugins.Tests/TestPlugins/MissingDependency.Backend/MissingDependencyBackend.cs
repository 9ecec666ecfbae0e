using ArchNet.Backends.Abstractions;

namespace MissingDependency.Backend;

public sealed class MissingDependencyBackend : IBackend
{
    public string Name => "missing-dependency";
    public string Description => "test plugin whose dependency was not shipped";
    public int ContractVersion => BackendContract.Version;
    public IReadOnlyList<string> ServedTargets => ["*"];
    public IReadOnlyList<BackendDiagnostic> Validate(QuantizedGraph graph, string capability) => [];
    public IReadOnlyList<Artifact> Emit(QuantizedGraph graph, string outputDirectory)
    {
        File.WriteAllText(Path.Combine(outputDirectory, "out.txt"), Vendor.Dependency.Encoder.Encode(graph.Nodes.Length));
        return [new Artifact("out.txt", "text")];
    }
}
