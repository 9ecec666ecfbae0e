using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
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
    /// <see cref="LayerPrecision.EightBit"/>); null: the same as the rest.</summary>
    public int? EdgeLayerBits { get; init; }

    /// <summary>Bits of the attention activations (the quantizer's <see cref="QuantizationOptions.Attention"/> at
    /// <see cref="LayerPrecision.EightBit"/>); null: the same as the rest.</summary>
    public int? AttentionBits { get; init; }

    /// <summary>The quantizer's <see cref="QuantizationTarget.UnsignedWhereNonNegative"/>: with signed activations, a group
    /// the float student never makes negative trains (and is written) unsigned.</summary>
    public bool UnsignedWhereNonNegative { get; init; }

    /// <summary>The widths distillation trains at: the compile's policy, so that training sees the bit widths the quantizer
    /// will give.</summary>
    public static QuantizationPlan For(QuantizationPolicy policy) =>
        new(policy.WeightBits, policy.ActivationBits, policy.Target.PerChannelWeights, policy.Target.Activations.Signed)
        {
            EdgeLayerBits = policy.EdgeLayerBits,
            AttentionBits = policy.AttentionBits,
            // Below 8 bits only. fmnist_vit on archnet-transformer, seeds 0, 1, 2, top-1 change on t10k: at W4A4, training
            // the never-negative groups unsigned gained 0.52 pt on average (-4.72 -> -4.20, better in all three, cosine
            // too); at W8A8 it lost 0.11 (-0.88 -> -0.99, worse in all three): 127 levels are not what limits that
            // student, and the 8-bit groups it trains signed stay signed in the artifact (LearnedQuantization.ApplyTo).
            UnsignedWhereNonNegative = policy.Target.UnsignedWhereNonNegative && policy.ActivationBits < 8,
        };

    /// <summary>Largest weight level: symmetric narrow range, the quantizer's convention (2 bits: -1, 0, 1).</summary>
    public static long WeightQMax(int bits) => (1L << (bits - 1)) - 1;
    public static long ActivationQMax(int bits, bool signed) => signed ? (1L << (bits - 1)) - 1 : (1L << bits) - 1;
    public static long ActivationQMin(int bits, bool signed) => signed ? -(1L << (bits - 1)) : 0;
}

