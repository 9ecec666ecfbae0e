using System.Runtime.CompilerServices;
using ArchNet.IR;

namespace ArchNet.Passes.Quantization;

/// <summary>
/// The widths of a part of the model that is often the most sensitive to quantization: the first and last weight layers
/// (<see cref="QuantizationOptions.EdgeLayers"/>), or attention (<see cref="QuantizationOptions.Attention"/>).
/// </summary>
public enum LayerPrecision
{
    /// <summary>Same widths as every other layer.</summary>
    Same,
    /// <summary>8-bit weights and 8-bit activations in that part (the chip must take 8 bits).</summary>
    EightBit,
}

/// <summary>The numerics the quantizer must produce: resolved from a capability file and the user's bit widths.</summary>
public sealed record QuantizationTarget(
    IntegerFormat Weights,
    IntegerFormat Activations,
    bool PerChannelWeights,
    QuantSemantics Semantics,
    IReadOnlyList<int> AllowedWeightBits,
    IReadOnlyList<int> AllowedActivationBits)
{
    /// <summary>
    /// The chip takes both signednesses of its symmetric activations, per tensor: an activation group whose calibrated
    /// range has no negative value (ReLU outputs, softmax probabilities) is unsigned, with twice the positive levels
    /// of the signed format (15 instead of 7 at 4 bits); the rest stay <see cref="Activations"/>' signed format.
    /// </summary>
    public bool UnsignedWhereNonNegative { get; init; }

    /// <summary>The reference CPU: signed symmetric per-channel weights, unsigned asymmetric activations, float requantization.</summary>
    public static QuantizationTarget Default(int weightBits = 8, int activationBits = 8) => new(
        new IntegerFormat(weightBits, Signed: true, Symmetric: true, PowerOfTwoScales: false),
        new IntegerFormat(activationBits, Signed: false, Symmetric: false, PowerOfTwoScales: false),
        PerChannelWeights: true, new QuantSemantics(), [2, 3, 4, 5, 6, 7, 8, 16], [4, 8, 16]);
}

public sealed record QuantizationOptions
{
    public CalibrationMethod Method { get; init; } = CalibrationMethod.MinMax;
    public double Percentile { get; init; } = 99.99;
    public bool BiasCorrection { get; init; } = true;
    public LayerPrecision EdgeLayers { get; init; } = LayerPrecision.Same;
    /// <summary>Softmax and the MatMuls between two activations (attention scores and context), with their inputs and
    /// outputs (<see cref="ActivationGroups.Attention"/>). It has no weights: only activation widths change.</summary>
    public LayerPrecision Attention { get; init; } = LayerPrecision.Same;
    /// <summary>Search per-channel weight clipping (always on below 5 bits).</summary>
    public bool SearchWeightClipping { get; init; }
    /// <summary>On a chip whose activations are symmetric unsigned, a graph output with negative calibrated values is
    /// raised by <see cref="OutputOffset"/> through its Conv or Gemm's bias instead of saturating at 0.</summary>
    public bool OffsetNegativeOutputs { get; init; } = true;
    /// <summary>Distillation trained the graph with fake quantization in the chip's formats: a value's saturation at 0
    /// was present throughout its training (the weights learned around it), so it is said in an info line, not warned
    /// about; its cost is in the report's per-layer rows.</summary>
    public bool SaturationTrained { get; init; }

    /// <summary>
    /// Fails when a policy asks for widths <paramref name="chip"/> does not take: an 8-bit part of the model on a chip
    /// without 8-bit weights or activations is an error, never a silent fallback to the narrow widths.
    /// </summary>
    public void CheckWidths(QuantizationTarget target, string chip)
    {
        string Listed(IReadOnlyList<int> bits) => string.Join(", ", bits);
        if (EdgeLayers == LayerPrecision.EightBit && !(target.AllowedWeightBits.Contains(8) && target.AllowedActivationBits.Contains(8)))
            throw new ArchNetException($"8-bit edge layers need 8-bit weights and activations; {chip} takes weights of " +
                $"{Listed(target.AllowedWeightBits)} bits and activations of {Listed(target.AllowedActivationBits)} bits")
                { Setting = Setting.EdgeLayers, SettingValue = "EightBit" };
        if (Attention == LayerPrecision.EightBit && !target.AllowedActivationBits.Contains(8))
            throw new ArchNetException($"8-bit attention needs 8-bit activations; {chip} takes activations of " +
                $"{Listed(target.AllowedActivationBits)} bits")
                { Setting = Setting.Attention, SettingValue = "EightBit" };
    }
}

