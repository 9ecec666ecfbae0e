using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using ArchNet.IR;

namespace ArchNet.Passes.Quantization;

/// <summary>How an activation's range is chosen from its calibration statistics.</summary>
public enum CalibrationMethod { MinMax, Percentile, Mse, Entropy }

/// <summary>
/// Runs the float model on calibration data and hands every wanted value's float contents to <c>observe</c>
/// (value, elements, shape). Tests implement it with the emulator's float mode; passes cannot run models.
/// </summary>
public delegate void CalibrationRunner(Func<Value, bool> wanted, Action<Value, float[], int[]> observe);

/// <summary>
/// What the quantizer reads from calibration: the range of every value in <see cref="Values"/>, the channel means of
/// those in <see cref="ChannelMeans"/> (inputs of bias-corrected layers), and histograms of all of them when the method
/// chooses ranges from a distribution.
/// </summary>
public sealed record CalibrationRequest(IReadOnlySet<Value> Values, IReadOnlySet<Value> ChannelMeans, bool Histograms);

/// <summary>Collects the statistics a <see cref="CalibrationRequest"/> names, one entry per requested value.</summary>
public delegate IReadOnlyDictionary<Value, TensorStatistics> StatisticsSource(CalibrationRequest request);

/// <summary>
/// Statistics of one float value over the calibration set: range, a histogram over that range (second pass),
/// and the mean of each channel along axis 1 (for bias correction).
/// </summary>
public sealed class TensorStatistics
{
    public const int Bins = 2048;

    public float Min { get; private set; } = float.PositiveInfinity;
    public float Max { get; private set; } = float.NegativeInfinity;
    public long Count { get; private set; }
    /// <summary>How many of the <see cref="Count"/> values were below 0: what an unsigned format saturates.</summary>
    public long Negatives { get; private set; }
    public double[]? ChannelSums { get; private set; }
    public long ChannelItems { get; private set; }
    public long[]? Histogram { get; private set; }
    public float HistogramMin { get; private set; }
    public float HistogramMax { get; private set; }

    public double[]? ChannelMeans => ChannelSums?.Select(s => s / Math.Max(ChannelItems, 1)).ToArray();

    public void ObserveRange(float[] values, int[] shape) => ObserveRange(values, shape, channelSums: true);

    /// <summary>Folds <paramref name="values"/> (row-major, <paramref name="shape"/>) into the range and, when asked, the
    /// per-channel sums along axis 1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void ObserveRange(ReadOnlySpan<float> values, ReadOnlySpan<int> shape, bool channelSums)
    {
        var (mn, mx) = MinMax(values, Min, Max);
        (Min, Max) = (mn, mx);
        Count += values.Length;
        if (mn < 0) Negatives += CountNegative(values); // most values follow a ReLU: no second pass over them
        if (!channelSums || shape.Length < 2 || shape[1] <= 0 || values.Length == 0) return;
        var channels = shape[1];
        var inner = values.Length / (shape[0] * channels);
        ChannelSums ??= new double[channels];
        if (ChannelSums.Length != channels || inner == 0) return;
        // Contiguous runs of one channel: [N, C, inner] in row-major order.
        for (var block = 0; block < values.Length / inner; block++)
            ChannelSums[block % channels] += Sum(values.Slice(block * inner, inner));
        ChannelItems += (long)shape[0] * inner;
    }

    /// <summary>
    /// The range of <paramref name="values"/> folded into (<paramref name="min"/>, <paramref name="max"/>) in one pass.
    /// Every lane keeps <c>v &lt; min ? v : min</c> (and the same for max), so NaN never moves the range, as in a scalar loop.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static (float Min, float Max) MinMax(ReadOnlySpan<float> values, float min, float max)
    {
        var i = 0;
        if (Vector256.IsHardwareAccelerated && values.Length >= 2 * Vector256<float>.Count)
        {
            var vmin = Vector256.Create(min);
            var vmax = Vector256.Create(max);
            ref var start = ref MemoryMarshal.GetReference(values);
            for (; i + Vector256<float>.Count <= values.Length; i += Vector256<float>.Count)
            {
                var v = Vector256.LoadUnsafe(ref start, (nuint)i);
                vmin = Vector256.ConditionalSelect(Vector256.LessThan(v, vmin), v, vmin);
                vmax = Vector256.ConditionalSelect(Vector256.GreaterThan(v, vmax), v, vmax);
            }
            for (var lane = 0; lane < Vector256<float>.Count; lane++)
            {
                if (vmin[lane] < min) min = vmin[lane];
                if (vmax[lane] > max) max = vmax[lane];
            }
        }
        for (; i < values.Length; i++)
        {
            var v = values[i];
            if (v < min) min = v;
            if (v > max) max = v;
        }
        return (min, max);
    }

    /// <summary>How many of <paramref name="values"/> are below 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static long CountNegative(ReadOnlySpan<float> values)
    {
        var i = 0;
        long count = 0;
        if (Vector256.IsHardwareAccelerated && values.Length >= Vector256<float>.Count)
        {
            ref var start = ref MemoryMarshal.GetReference(values);
            for (; i + Vector256<float>.Count <= values.Length; i += Vector256<float>.Count)
                count += BitOperations.PopCount(Vector256.LessThan(Vector256.LoadUnsafe(ref start, (nuint)i), Vector256<float>.Zero).ExtractMostSignificantBits());
        }
        for (; i < values.Length; i++) if (values[i] < 0) count++;
        return count;
    }

