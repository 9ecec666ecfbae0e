using ArchNet.IR;

namespace ArchNet.Backends.Emulation;

/// <summary>
/// Ops that only move elements (Reshape, Transpose, Slice, Concat, Pad, Gather, ...). They work on any tensor kind,
/// so the float and the integer paths share them and cannot disagree about where an element goes.
/// </summary>
internal static class Movement
{
    /// <summary>The ops that only move data, which this class runs at any element type.</summary>
    public static readonly IReadOnlySet<string> Ops = new HashSet<string>(StringComparer.Ordinal)
    {
        "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Slice", "Concat", "Pad", "Gather", "Identity", "Dropout", "Split",
        "DepthToSpace", "SpaceToDepth",
    };

    public static bool Handles(string op) => Ops.Contains(op);

    public static Tensor[] Run(Node node, Tensor?[] a, double padValue = 0) => node.OpType switch
    {
        "Identity" or "Dropout" => [a[0]!],
        "Reshape" => [a[0]!.Reshaped(ReshapeTarget(a[0]!.Shape, Longs(a[1]!), node.GetInt("allowzero", 0) != 0))],
        "Flatten" => [Flatten(node, a[0]!)],
        "Squeeze" => [a[0]!.Reshaped(Squeeze(a[0]!.Shape, Axes(node, a, 1)))],
        "Unsqueeze" => [a[0]!.Reshaped(Unsqueeze(a[0]!.Shape, Axes(node, a, 1)!))],
        "Transpose" => [Transpose(a[0]!, node.GetInts("perm")?.Select(p => (int)p).ToArray())],
        "Slice" => [Slice(a[0]!, Longs(a[1]!), Longs(a[2]!), a.Length > 3 && a[3] is { } ax ? Longs(ax) : null, a.Length > 4 && a[4] is { } st ? Longs(st) : null)],
        "Concat" => [Concat(a.Select(t => t!).ToArray(), (int)node.GetInt("axis", 0))],
        "Pad" => [Pad(node, a, padValue)],
        "Gather" => [Gather(a[0]!, a[1]!, (int)node.GetInt("axis", 0))],
        "Split" => Split(node, a),
        "DepthToSpace" => [DepthToSpace(node, a[0]!)],
        "SpaceToDepth" => [SpaceToDepth(node, a[0]!)],
        _ => throw new InvalidOperationException($"{node.OpType} is not a movement op"),
    };

    public static long[] Longs(Tensor t) => t.Longs ?? [.. t.ToReal().Select(f => (long)f)];

    public static int NormAxis(long axis, int rank) => (int)(axis < 0 ? axis + rank : axis);

    private static long[]? Axes(Node node, Tensor?[] a, int inputIndex) =>
        a.Length > inputIndex && a[inputIndex] is { } t ? Longs(t) : node.GetInts("axes")?.ToArray();

    public static int[] ReshapeTarget(int[] input, long[] spec, bool allowZero)
    {
        var shape = new int[spec.Length];
        var inferred = -1;
        long known = 1;
        for (var i = 0; i < spec.Length; i++)
        {
            if (spec[i] == -1) { inferred = i; continue; }
            shape[i] = spec[i] == 0 && !allowZero ? input[i] : (int)spec[i];
            known *= shape[i];
        }
        if (inferred >= 0) shape[inferred] = (int)(Tensor.ShapeLength(input) / Math.Max(known, 1));
        if (Tensor.ShapeLength(shape) != Tensor.ShapeLength(input))
            throw new ArgumentException($"cannot reshape [{string.Join(",", input)}] to [{string.Join(",", spec)}]");
        return shape;
    }