/// <summary>What the quantizer decided, for the report.</summary>
/// <param name="OutputOffsets">Per graph output raised by <see cref="OutputOffset"/>, the constant added.</param>
public sealed record QuantizationSummary(
    int QuantizedActivations, int QuantizedWeights, int BiasCorrected, IReadOnlyList<string> EightBitEdgeLayers,
    IReadOnlyList<string> EightBitAttention, IReadOnlyList<string> FloatValues, IReadOnlyDictionary<string, double> OutputOffsets);

/// <summary>
/// Post-training quantization: annotates every float activation and weight of the graph with <see cref="QuantParams"/>
/// (see ArchNet.Backends.Emulation.IntegerArithmetic for what they mean), and records the integer semantics in the
/// model's metadata. Values that only move data (Reshape, Transpose, MaxPool, ...) and values folded into a following
/// ReLU or Concat share their consumer's parameters, so no requantization happens between them.
/// </summary>
public static class Quantizer
{
    public static QuantizationSummary Run(Model model, CalibrationRunner runner, QuantizationTarget target,
        QuantizationOptions options, IDiagnostics? diagnostics = null) =>
        Run(model, StatisticsCollector.From(runner), target, options, diagnostics);

    public static QuantizationSummary Run(Model model, StatisticsSource calibration, QuantizationTarget target,
        QuantizationOptions options, IDiagnostics? diagnostics = null)
    {
        diagnostics ??= SilentDiagnostics.Instance;
        options.CheckWidths(target, "the target");
        var graph = model.Graph;
        var weightNodes = graph.Nodes.Where(IsWeightNode).ToList();
        var groups = ActivationGroups.Of(graph);
        var activations = groups.Values;
        Value Find(Value v) => groups.Representative(v);

        var request = Request(graph, groups, weightNodes, options);
        var stats = calibration(request);

        // Edge layers (the first and last weight node) and attention, at 8 bits when asked for.
        var (edge, edgeValues) = groups.EdgeLayers(graph, options.EdgeLayers);
        var (attention, attentionValues) = groups.Attention(graph, options.Attention);
        var eightBitValues = edgeValues.Union(attentionValues).ToHashSet();

        // Activations.
        var groupParams = new Dictionary<Value, QuantParams>();
        var offsets = new SortedDictionary<string, double>(StringComparer.Ordinal);
        foreach (var v in activations)
        {
            var rep = Find(v);
            if (!groupParams.TryGetValue(rep, out var q))
            {
                var f = target.Activations;
                if (eightBitValues.Contains(rep) && f.Bits < 8) f = f with { Bits = 8 };
                if (rep.IsConstant)
                {
                    var data = rep.Constant!.ToFloats();
                    var (lo, hi) = (data.DefaultIfEmpty(0).Min(), data.DefaultIfEmpty(0).Max());
                    if (target.UnsignedWhereNonNegative && lo >= 0) f = f with { Signed = false };
                    q = RangeSelection.PerTensor(lo, hi, f);
                }
                else
                {
                    var s = stats[rep];
                    if (target.UnsignedWhereNonNegative && s.Count > 0 && s.Min >= 0) f = f with { Signed = false };
                    if (s.Min < 0 && f.Symmetric && !f.Signed && options.OffsetNegativeOutputs && graph.Outputs.Contains(rep)
                        && OutputOffset.For(s.Min) is var offset && rep.Producer is { } producer && OutputOffset.TryApply(graph, producer, offset))
                    {
                        s = s.Offset((float)offset);
                        offsets[rep.Name] = offset;
                        // Documented and harmless (README: what a compile changes besides the operators): an info line.
                        diagnostics.Info($"output '{rep.Name}' has negative values, which the chip's unsigned activations cannot hold: " +
                            $"'{producer.DisplayName}' adds {offset:G6} to it (arg-max and softmax unchanged); the artifact's output is the original's plus that");
                    }
                    // Negatives a following ReLU removes anyway are not lost (the ReLU is fused into the format): no warning.
                    if (s.Min < 0 && f.Symmetric && !f.Signed && !Rectification.RectifiedDownstream(graph, rep))
                        diagnostics.Report(new(options.SaturationTrained ? Severity.Info : Severity.Warning,
                            $"value '{rep.Name}': {100.0 * s.Negatives / Math.Max(1, s.Count):G3} % of its calibrated values are negative (down to " +
                            $"{s.Min:G4}) and saturate at 0: the chip's activations are symmetric unsigned and no ReLU follows" +
                            (options.SaturationTrained ? " (distillation trained with this saturation)" : "")));
                    var (lo, hi) = RangeSelection.Choose(s, options.Method, f, options.Percentile);
                    q = RangeSelection.PerTensor(lo, hi, f);
                }
                groupParams[rep] = q;
            }
            v.Quant = q;
        }

        // Weights (and biases), with optional bias correction. Each layer's parameters and bias shift depend on its own
        // weights and statistics only, so they are computed on all cores; the graph is changed afterwards, in node order.
        var layers = new (QuantParams Q, float[]? Shift)[weightNodes.Count];
        Parallel.For(0, weightNodes.Count, i =>
        {
            var node = weightNodes[i];
            var data = node.Input(1)!.Constant!;
            var shape = data.Dims.Select(d => (int)d).ToArray();
            var values = data.Span<float>(); // IsWeightNode: a float constant, read in place
            var f = target.Weights;
            if (edge.Contains(node) && f.Bits < 8) f = f with { Bits = 8 };
            var q = RangeSelection.Weights(values, shape, target.PerChannelWeights ? OutputChannelAxis(node) : null, f,
                options.SearchWeightClipping || f.Bits <= 4);
            var shift = options.BiasCorrection && node.Input(0) is { } x && stats.TryGetValue(x, out var xs) && xs.ChannelMeans is { } means
                ? BiasShift(node, values, shape, q, means) : null;
            layers[i] = (q, shift);
        });
        var corrected = 0;
        for (var i = 0; i < weightNodes.Count; i++)
        {
            var node = weightNodes[i];
            var (q, shift) = layers[i];
            var w = node.Input(1)!;
            if (w.Uses.Count > 1)
            {
                // A shared weight would get two parameter sets: give this node its own copy.
                var copy = graph.AddConstant(w.Name + "_" + node.DisplayName, w.Constant!);
                node.SetInput(1, copy);
                w = copy;
            }
            w.Quant = q;
            if (shift is not null && CorrectBias(graph, node, shift)) corrected++;
            if (node.Input(2) is { IsConstant: true } b && node.Input(0)?.Quant is { } xq)
            {
                // int32 at scale sx * sw[c] (per output channel, zero point 0): the accumulator's own units.
                var bq = new QuantParams(target.Semantics.AccumulatorBits, true,
                    [.. q.Scales.Select(s => xq.Scales[0] * s)], [.. q.Scales.Select(_ => 0L)], q.PerChannel ? 0 : null);
                if (b.Uses.Count > 1)
                {
                    var copy = graph.AddConstant(b.Name + "_" + node.DisplayName, b.Constant!);
                    node.SetInput(2, copy);
                    b = copy;
                }
                b.Quant = bq;
            }
        }

        target.Semantics.WriteTo(model);
        var floatValues = graph.Nodes.SelectMany(n => n.Outputs)
            .Where(v => v.Quant is null && v.ElementType is ElementType.Float).Select(v => v.Name).ToList();
        return new QuantizationSummary(activations.Count, weightNodes.Count, corrected, Names(edge), Names(attention), floatValues, offsets);
    }

