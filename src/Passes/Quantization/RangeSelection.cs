using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using ArchNet.IR;

namespace ArchNet.Passes.Quantization;

/// <summary>How one class of tensors is represented: width, signedness, symmetry, power-of-two scales.</summary>
public sealed record IntegerFormat(int Bits, bool Signed, bool Symmetric, bool PowerOfTwoScales)
{
    /// <summary>Largest magnitude a symmetric format uses: 2^(b-1) - 1 for signed (a narrow range, so that -q exists), 2^b - 1 unsigned.</summary>
    public long SymmetricMax => Signed ? (1L << (Bits - 1)) - 1 : (1L << Bits) - 1;
    public long QMin => Signed ? -(1L << (Bits - 1)) : 0;
    public long QMax => Signed ? (1L << (Bits - 1)) - 1 : (1L << Bits) - 1;
}

/// <summary>Turns a real range into quantization parameters, and chooses ranges from statistics.</summary>
public static class RangeSelection
{
    /// <summary>Scale and zero point representing [lo, hi] (widened to include 0) in <paramref name="f"/>.</summary>
    public static (float Scale, long ZeroPoint) Parameters(double lo, double hi, IntegerFormat f)
    {
        lo = Math.Min(lo, 0);
        hi = Math.Max(hi, 0);
        double scale;
        long zp;
        if (f.Symmetric)
        {
            // Symmetric unsigned has zero point 0: only [0, hi] is representable (ReLU outputs).
            var a = f.Signed ? Math.Max(-lo, hi) : hi;
            scale = a / f.SymmetricMax;
            zp = 0;
        }
        else
        {
            scale = (hi - lo) / (f.QMax - f.QMin);
            zp = 0;
        }
        if (!(scale > 0) || double.IsInfinity(scale)) scale = 1.0; // an all-zero tensor: any scale represents it
        if (f.PowerOfTwoScales) scale = Math.Pow(2, Math.Ceiling(Math.Log2(scale)));
        var s = (float)scale;
        if (!f.Symmetric) zp = Math.Clamp((long)Math.Round(f.QMin - lo / s, MidpointRounding.ToEven), f.QMin, f.QMax);
        return (s, zp);
    }

    public static QuantParams PerTensor(double lo, double hi, IntegerFormat f)
    {
        var (s, z) = Parameters(lo, hi, f);
        return new QuantParams(f.Bits, f.Signed, [s], [z]);
    }

    /// <summary>The range to represent for one activation, by <paramref name="method"/>.</summary>
    public static (double Lo, double Hi) Choose(TensorStatistics stats, CalibrationMethod method, IntegerFormat f, double percentile)
    {
        if (stats.Count == 0) return (0, 0);
        double lo = Math.Min(stats.Min, 0), hi = Math.Max(stats.Max, 0);
        if (method == CalibrationMethod.MinMax || stats.Histogram is null || hi - lo <= 0) return (lo, hi);
        return method switch
        {
            CalibrationMethod.Percentile => PercentileRange(stats, percentile),
            CalibrationMethod.Mse => MseRange(stats, f),
            _ => EntropyRange(stats, f),
        };
    }

    private static (double, double) PercentileRange(TensorStatistics s, double p)
    {
        var h = s.Histogram!;
        var total = h.Sum();
        double lowTarget = total * (100 - p) / 100, highTarget = total * p / 100;
        double lo = s.HistogramMin, hi = s.HistogramMax;
        long acc = 0;
        var width = (s.HistogramMax - s.HistogramMin) / (double)TensorStatistics.Bins;
        var foundLo = false;
        for (var i = 0; i < h.Length; i++)
        {
            acc += h[i];
            if (!foundLo && acc > lowTarget) { lo = s.HistogramMin + i * width; foundLo = true; }
            if (acc >= highTarget) { hi = s.HistogramMin + (i + 1) * width; break; }
        }
        return (Math.Min(lo, 0), Math.Max(hi, 0));
    }

