using ArchNet.IR;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ArchNet.Passes.Distillation.Lowering;

/// <summary>What a constant of the graph becomes in the torch module.</summary>
public enum ConstantRole
{
    /// <summary>A trainable parameter (weights, biases, embeddings, affine scales).</summary>
    Parameter,
    /// <summary>A fixed tensor that moves with the module (running statistics, scalars, shapes, indices).</summary>
    Buffer,
}

/// <summary>
/// A differentiable torch module computing an IR subgraph: the nodes run in order as torch operations, with
/// the graph's constants as parameters or buffers. Built once per block; forward takes the block's inputs
/// in order and returns its outputs in order. Intermediate tensors belong to the caller's dispose scope.
/// </summary>
public sealed class GraphModule : nn.Module<Tensor[], Tensor[]>
{
    /// <summary>The ops this lowers to TorchSharp (what distillation can train through).</summary>
    public static IEnumerable<string> LoweredOps => OpKernels.SupportedOps;

    private readonly Value[] _inputs;
    private readonly Value[] _outputs;
    private readonly (Node Node, Kernel Kernel)[] _steps;
    private readonly Dictionary<Value, Tensor> _constants = [];
    private readonly Dictionary<Value, Parameter> _valueParameters = [];

    /// <summary>Lowers a whole graph: its inputs (less initializer-backed ones) and outputs become the module's.</summary>
    public GraphModule(Model model)
        : this(model.Graph.Nodes, model.Graph.Inputs.Where(v => !v.IsConstant).ToArray(), model.Graph.Outputs.ToArray(),
            model.Opset() == 0 ? DefaultOpset : model.Opset())
    {
    }

    /// <summary>
    /// Lowers the given nodes (in topological order) as a block with explicit boundary values. Every value the
    /// nodes read must be an input, a constant, or an output of an earlier node in the list.
    /// </summary>
    public GraphModule(IEnumerable<Node> nodes, IReadOnlyList<Value> inputs, IReadOnlyList<Value> outputs,
        long opset = DefaultOpset, Func<Value, ConstantRole>? roleOf = null)
        : base("graph")
    {
        _inputs = [.. inputs];
        _outputs = [.. outputs];
        var nodeList = nodes.ToList();
        var roles = roleOf ?? DefaultRole;

        var available = new HashSet<Value>(_inputs);
        var steps = new List<(Node, Kernel)>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        using (NewDisposeScope())
        {
            foreach (var node in nodeList)
            {
                for (var i = 0; i < node.Inputs.Count; i++)
                {
                    var v = node.Inputs[i];
                    if (v is null || v.IsAbsent || available.Contains(v)) continue;
                    if (v.Constant is null)
                        throw new ArchNetException(
                            $"node '{node.DisplayName}' ({node.OpType}) reads '{v.Name}', which is neither a block input nor computed before it");
                    AddConstant(v, roles(v), used);
                    available.Add(v);
                }
                steps.Add((node, OpKernels.Compile(node, new LoweringContext(opset))));
                foreach (var o in node.Outputs)
                    if (!o.IsAbsent) available.Add(o);
            }
            foreach (var v in _outputs)
            {
                if (available.Contains(v)) continue;
                if (v.Constant is null)
                    throw new ArchNetException($"block output '{v.Name}' is not computed by the block");
                AddConstant(v, ConstantRole.Buffer, used);
                available.Add(v);
            }
        }
        _steps = [.. steps];
        // A value read by one Relu and nothing else (not a block output): its transform can be fused with the Relu's.
        var blockOutputs = new HashSet<Value>(_outputs);
        var blockNodes = nodeList.ToHashSet();
        foreach (var (node, _) in _steps)
            foreach (var o in node.Outputs)
                if (!o.IsAbsent && o.Uses.Count == 1 && o.Uses[0].Node.OpType == "Relu" && o.Uses[0].Index == 0
                    && blockNodes.Contains(o.Uses[0].Node) && !blockOutputs.Contains(o) && node.Graph?.Outputs.Contains(o) != true)
                    _feedsOneRelu.Add(o);
    }

    private readonly HashSet<Value> _feedsOneRelu = [];

    public const long DefaultOpset = 17;

    /// <summary>True when every node has a lowering (the same code that builds the module decides).</summary>
    public static bool CanLower(Node node, out string? reason, long opset = DefaultOpset)
    {
        try
        {
            OpKernels.Compile(node, new LoweringContext(opset));
            reason = null;
            return true;
        }
        catch (ArchNetException e)
        {
            reason = e.Message;
            return false;
        }
    }

    public IReadOnlyList<Value> Inputs => _inputs;
    public IReadOnlyList<Value> Outputs => _outputs;

    /// <summary>The trainable parameter standing for each IR constant that became one.</summary>
    public IReadOnlyDictionary<Value, Parameter> ValueParameters => _valueParameters;

    /// <summary>The tensor (parameter or buffer) standing for each IR constant the block reads.</summary>
    public IReadOnlyDictionary<Value, Tensor> ValueTensors => _constants;

    /// <summary>
    /// Writes the current value of every trained parameter back into its IR constant, so the graph carries
    /// what training learned (the values keep their names and types).
    /// </summary>
    public void CopyParametersToGraph()
    {
        foreach (var (value, parameter) in _valueParameters)
        {
            var data = TorchTensors.ToData(parameter);
            if (data.ElementType != value.Constant!.ElementType)
                throw new InvalidOperationException($"parameter for '{value.Name}' changed type to {data.ElementType}");
            value.Constant = data;
        }
    }

