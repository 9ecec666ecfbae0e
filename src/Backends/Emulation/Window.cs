using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ArchNet.Backends.Abstractions;
using ArchNet.IR;

namespace ArchNet.Backends.Emulation;

/// <summary>Geometry of a 2-D sliding window (Conv, pooling) over an NCHW input; 1-D inputs run as H = 1. The sizes and
/// padding per axis are the contract's <see cref="WindowGeometry"/>, which the C backend and plugins also use.</summary>
internal sealed record Window(int N, int C, int H, int W, int KH, int KW, int SH, int SW, int DH, int DW,
    int PadTop, int PadLeft, int OH, int OW)
{
    public int OutPixels => OH * OW;

    public static Window Of(Node node, int[] x, int kh, int kw)
    {
        var spatial = x.Length - 2;
        if (spatial is not (1 or 2)) throw new ArgumentException($"only 1-D and 2-D windows are emulated, input has rank {x.Length}");
        int H = spatial == 2 ? x[2] : 1, W = x[^1];
        if (spatial == 1) { kw = kh; kh = 1; }
        int[] Attr(string name, int fallback) => node.GetInts(name)?.Select(v => (int)v).ToArray() ?? Enumerable.Repeat(fallback, spatial).ToArray();
        var strides = Attr("strides", 1);
        var dil = Attr("dilations", 1);
        var pads = node.GetInts("pads")?.Select(v => (int)v).ToArray() ?? new int[2 * spatial];
        int sh = spatial == 2 ? strides[0] : 1, sw = strides[^1];
        int dh = spatial == 2 ? dil[0] : 1, dw = dil[^1];
        int pt = spatial == 2 ? pads[0] : 0, pl = pads[spatial - 1], pb = spatial == 2 ? pads[2] : 0, pr = pads[^1];
        var autoPad = node.GetString("auto_pad", "NOTSET");
        var ceil = node.GetInt("ceil_mode", 0) != 0;
        var (top, oh) = WindowGeometry.Axis(H, kh, sh, dh, pt, pb, autoPad, ceil);
        var (left, ow) = WindowGeometry.Axis(W, kw, sw, dw, pl, pr, autoPad, ceil);
        return new Window(x[0], x[1], H, W, kh, kw, sh, sw, dh, dw, top, left, oh, ow);
    }

    /// <summary>
    /// ConvTranspose's geometry over an NCHW (or NCW) input: input pixel (iy, ix) and tap (ky, kx) land on output
    /// (iy * SH + ky * DH - PadTop, ix * SW + kx * DW - PadLeft) when that lies inside [0, OH) x [0, OW).
    /// </summary>
    public static Window OfTransposed(Node node, int[] x, int kh, int kw)
    {
        var spatial = x.Length - 2;
        if (spatial is not (1 or 2)) throw new ArgumentException($"only 1-D and 2-D transposed convolutions are emulated, input has rank {x.Length}");
        int H = spatial == 2 ? x[2] : 1, W = x[^1];
        if (spatial == 1) { kw = kh; kh = 1; }
        int[] Attr(string name) => node.GetInts(name)?.Select(v => (int)v).ToArray() ?? Enumerable.Repeat(1, spatial).ToArray();
        var strides = Attr("strides");
        var dil = Attr("dilations");
        var (top, oh) = spatial == 2 ? TransposedWindow.Of(node, 0, spatial, H, kh) : (0, 1);
        var (left, ow) = TransposedWindow.Of(node, spatial - 1, spatial, W, kw);
        return new Window(x[0], x[1], H, W, kh, kw, spatial == 2 ? strides[0] : 1, strides[^1], spatial == 2 ? dil[0] : 1, dil[^1],
            (int)top, (int)left, (int)oh, (int)ow);
    }

    /// <summary>
    /// ConvTranspose's scatter of one input plane (H x W) through one kernel (KH x KW taps, of this window's geometry
    /// from <see cref="OfTransposed"/>) into one output plane (OH x OW): <c>output[landing] += tap * (input - zero)</c>,
    /// in <typeparamref name="TAcc"/>. The float kernel runs it in float32 (zero 0), the integer kernel in 64-bit
    /// integers (zero the input's zero point), so both follow one traversal.
    /// </summary>
    public void ScatterPlane<TIn, TAcc>(ReadOnlySpan<TIn> input, ReadOnlySpan<TIn> taps, TAcc zero, Span<TAcc> output)
        where TIn : INumber<TIn> where TAcc : INumber<TAcc>
    {
        for (var ky = 0; ky < KH; ky++)
        {
            var (y0, y1) = WindowGeometry.TransposedLanding(ky * DH - PadTop, SH, H, OH);
            for (var kx = 0; kx < KW; kx++)
            {
                var tap = TAcc.CreateTruncating(taps[ky * KW + kx]);
                if (TAcc.IsZero(tap)) continue;
                var (x0, x1) = WindowGeometry.TransposedLanding(kx * DW - PadLeft, SW, W, OW);
                for (var iy = y0; iy < y1; iy++)
                {
                    var row = output.Slice((iy * SH + ky * DH - PadTop) * OW, OW);
                    var src = input.Slice(iy * W, W);
                    for (int ix = x0, ox = x0 * SW + kx * DW - PadLeft; ix < x1; ix++, ox += SW)
                        row[ox] += tap * (TAcc.CreateTruncating(src[ix]) - zero);
                }
            }
        }
    }

    /// <summary>Output shape with <paramref name="channels"/> channels, in the input's rank.</summary>
    public int[] OutShape(int channels, int rank) => rank == 4 ? [N, channels, OH, OW] : [N, channels, OW];

    /// <summary>Element count of the window at output (oy, ox) that lies inside the input.</summary>
    public int InsideCount(int oy, int ox)
    {
        var n = 0;
        for (var ky = 0; ky < KH; ky++)
        {
            var iy = oy * SH - PadTop + ky * DH;
            if (iy < 0 || iy >= H) continue;
            for (var kx = 0; kx < KW; kx++)
            {
                var ix = ox * SW - PadLeft + kx * DW;
                if (ix >= 0 && ix < W) n++;
            }
        }
        return n;
    }

    /// <summary>Columns of one image and channel group: col[(c * KH + ky) * KW + kx][oy * OW + ox], padding = <paramref name="pad"/>.</summary>
    public void Im2Col<T>(ReadOnlySpan<T> image, int c0, int channels, Span<T> col, T pad) where T : struct
    {
        var P = OutPixels;
        for (var c = 0; c < channels; c++)
        {
            var plane = image.Slice((c0 + c) * H * W, H * W);
            for (var ky = 0; ky < KH; ky++)
                for (var kx = 0; kx < KW; kx++)
                {
                    var row = col.Slice(((c * KH + ky) * KW + kx) * P, P);
                    // Outputs ox in [lo, hi) read inside the row (ix = ox * SW - PadLeft + kx * DW in [0, W)); the rest is padding.
                    var shift = kx * DW - PadLeft;
                    var lo = Math.Clamp(shift >= 0 ? 0 : (-shift + SW - 1) / SW, 0, OW);
                    var hi = Math.Clamp(W - 1 - shift < 0 ? 0 : (W - 1 - shift) / SW + 1, lo, OW);
                    for (var oy = 0; oy < OH; oy++)
                    {
                        var iy = oy * SH - PadTop + ky * DH;
                        var dst = row.Slice(oy * OW, OW);
                        if (iy < 0 || iy >= H) { dst.Fill(pad); continue; }
                        var src = plane.Slice(iy * W, W);
                        dst[..lo].Fill(pad);
                        dst[hi..].Fill(pad);
                        if (SW == 1) src.Slice(lo + shift, hi - lo).CopyTo(dst[lo..hi]);
                        else for (int ox = lo, ix = lo * SW + shift; ox < hi; ox++, ix += SW) dst[ox] = src[ix];
                    }
                }
        }
    }

    public bool IsPointwise => KH == 1 && KW == 1 && SH == 1 && SW == 1 && PadTop == 0 && PadLeft == 0 && OH == H && OW == W;
}