    /// <summary>Expected squared quantization error of the histogram under parameters (scale, zp).</summary>
    public static double HistogramError(TensorStatistics s, IntegerFormat f, float scale, long zp)
    {
        var h = s.Histogram!;
        double err = 0;
        for (var i = 0; i < h.Length; i++)
        {
            if (h[i] == 0) continue;
            var x = s.BinCenter(i);
            var q = Math.Clamp(Math.Round(x / scale, MidpointRounding.ToEven) + zp, f.QMin, f.QMax);
            var d = (q - zp) * scale - x;
            err += h[i] * d * d;
        }
        return err;
    }

    private static (double, double) MseRange(TensorStatistics s, IntegerFormat f)
    {
        double lo = Math.Min(s.Min, 0), hi = Math.Max(s.Max, 0);
        (double, double) best = (lo, hi);
        var bestErr = double.PositiveInfinity;
        for (var step = 0; step <= 80; step++)
        {
            var a = 1.0 - step * 0.01; // shrink the range by up to 80%
            var (scale, zp) = Parameters(lo * a, hi * a, f);
            var err = HistogramError(s, f, scale, zp);
            if (err < bestErr) { bestErr = err; best = (lo * a, hi * a); }
        }
        return best;
    }

    /// <summary>
    /// The clipping threshold minimising KL(P || Q) between the magnitude histogram and its quantized version
    /// (the method TensorRT popularised), searched over thresholds from the number of levels up to the full range.
    /// </summary>
    private static (double, double) EntropyRange(TensorStatistics s, IntegerFormat f)
    {
        var bins = TensorStatistics.Bins;
        var maxAbs = Math.Max(-s.HistogramMin, s.HistogramMax);
        var mag = new double[bins];
        for (var i = 0; i < bins; i++)
        {
            var c = Math.Abs(s.BinCenter(i));
            mag[Math.Min(bins - 1, (int)(c / maxAbs * bins))] += s.Histogram![i];
        }
        var negative = s.HistogramMin < 0;
        var levels = (int)(negative && f.Signed ? (1L << (f.Bits - 1)) : (1L << f.Bits) - 1);
        levels = Math.Max(levels, 2);
        var bestI = bins;
        var bestKl = double.PositiveInfinity;
        for (var i = Math.Max(levels, 16); i <= bins; i += Math.Max(1, bins / 256))
        {
            var p = new double[i];
            Array.Copy(mag, p, i);
            for (var j = i; j < bins; j++) p[i - 1] += mag[j]; // outliers clip into the last bin
            // Q: merge p into `levels` groups, spread each group's mass over its non-empty bins.
            var q = new double[i];
            for (var g = 0; g < levels; g++)
            {
                int start = g * i / levels, end = (g + 1) * i / levels;
                double sum = 0;
                var nonEmpty = 0;
                for (var j = start; j < end; j++) { sum += mag[j]; if (mag[j] > 0) nonEmpty++; }
                if (g == levels - 1) for (var j = i; j < bins; j++) sum += mag[j];
                for (var j = start; j < end; j++) q[j] = mag[j] > 0 || (j == i - 1 && p[j] > 0) ? sum / Math.Max(nonEmpty, 1) : 0;
            }
            double ps = p.Sum(), qs = q.Sum(), kl = 0;
            for (var j = 0; j < i; j++)
            {
                if (p[j] <= 0) continue;
                var pj = p[j] / ps;
                var qj = q[j] > 0 ? q[j] / qs : 1e-12;
                kl += pj * Math.Log(pj / qj);
            }
            if (kl < bestKl) { bestKl = kl; bestI = i; }
        }
        var t = maxAbs * bestI / bins;
        return (Math.Max(s.HistogramMin, -t), Math.Min(s.HistogramMax, t));
    }

    /// <summary>
    /// Per-channel symmetric-or-not weight parameters along <paramref name="axis"/>. For 4 bits and less (or when asked)
    /// each channel's clipping ratio is searched to minimise the squared weight error.
    /// </summary>
    public static QuantParams Weights(float[] w, int[] shape, int? axis, IntegerFormat f, bool searchClipping) =>
        Weights(w.AsSpan(), shape, axis, f, searchClipping);

