using ArchNet.IR;
using ArchNet.Passes.Quantization;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ArchNet.Passes.Distillation;

/// <summary>The integer formats quantization-aware training simulates (from the capability and the user's bit widths).</summary>
public sealed record QuantizationPlan(int WeightBits, int ActivationBits, bool PerChannelWeights, bool SignedActivations)
{
    /// <summary>Bits of the first and last weight layers and their activations (the quantizer's
    /// <see cref="EdgeLayerPolicy.EightBit"/>); null: the same as the rest.</summary>
    public int? EdgeLayerBits { get; init; }

    /// <summary>Largest weight level: symmetric narrow range, the quantizer's convention (2 bits: -1, 0, 1).</summary>
    public static long WeightQMax(int bits) => (1L << (bits - 1)) - 1;
    public long ActivationQMax(int bits) => SignedActivations ? (1L << (bits - 1)) - 1 : (1L << bits) - 1;
    public long ActivationQMin(int bits) => SignedActivations ? -(1L << (bits - 1)) : 0;
}

/// <summary>
/// Learned-step-size fake quantization (Esser et al., LSQ) of a graph's weights and activations, with the
/// straight-through estimator for rounding. Activations that the quantizer would tie together (a value read
/// only by a ReLU, a max-pool, a concat...) share one step, so training sees the integer graph the backends
/// run: every activation clamped to the unsigned range, i.e. negatives become 0 where the chip is unsigned.
/// </summary>
public sealed class FakeQuantizers : nn.Module
{
    private readonly QuantizationPlan _plan;
    private readonly Dictionary<Value, (Parameter Step, int Bits)> _weightSteps = [];
    private readonly Dictionary<Value, int> _weightAxis = [];
    private readonly Dictionary<Value, Value> _group = [];
    private readonly Dictionary<Value, (Parameter Step, int Bits)> _activationSteps = [];
    private readonly List<Parameter> _ordered = [];

    public FakeQuantizers(Graph graph, QuantizationPlan plan) : base("fake_quant")
    {
        _plan = plan;
        // The quantizer's own groups and edge layers: training sees the integer graph the backends run.
        var groups = ActivationGroups.Of(graph);
        var (edgeNodes, edgeGroups) = groups.EdgeLayers(graph, plan.EdgeLayerBits is null ? EdgeLayerPolicy.Same : EdgeLayerPolicy.EightBit);
        var index = 0;
        foreach (var node in graph.Nodes.Where(Quantizer.IsWeightNode))
        {
            var w = node.Input(1)!;
            if (_weightSteps.ContainsKey(w)) continue;
            var bits = edgeNodes.Contains(node) ? plan.EdgeLayerBits!.Value : plan.WeightBits;
            var axis = Quantizer.OutputChannelAxis(node);
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
            var p = new Parameter((init / (double)QuantizationPlan.WeightQMax(bits)).clamp_min(1e-8).detach().clone(), requires_grad: true);
            p.DetachFromDisposeScope();
            register_parameter($"w{index++}", p);
            _weightSteps[w] = (p, bits);
            _ordered.Add(p);
        }

        // Activation groups (constants keep their values: they never pass through the student's transform).
        foreach (var v in groups.Values.Where(v => !v.IsConstant)) _group[v] = groups.Representative(v);
        foreach (var rep in _group.Values.Distinct())
        {
            var p = new Parameter(torch.ones(1), requires_grad: true);
            p.DetachFromDisposeScope();
            register_parameter($"a{index++}", p);
            _activationSteps[rep] = (p, edgeGroups.Contains(rep) ? plan.EdgeLayerBits!.Value : plan.ActivationBits);
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
        foreach (var (rep, (p, bits)) in _activationSteps)
        {
            var (max, mean) = seen.GetValueOrDefault(rep, (1.0, 1.0));
            var qmax = _plan.ActivationQMax(bits);
            var step = Math.Min(max / qmax, 2 * mean / Math.Sqrt(qmax));
            p.fill_(Math.Max(step, 1e-4));
        }
    }

    /// <summary>The transform the student module applies: weights and activations quantized, biases and the rest untouched.</summary>
    public Tensor Apply(Value v, Tensor t)
    {
        if (!Enabled || !t.is_floating_point()) return t;
        if (_weightSteps.TryGetValue(v, out var ws))
        {
            var qmax = QuantizationPlan.WeightQMax(ws.Bits);
            return Quantize(t, ws.Step, -qmax, qmax, t.numel() / Math.Max(1, ws.Step.numel()));
        }
        if (_group.TryGetValue(v, out var rep))
        {
            var (step, bits) = _activationSteps[rep];
            return Quantize(t, step, _plan.ActivationQMin(bits), _plan.ActivationQMax(bits), t.numel() / Math.Max(1, t.shape[0]));
        }
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
        var weights = new Dictionary<string, LearnedWeight>(StringComparer.Ordinal);
        foreach (var (v, (p, bits)) in _weightSteps)
        {
            var scales = Lowering.TorchTensors.ToData(p.detach().abs() + 1e-8).ToFloats();
            weights[v.Name] = new LearnedWeight(scales, _plan.PerChannelWeights ? _weightAxis[v] : null, bits);
        }
        var activations = new Dictionary<string, LearnedActivation>(StringComparer.Ordinal);
        foreach (var (v, rep) in _group)
        {
            var (step, bits) = _activationSteps[rep];
            activations[v.Name] = new LearnedActivation((float)(Math.Abs(Lowering.TorchTensors.ToScalar(step)) + 1e-8), bits);
        }
        return new LearnedQuantization(_plan, weights, activations);
    }
}

/// <summary>A trained weight's scales (per output channel along <paramref name="Axis"/>, or one) and its bit width.</summary>
public sealed record LearnedWeight(float[] Scales, int? Axis, int Bits);

/// <summary>A trained activation step and its bit width.</summary>
public sealed record LearnedActivation(float Step, int Bits);

/// <summary>What quantization-aware training learned, keyed by value name, ready to be written into the IR.</summary>
public sealed record LearnedQuantization(
    QuantizationPlan Plan,
    IReadOnlyDictionary<string, LearnedWeight> Weights,
    IReadOnlyDictionary<string, LearnedActivation> Activations)
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
            if (v.Quant is null || !Activations.TryGetValue(v.Name, out var learned)) continue;
            v.Quant = QuantParams.PerTensor(learned.Bits, Plan.SignedActivations, learned.Step);
            changed++;
        }
        foreach (var node in graph.Nodes.Where(Quantizer.IsWeightNode))
        {
            var w = node.Input(1)!;
            if (!Weights.TryGetValue(w.Name, out var learned)) continue;
            w.Quant = new QuantParams(learned.Bits, true, [.. learned.Scales], [.. learned.Scales.Select(_ => 0L)], learned.Axis);
            changed++;
            if (node.Input(2) is { IsConstant: true } b && node.Input(0)?.Quant is { } xq)
                b.Quant = new QuantParams(b.Quant?.Bits ?? 32, true, [.. learned.Scales.Select(s => xq.Scales[0] * s)],
                    [.. learned.Scales.Select(_ => 0L)], learned.Axis is null ? null : 0);
        }
        return changed;
    }
}