    /// <summary>Display names of <paramref name="nodes"/>, for the report.</summary>
    private static List<string> Names(IReadOnlySet<Node> nodes) => [.. nodes.Select(n => n.DisplayName)];

    /// <summary>
    /// What calibration must measure, and nothing more: the range of each group's representative (the only statistics
    /// that set activation parameters) and the channel means of the inputs of Conv and Gemm layers when biases are
    /// corrected (MatMul has no bias to correct).
    /// </summary>
    public static CalibrationRequest Request(Graph graph, QuantizationOptions options) =>
        Request(graph, ActivationGroups.Of(graph), graph.Nodes.Where(IsWeightNode).ToList(), options);

    /// <inheritdoc cref="Request(Graph, QuantizationOptions)"/>
    public static CalibrationRequest Request(Graph graph, ActivationGroups groups, IEnumerable<Node> weightNodes, QuantizationOptions options)
    {
        var means = new HashSet<Value>();
        if (options.BiasCorrection)
            foreach (var node in weightNodes)
                if (node.OpType is "Conv" or "Gemm" && node.Input(0) is { IsConstant: false } x && x.ElementType == ElementType.Float)
                    means.Add(x);
        var values = new HashSet<Value>(groups.Representatives.Where(v => !v.IsConstant));
        values.UnionWith(means);
        return new CalibrationRequest(values, means, options.Method != CalibrationMethod.MinMax);
    }

