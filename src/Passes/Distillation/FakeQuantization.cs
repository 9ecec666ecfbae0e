using ArchNet.IR;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ArchNet.Passes.Distillation;

/// <summary>The integer formats quantization-aware training simulates (from the capability and the user's bit widths).</summary>
public sealed record QuantizationPlan(int WeightBits, int ActivationBits, bool PerChannelWeights, bool SignedActivations)
{
    /// <summary>Largest weight level: symmetric narrow range, the quantizer's convention (2 bits: -1, 0, 1).</summary>
    public long WeightQMax => (1L << (WeightBits - 1)) - 1;
    public long ActivationQMax => SignedActivations ? (1L << (ActivationBits - 1)) - 1 : (1L << ActivationBits) - 1;
    public long ActivationQMin => SignedActivations ? -(1L << (ActivationBits - 1)) : 0;
}

/// <summary>
/// Learned-step-size fake quantization (Esser et al., LSQ) of a graph's weights and activations, with the
/// straight-through estimator for rounding. Activations that the quantizer would tie together (a value read
/// only by a ReLU, a max-pool, a concat...) share one step, so training sees the integer graph the backends
/// run: every activation clamped to the unsigned range, i.e. negatives become 0 where the chip is unsigned.
/// </summary>
public sealed class FakeQuantizers : nn.Module
{
    private static readonly HashSet<string> Tied =
        ["Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Slice", "Gather", "Pad",
         "MaxPool", "Relu", "Clip", "Concat", "Split"];

    private readonly QuantizationPlan _plan;
    private readonly Dictionary<Value, Parameter> _weightSteps = [];
    private readonly Dictionary<Value, int> _weightAxis = [];
    private readonly Dictionary<Value, Value> _group = [];
    private readonly Dictionary<Value, Parameter> _activationSteps = [];
    private readonly List<Parameter> _ordered = [];

    public FakeQuantizers(Graph graph, QuantizationPlan plan) : base("fake_quant")
    {
        _plan = plan;
        var index = 0;
        foreach (var node in graph.Nodes.Where(IsWeightNode))
        {
            var w = node.Input(1)!;
            if (_weightSteps.ContainsKey(w)) continue;
            var axis = node.OpType == "Conv" || (node.OpType == "Gemm" && node.GetInt("transB", 0) != 0) ? 0 : 1;
            _weightAxis[w] = axis;
            using var scope = NewDisposeScope();
            var t = Lowering.TorchTensors.FromData(w.Constant!);
            var abs = t.abs();
            Tensor init;
            if (plan.PerChannelWeights)
            {
                var reduce = Enumerable.Range(0, (int)t.dim()).Where(d => d != axis).Select(d => (long)d).ToArray();
                init = abs.amax(reduce, keepdim: true);
            }
            else init = abs.max();
            // max|w| / qmax: nothing clips at the start. LSQ's 2 mean|w|/sqrt(qmax) clips the single large tap of the
            // replacements' centre-tap and Dirac kernels (e.g. 1 -> 0.04 for the residual's identity conv), which
            // zeroes whole blocks before training can start.
            var p = new Parameter((init / (double)plan.WeightQMax).clamp_min(1e-8).detach().clone(), requires_grad: true);
            p.DetachFromDisposeScope();
            register_parameter($"w{index++}", p);
            _weightSteps[w] = p;
            _ordered.Add(p);
        }

        // Activation groups, as the quantizer forms them: the representative is the group's last value.
        var activations = ActivationValues(graph);
        var order = new Dictionary<Value, int>();
        foreach (var v in graph.Inputs) order[v] = -1;
        for (var i = 0; i < graph.Nodes.Count; i++) foreach (var o in graph.Nodes[i].Outputs) order[o] = i;
        var parent = activations.ToDictionary(v => v, v => v);
        Value Find(Value v) { while (parent[v] != v) v = parent[v] = parent[parent[v]]; return v; }
        foreach (var node in graph.Nodes)
        {
            if (!node.IsDefaultDomain || !Tied.Contains(node.OpType)) continue;
            foreach (var output in node.Outputs.Where(parent.ContainsKey))
                foreach (var input in (node.OpType == "Concat" ? node.Inputs : node.Inputs.Take(1)).OfType<Value>())
                    if (parent.ContainsKey(input) && !input.IsConstant && !graph.Inputs.Contains(input)
                        && !graph.Outputs.Contains(input) && input.Uses.Count == 1)
                    {
                        var (ra, rb) = (Find(input), Find(output));
                        if (ra == rb) continue;
                        if (order.GetValueOrDefault(ra, -2) > order.GetValueOrDefault(rb, -2)) parent[rb] = ra; else parent[ra] = rb;
                    }
        }
        foreach (var v in activations) _group[v] = Find(v);
        foreach (var rep in activations.Select(Find).Distinct())
        {
            var p = new Parameter(torch.ones(1), requires_grad: true);
            p.DetachFromDisposeScope();
            register_parameter($"a{index++}", p);
            _activationSteps[rep] = p;
            _ordered.Add(p);
        }
    }

