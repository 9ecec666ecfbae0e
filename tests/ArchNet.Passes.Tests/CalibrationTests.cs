using ArchNet.IR;
using ArchNet.Passes.Quantization;
using ArchNet.Testing;
using Attribute = ArchNet.IR.Attribute;

namespace ArchNet.Passes.Tests;

/// <summary>
/// The calibration statistics and weight parameters, computed in vectorised passes, against the plain loops they replace
/// (kept here as the reference): the same floats, so the same quantized artifact.
/// </summary>
public sealed class CalibrationTests
{
    private static float[] Values(int n, int seed, bool specials)
    {
        var rng = new Random(seed);
        var v = new float[n];
        for (var i = 0; i < n; i++) v[i] = (float)(rng.NextDouble() * 20 - 7);
        if (specials && n > 10)
        {
            v[3] = float.NaN;
            v[n - 2] = float.NaN;
            v[5] = -0f;
            v[n / 2] = 0f;
        }
        return v;
    }

    [Theory]
    [InlineData(0, false)]
    [InlineData(7, false)]
    [InlineData(16, true)]
    [InlineData(1001, true)]
    [InlineData(65536, false)]
    public void MinMax_EqualsTheScalarLoop_NaNNeverMovesTheRange(int n, bool specials)
    {
        var v = Values(n, n + 1, specials);
        float mn = float.PositiveInfinity, mx = float.NegativeInfinity;
        foreach (var x in v)
        {
            if (x < mn) mn = x;
            if (x > mx) mx = x;
        }
        var (min, max) = TensorStatistics.MinMax(v, float.PositiveInfinity, float.NegativeInfinity);
        Assert.Equal(mn, min);
        Assert.Equal(mx, max);
        Assert.False(float.IsNaN(min) || float.IsNaN(max));
    }

    [Fact]
    public void ChannelSums_MatchSequentialDoubleSums()
    {
        var v = Values(2 * 3 * 1000, 9, specials: false);
        var stats = new TensorStatistics();
        stats.ObserveRange(v.AsSpan(), [2, 3, 1000], channelSums: true);
        for (var c = 0; c < 3; c++)
        {
            double expected = 0;
            for (var n = 0; n < 2; n++)
                for (var i = 0; i < 1000; i++) expected += v[(n * 3 + c) * 1000 + i];
            Assert.Equal(expected / 2000, stats.ChannelMeans![c], 1e-12);
        }
        Assert.Equal(2000, stats.ChannelItems);

        var rangeOnly = new TensorStatistics();
        rangeOnly.ObserveRange(v.AsSpan(), [2, 3, 1000], channelSums: false);
        Assert.Null(rangeOnly.ChannelSums);
        Assert.Equal((stats.Min, stats.Max, stats.Count), (rangeOnly.Min, rangeOnly.Max, rangeOnly.Count));
    }

    /// <summary>Calibration observes slices of the items on several cores and folds each slice's statistics into the
    /// total in slice order: the fold gives the statistics of the whole (histograms bin for bin, the range and counts
    /// exactly, channel means to double rounding).</summary>
    [Fact]
    public void Parts_FoldIntoTheStatisticsOfTheWhole()
    {
        int[] item = [1, 3, 50];
        var slices = Enumerable.Range(0, 5).Select(i => Values(150, 40 + i, specials: i == 2)).ToList();
        var whole = new TensorStatistics();
        foreach (var v in slices) whole.ObserveRange(v.AsSpan(), item, channelSums: true);
        var folded = new TensorStatistics();
        foreach (var v in slices)
        {
            var part = new TensorStatistics();
            part.ObserveRange(v.AsSpan(), item, channelSums: true);
            folded.Add(part);
        }
        Assert.Equal((whole.Min, whole.Max, whole.Count, whole.ChannelItems), (folded.Min, folded.Max, folded.Count, folded.ChannelItems));
        for (var c = 0; c < 3; c++) Assert.Equal(whole.ChannelMeans![c], folded.ChannelMeans![c], 1e-12);

        // The histogram pass: every part starts from the range, so all bin alike.
        foreach (var v in slices) whole.ObserveHistogram(v);
        var histogram = folded.RangeOnly();
        foreach (var v in slices)
        {
            var part = folded.RangeOnly();
            part.ObserveHistogram(v);
            histogram.Add(part);
        }
        folded.Add(histogram);
        Assert.Equal(whole.Histogram, folded.Histogram);
        Assert.Equal((whole.HistogramMin, whole.HistogramMax), (folded.HistogramMin, folded.HistogramMax));
        Assert.Equal(whole.Count, folded.Count);

        var other = new TensorStatistics();
        other.ObserveRange([-100f, 100f], [2], channelSums: false);
        other.ObserveHistogram([1f]);
        Assert.Throws<InvalidOperationException>(() => folded.Add(other));

        // A part with other channels is passed over for the means, as ObserveRange passes over such a value.
        var means = folded.ChannelMeans!;
        var fourChannels = new TensorStatistics();
        fourChannels.ObserveRange(Values(8, 7, specials: false).AsSpan(), [1, 4, 2], channelSums: true);
        folded.Add(fourChannels);
        Assert.Equal(means, folded.ChannelMeans);
    }