/// <summary>Vectorised inner loops shared by the float and integer kernels.</summary>
internal static class Simd
{
    public static void Axpy(float a, ReadOnlySpan<float> x, Span<float> y)
    {
        var i = 0;
        if (Vector.IsHardwareAccelerated && x.Length >= Vector<float>.Count)
        {
            var va = new Vector<float>(a);
            for (; i <= x.Length - Vector<float>.Count; i += Vector<float>.Count)
                (new Vector<float>(y[i..]) + va * new Vector<float>(x[i..])).CopyTo(y[i..]);
        }
        for (; i < x.Length; i++) y[i] += a * x[i];
    }

    public static void Axpy(int a, ReadOnlySpan<int> x, Span<int> y)
    {
        var i = 0;
        if (Vector.IsHardwareAccelerated && x.Length >= Vector<int>.Count)
        {
            var va = new Vector<int>(a);
            for (; i <= x.Length - Vector<int>.Count; i += Vector<int>.Count)
                (new Vector<int>(y[i..]) + va * new Vector<int>(x[i..])).CopyTo(y[i..]);
        }
        for (; i < x.Length; i++) y[i] += a * x[i];
    }

    /// <summary>
    /// Four rows of a matrix product at once: <c>a_r[p] += sum_k w_r[k] * x[k * length + p]</c> for r = 0..3, in int32
    /// (the caller has checked that no sum overflows, so the order of the terms does not change any result). A vector of
    /// <paramref name="x"/> is loaded once for four accumulators kept in registers.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void MultiplyAccumulate4(ReadOnlySpan<int> w0, ReadOnlySpan<int> w1, ReadOnlySpan<int> w2, ReadOnlySpan<int> w3,
        ReadOnlySpan<int> x, int length, Span<int> a0, Span<int> a1, Span<int> a2, Span<int> a3)
    {
        var rows = w0.Length;
        if (w1.Length != rows || w2.Length != rows || w3.Length != rows || x.Length < rows * length
            || a0.Length < length || a1.Length < length || a2.Length < length || a3.Length < length)
            throw new ArgumentException("MultiplyAccumulate4: spans shorter than the product needs");
        ref var xr = ref MemoryMarshal.GetReference(x);
        var p = 0;
        if (Vector.IsHardwareAccelerated)
            for (; p <= length - Vector<int>.Count; p += Vector<int>.Count)
            {
                var s0 = new Vector<int>(a0[p..]);
                var s1 = new Vector<int>(a1[p..]);
                var s2 = new Vector<int>(a2[p..]);
                var s3 = new Vector<int>(a3[p..]);
                var offset = (nuint)p;
                for (var k = 0; k < rows; k++, offset += (nuint)length)
                {
                    var v = Vector.LoadUnsafe(ref xr, offset);
                    s0 += v * w0[k];
                    s1 += v * w1[k];
                    s2 += v * w2[k];
                    s3 += v * w3[k];
                }
                s0.CopyTo(a0[p..]);
                s1.CopyTo(a1[p..]);
                s2.CopyTo(a2[p..]);
                s3.CopyTo(a3[p..]);
            }
        for (; p < length; p++)
        {
            int t0 = a0[p], t1 = a1[p], t2 = a2[p], t3 = a3[p];
            for (var k = 0; k < rows; k++)
            {
                var v = x[k * length + p];
                t0 += w0[k] * v;
                t1 += w1[k] * v;
                t2 += w2[k] * v;
                t3 += w3[k] * v;
            }
            (a0[p], a1[p], a2[p], a3[p]) = (t0, t1, t2, t3);
        }
    }

    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var i = 0;
        var acc = Vector<float>.Zero;
        if (Vector.IsHardwareAccelerated)
            for (; i <= a.Length - Vector<float>.Count; i += Vector<float>.Count)
                acc += new Vector<float>(a[i..]) * new Vector<float>(b[i..]);
        var s = Vector.Sum(acc);
        for (; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }

    /// <summary>Four dot products with one <paramref name="w"/>, read once: <c>sums[r] = a_r . w</c>, in int32 lanes (the caller
    /// has checked that no sum overflows).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot4(ReadOnlySpan<int> a0, ReadOnlySpan<int> a1, ReadOnlySpan<int> a2, ReadOnlySpan<int> a3, ReadOnlySpan<int> w, Span<long> sums)
    {
        var n = w.Length;
        if (a0.Length < n || a1.Length < n || a2.Length < n || a3.Length < n || sums.Length < 4)
            throw new ArgumentException("Dot4: spans shorter than the products need");
        Vector<int> s0 = Vector<int>.Zero, s1 = Vector<int>.Zero, s2 = Vector<int>.Zero, s3 = Vector<int>.Zero;
        var i = 0;
        if (Vector.IsHardwareAccelerated)
            for (; i <= n - Vector<int>.Count; i += Vector<int>.Count)
            {
                var v = new Vector<int>(w[i..]);
                s0 += new Vector<int>(a0[i..]) * v;
                s1 += new Vector<int>(a1[i..]) * v;
                s2 += new Vector<int>(a2[i..]) * v;
                s3 += new Vector<int>(a3[i..]) * v;
            }
        long t0 = Vector.Sum(s0), t1 = Vector.Sum(s1), t2 = Vector.Sum(s2), t3 = Vector.Sum(s3);
        for (; i < n; i++)
        {
            long v = w[i];
            t0 += a0[i] * v;
            t1 += a1[i] * v;
            t2 += a2[i] * v;
            t3 += a3[i] * v;
        }
        (sums[0], sums[1], sums[2], sums[3]) = (t0, t1, t2, t3);
    }
}