    /// <summary>Every step parameter in a fixed order (for checkpoints).</summary>
    public IReadOnlyList<Parameter> Steps => _ordered;

    /// <summary>When false, values pass through unchanged (the float student, for initial statistics).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Observes every activation group's float maximum and mean magnitude (one forward of the float student).</summary>
    public Func<Value, Tensor, Tensor> Observer(Dictionary<Value, (double Max, double MeanAbs)> seen) => (v, t) =>
    {
        if (_group.TryGetValue(v, out var rep) && t.is_floating_point())
        {
            var d = t.detach();
            var m = Lowering.TorchTensors.ToScalar(_plan.SignedActivations ? d.abs().max() : d.max());
            var mean = Lowering.TorchTensors.ToScalar(_plan.SignedActivations ? d.abs().mean() : d.clamp_min(0).mean());
            var old = seen.GetValueOrDefault(rep);
            seen[rep] = (Math.Max(old.Max, m), Math.Max(old.MeanAbs, mean));
        }
        return t;
    };

    /// <summary>
    /// Each step starts at the smaller of max/qmax (no clipping) and LSQ's 2 mean|x| / sqrt(qmax): at 8 bits the
    /// first usually wins, at 4 bits the second keeps resolution where most values are instead of at the rare peak.
    /// </summary>
    public void InitialiseActivationSteps(Dictionary<Value, (double Max, double MeanAbs)> seen)
    {
        using var noGrad = torch.no_grad();
        foreach (var (rep, p) in _activationSteps)
        {
            var (max, mean) = seen.GetValueOrDefault(rep, (1.0, 1.0));
            var step = Math.Min(max / _plan.ActivationQMax, 2 * mean / Math.Sqrt(_plan.ActivationQMax));
            p.fill_(Math.Max(step, 1e-4));
        }
    }

    /// <summary>The transform the student module applies: weights and activations quantized, biases and the rest untouched.</summary>
    public Tensor Apply(Value v, Tensor t)
    {
        if (!Enabled || !t.is_floating_point()) return t;
        if (_weightSteps.TryGetValue(v, out var ws))
            return Quantize(t, ws, -_plan.WeightQMax, _plan.WeightQMax, t.numel() / Math.Max(1, ws.numel()));
        if (_group.TryGetValue(v, out var rep))
            return Quantize(t, _activationSteps[rep], _plan.ActivationQMin, _plan.ActivationQMax, t.numel() / Math.Max(1, t.shape[0]));
        return t;
    }

    private static Tensor Quantize(Tensor x, Tensor step, long qmin, long qmax, long perStep)
    {
        // LSQ gradient scale 1/sqrt(N qmax): the step's gradient is comparable in size to the weights'.
        var g = 1.0 / Math.Sqrt(Math.Max(1, perStep) * (double)qmax);
        var s = (step - step * g).detach() + step * g;
        s = s.abs() + 1e-8;
        var scaled = (x / s).clamp(qmin, qmax);
        var rounded = (scaled.round() - scaled).detach() + scaled;
        return rounded * s;
    }