/// <summary>What one forward of the float student showed of an activation group: its largest and mean magnitude, its
/// largest value and mean of the positive part (all over the group's values), and the smallest value of the group's
/// representative (NaN: not seen), which decides signedness as the quantizer's calibration does.</summary>
public readonly record struct ActivationObservation(double AbsMax, double AbsMean, double Max, double PositiveMean, double RepresentativeMin)
{
    public static readonly ActivationObservation None = new(0, 0, 0, 0, double.NaN);
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
    private readonly Dictionary<Value, int?> _weightAxis = [];
    private readonly Dictionary<Value, Value> _group = [];
    private readonly Dictionary<Value, (Parameter Step, int Bits, bool Signed)> _activationSteps = [];
    private readonly List<Parameter> _ordered = [];

    public FakeQuantizers(Graph graph, QuantizationPlan plan) : base("fake_quant")
    {
        _plan = plan;
        // The quantizer's own groups and edge layers: training sees the integer graph the backends run.
        var groups = ActivationGroups.Of(graph);
        var (edgeNodes, edgeGroups) = groups.EdgeLayers(graph, plan.EdgeLayerBits is null ? LayerPrecision.Same : LayerPrecision.EightBit);
        var (_, attentionGroups) = groups.Attention(graph, plan.AttentionBits is null ? LayerPrecision.Same : LayerPrecision.EightBit);
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
            if (plan.PerChannelWeights && axis is not null)
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
            var bits = Math.Max(edgeGroups.Contains(rep) ? plan.EdgeLayerBits!.Value : plan.ActivationBits,
                attentionGroups.Contains(rep) ? plan.AttentionBits!.Value : plan.ActivationBits);
            _activationSteps[rep] = (p, bits, plan.SignedActivations);
            _ordered.Add(p);
        }
    }

    /// <summary>Every step parameter in a fixed order (for checkpoints).</summary>
    public IReadOnlyList<Parameter> Steps => _ordered;

    /// <summary>When false, values pass through unchanged (the float student, for initial statistics).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// QDrop (Wei et al. 2022): while training, each activation element keeps its float value with this probability
    /// instead of its quantized one (drawn anew every forward from <see cref="DropMasks"/>), so the weights also learn to
    /// work with partly unquantized inputs; 0 (evaluation, write-back): every element quantized.
    /// </summary>
    public double DropProbability { get; set; }

    /// <summary>The generator QDrop's masks are drawn from (null: torch's global one). The distiller gives each period its
    /// own, seeded per period, so that nothing else drawing from torch's global generator in the process (another
    /// distillation, a test running beside it) can move the masks.</summary>
    public Generator? DropMasks { get; set; }

    /// <summary>Observes every activation group's float range (one forward of the float student).</summary>
    public Func<Value, Tensor, Tensor> Observer(Dictionary<Value, ActivationObservation> seen) => (v, t) =>
    {
        if (_group.TryGetValue(v, out var rep) && t.is_floating_point())
        {
            using var scope = NewDisposeScope();
            var d = t.detach();
            double Scalar(Tensor x) => Lowering.TorchTensors.ToScalar(x);
            var old = seen.GetValueOrDefault(rep, ActivationObservation.None);
            var min = v == rep ? Scalar(d.min()) : double.NaN;
            seen[rep] = new ActivationObservation(
                Math.Max(old.AbsMax, Scalar(d.abs().max())), Math.Max(old.AbsMean, Scalar(d.abs().mean())),
                Math.Max(old.Max, Scalar(d.max())), Math.Max(old.PositiveMean, Scalar(d.clamp_min(0).mean())),
                double.IsNaN(old.RepresentativeMin) ? min : double.IsNaN(min) ? old.RepresentativeMin : Math.Min(old.RepresentativeMin, min));
        }
        return t;
    };

    /// <summary>
    /// Decides each group's signedness (<see cref="QuantizationPlan.UnsignedWhereNonNegative"/>) and starts its step at
    /// the smaller of max/qmax (no clipping) and LSQ's 2 mean|x| / sqrt(qmax): at 8 bits the first usually wins, at 4
    /// bits the second keeps resolution where most values are instead of at the rare peak.
    /// </summary>
    public void InitialiseActivationSteps(IReadOnlyDictionary<Value, ActivationObservation> seen)
    {
        using var noGrad = torch.no_grad();
        foreach (var (rep, (p, bits, _)) in _activationSteps.ToList())
        {
            var signed = _plan.SignedActivations;
            double max = 1.0, mean = 1.0;
            if (seen.TryGetValue(rep, out var o))
            {
                if (signed && _plan.UnsignedWhereNonNegative && o.RepresentativeMin >= 0) signed = false;
                (max, mean) = signed ? (o.AbsMax, o.AbsMean) : (o.Max, o.PositiveMean);
            }
            var qmax = QuantizationPlan.ActivationQMax(bits, signed);
            var step = Math.Min(max / qmax, 2 * mean / Math.Sqrt(qmax));
            p.fill_(Math.Max(step, 1e-4));
            _activationSteps[rep] = (p, bits, signed);
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
            var (step, bits, signed) = _activationSteps[rep];
            return Dropped(t, Quantize(t, step, QuantizationPlan.ActivationQMin(bits, signed), QuantizationPlan.ActivationQMax(bits, signed),
                t.numel() / Math.Max(1, t.shape[0])));
        }
        return t;
    }

    /// <summary>
    /// Apply(output, Relu(Apply(input, x))) in one node where input and output share an unsigned step (the common
    /// conv -> ReLU unit): the same values and gradients without the ReLU's and the second quantizer's passes. Null
    /// elsewhere (signed activations, different groups, quantization off).
    /// </summary>
    public Tensor? ApplyRelu(Value input, Value output, Tensor x)
    {
        if (!Enabled || !x.is_floating_point() || !_group.TryGetValue(input, out var rep) || !_group.TryGetValue(output, out var outRep)
            || rep != outRep)
            return null;
        var (step, bits, signed) = _activationSteps[rep];
        if (signed) return null;
        var qmax = QuantizationPlan.ActivationQMax(bits, signed);
        var perStep = x.numel() / Math.Max(1, x.shape[0]);
        var q = LsqFakeQuantization.ApplyRelu(x, step, qmax, 1.0 / Math.Sqrt(Math.Max(1, perStep) * (double)qmax));
        return DropProbability > 0 ? Dropped(x.relu(), q) : q;
    }

    private Tensor Dropped(Tensor x, Tensor q) =>
        DropProbability > 0 ? torch.where(torch.rand(x.shape, x.dtype, x.device, generator: DropMasks) < DropProbability, x, q) : q;

    private static Tensor Quantize(Tensor x, Tensor step, long qmin, long qmax, long perStep) =>
        // LSQ gradient scale 1/sqrt(N qmax): the step's gradient is comparable in size to the weights'.
        LsqFakeQuantization.Apply(x, step, qmin, qmax, 1.0 / Math.Sqrt(Math.Max(1, perStep) * (double)qmax));

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
            var (step, bits, signed) = _activationSteps[rep];
            activations[v.Name] = new LearnedActivation((float)(Math.Abs(Lowering.TorchTensors.ToScalar(step)) + 1e-8), bits, signed);
        }
        return new LearnedQuantization(_plan, weights, activations);
    }
}