    public static QuantParams Weights(ReadOnlySpan<float> w, int[] shape, int? axis, IntegerFormat f, bool searchClipping)
    {
        var channels = axis is { } a ? shape[a] : 1;
        var inner = axis is { } ax ? shape.Skip(ax + 1).Aggregate(1, (x, y) => x * y) : w.Length;
        var scales = new float[channels];
        var zps = new long[channels];
        var (mins, maxs) = ChannelRanges(w, channels, inner);
        float[]? gathered = null;
        for (var c = 0; c < channels; c++)
        {
            double lo = Math.Min(0, mins[c]), hi = Math.Max(0, maxs[c]);
            var (bestS, bestZ) = Parameters(lo, hi, f);
            if (searchClipping)
            {
                // The channel's elements in index order, as the error sums expect them.
                var values = ChannelElements(w, c, channels, inner, ref gathered);
                var bestErr = Error(values, bestS, bestZ, f);
                for (var step = 1; step <= 60; step++)
                {
                    var r = 1.0 - step * 0.01;
                    var (s, z) = Parameters(lo * r, hi * r, f);
                    var err = Error(values, s, z, f);
                    if (err < bestErr) (bestErr, bestS, bestZ) = (err, s, z);
                }
            }
            scales[c] = bestS;
            zps[c] = bestZ;
        }
        return new QuantParams(f.Bits, f.Signed, [.. scales], [.. zps], axis);
    }

    /// <summary>
    /// Minimum and maximum of each channel (element i is in channel i / inner % channels), as LINQ's Min and Max of the
    /// channel's elements give them: a NaN is the minimum, and the maximum unless every element is NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static (float[] Min, float[] Max) ChannelRanges(ReadOnlySpan<float> w, int channels, int inner)
    {
        var mins = new float[channels];
        var maxs = new float[channels];
        var nanMin = new bool[channels];
        Array.Fill(mins, float.PositiveInfinity);
        Array.Fill(maxs, float.NegativeInfinity);
        var blocks = inner == 0 ? 0 : w.Length / inner;
        for (var block = 0; block < blocks; block++)
        {
            var c = block % channels;
            var run = w.Slice(block * inner, inner);
            var (mn, mx) = TensorStatistics.MinMax(run, mins[c], maxs[c]);
            (mins[c], maxs[c]) = (mn, mx);
            if (!nanMin[c] && HasNaN(run)) nanMin[c] = true;
        }
        for (var c = 0; c < channels; c++)
        {
            if (nanMin[c]) mins[c] = float.NaN;
            if (float.IsNegativeInfinity(maxs[c]) && nanMin[c]) maxs[c] = float.NaN;
        }
        return (mins, maxs);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static bool HasNaN(ReadOnlySpan<float> values)
    {
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var nan = Vector256<float>.Zero;
            ref var start = ref MemoryMarshal.GetReference(values);
            for (; i + Vector256<float>.Count <= values.Length; i += Vector256<float>.Count)
            {
                var v = Vector256.LoadUnsafe(ref start, (nuint)i);
                nan |= ~Vector256.Equals(v, v);
            }
            if (nan != Vector256<float>.Zero) return true;
        }
        for (; i < values.Length; i++) if (float.IsNaN(values[i])) return true;
        return false;
    }

    private static ReadOnlySpan<float> ChannelElements(ReadOnlySpan<float> w, int c, int channels, int inner, ref float[]? buffer)
    {
        if (channels == 1) return w;
        var outer = w.Length / (inner * channels);
        if (outer == 1) return w.Slice(c * inner, inner);
        buffer ??= new float[outer * inner];
        for (var o = 0; o < outer; o++) w.Slice((o * channels + c) * inner, inner).CopyTo(buffer.AsSpan(o * inner, inner));
        return buffer.AsSpan(0, outer * inner);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double Error(ReadOnlySpan<float> values, float s, long z, IntegerFormat f)
    {
        double err = 0;
        foreach (var v in values)
        {
            var q = Math.Clamp(Math.Round(v / s, MidpointRounding.ToEven) + z, f.QMin, f.QMax);
            var d = (q - z) * s - v;
            err += d * d;
        }
        return err;
    }

    /// <summary>One weight quantized (round half to even, clamp) and back: the integer semantics' weight rounding.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dequantize(float v, float scale, long zeroPoint, long qmin, long qmax) =>
        (Math.Clamp((long)Math.Round(v / scale, MidpointRounding.ToEven) + zeroPoint, qmin, qmax) - zeroPoint) * scale;
}
