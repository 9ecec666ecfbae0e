namespace ArchNet.IR;

/// <summary>A whole model: the main graph plus the ONNX model-level facts needed to write it back.</summary>
public sealed class Model
{
    public Model(Graph graph) => Graph = graph;

    public Graph Graph { get; set; }
    public long IrVersion { get; set; } = 8;
    /// <summary>Opset per domain ("" is ai.onnx), in the order the file listed them.</summary>
    public List<KeyValuePair<string, long>> OpsetImports { get; } = [];
    public string ProducerName { get; set; } = "";
    public string ProducerVersion { get; set; } = "";
    public string Domain { get; set; } = "";
    public long ModelVersion { get; set; }
    public string? DocString { get; set; }
    public List<KeyValuePair<string, string>> Metadata { get; } = [];

    /// <summary>Frontend-owned parts with no IR meaning that must survive a round trip (functions, training info, ...).</summary>
    public Dictionary<string, object> Extensions { get; } = new(StringComparer.Ordinal);

    /// <summary>Where the model was read from, for messages; null when built in memory.</summary>
    public string? SourcePath { get; set; }

    public long Opset(string domain = "") =>
        OpsetImports.Where(kv => kv.Key == domain || (domain == "" && kv.Key == "ai.onnx"))
            .Select(kv => kv.Value).DefaultIfEmpty(0).First();

    public void SetOpset(string domain, long version)
    {
        var i = OpsetImports.FindIndex(kv => kv.Key == domain);
        if (i >= 0) OpsetImports[i] = new(domain, version);
        else OpsetImports.Add(new(domain, version));
    }

    /// <summary>Makes this model the one <paramref name="other"/> is (its graph and model-level facts): a pipeline that
    /// runs its first stage, the import, on an empty model keeps one model object from start to end.</summary>
    public void TakeFrom(Model other)
    {
        Graph = other.Graph;
        IrVersion = other.IrVersion;
        OpsetImports.Clear();
        OpsetImports.AddRange(other.OpsetImports);
        ProducerName = other.ProducerName;
        ProducerVersion = other.ProducerVersion;
        Domain = other.Domain;
        ModelVersion = other.ModelVersion;
        DocString = other.DocString;
        Metadata.Clear();
        Metadata.AddRange(other.Metadata);
        Extensions.Clear();
        foreach (var (k, v) in other.Extensions) Extensions[k] = v;
        SourcePath = other.SourcePath;
    }
}