/// <summary>A trained weight's scales (per output channel along <paramref name="Axis"/>, or one) and its bit width.</summary>
public sealed record LearnedWeight(float[] Scales, int? Axis, int Bits);

/// <summary>A trained activation step, its bit width and signedness.</summary>
public sealed record LearnedActivation(float Step, int Bits, bool Signed);

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
            v.Quant = QuantParams.PerTensor(learned.Bits, learned.Signed, learned.Step);
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

/// <summary>
/// LSQ fake quantization of one tensor (Esser et al.): with s = |step| + 1e-8 (the step's gradient scaled by
/// <c>gradScale</c>), y = round(clamp(x / s, qmin, qmax)) * s, rounding passed straight through. Written as torch
/// operations this is a dozen elementwise passes forward and as many backward, each a full trip through memory, and the
/// fake quantizers were a third of a training step; <see cref="Apply"/> does the same arithmetic as one autograd node
/// with one pass forward and one backward (float32 on the CPU; anything else takes the torch formula).
/// </summary>
public static class LsqFakeQuantization
{
    /// <summary>
    /// Fake-quantizes <paramref name="x"/> with <paramref name="step"/>: one element (per tensor) or, per channel, the
    /// rank of x with every dimension 1 but the channel axis. Forward values equal <see cref="Reference"/>'s; gradients
    /// equal its straight-through gradients up to float rounding: dy/dx = 1 where qmin &lt;= x/s &lt;= qmax, else 0;
    /// dy/ds = round(x/s) - x/s inside, the clamped level outside.
    /// </summary>
    public static Tensor Apply(Tensor x, Tensor step, long qmin, long qmax, double gradScale)
    {
        if (Layout(x, step) is not { } layout) return Reference(x, step, qmin, qmax, gradScale);
        var channelsLast = layout.Channels == 1 && !x.is_contiguous() && Lowering.TorchTensors.IsChannelsLast(x);
        return LsqFunction.apply(x, step, new LsqSpec(qmin, qmax, gradScale, layout.Outer, layout.Channels, layout.Inner, channelsLast));
    }

    /// <summary>
    /// Apply(Relu(Apply(x))) with one unsigned per-tensor step (levels 0..qmax), as one node: the ReLU passes the first
    /// quantizer's levels unchanged and the second quantizer re-quantizes them to themselves, but each still gates the
    /// gradient (the ReLU at level 0, the second quantizer where x/s rounds past the range) and the second adds its own
    /// term to the step's gradient; the node computes all of it, element by element, as the three nodes do.
    /// </summary>
    public static Tensor ApplyRelu(Tensor x, Tensor step, long qmax, double gradScale)
    {
        if (step.numel() != 1 || Layout(x, step) is not { } layout)
            return Reference(Reference(x, step, 0, qmax, gradScale).relu(), step, 0, qmax, gradScale);
        var channelsLast = !x.is_contiguous() && Lowering.TorchTensors.IsChannelsLast(x);
        return LsqFunction.apply(x, step, new LsqSpec(0, qmax, gradScale, layout.Outer, layout.Channels, layout.Inner, channelsLast) { Relu = true });
    }

    /// <summary>The formula as torch operations (autograd differentiates it): the definition the fused node reproduces.</summary>
    public static Tensor Reference(Tensor x, Tensor step, long qmin, long qmax, double gradScale)
    {
        var s = (step - step * gradScale).detach() + step * gradScale;
        s = s.abs() + 1e-8;
        var scaled = (x / s).clamp(qmin, qmax);
        var rounded = (scaled.round() - scaled).detach() + scaled;
        return rounded * s;
    }