    /// <summary>ONNX DepthToSpace: channel blocks of <c>blocksize</c>² moved into space, in DCR order (depth, column, row:
    /// the block index outermost) or CRD (the channel outermost, as PixelShuffle).</summary>
    private static Tensor DepthToSpace(Node node, Tensor x)
    {
        var bs = (int)node.GetInt("blocksize", 0);
        var (n, c, h, w) = (x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]);
        var depth = c / (bs * bs);
        var crd = node.GetString("mode", "DCR") == "CRD";
        var split = x.Reshaped(crd ? [n, depth, bs, bs, h, w] : [n, bs, bs, depth, h, w]);
        return Transpose(split, crd ? [0, 1, 4, 2, 5, 3] : [0, 3, 4, 1, 5, 2]).Reshaped([n, depth, h * bs, w * bs]);
    }

    /// <summary>ONNX SpaceToDepth: each <c>blocksize</c>² patch of space moved into channels, the block index outermost.</summary>
    private static Tensor SpaceToDepth(Node node, Tensor x)
    {
        var bs = (int)node.GetInt("blocksize", 0);
        var (n, c, h, w) = (x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]);
        var split = x.Reshaped([n, c, h / bs, bs, w / bs, bs]);
        return Transpose(split, [0, 3, 5, 1, 2, 4]).Reshaped([n, c * bs * bs, h / bs, w / bs]);
    }

    private static Tensor Flatten(Node node, Tensor x)
    {
        var axis = NormAxis(node.GetInt("axis", 1), x.Rank);
        var outer = Tensor.ShapeLength(x.Shape.AsSpan(0, axis));
        return x.Reshaped([outer, x.Length / Math.Max(outer, 1)]);
    }

    private static int[] Squeeze(int[] shape, long[]? axes)
    {
        var drop = axes?.Select(a => NormAxis(a, shape.Length)).ToHashSet();
        return [.. shape.Where((d, i) => drop is null ? d != 1 : !drop.Contains(i))];
    }

    private static int[] Unsqueeze(int[] shape, long[] axes)
    {
        var rank = shape.Length + axes.Length;
        var insert = axes.Select(a => NormAxis(a, rank)).ToHashSet();
        var result = new int[rank];
        for (int i = 0, j = 0; i < rank; i++) result[i] = insert.Contains(i) ? 1 : shape[j++];
        return result;
    }

    public static int[] Strides(int[] shape)
    {
        var s = new int[shape.Length];
        var acc = 1;
        for (var i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }

    public static Tensor Transpose(Tensor x, int[]? perm)
    {
        perm ??= [.. Enumerable.Range(0, x.Rank).Reverse()];
        var outShape = perm.Select(p => x.Shape[p]).ToArray();
        var inStrides = Strides(x.Shape);
        var map = new int[x.Length];
        var idx = new int[x.Rank];
        for (var i = 0; i < map.Length; i++)
        {
            var src = 0;
            for (var d = 0; d < perm.Length; d++) src += idx[d] * inStrides[perm[d]];
            map[i] = src;
            for (var d = x.Rank - 1; d >= 0; d--)
            {
                if (++idx[d] < outShape[d]) break;
                idx[d] = 0;
            }
        }
        return x.Gather(outShape, map);
    }

    private static Tensor Slice(Tensor x, long[] starts, long[] ends, long[]? axes, long[]? steps)
    {
        var rank = x.Rank;
        var begin = new int[rank];
        var step = Enumerable.Repeat(1, rank).ToArray();
        var outShape = (int[])x.Shape.Clone();
        for (var i = 0; i < starts.Length; i++)
        {
            var axis = NormAxis(axes?[i] ?? i, rank);
            var dim = x.Shape[axis];
            var st = (int)(steps?[i] ?? 1);
            long s = starts[i], e = ends[i];
            if (s < 0) s += dim;
            if (e < 0) e += dim;
            if (st > 0)
            {
                s = Math.Clamp(s, 0, dim);
                e = Math.Clamp(e, 0, dim);
                outShape[axis] = (int)Math.Max(0, (e - s + st - 1) / st);
            }
            else
            {
                s = Math.Clamp(s, 0, dim - 1);
                e = Math.Clamp(e, -1, dim - 1);
                outShape[axis] = (int)Math.Max(0, (s - e + (-st) - 1) / -st);
            }
            begin[axis] = (int)s;
            step[axis] = st;
        }
        var inStrides = Strides(x.Shape);
        var map = new int[Tensor.ShapeLength(outShape)];
        var idx = new int[rank];
        for (var i = 0; i < map.Length; i++)
        {
            var src = 0;
            for (var d = 0; d < rank; d++) src += (begin[d] + idx[d] * step[d]) * inStrides[d];
            map[i] = src;
            for (var d = rank - 1; d >= 0; d--)
            {
                if (++idx[d] < outShape[d]) break;
                idx[d] = 0;
            }
        }
        return x.Gather(outShape, map);
    }

    /// <summary>Concatenation of tensors of one kind (in integer mode the caller has rescaled them to one QuantParams).</summary>
    public static Tensor Concat(Tensor[] parts, int axis)
    {
        var first = parts[0];
        axis = NormAxis(axis, first.Rank);
        var outShape = (int[])first.Shape.Clone();
        outShape[axis] = parts.Sum(p => p.Shape[axis]);
        var outer = Tensor.ShapeLength(first.Shape.AsSpan(0, axis));
        var inner = Tensor.ShapeLength(first.Shape.AsSpan(axis + 1));
        var n = Tensor.ShapeLength(outShape);
        if (first.Floats is not null)
        {
            var r = new float[n];
            CopyBlocks(parts.Select(p => p.Floats ?? p.ToReal()).ToArray(), r);
            return Tensor.FromFloats(outShape, r);
        }
        if (first.Ints is not null)
        {
            var r = new int[n];
            CopyBlocks(parts.Select(p => p.Ints!).ToArray(), r);
            return Tensor.FromInts(outShape, r, first.Quant!);
        }
        var l = new long[n];
        CopyBlocks(parts.Select(p => p.Longs ?? Longs(p)).ToArray(), l);
        return Tensor.FromLongs(outShape, l);

        void CopyBlocks<T>(T[][] sources, T[] dest)
        {
            var pos = 0;
            for (var o = 0; o < outer; o++)
                for (var p = 0; p < parts.Length; p++)
                {
                    var block = parts[p].Shape[axis] * inner;
                    Array.Copy(sources[p], o * block, dest, pos, block);
                    pos += block;
                }
        }
    }

    private static Tensor Pad(Node node, Tensor?[] a, double padValue)
    {
        var x = a[0]!;
        var mode = node.GetString("mode", "constant");
        if (mode != "constant") throw new ArgumentException($"Pad mode '{mode}' is not emulated");
        var pads = a.Length > 1 && a[1] is { } p ? Longs(p) : node.GetInts("pads")!.Value.ToArray();
        var rank = x.Rank;
        var axes = a.Length > 3 && a[3] is { } ax ? Longs(ax).Select(v => NormAxis(v, rank)).ToArray() : [.. Enumerable.Range(0, rank)];
        var before = new int[rank];
        var outShape = (int[])x.Shape.Clone();
        for (var i = 0; i < axes.Length; i++)
        {
            before[axes[i]] = (int)pads[i];
            outShape[axes[i]] += (int)(pads[i] + pads[i + axes.Length]);
        }
        var inStrides = Strides(x.Shape);
        var map = new int[Tensor.ShapeLength(outShape)];
        var idx = new int[rank];
        for (var i = 0; i < map.Length; i++)
        {
            var src = 0;
            for (var d = 0; d < rank && src >= 0; d++)
            {
                var s = idx[d] - before[d];
                src = s < 0 || s >= x.Shape[d] ? -1 : src + s * inStrides[d];
            }
            map[i] = src;
            for (var d = rank - 1; d >= 0; d--)
            {
                if (++idx[d] < outShape[d]) break;
                idx[d] = 0;
            }
        }
        return x.Gather(outShape, map, padValue);
    }

    private static Tensor Gather(Tensor x, Tensor indices, int axis)
    {
        axis = NormAxis(axis, x.Rank);
        var ind = Longs(indices);
        var outShape = x.Shape.Take(axis).Concat(indices.Shape).Concat(x.Shape.Skip(axis + 1)).ToArray();
        var outer = Tensor.ShapeLength(x.Shape.AsSpan(0, axis));
        var inner = Tensor.ShapeLength(x.Shape.AsSpan(axis + 1));
        var dim = x.Shape[axis];
        var map = new int[Tensor.ShapeLength(outShape)];
        var pos = 0;
        for (var o = 0; o < outer; o++)
            foreach (var raw in ind)
            {
                var k = (int)(raw < 0 ? raw + dim : raw);
                for (var j = 0; j < inner; j++) map[pos++] = (o * dim + k) * inner + j;
            }
        return x.Gather(outShape, map);
    }

    private static Tensor[] Split(Node node, Tensor?[] a)
    {
        var x = a[0]!;
        var axis = NormAxis(node.GetInt("axis", 0), x.Rank);
        var count = node.Outputs.Count;
        var sizes = a.Length > 1 && a[1] is { } s ? Longs(s)
            : node.GetInts("split")?.ToArray()
            ?? [.. Enumerable.Range(0, count).Select(i => (long)((x.Shape[axis] + count - 1) / count))];
        var result = new Tensor[count];
        long start = 0;
        for (var i = 0; i < count; i++)
        {
            var end = Math.Min(start + sizes[i], x.Shape[axis]);
            result[i] = Slice(x, [start], [end], [axis], null);
            start = end;
        }
        return result;
    }
}