    /// <summary>Bias correction against its definition: bias - sum over each output channel's row of
    /// (dequantized - float weight) * the calibration mean of the input channel, for grouped and plain Conv and Gemm
    /// with and without transB, per channel and per tensor.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void BiasCorrection_SubtractsTheExpectedQuantizationShift(bool perChannel)
    {
        var b = new GraphBuilder(opset: 17, seed: 11);
        var x = b.Input("x", 1, 4, 6, 6);
        var c1 = b.Op("Conv", [x, b.Random([6, 2, 3, 3]), b.Random([6])], Attribute.Ints("pads", 1, 1, 1, 1), Attribute.Int("group", 2));
        var r1 = b.Op("Relu", c1);
        var c2 = b.Op("Conv", [r1, b.Random([6, 6, 1, 1]), b.Random([6])]);
        var flat = b.Op("Flatten", b.Op("GlobalAveragePool", c2));
        var g1 = b.Op("Gemm", [flat, b.Random([5, 6]), b.Random([5])], Attribute.Int("transB", 1));
        b.Output(b.Op("Gemm", g1, b.Random([5, 3]), b.Random([3])));
        var model = b.Build();
        var layers = model.Graph.Nodes.Where(Quantizer.IsWeightNode).ToList();
        var before = layers.ToDictionary(n => n, n => (W: n.Input(1)!.Constant!.ToFloats(), Bias: n.Input(2)!.Constant!.ToFloats(),
            Shape: n.Input(1)!.Constant!.Dims.Select(d => (int)d).ToArray()));

        // Every value gets random data of its own shape, so every channel has its own mean.
        var rng = new Random(3);
        IReadOnlyDictionary<Value, TensorStatistics>? seen = null;
        StatisticsSource source = request =>
        {
            var stats = StatisticsCollector.Collect((wanted, observe) =>
            {
                foreach (var v in request.Values.OrderBy(v => v.Name, StringComparer.Ordinal))
                {
                    var shape = v.Shape!.Dims.Select(d => (int)d.Value!.Value).ToArray();
                    observe(v, [.. Enumerable.Range(0, shape.Aggregate(1, (p, d) => p * d)).Select(_ => (float)rng.NextDouble() * 4 - 1)], shape);
                }
            }, request);
            seen = stats;
            return stats;
        };
        var target = QuantizationTarget.Default(weightBits: 3) with { PerChannelWeights = perChannel };
        var summary = Quantizer.Run(model, source, target, new QuantizationOptions());
        Assert.Equal(4, summary.BiasCorrected);

        foreach (var node in layers)
        {
            var (w, bias, shape) = before[node];
            var q = node.Input(1)!.Quant!;
            var deq = ReferenceDequantized(w, q, shape);
            var means = seen![node.Input(0)!].ChannelMeans!;
            var outChannels = bias.Length;
            var row = w.Length / outChannels;
            var expected = new float[outChannels];
            for (var m = 0; m < outChannels; m++)
            {
                double shift = 0;
                for (var i = 0; i < row; i++)
                {
                    // Conv: input channel of element i of row m (grouped: its group's channels); Gemm: row i of [in, out]
                    // or column i of [out, in].
                    var (index, channel) = node.OpType == "Conv"
                        ? (m * row + i, m / (outChannels / (int)node.GetInt("group", 1)) * shape[1] + i / (row / shape[1]))
                        : node.GetInt("transB", 0) != 0 ? (m * row + i, i) : (i * outChannels + m, i);
                    shift += (deq[index] - w[index]) * means[channel];
                }
                expected[m] = bias[m] - (float)shift;
            }
            Assert.Equal(expected, node.Input(2)!.Constant!.ToFloats());
            Assert.NotEqual(bias, expected);
        }
    }

    /// <summary>Weights quantized and back, element by element: round half to even, clamp, subtract the zero point, scale.</summary>
    private static float[] ReferenceDequantized(float[] w, QuantParams q, int[] shape)
    {
        var inner = q.Axis is { } ax ? shape.Skip(ax + 1).Aggregate(1, (x, y) => x * y) : w.Length;
        var deq = new float[w.Length];
        for (var i = 0; i < w.Length; i++)
        {
            var c = q.Axis is { } a ? i / inner % shape[a] : 0;
            var (s, z) = (q.Scales[c], q.ZeroPoints[c]);
            var level = Math.Clamp((long)Math.Round(w[i] / s, MidpointRounding.ToEven) + z, q.QMin, q.QMax);
            deq[i] = (level - z) * s;
        }
        return deq;
    }