    /// <summary>x as [outer, channels, inner] with one step per channel, or null where the fused node does not apply.</summary>
    private static (long Outer, long Channels, long Inner)? Layout(Tensor x, Tensor step)
    {
        if (x.dtype != ScalarType.Float32 || step.dtype != ScalarType.Float32 || x.device_type != DeviceType.CPU
            || step.device_type != DeviceType.CPU || x.numel() == 0)
            return null;
        var n = x.numel();
        if (step.numel() == 1) return (1, 1, n);
        if (step.dim() != x.dim()) return null;
        var axis = -1;
        for (var d = 0; d < x.dim(); d++)
        {
            if (step.shape[d] == 1) continue;
            if (step.shape[d] != x.shape[d] || axis >= 0) return null;
            axis = d;
        }
        if (axis < 0) return null;
        long outer = 1, inner = 1;
        for (var d = 0; d < axis; d++) outer *= x.shape[d];
        for (var d = axis + 1; d < x.dim(); d++) inner *= x.shape[d];
        return (outer, x.shape[axis], inner);
    }

    internal sealed record LsqSpec(long QMin, long QMax, double GradScale, long Outer, long Channels, long Inner, bool ChannelsLast)
    {
        /// <summary>Quantize, ReLU, quantize again with the same step (see <see cref="ApplyRelu"/>).</summary>
        public bool Relu { get; init; }
    }

    internal sealed class LsqFunction : autograd.SingleTensorFunction<LsqFunction>
    {
        public override string Name => "LsqFakeQuantize";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var spec = (LsqSpec)vars[2];
            var x = Dense((Tensor)vars[0], spec);
            var step = (Tensor)vars[1];
            var scales = Scales(step, spec, out _);
            var y = torch.empty_like(x);
            Forward(Floats(x), Floats(y), scales, spec);
            ctx.save_for_backward([x, step]);
            ctx.save_data("spec", spec);
            return Logical(y, spec);
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor grad)
        {
            var saved = ctx.get_saved_variables();
            var (x, step) = (saved[0], saved[1]);
            var spec = (LsqSpec)ctx.get_data("spec");
            var scales = Scales(step, spec, out var signs);
            var g = Dense(grad, spec);
            var gx = torch.empty_like(x);
            var sums = new double[spec.Channels];
            Backward(Floats(x), Floats(g), Floats(gx), scales, sums, spec);
            // s = |s0| + 1e-8 and s0 carries the step's gradient scaled: ds/dstep = sign(s0) * gradScale.
            var gs = new float[sums.Length];
            for (var c = 0; c < gs.Length; c++) gs[c] = (float)(sums[c] * signs[c] * spec.GradScale);
            return [Logical(gx, spec), torch.tensor(gs, step.shape), null!];
        }

        /// <summary>The tensor's memory as one dense run in the order the kernels walk: NHWC for a channels-last
        /// tensor quantized per tensor (the order of the elements does not matter then), else row-major.</summary>
        private static Tensor Dense(Tensor t, LsqSpec spec) => spec.ChannelsLast ? t.permute(0, 2, 3, 1).contiguous() : t.contiguous();

