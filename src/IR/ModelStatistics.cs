namespace ArchNet.IR;

/// <summary>Per operator type: how many nodes, and their estimated multiply-accumulates.</summary>
public sealed record OpStatistics(string Domain, string OpType, int Count, long Macs, int NodesWithUnknownMacs)
{
    /// <summary>"Conv", or "com.vendor::Op" outside the default domain.</summary>
    public string Name => Domain is "" or "ai.onnx" ? OpType : $"{Domain}::{OpType}";
}

/// <summary>A named graph input or output with its type as text.</summary>
public sealed record ValueSummary(string Name, string Type);

/// <summary>
/// What <c>archnetc inspect</c> reports about a model: interface, op histogram, parameters, estimated MACs
/// (from the op registry's MAC models), opsets, producer, and the operators the compiler has no schema for.
/// Counts include nodes and constants inside subgraphs.
/// </summary>
public sealed record ModelStatistics(
    long IrVersion,
    IReadOnlyList<KeyValuePair<string, long>> Opsets,
    string Producer,
    IReadOnlyList<ValueSummary> Inputs,
    IReadOnlyList<ValueSummary> Outputs,
    int NodeCount,
    IReadOnlyList<OpStatistics> Ops,
    long ParameterCount,
    long ParameterBytes,
    long TotalMacs,
    int NodesWithUnknownMacs,
    IReadOnlyList<string> SymbolsTakenAsOne,
    IReadOnlyList<string> UnknownDomainOps,
    IReadOnlyList<string> OpsWithoutSchema)
{
    /// <summary>Operator domains defined by the ONNX standard itself.</summary>
    public static IReadOnlySet<string> StandardDomains { get; } =
        new HashSet<string>(StringComparer.Ordinal) { "", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training" };

    /// <summary>
    /// Measures <paramref name="model"/>. MACs need shapes, so symbolic or unknown input dimensions are first
    /// set to 1 (listed in <see cref="SymbolsTakenAsOne"/>) and shapes are inferred: this changes the model's
    /// types, so measure a model that is not going to be written back.
    /// </summary>
    public static ModelStatistics Measure(Model model)
    {
        var graph = model.Graph;
        // Interface types are reported as declared, before binding.
        var inputs = graph.Inputs.Where(i => !i.IsConstant).Select(i => new ValueSummary(i.Name, Describe(i))).ToList();
        var outputs = graph.Outputs.Select(o => new ValueSummary(o.Name, Describe(o))).ToList();
        var symbols = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var input in graph.Inputs.Where(i => !i.IsConstant))
        {
            if (input.TensorType is not { Shape: { } shape } t || shape.IsStatic) continue;
            foreach (var d in shape.Dims.Where(d => !d.IsKnown)) symbols.Add(d.Symbol ?? "?");
            input.Type = t with { Shape = new Shape(shape.Dims.Select(d => d.IsKnown ? d : Dim.Of(1))) };
        }
        ShapeInference.Run(graph);

        var ops = new Dictionary<(string, string), (int Count, long Macs, int Unknown)>();
        long parameters = 0, bytes = 0, total = 0;
        int nodes = 0, unknownMacs = 0;
        var unknownDomain = new SortedSet<string>(StringComparer.Ordinal);
        var withoutSchema = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var g in graph.SelfAndSubgraphs())
        {
            foreach (var c in g.Constants.Where(c => c.Constant is not null))
            {
                parameters += c.Constant!.ElementCount;
                bytes += c.Constant.ElementType == ElementType.String ? c.Constant.Strings.Sum(s => (long)s.Length) : c.Constant.Raw.Length;
            }
            foreach (var node in g.Nodes)
            {
                nodes++;
                var domain = node.IsDefaultDomain ? "" : node.Domain;
                var macs = OpRegistry.Macs(node);
                var key = (domain, node.OpType);
                var entry = ops.GetValueOrDefault(key);
                ops[key] = (entry.Count + 1, entry.Macs + (macs ?? 0), entry.Unknown + (macs is null ? 1 : 0));
                total += macs ?? 0;
                if (macs is null) unknownMacs++;
                var name = domain.Length == 0 ? node.OpType : $"{domain}::{node.OpType}";
                if (!StandardDomains.Contains(node.Domain)) unknownDomain.Add(name);
                if (OpRegistry.Find(node) is null) withoutSchema.Add(name);
            }
        }

        var producer = (model.ProducerName + " " + model.ProducerVersion).Trim();
        return new ModelStatistics(
            model.IrVersion,
            [.. model.OpsetImports],
            producer,
            inputs,
            outputs,
            nodes,
            [.. ops.Select(kv => new OpStatistics(kv.Key.Item1, kv.Key.Item2, kv.Value.Count, kv.Value.Macs, kv.Value.Unknown))
                .OrderByDescending(o => o.Macs).ThenByDescending(o => o.Count).ThenBy(o => o.Name, StringComparer.Ordinal)],
            parameters,
            bytes,
            total,
            unknownMacs,
            [.. symbols],
            [.. unknownDomain],
            [.. withoutSchema]);
    }

    private static string Describe(Value v) => v.Type?.ToString() ?? "?";
}