    /// <summary>Conv, ConvTranspose, Gemm and MatMul whose weight (input 1) is a float constant.</summary>
    public static bool IsWeightNode(Node n) =>
        n.IsDefaultDomain && n.Input(1) is { IsConstant: true } w && w.Constant!.ElementType == ElementType.Float && n.OpType switch
        {
            "Conv" or "ConvTranspose" => w.Constant.Dims.Length >= 3,
            "Gemm" => n.GetInt("transA", 0) == 0 && w.Constant.Dims.Length == 2,
            "MatMul" => w.Constant.Dims.Length == 2,
            _ => false,
        };

    /// <summary>
    /// The weight axis that indexes output channels, for per-channel parameters: 0 for Conv and Gemm with transB, 1 for
    /// ConvTranspose ([C, M / group, kH, kW]) without groups, else the last. Null for a grouped ConvTranspose, whose axis 1
    /// indexes a channel of every group at once: its weights get one scale (a bias's scale must follow its output channel).
    /// </summary>
    public static int? OutputChannelAxis(Node n) => n.OpType switch
    {
        "Conv" => 0,
        "Gemm" when n.GetInt("transB", 0) != 0 => 0,
        "ConvTranspose" => n.GetInt("group", 1) == 1 ? 1 : null,
        _ => 1,
    };

    /// <summary>
    /// Bias correction (Nagel et al., 2019, "Data-Free Quantization"): the expected output shift of quantized weights,
    /// (Wq - W) E[x] per output channel with E[x] the calibration mean of each input channel, is subtracted from the bias.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float[]? BiasShift(Node node, ReadOnlySpan<float> w, int[] shape, QuantParams q, double[] means)
    {
        // MatMul has no bias input to correct; ConvTranspose's taps reach its borders unevenly, so its shift is not one per channel.
        if (node.OpType is "MatMul" or "ConvTranspose") return null;
        // Per output channel m: the sum over its row of (deq - w) * E[x of the input channel the element reads],
        // accumulated in row order. Output channel m's weights are channel m of per-channel parameters.
        int outChannels, rowLength;
        float[] shift;
        long qmin = q.QMin, qmax = q.QMax;
        if (node.OpType == "Conv")
        {
            outChannels = shape[0];
            rowLength = w.Length / outChannels;
            var cg = shape[1];
            var k = rowLength / cg;
            var group = (int)node.GetInt("group", 1);
            var perGroup = outChannels / group;
            if (means.Length != cg * group) return null;
            shift = new float[outChannels];
            for (var m = 0; m < outChannels; m++)
            {
                double s = 0;
                var first = m / perGroup * cg;
                var c = q.Axis is null ? 0 : m;
                var (scale, z) = (q.Scales[c], q.ZeroPoints[c]);
                for (var ci = 0; ci < cg; ci++)
                {
                    var mean = means[first + ci];
                    var offset = m * rowLength + ci * k;
                    for (var j = 0; j < k; j++)
                    {
                        var v = w[offset + j];
                        s += (RangeSelection.Dequantize(v, scale, z, qmin, qmax) - v) * mean;
                    }
                }
                shift[m] = (float)s;
            }
        }
        else
        {
            var transB = node.GetInt("transB", 0) != 0;
            outChannels = transB ? shape[0] : shape[1];
            rowLength = transB ? shape[1] : shape[0];
            if (means.Length != rowLength) return null;
            shift = new float[outChannels];
            for (var m = 0; m < outChannels; m++)
            {
                double s = 0;
                var c = q.Axis is null ? 0 : m;
                var (scale, z) = (q.Scales[c], q.ZeroPoints[c]);
                for (var i = 0; i < rowLength; i++)
                {
                    // Rows are output channels with transB; without it, element (i, m) of the [in, out] weight.
                    var v = w[transB ? m * rowLength + i : i * outChannels + m];
                    s += (RangeSelection.Dequantize(v, scale, z, qmin, qmax) - v) * means[i];
                }
                shift[m] = (float)s;
            }
        }
        return shift;
    }

    /// <summary>Subtracts <paramref name="shift"/> (see <see cref="BiasShift"/>) from the bias of <paramref name="node"/>.</summary>
    private static bool CorrectBias(Graph graph, Node node, float[] shift)
    {
        var outChannels = shift.Length;
        var bias = node.Input(2) is { IsConstant: true } b ? b.Constant!.ToFloats() : new float[outChannels];
        if (bias.Length != outChannels) return false;
        var fixedBias = new float[outChannels];
        for (var m = 0; m < outChannels; m++) fixedBias[m] = bias[m] - shift[m];
        var value = graph.AddConstant((node.Input(2)?.Name ?? node.DisplayName + "_bias") + "_corrected", TensorData.FromFloats([outChannels], fixedBias));
        if (node.Inputs.Count > 2) node.SetInput(2, value); else node.AppendInput(value);
        return true;
    }
}