        private static Tensor Logical(Tensor t, LsqSpec spec) => spec.ChannelsLast ? t.permute(0, 3, 1, 2) : t;
    }

    private static Span<float> Floats(Tensor t) => MemoryMarshal.Cast<byte, float>(t.bytes);

    /// <summary>The scale per channel, computed in float exactly as <see cref="Reference"/> computes it.</summary>
    private static float[] Scales(Tensor step, LsqSpec spec, out float[] signs)
    {
        var raw = step.detach().contiguous().data<float>().ToArray();
        var g = (float)spec.GradScale;
        var scales = new float[raw.Length];
        signs = new float[raw.Length];
        for (var c = 0; c < raw.Length; c++)
        {
            var scaled = raw[c] * g;
            var s0 = (raw[c] - scaled) + scaled;
            scales[c] = MathF.Abs(s0) + 1e-8f;
            signs[c] = MathF.Sign(s0);
        }
        return scales;
    }

    private static void Forward(Span<float> x, Span<float> y, float[] scales, LsqSpec spec)
    {
        var (lo, hi) = ((float)spec.QMin, (float)spec.QMax);
        var inner = (int)spec.Inner;
        for (long o = 0, at = 0; o < spec.Outer; o++)
            for (var c = 0; c < spec.Channels; c++, at += inner)
            {
                var s = scales[c];
                var xs = x.Slice((int)at, inner);
                var ys = y.Slice((int)at, inner);
                ref var xr = ref MemoryMarshal.GetReference(xs);
                ref var yr = ref MemoryMarshal.GetReference(ys);
                var i = 0;
                if (Vector256.IsHardwareAccelerated)
                {
                    var (vs, vlo, vhi) = (Vector256.Create(s), Vector256.Create(lo), Vector256.Create(hi));
                    for (; i <= inner - Vector256<float>.Count; i += Vector256<float>.Count)
                    {
                        var v = Vector256.LoadUnsafe(ref xr, (nuint)i) / vs;
                        var y0 = Vector256.Round(Vector256.MinNative(Vector256.MaxNative(v, vlo), vhi)) * vs;
                        if (spec.Relu)
                            y0 = Vector256.Round(Vector256.MinNative(Vector256.MaxNative(Vector256.MaxNative(y0, Vector256<float>.Zero) / vs, vlo), vhi)) * vs;
                        y0.StoreUnsafe(ref yr, (nuint)i);
                    }
                }
                for (; i < inner; i++)
                {
                    var y0 = MathF.Round(Math.Min(Math.Max(xs[i] / s, lo), hi)) * s;
                    ys[i] = spec.Relu ? MathF.Round(Math.Min(Math.Max(Math.Max(y0, 0f) / s, lo), hi)) * s : y0;
                }
            }
    }

    private static void Backward(Span<float> x, Span<float> grad, Span<float> gx, float[] scales, double[] sums, LsqSpec spec)
    {
        var (lo, hi) = ((float)spec.QMin, (float)spec.QMax);
        var inner = (int)spec.Inner;
        const int block = 4096; // float partial sums flushed to double every block: long tensors keep their precision
        for (long o = 0, at = 0; o < spec.Outer; o++)
            for (var c = 0; c < spec.Channels; c++, at += inner)
            {
                var s = scales[c];
                var xs = x.Slice((int)at, inner);
                var gs = grad.Slice((int)at, inner);
                var outs = gx.Slice((int)at, inner);
                ref var xr = ref MemoryMarshal.GetReference(xs);
                ref var gr = ref MemoryMarshal.GetReference(gs);
                ref var or = ref MemoryMarshal.GetReference(outs);
                var sum = 0.0;
                var i = 0;
                if (Vector256.IsHardwareAccelerated)
                {
                    var (vs, vlo, vhi) = (Vector256.Create(s), Vector256.Create(lo), Vector256.Create(hi));
                    while (i <= inner - Vector256<float>.Count)
                    {
                        var acc = Vector256<float>.Zero;
                        var end = Math.Min(inner - Vector256<float>.Count, i + block);
                        for (; i <= end; i += Vector256<float>.Count)
                        {
                            var v = Vector256.LoadUnsafe(ref xr, (nuint)i) / vs;
                            var g = Vector256.LoadUnsafe(ref gr, (nuint)i);
                            var r = Vector256.Round(Vector256.MinNative(Vector256.MaxNative(v, vlo), vhi));
                            var inside = Vector256.GreaterThanOrEqual(v, vlo) & Vector256.LessThanOrEqual(v, vhi);
                            if (spec.Relu)
                            {
                                // Back through the second quantizer (its own step term), then the ReLU (passes where its output > 0).
                                var y = Vector256.MaxNative(r * vs, Vector256<float>.Zero);
                                var v2 = y / vs;
                                var r2 = Vector256.Round(Vector256.MinNative(Vector256.MaxNative(v2, vlo), vhi));
                                var inside2 = Vector256.GreaterThanOrEqual(v2, vlo) & Vector256.LessThanOrEqual(v2, vhi);
                                acc += g * (r2 - (v2 & inside2));
                                g = g & inside2 & Vector256.GreaterThan(y, Vector256<float>.Zero);
                            }
                            (g & inside).StoreUnsafe(ref or, (nuint)i);
                            // d y / d s: the level minus x/s inside the range (round(v) - v), the level itself outside.
                            acc += g * (r - (v & inside));
                        }
                        sum += Vector256.Sum(acc);
                    }
                }
                for (; i < inner; i++)
                {
                    var v = xs[i] / s;
                    var r = MathF.Round(Math.Min(Math.Max(v, lo), hi));
                    var inside = v >= lo && v <= hi;
                    var g = gs[i];
                    if (spec.Relu)
                    {
                        var y = Math.Max(r * s, 0f);
                        var v2 = y / s;
                        var r2 = MathF.Round(Math.Min(Math.Max(v2, lo), hi));
                        var inside2 = v2 >= lo && v2 <= hi;
                        sum += g * (inside2 ? r2 - v2 : r2);
                        g = inside2 && y > 0 ? g : 0f;
                    }
                    outs[i] = inside ? g : 0f;
                    sum += g * (inside ? r - v : r);
                }
                sums[c] += sum;
            }
    }
}
