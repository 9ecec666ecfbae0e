using ArchNet.IR;

namespace ArchNet.Backends.Emulation;

public enum EmulatorMode
{
    /// <summary>Every op in float32, quantization parameters ignored: the float reference of the same graph.</summary>
    Float,
    /// <summary>The golden integer model: every value with QuantParams holds integers (see <see cref="IntegerArithmetic"/>).</summary>
    Integer,
}

/// <summary>The result of one run: graph outputs by name, and the intermediate values that were asked for.</summary>
public sealed record EmulatorRun(IReadOnlyDictionary<string, Tensor> Outputs, IReadOnlyDictionary<string, Tensor> Values);

/// <summary>
/// Interprets an IR graph. In <see cref="EmulatorMode.Integer"/> it is the golden model of a quantized graph:
/// the integer arithmetic is <see cref="IntegerArithmetic"/>'s, op by op; ops without an integer kernel run as
/// host float ops (listed in <see cref="HostFloatNodes"/>). Not thread-safe for concurrent runs of one instance
/// only because of its caches; they are filled on first use and read-only afterwards.
/// </summary>
public sealed class Emulator
{
    private readonly Graph _graph;
    private readonly Dictionary<Value, int> _lastUse = [];
    private readonly Dictionary<Value, Tensor> _constants = [];
    private readonly Kernels _kernels;

    public Emulator(Model model, EmulatorMode mode)
    {
        _graph = model.Graph;
        Mode = mode;
        Semantics = QuantSemantics.Of(model) ?? new QuantSemantics();
        _kernels = new Kernels(Semantics);
        var nodes = _graph.Nodes;
        for (var i = 0; i < nodes.Count; i++)
            foreach (var v in Graph.ReadValues(nodes[i]))
                _lastUse[v] = i;
        foreach (var c in _graph.Constants)
            if (c.Constant is { } data && data.ElementType != ElementType.String)
                _constants[c] = Tensor.FromTensorData(data);
        if (mode == EmulatorMode.Integer)
        {
            HostFloatNodes = [.. nodes.Where(n => !RunsInteger(n)).Select(n => n.DisplayName)];
        }
        else HostFloatNodes = [];
    }

    /// <summary>Node metadata key marking a node the target cannot run: it stays a float op on the host (--allow-host-fallback).</summary>
    public const string HostFloatKey = "archnet.host_float";

    public EmulatorMode Mode { get; }
    public QuantSemantics Semantics { get; }

    /// <summary>Nodes of <paramref name="graph"/> the emulator has no kernel for, float or integer, in graph order: a graph
    /// with any cannot be run, so a compile checks this before its long stages rather than fail at its measurement.</summary>
    /// <summary>The ops the emulator runs in float (every mode's fallback and the float reference).</summary>
    public static IEnumerable<string> FloatOps => FloatKernels.Ops;

    /// <summary>The ops the emulator runs on integers (the rest of a quantized graph runs dequantized, as host float ops).</summary>
    public static IEnumerable<string> IntegerOps => Kernels.IntegerOps.Order(StringComparer.Ordinal);

    public static IReadOnlyList<Node> Unemulated(Graph graph) => [.. graph.Nodes.Where(n => !FloatKernels.Handles(n))];

    /// <summary>Nodes that run as float ops on the host in integer mode (empty in float mode).</summary>
    public IReadOnlyList<string> HostFloatNodes { get; }

    private bool RunsInteger(Node n) =>
        !n.Metadata.Any(kv => kv.Key == HostFloatKey) && _kernels.HasIntegerKernel(n, IsQuantizedActivation);

    private bool IsQuantizedActivation(Value v) => v.Quant is { PerChannel: false } && !v.IsConstant;

    /// <summary>
    /// Runs the graph on float inputs (by graph input name). <paramref name="keep"/> selects intermediate values to
    /// return (null: none); in integer mode they are returned as integers with their QuantParams.
    /// </summary>
    public EmulatorRun Run(IReadOnlyDictionary<string, Tensor> inputs, Func<Value, bool>? keep = null)
    {
        var env = new Dictionary<Value, Tensor>();
        var kept = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var input in _graph.Inputs)
        {
            if (_constants.ContainsKey(input)) continue;
            if (!inputs.TryGetValue(input.Name, out var t))
                throw new ArchNetException($"no data for model input '{input.Name}'");
            env[input] = Mode == EmulatorMode.Integer && input.Quant is { } q && t.Floats is not null
                ? _kernels.Quantize(t, q)
                : t;
            if (keep?.Invoke(input) == true) kept[input.Name] = env[input];
        }
        var nodes = _graph.Nodes;
        for (var i = 0; i < nodes.Count; i++)
        {
            var node = nodes[i];
            var args = node.Inputs.Select(v => v is null || v.IsAbsent ? null : Lookup(env, v, node)).ToArray();
            IReadOnlyList<Tensor> results;
            try
            {
                results = Mode == EmulatorMode.Integer && RunsInteger(node)
                    ? _kernels.RunInteger(node, args)
                    : RunFloat(node, args);
            }
            catch (Exception e) when (e is IndexOutOfRangeException or ArgumentException or InvalidOperationException or OverflowException)
            {
                throw new ArchNetException($"emulator: node '{node.DisplayName}' ({node.OpType}) failed: {e.Message}");
            }
            catch (ArchNetException e) when (!e.Message.StartsWith("emulator:", StringComparison.Ordinal))
            {
                // A kernel's own refusal (a ratio of scales no shared shift can hold, a product past the exact range)
                // names the arithmetic; the node it happened in is what the user can act on.
                throw new ArchNetException($"emulator: node '{node.DisplayName}' ({node.OpType}): {e.Message}", e.ExitCode, e);
            }
            for (var o = 0; o < node.Outputs.Count && o < results.Count; o++)
            {
                var value = node.Outputs[o];
                if (value.IsAbsent) continue;
                env[value] = results[o];
                if (keep?.Invoke(value) == true) kept[value.Name] = results[o];
            }
            foreach (var v in Graph.ReadValues(node))
                if (_lastUse.TryGetValue(v, out var last) && last == i && !_graph.Outputs.Contains(v) && !_graph.Inputs.Contains(v))
                    env.Remove(v);
        }
        var outputs = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var o in _graph.Outputs)
            outputs[o.Name] = Lookup(env, o, null);
        return new EmulatorRun(outputs, kept);
    }

    private Tensor Lookup(Dictionary<Value, Tensor> env, Value v, Node? reader)
    {
        if (env.TryGetValue(v, out var t)) return t;
        if (_constants.TryGetValue(v, out var c)) return c;
        throw new ArchNetException($"emulator: value '{v.Name}' is not available{(reader is null ? "" : $" to node '{reader.DisplayName}'")}");
    }

    /// <summary>A float op; in integer mode its quantized inputs are dequantized and its outputs quantized when annotated.</summary>
    private IReadOnlyList<Tensor> RunFloat(Node node, Tensor?[] args)
    {
        var real = args.Select(a => a is { IsQuantized: true } ? Tensor.FromFloats(a.Shape, a.ToReal()) : a).ToArray();
        var results = FloatKernels.Run(node, real);
        if (Mode != EmulatorMode.Integer) return results;
        return [.. results.Select((t, o) => node.Outputs[o].Quant is { PerChannel: false } q && t.Floats is not null ? _kernels.Quantize(t, q) : t)];
    }
}