    /// <summary>The per-channel weight parameters as first written: lists of each channel's elements, LINQ Min and Max.</summary>
    private static QuantParams ReferenceWeights(float[] w, int[] shape, int? axis, IntegerFormat f, bool searchClipping)
    {
        var channels = axis is { } a ? shape[a] : 1;
        var inner = axis is { } ax ? shape.Skip(ax + 1).Aggregate(1, (x, y) => x * y) : w.Length;
        var scales = new float[channels];
        var zps = new long[channels];
        var perChannel = new List<float>[channels];
        for (var c = 0; c < channels; c++) perChannel[c] = [];
        for (var i = 0; i < w.Length; i++) perChannel[axis is null ? 0 : i / inner % channels].Add(w[i]);
        for (var c = 0; c < channels; c++)
        {
            var values = perChannel[c];
            double lo = Math.Min(0, values.Min()), hi = Math.Max(0, values.Max());
            var (bestS, bestZ) = RangeSelection.Parameters(lo, hi, f);
            if (searchClipping)
            {
                double Error(float s, long z) => values.Sum(v =>
                {
                    var q = Math.Clamp(Math.Round(v / s, MidpointRounding.ToEven) + z, f.QMin, f.QMax);
                    var d = (q - z) * s - v;
                    return d * d;
                });
                var bestErr = Error(bestS, bestZ);
                for (var step = 1; step <= 60; step++)
                {
                    var r = 1.0 - step * 0.01;
                    var (s, z) = RangeSelection.Parameters(lo * r, hi * r, f);
                    var err = Error(s, z);
                    if (err < bestErr) (bestErr, bestS, bestZ) = (err, s, z);
                }
            }
            scales[c] = bestS;
            zps[c] = bestZ;
        }
        return new QuantParams(f.Bits, f.Signed, [.. scales], [.. zps], axis);
    }

    [Theory]
    [InlineData(8, true, 0, false, false)]
    [InlineData(8, true, 1, false, false)]
    [InlineData(4, true, 0, true, false)]
    [InlineData(4, false, 1, true, false)]
    [InlineData(8, false, -1, false, false)]
    [InlineData(8, true, 0, false, true)]
    [InlineData(2, true, 1, true, true)]
    public void Weights_EqualTheListImplementation(int bits, bool symmetric, int axis, bool search, bool specials)
    {
        int[] shape = axis == 1 ? [48, 24] : [24, 6, 3, 3];
        var n = shape.Aggregate(1, (a, b) => a * b);
        var w = Values(n, bits * 10 + axis, specials: false);
        if (specials)
        {
            w[7] = float.NaN; // channel 0 (or 7) gets a NaN
            for (var i = 0; i < n; i++) if (axis == 0 ? i / 54 == 2 : i % 24 == 5) w[i] = 0; // an all-zero channel
        }
        var f = new IntegerFormat(bits, Signed: true, Symmetric: symmetric, PowerOfTwoScales: false);
        int? ax = axis < 0 ? null : axis;
        var expected = ReferenceWeights(w, shape, ax, f, search);
        var actual = RangeSelection.Weights(w, shape, ax, f, search);
        Assert.Equal(expected.Scales.ToArray(), actual.Scales.ToArray());
        Assert.Equal(expected.ZeroPoints.ToArray(), actual.ZeroPoints.ToArray());
        Assert.Equal(expected.Axis, actual.Axis);

        // Dequantization of each element, as the integer semantics define it.
        var deq = ReferenceDequantized(w, actual, shape);
        var inner = ax is { } a2 ? shape.Skip(a2 + 1).Aggregate(1, (x, y) => x * y) : n;
        for (var i = 0; i < n; i++)
        {
            var c = ax is null ? 0 : i / inner % shape[ax.Value];
            Assert.Equal(deq[i], RangeSelection.Dequantize(w[i], actual.Scales[c], actual.ZeroPoints[c], actual.QMin, actual.QMax));
        }
    }