    /// <summary>The sum in double precision, four partial sums at a time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static double Sum(ReadOnlySpan<float> values)
    {
        var i = 0;
        double sum = 0;
        if (Vector256.IsHardwareAccelerated && values.Length >= 2 * Vector256<float>.Count)
        {
            var lo = Vector256<double>.Zero;
            var hi = Vector256<double>.Zero;
            ref var start = ref MemoryMarshal.GetReference(values);
            for (; i + Vector256<float>.Count <= values.Length; i += Vector256<float>.Count)
            {
                var (a, b) = Vector256.Widen(Vector256.LoadUnsafe(ref start, (nuint)i));
                lo += a;
                hi += b;
            }
            sum = Vector256.Sum(lo + hi);
        }
        for (; i < values.Length; i++) sum += values[i];
        return sum;
    }

    public void ObserveHistogram(float[] values) => ObserveHistogram(values.AsSpan());

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void ObserveHistogram(ReadOnlySpan<float> values)
    {
        if (Histogram is null)
        {
            Histogram = new long[Bins];
            (HistogramMin, HistogramMax) = (Math.Min(Min, 0), Math.Max(Max, 0));
        }
        var width = (HistogramMax - HistogramMin) / Bins;
        if (width <= 0) { Histogram[0] += values.Length; return; }
        foreach (var v in values)
        {
            if (float.IsNaN(v)) continue;
            var b = (int)((v - HistogramMin) / width);
            Histogram[Math.Clamp(b, 0, Bins - 1)]++;
        }
    }

    /// <summary>These statistics of the value plus <paramref name="offset"/> (<see cref="OutputOffset"/>): range, histogram
    /// range and channel sums move with it; counts and bins stay.</summary>
    public TensorStatistics Offset(float offset) => new()
    {
        Min = Min + offset,
        Max = Max + offset,
        Count = Count,
        Negatives = Min + offset >= 0 ? 0 : Negatives, // an offset that lifts the minimum lifts every value
        ChannelSums = ChannelSums?.Select(s => s + (double)offset * ChannelItems).ToArray(),
        ChannelItems = ChannelItems,
        Histogram = Histogram?.ToArray(),
        HistogramMin = HistogramMin + offset,
        HistogramMax = HistogramMax + offset,
    };

    /// <summary>A new statistics object with this range and nothing observed: where one part of a histogram pass starts,
    /// so that every part bins alike.</summary>
    public TensorStatistics RangeOnly() => new() { Min = Min, Max = Max };

    /// <summary>Folds the statistics of other items (<paramref name="part"/>) into these: ranges widen, counts, channel
    /// sums and histogram bins add. Histograms must share their range (<see cref="RangeOnly"/>).</summary>
    public void Add(TensorStatistics part)
    {
        if (part.Min < Min) Min = part.Min;
        if (part.Max > Max) Max = part.Max;
        Count += part.Count;
        Negatives += part.Negatives;
        if (part.ChannelSums is { } sums)
        {
            ChannelSums ??= new double[sums.Length];
            if (ChannelSums.Length == sums.Length)
            {
                for (var c = 0; c < sums.Length; c++) ChannelSums[c] += sums[c];
                ChannelItems += part.ChannelItems;
            }
        }
        if (part.Histogram is { } bins)
        {
            if (Histogram is null) (Histogram, HistogramMin, HistogramMax) = (new long[Bins], part.HistogramMin, part.HistogramMax);
            else if (HistogramMin != part.HistogramMin || HistogramMax != part.HistogramMax)
                throw new InvalidOperationException("histograms over different ranges cannot be added");
            for (var b = 0; b < Bins; b++) Histogram[b] += bins[b];
        }
    }

    public double BinCenter(int i) => HistogramMin + (i + 0.5) * (HistogramMax - HistogramMin) / Bins;
}

/// <summary>Collects <see cref="TensorStatistics"/> for many values with one or two calibration passes.</summary>
public static class StatisticsCollector
{
    public static Dictionary<Value, TensorStatistics> Collect(CalibrationRunner runner, IReadOnlySet<Value> values, bool histograms) =>
        Collect(runner, new CalibrationRequest(values, values, histograms));

    public static Dictionary<Value, TensorStatistics> Collect(CalibrationRunner runner, CalibrationRequest request)
    {
        var stats = request.Values.ToDictionary(v => v, _ => new TensorStatistics());
        runner(request.Values.Contains, (v, data, shape) => stats[v].ObserveRange(data, shape, request.ChannelMeans.Contains(v)));
        if (request.Histograms) runner(request.Values.Contains, (v, data, _) => stats[v].ObserveHistogram(data));
        return stats;
    }

    /// <summary>A <see cref="StatisticsSource"/> over a runner that hands out whole tensors.</summary>
    public static StatisticsSource From(CalibrationRunner runner) => request => Collect(runner, request);
}
