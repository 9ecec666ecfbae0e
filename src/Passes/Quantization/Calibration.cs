using ArchNet.IR;

namespace ArchNet.Passes.Quantization;

/// <summary>How an activation's range is chosen from its calibration statistics.</summary>
public enum CalibrationMethod { MinMax, Percentile, Mse, Entropy }

/// <summary>
/// Runs the float model on calibration data and hands every wanted value's float contents to <c>observe</c>
/// (value, elements, shape). The pipeline implements it with the emulator's float mode; passes cannot run models.
/// </summary>
public delegate void CalibrationRunner(Func<Value, bool> wanted, Action<Value, float[], int[]> observe);

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
    public double[]? ChannelSums { get; private set; }
    public long ChannelItems { get; private set; }
    public long[]? Histogram { get; private set; }
    public float HistogramMin { get; private set; }
    public float HistogramMax { get; private set; }

    public double[]? ChannelMeans => ChannelSums?.Select(s => s / Math.Max(ChannelItems, 1)).ToArray();

    public void ObserveRange(float[] values, int[] shape)
    {
        float mn = Min, mx = Max;
        foreach (var v in values)
        {
            // NaN fails both comparisons, so it never moves the range.
            if (v < mn) mn = v;
            if (v > mx) mx = v;
        }
        (Min, Max) = (mn, mx);
        Count += values.Length;
        if (shape.Length >= 2 && shape[1] > 0 && values.Length > 0)
        {
            var channels = shape[1];
            var inner = values.Length / (shape[0] * channels);
            ChannelSums ??= new double[channels];
            if (ChannelSums.Length != channels || inner == 0) return;
            // Contiguous runs of one channel: [N, C, inner] in row-major order.
            var span = values.AsSpan();
            for (var block = 0; block < values.Length / inner; block++)
            {
                double sum = 0;
                foreach (var v in span.Slice(block * inner, inner)) sum += v;
                ChannelSums[block % channels] += sum;
            }
            ChannelItems += (long)shape[0] * inner;
        }
    }

    public void ObserveHistogram(float[] values)
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

    public double BinCenter(int i) => HistogramMin + (i + 0.5) * (HistogramMax - HistogramMin) / Bins;
}

/// <summary>Collects <see cref="TensorStatistics"/> for many values with one or two calibration passes.</summary>
public static class StatisticsCollector
{
    public static Dictionary<Value, TensorStatistics> Collect(CalibrationRunner runner, IReadOnlySet<Value> values, bool histograms)
    {
        var stats = values.ToDictionary(v => v, _ => new TensorStatistics());
        runner(values.Contains, (v, data, shape) => stats[v].ObserveRange(data, shape));
        if (histograms) runner(values.Contains, (v, data, _) => stats[v].ObserveHistogram(data));
        return stats;
    }
}