    /// <summary>Conv -> ReLU -> Conv: only the group representatives (ReLU outputs, graph output) and the inputs of the
    /// bias-corrected layers are measured; the first conv's output shares the ReLU's parameters.</summary>
    [Fact]
    public void Request_NamesRepresentativesAndBiasCorrectedInputsOnly()
    {
        var b = new GraphBuilder(opset: 17, seed: 3);
        var x = b.Input("x", 1, 3, 8, 8);
        var c1 = b.Op("Conv", [x, b.Random([4, 3, 3, 3]), b.Random([4])], Attribute.Ints("pads", 1, 1, 1, 1));
        var r1 = b.Op("Relu", c1);
        var c2 = b.Op("Conv", [r1, b.Random([4, 4, 1, 1]), b.Random([4])]);
        b.Output(c2);
        var model = b.Build();
        var groups = ActivationGroups.Of(model.Graph);
        var weights = model.Graph.Nodes.Where(Quantizer.IsWeightNode).ToList();

        var request = Quantizer.Request(model.Graph, groups, weights, new QuantizationOptions());
        Assert.Equal(new HashSet<Value> { x, r1, c2 }, request.Values.ToHashSet());
        Assert.Equal(new HashSet<Value> { x, r1 }, request.ChannelMeans.ToHashSet());
        Assert.False(request.Histograms);

        var noCorrection = Quantizer.Request(model.Graph, groups, weights, new QuantizationOptions { BiasCorrection = false, Method = CalibrationMethod.Mse });
        Assert.Empty(noCorrection.ChannelMeans);
        Assert.True(noCorrection.Histograms);
    }

    /// <summary>An attention-like block written for one item: the reshapes to heads spell the batch as 1.</summary>
    public static Model AttentionBlock(long firstTarget = 1, long softmaxAxis = -1)
    {
        var b = new GraphBuilder(opset: 17, seed: 5);
        var x = b.Input("x", 1, 6, 8);
        var q = b.Op("MatMul", x, b.Random([8, 8]));
        var heads = b.Op("Reshape", q, b.Ints(firstTarget, 6, 2, 4));
        var t = b.Op("Transpose", [heads], Attribute.Ints("perm", 0, 2, 1, 3));
        var kT = b.Op("Transpose", [heads], Attribute.Ints("perm", 0, 2, 3, 1));
        var scores = b.Op("MatMul", t, kT);
        var p = b.Op("Softmax", [scores], Attribute.Int("axis", softmaxAxis));
        var ctx = b.Op("MatMul", p, t);
        var back = b.Op("Transpose", [ctx], Attribute.Ints("perm", 0, 2, 1, 3));
        var merged = b.Op("Reshape", back, b.Ints(1, 6, 8));
        b.Output(b.Op("Add", b.Op("MatMul", merged, b.Random([8, 8])), x));
        return b.Build();
    }

    [Fact]
    public void Batch_AttentionBlock_WidensWithReshapesCopyingTheItemAxis()
    {
        var model = AttentionBlock();
        var batch = CalibrationBatch.Of(model);
        Assert.NotNull(batch);
        Assert.Equal(2, batch.Reshapes.Count);
        Assert.All(batch.Reshapes.Values, target => Assert.Equal(0, target[0]));
        Assert.Contains(model.Graph.Outputs[0], batch.Batched);
    }

    [Fact]
    public void Batch_RefusesGraphsThatMixOrMoveTheItemAxis()
    {
        // Softmax over axis 0 mixes items; a reshape that drops the leading 1 folds the items into rows.
        Assert.Null(CalibrationBatch.Of(AttentionBlockWithSoftmaxOverItems()));
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", 1, 6, 8);
        b.Output(b.Op("MatMul", b.Op("Reshape", x, b.Ints(6, 8)), b.Random([8, 4])));
        Assert.Null(CalibrationBatch.Of(b.Build()));

        // A Concat with a constant (a class token) would need the constant repeated per item.
        var c = new GraphBuilder(opset: 17);
        var y = c.Input("y", 1, 4, 8);
        c.Output(c.Op("Concat", [c.Random([1, 1, 8]), y], Attribute.Int("axis", 1)));
        Assert.Null(CalibrationBatch.Of(c.Build()));

        // A static batch of 2 is not a one-item graph.
        var d = new GraphBuilder(opset: 17);
        d.Output(d.Op("Relu", d.Input("z", 2, 4)));
        Assert.Null(CalibrationBatch.Of(d.Build()));
    }

    private static Model AttentionBlockWithSoftmaxOverItems()
    {
        var b = new GraphBuilder(opset: 17);
        var x = b.Input("x", 1, 6, 8);
        b.Output(b.Op("Softmax", [b.Op("MatMul", x, b.Random([8, 8]))], Attribute.Int("axis", 0)));
        return b.Build();
    }

    /// <summary>The negatives are counted (what an unsigned format saturates), on the vector path and its tail alike.</summary>
    [Fact]
    public void Statistics_CountTheNegativeValues()
    {
        var values = Enumerable.Range(0, 37).Select(i => i % 3 == 0 ? -0.5f * i - 1 : i).ToArray(); // 13 negatives
        var s = new TensorStatistics();
        s.ObserveRange(values, [1, 37]);
        s.ObserveRange([1f, 2f], [1, 2]); // no negatives: not counted again
        Assert.Equal(13, s.Negatives);
        Assert.Equal(39, s.Count);
        Assert.Equal(0, s.Offset(50).Negatives);
    }
}