    /// <summary>The learned parameters in IR form: per weight value its scales (and axis), per activation value its step.</summary>
    public LearnedQuantization Learned()
    {
        var weights = new Dictionary<string, (float[] Scales, int? Axis)>(StringComparer.Ordinal);
        foreach (var (v, p) in _weightSteps)
        {
            var scales = Lowering.TorchTensors.ToData(p.detach().abs() + 1e-8).ToFloats();
            weights[v.Name] = (scales, _plan.PerChannelWeights ? _weightAxis[v] : null);
        }
        var activations = new Dictionary<string, float>(StringComparer.Ordinal);
        foreach (var (v, rep) in _group)
            activations[v.Name] = (float)(Math.Abs(Lowering.TorchTensors.ToScalar(_activationSteps[rep])) + 1e-8);
        return new LearnedQuantization(_plan, weights, activations);
    }

    /// <summary>Conv, Gemm and MatMul whose weight (input 1) is a float constant (the quantizer's weight layers).</summary>
    public static bool IsWeightNode(Node n) =>
        n.IsDefaultDomain && n.Input(1) is { IsConstant: true } w && w.Constant!.ElementType == ElementType.Float && n.OpType switch
        {
            "Conv" => w.Constant.Dims.Length >= 3,
            "Gemm" => n.GetInt("transA", 0) == 0 && w.Constant.Dims.Length == 2,
            "MatMul" => w.Constant.Dims.Length == 2,
            _ => false,
        };

    private static List<Value> ActivationValues(Graph graph)
    {
        var result = new List<Value>();
        var seen = new HashSet<Value>();
        void Add(Value v)
        {
            if (v.IsAbsent || v.IsConstant || v.ElementType != ElementType.Float || !seen.Add(v)) return;
            result.Add(v);
        }
        foreach (var v in graph.Inputs.Where(v => !v.IsConstant)) Add(v);
        foreach (var node in graph.Nodes) foreach (var o in node.Outputs) Add(o);
        return result;
    }
}

/// <summary>What quantization-aware training learned, keyed by value name, ready to be written into the IR.</summary>
public sealed record LearnedQuantization(
    QuantizationPlan Plan,
    IReadOnlyDictionary<string, (float[] Scales, int? Axis)> Weights,
    IReadOnlyDictionary<string, float> Activations)
{
    /// <summary>
    /// Replaces the quantizer's calibrated parameters with the learned ones: activation steps, weight scales, and the
    /// bias parameters that follow from them (int32 at s_x * s_w, the accumulator's units). Call after the
    /// quantizer has annotated the graph, so that every value it quantizes carries the trained step instead.
    /// </summary>
    public int ApplyTo(Model model)
    {
        var changed = 0;
        var graph = model.Graph;
        foreach (var v in graph.Inputs.Concat(graph.Nodes.SelectMany(n => n.Outputs)))
        {
            if (v.Quant is null || !Activations.TryGetValue(v.Name, out var step)) continue;
            v.Quant = QuantParams.PerTensor(Plan.ActivationBits, Plan.SignedActivations, step);
            changed++;
        }
        foreach (var node in graph.Nodes.Where(FakeQuantizers.IsWeightNode))
        {
            var w = node.Input(1)!;
            if (!Weights.TryGetValue(w.Name, out var learned)) continue;
            w.Quant = new QuantParams(Plan.WeightBits, true, [.. learned.Scales], [.. learned.Scales.Select(_ => 0L)], learned.Axis);
            changed++;
            if (node.Input(2) is { IsConstant: true } b && node.Input(0)?.Quant is { } xq)
                b.Quant = new QuantParams(b.Quant?.Bits ?? 32, true, [.. learned.Scales.Select(s => xq.Scales[0] * s)],
                    [.. learned.Scales.Select(_ => 0L)], learned.Axis is null ? null : 0);
        }
        return changed;
    }
}