    /// <summary>
    /// Applied to every trained parameter as it is read and to every node output as it is made (null: none).
    /// Distillation uses it to fake-quantize weights and activations without changing the graph.
    /// </summary>
    public Func<Value, Tensor, Tensor>? Transform { get; set; }

    /// <summary>
    /// Optional fusion of <see cref="Transform"/> with a Relu: given the Relu's input value, its output value and the
    /// input as computed (not yet transformed), returns what Transform(output, Relu(Transform(input, x))) would, or
    /// null where it cannot (the module then runs the three steps). Used only together with <see cref="Transform"/>.
    /// </summary>
    public Func<Value, Value, Tensor, Tensor?>? ReluTransform { get; set; }

    public override Tensor[] forward(Tensor[] inputs) => ForwardUntil(inputs, _outputs.Length);

    /// <summary>
    /// Computes only the first <paramref name="outputCount"/> outputs, stopping after the last node they need
    /// (progressive distillation trains the early blocks first and need not run the rest).
    /// </summary>
    public Tensor[] ForwardUntil(Tensor[] inputs, int outputCount)
    {
        if (inputs.Length != _inputs.Length)
            throw new ArgumentException($"block takes {_inputs.Length} inputs, got {inputs.Length}");
        var env = new Dictionary<Value, Tensor>(_constants);
        var transform = Transform;
        if (transform is not null)
            foreach (var (v, p) in _valueParameters) env[v] = transform(v, p);
        for (var i = 0; i < inputs.Length; i++) env[_inputs[i]] = transform is null ? inputs[i] : transform(_inputs[i], inputs[i]);
        var wanted = _outputs.Take(outputCount).ToHashSet();
        var missing = wanted.Count(v => !env.ContainsKey(v));

        var fuse = transform is null ? null : ReluTransform;
        Dictionary<Value, Tensor>? deferred = fuse is null ? null : [];
        foreach (var (node, kernel) in _steps)
        {
            if (missing == 0) break;
            if (deferred is not null && node.OpType == "Relu" && node.Inputs[0] is { } reluInput && deferred.Remove(reluInput, out var raw))
            {
                var o = node.Outputs[0];
                if (fuse!(reluInput, o, raw) is { } fused)
                {
                    env[o] = fused;
                    if (wanted.Contains(o)) missing--;
                    continue;
                }
                env[reluInput] = transform!(reluInput, raw);
            }
            var args = new Tensor?[node.Inputs.Count];
            for (var i = 0; i < args.Length; i++)
            {
                var v = node.Inputs[i];
                args[i] = v is null || v.IsAbsent ? null : env[v];
            }
            var results = kernel(args);
            for (var i = 0; i < node.Outputs.Count && i < results.Length; i++)
            {
                var o = node.Outputs[i];
                if (o.IsAbsent) continue;
                if (deferred is not null && _feedsOneRelu.Contains(o))
                {
                    deferred[o] = results[i];
                    continue;
                }
                env[o] = transform is null ? results[i] : transform(o, results[i]);
                if (wanted.Contains(o)) missing--;
            }
        }
        return [.. _outputs.Take(outputCount).Select(v => env[v])];
    }

    /// <summary>
    /// Default policy: float constants with more than one element are trained (weights, biases, embeddings,
    /// positional tables), except batch-norm running statistics; scalars, integers and statistics are buffers.
    /// </summary>
    public static ConstantRole DefaultRole(Value v)
    {
        if (v.Constant is not { } data || !data.ElementType.IsFloatingPoint() || data.ElementCount <= 1)
            return ConstantRole.Buffer;
        var isStatistic = v.Uses.Any(u => u.Node.OpType == "BatchNormalization" && u.Index >= 3);
        return isStatistic ? ConstantRole.Buffer : ConstantRole.Parameter;
    }

    private void AddConstant(Value v, ConstantRole role, HashSet<string> used)
    {
        var name = UniqueName(v.Name, used);
        var t = TorchTensors.FromData(v.Constant!);
        if (role == ConstantRole.Parameter && t.is_floating_point())
        {
            var p = new Parameter(t, requires_grad: true);
            p.DetachFromDisposeScope();
            register_parameter(name, p);
            _valueParameters[v] = p;
            _constants[v] = p;
        }
        else
        {
            t.DetachFromDisposeScope();
            register_buffer(name, t);
            _constants[v] = t;
        }
    }

    private static string UniqueName(string valueName, HashSet<string> used)
    {
        // torch module member names may not contain '.', which ONNX initializer names often do.
        var stem = new string([.. valueName.Select(c => char.IsLetterOrDigit(c) || c == '_' ? c : '_')]);
        if (stem.Length == 0) stem = "const";
        var name = stem;
        for (var i = 1; !used.Add(name); i++) name = $"{stem}_{i}";
        return name;
    }
}

/// <summary>Facts a lowering needs beyond the node itself.</summary>
public sealed record LoweringContext(long Opset);

/// <summary>One node's computation: inputs (null where an optional input is absent) to outputs.</summary>
public delegate Tensor[] Kernel(Tensor?[] inputs);
