using ArchNet.Backends.Abstractions;

namespace ArchNet.Backends.C;

/// <summary>Geometry of a 2-D sliding window over NCHW (ONNX's pads, strides, dilations, auto_pad, ceil_mode), per axis
/// from the contract's <see cref="WindowGeometry"/>: the emulator's windows are the same by construction.</summary>
internal sealed record Window(int H, int W, int KH, int KW, int SH, int SW, int DH, int DW, int PadTop, int PadLeft, int OH, int OW)
{
    public static Window Of(Operation node, long[] x, int kh, int kw)
    {
        int H = (int)x[2], W = (int)x[3];
        var strides = node.Ints("strides", 1, 1);
        var dil = node.Ints("dilations", 1, 1);
        var pads = node.Ints("pads", 0, 0, 0, 0);
        int pt = (int)pads[0], pl = (int)pads[1], pb = (int)pads[2], pr = (int)pads[3];
        var autoPad = node.String("auto_pad", "NOTSET");
        var ceil = node.Int("ceil_mode", 0) != 0;
        var (top, oh) = WindowGeometry.Axis(H, kh, (int)strides[0], (int)dil[0], pt, pb, autoPad, ceil);
        var (left, ow) = WindowGeometry.Axis(W, kw, (int)strides[1], (int)dil[1], pl, pr, autoPad, ceil);
        return new Window(H, W, kh, kw, (int)strides[0], (int)strides[1], (int)dil[0], (int)dil[1], top, left, oh, ow);
    }
}

/// <summary>ConvTranspose over NCHW: input (iy, ix) and tap (ky, kx) land on output (iy * SH + ky * DH - PadTop,
/// ix * SW + kx * DW - PadLeft) inside [0, OH) x [0, OW); per axis from the contract's <see cref="WindowGeometry.TransposedAxis"/>.</summary>
internal static class TransposedGeometry
{
    public static Window Of(Operation node, long[] x, int kh, int kw)
    {
        int H = (int)x[2], W = (int)x[3];
        var strides = node.Ints("strides", 1, 1);
        var dil = node.Ints("dilations", 1, 1);
        var pads = node.Ints("pads", 0, 0, 0, 0);
        var outPad = node.Ints("output_padding", 0, 0);
        var outputShape = node.Ints("output_shape");
        int? Size(int axis) => outputShape is { } os ? (int)os[os.Length - 2 + axis] : null;
        var autoPad = node.String("auto_pad", "NOTSET");
        var (top, oh) = WindowGeometry.TransposedAxis(H, kh, (int)strides[0], (int)dil[0], (int)pads[0], (int)pads[2], (int)outPad[0], Size(0), autoPad);
        var (left, ow) = WindowGeometry.TransposedAxis(W, kw, (int)strides[1], (int)dil[1], (int)pads[1], (int)pads[3], (int)outPad[1], Size(1), autoPad);
        return new Window(H, W, kh, kw, (int)strides[0], (int)strides[1], (int)dil[0], (int)dil[1], top, left, oh, ow);
    }
}

/// <summary>Gather maps of the data-movement ops: output element i reads input element map[i] (-1: the pad value).</summary>
internal static class Movement
{
    private static long[] Strides(long[] shape)
    {
        var s = new long[shape.Length];
        long acc = 1;
        for (var d = shape.Length - 1; d >= 0; d--) { s[d] = acc; acc *= shape[d]; }
        return s;
    }

    private static int[] Map(long[] outShape, Func<long[], long> source)
    {
        var n = outShape.Aggregate(1L, (a, d) => a * d);
        var map = new int[n];
        var idx = new long[outShape.Length];
        for (var i = 0; i < n; i++)
        {
            map[i] = checked((int)source(idx));
            for (var d = outShape.Length - 1; d >= 0; d--)
            {
                if (++idx[d] < outShape[d]) break;
                idx[d] = 0;
            }
        }
        return map;
    }

    public static int[] Transpose(long[] shape, System.Collections.Immutable.ImmutableArray<long>? perm)
    {
        var rank = shape.Length;
        var p = perm?.Select(v => (int)v).ToArray() ?? [.. Enumerable.Range(0, rank).Reverse()];
        var inStrides = Strides(shape);
        var outShape = p.Select(d => shape[d]).ToArray();
        return Map(outShape, idx => { long s = 0; for (var d = 0; d < rank; d++) s += idx[d] * inStrides[p[d]]; return s; });
    }

    private static long[] Longs(Operation node, int input, string attr) =>
        node.Input(input) is { IntegerData: { } v } ? [.. v]
        : node.Ints(attr) is { } a ? [.. a]
        : node.Input(input) is null ? [] : throw new NotSupportedException($"{node.OpType} input {input} must be a constant");

    public static int[] Slice(long[] shape, Operation node)
    {
        var rank = shape.Length;
        var starts = Longs(node, 1, "starts");
        var ends = Longs(node, 2, "ends");
        var axes = node.Input(3) is not null || node.Ints("axes") is not null ? Longs(node, 3, "axes") : null;
        var steps = node.Input(4) is not null ? Longs(node, 4, "steps") : null;
        var begin = new long[rank];
        var step = Enumerable.Repeat(1L, rank).ToArray();
        var outShape = (long[])shape.Clone();
        for (var i = 0; i < starts.Length; i++)
        {
            var axis = (int)(axes?[i] ?? i);
            if (axis < 0) axis += rank;
            var dim = shape[axis];
            var st = steps?[i] ?? 1;
            long s = starts[i], e = ends[i];
            if (s < 0) s += dim;
            if (e < 0) e += dim;
            if (st > 0)
            {
                s = Math.Clamp(s, 0, dim);
                e = Math.Clamp(e, 0, dim);
                outShape[axis] = Math.Max(0, (e - s + st - 1) / st);
            }
            else
            {
                s = Math.Clamp(s, 0, dim - 1);
                e = Math.Clamp(e, -1, dim - 1);
                outShape[axis] = Math.Max(0, (s - e + (-st) - 1) / -st);
            }
            begin[axis] = s;
            step[axis] = st;
        }
        var inStrides = Strides(shape);
        return Map(outShape, idx => { long s = 0; for (var d = 0; d < rank; d++) s += (begin[d] + idx[d] * step[d]) * inStrides[d]; return s; });
    }

    public static int[] Pad(long[] shape, Operation node)
    {
        var rank = shape.Length;
        var pads = Longs(node, 1, "pads");
        var axes = node.Input(3) is not null ? Longs(node, 3, "axes").Select(a => (int)(a < 0 ? a + rank : a)).ToArray() : [.. Enumerable.Range(0, rank)];
        var before = new long[rank];
        var outShape = (long[])shape.Clone();
        for (var i = 0; i < axes.Length; i++)
        {
            before[axes[i]] = pads[i];
            outShape[axes[i]] += pads[i] + pads[i + axes.Length];
        }
        var inStrides = Strides(shape);
        return Map(outShape, idx =>
        {
            long src = 0;
            for (var d = 0; d < rank; d++)
            {
                var s = idx[d] - before[d];
                if (s < 0 || s >= shape[d]) return -1;
                src += s * inStrides[d];
            }
            return src;
        });
    }
}
