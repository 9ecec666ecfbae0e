using ArchNet.IR;

namespace ArchNet.Passes.Canonicalization;

/// <summary>A small dense array for folding: elements as doubles (exact for float32 arithmetic and for the
/// int64 sizes shape subgraphs compute), with the ONNX element type they convert back to.</summary>
internal sealed record NdArray(ElementType Type, long[] Dims, double[] Data)
{
    public int Rank => Dims.Length;
    public long Count => Data.LongLength;

    public static NdArray From(TensorData t) => new(t.ElementType, [.. t.Dims], t.ToDoubles());

    public TensorData ToTensor()
    {
        var n = Data.Length;
        switch (Type)
        {
            case ElementType.Float: return TensorData.FromFloats(Dims, [.. Data.Select(d => (float)d)]);
            case ElementType.Double: return TensorData.Create(Type, Dims, Data);
            case ElementType.Int64: return TensorData.FromInt64s(Dims, [.. Data.Select(ToLong)]);
            case ElementType.Int32: return TensorData.FromInt32s(Dims, [.. Data.Select(d => (int)Math.Clamp(d, int.MinValue, int.MaxValue))]);
            case ElementType.Bool or ElementType.UInt8: return TensorData.Create(Type, Dims, Data.Select(d => (byte)d).ToArray());
            case ElementType.Int8: return TensorData.Create(Type, Dims, Data.Select(d => (sbyte)d).ToArray());
            case ElementType.Float16: return TensorData.Create(Type, Dims, Data.Select(d => (Half)d).ToArray());
            default: throw new NotSupportedException($"folding to {Type} ({n} elements)");
        }
    }

    // int64 limits (Slice ends of INT64_MAX) do not survive a double round trip; clamp instead of wrapping.
    private static long ToLong(double d) => d >= 9.2e18 ? long.MaxValue : d <= -9.2e18 ? long.MinValue : (long)d;

    public long[] Strides()
    {
        var s = new long[Rank];
        long acc = 1;
        for (var i = Rank - 1; i >= 0; i--) { s[i] = acc; acc *= Dims[i]; }
        return s;
    }
}

/// <summary>
/// Evaluates the ops exporters use to compute shapes and small constants (Shape, Gather, Concat, Unsqueeze,
/// Cast, arithmetic, ...) on constant inputs. Returns null for anything it does not know, so folding
/// never guesses.
/// </summary>
internal static class ConstantEvaluator
{
    public static readonly HashSet<string> Supported =
    [
        "Identity", "Cast", "Shape", "Size", "Gather", "Concat", "Unsqueeze", "Squeeze", "Reshape", "Flatten",
        "Add", "Sub", "Mul", "Div", "Neg", "Sqrt", "Pow", "Min", "Max", "Abs", "Reciprocal", "Floor", "Ceil",
        "Equal", "Less", "Greater", "Not", "Where", "Slice", "ConstantOfShape", "Range", "Transpose", "Expand",
        "ReduceProd", "ReduceSum", "Constant", "Exp", "Log", "Erf", "Tanh", "Sigmoid", "Relu",
    ];

    private static readonly HashSet<ElementType> Foldable =
        [ElementType.Float, ElementType.Double, ElementType.Int64, ElementType.Int32, ElementType.Bool, ElementType.UInt8, ElementType.Int8, ElementType.Float16];

    /// <summary>Outputs of <paramref name="node"/> when its inputs are the given arrays, or null when not foldable.</summary>
    public static NdArray[]? Evaluate(Node node, IReadOnlyList<NdArray?> inputs)
    {
        if (inputs.Any(i => i is not null && !Foldable.Contains(i.Type))) return null;
        NdArray X(int i) => inputs[i] ?? throw new NotSupportedException("missing input");
        try
        {
            var r = node.OpType switch
            {
                "Identity" => X(0),
                "Constant" => node.Attr("value") is { Kind: AttributeKind.Tensor } a ? NdArray.From(a.AsTensor()) : null,
                "Cast" => Cast(X(0), (ElementType)node.GetInt("to", 0)),
                "Size" => new NdArray(ElementType.Int64, [], [X(0).Count]),
                "Gather" => Gather(X(0), X(1), node.GetInt("axis", 0)),
                "Concat" => Concat(inputs.Where(i => i is not null).Select(i => i!).ToList(), node.GetInt("axis", 0)),
                "Unsqueeze" => Unsqueeze(X(0), Axes(node, inputs) ?? throw new NotSupportedException("Unsqueeze without axes")),
                "Squeeze" => Squeeze(X(0), Axes(node, inputs)),
                "Reshape" => Reshape(X(0), [.. X(1).Data.Select(d => (long)d)], node.GetInt("allowzero", 0) != 0),
                "Flatten" => Flatten(X(0), node.GetInt("axis", 1)),
                "Add" => Binary(X(0), X(1), (a, b) => a + b, X(0).Type),
                "Sub" => Binary(X(0), X(1), (a, b) => a - b, X(0).Type),
                "Mul" => Binary(X(0), X(1), (a, b) => a * b, X(0).Type),
                "Div" => Binary(X(0), X(1), X(0).Type.IsInteger() ? IntDiv : (a, b) => a / b, X(0).Type),
                "Pow" => Binary(X(0), X(1), Math.Pow, X(0).Type),
                "Min" => inputs.Skip(1).Aggregate(X(0), (acc, v) => Binary(acc, v!, Math.Min, acc.Type)),
                "Max" => inputs.Skip(1).Aggregate(X(0), (acc, v) => Binary(acc, v!, Math.Max, acc.Type)),
                "Equal" => Binary(X(0), X(1), (a, b) => a == b ? 1 : 0, ElementType.Bool),
                "Less" => Binary(X(0), X(1), (a, b) => a < b ? 1 : 0, ElementType.Bool),
                "Greater" => Binary(X(0), X(1), (a, b) => a > b ? 1 : 0, ElementType.Bool),
                "Neg" => Unary(X(0), a => -a),
                "Abs" => Unary(X(0), Math.Abs),
                "Sqrt" => Unary(X(0), Math.Sqrt),
                "Reciprocal" => Unary(X(0), a => 1 / a),
                "Floor" => Unary(X(0), Math.Floor),
                "Ceil" => Unary(X(0), Math.Ceiling),
                "Not" => Unary(X(0), a => a == 0 ? 1 : 0),
                "Relu" => Unary(X(0), a => Math.Max(a, 0)),
                "Exp" when X(0).Type == ElementType.Float => Unary(X(0), a => MathF.Exp((float)a)),
                "Log" when X(0).Type == ElementType.Float => Unary(X(0), a => MathF.Log((float)a)),
                "Tanh" when X(0).Type == ElementType.Float => Unary(X(0), a => MathF.Tanh((float)a)),
                "Sigmoid" when X(0).Type == ElementType.Float => Unary(X(0), a => 1 / (1 + Math.Exp(-a))),
                "Erf" when X(0).Type == ElementType.Float => null,
                "Where" => Where(X(0), X(1), X(2)),
                "Slice" => Slice(node, inputs),
                "ConstantOfShape" => ConstantOfShape(node, X(0)),
                "Range" => Range(X(0), X(1), X(2)),
                "Transpose" => Transpose(X(0), node.GetInts("perm")?.ToArray()),
                "Expand" => Binary(X(0), new NdArray(X(0).Type, [.. X(1).Data.Select(d => (long)d)], Zeros(X(1).Data)), (a, _) => a, X(0).Type),
                "ReduceProd" => Reduce(node, inputs, 1, (a, b) => a * b),
                "ReduceSum" => Reduce(node, inputs, 0, (a, b) => a + b),
                _ => null,
            };
            return r is null ? null : [r];
        }
        catch (Exception e) when (e is NotSupportedException or IndexOutOfRangeException or ArgumentException or InvalidOperationException)
        {
            return null;
        }
    }

    private static double[] Zeros(double[] dims) => new double[(long)dims.Aggregate(1.0, (a, d) => a * d)];

    private static double IntDiv(double a, double b) => b == 0 ? throw new NotSupportedException() : Math.Truncate(a / b);

    private static long[]? Axes(Node node, IReadOnlyList<NdArray?> inputs) =>
        node.GetInts("axes")?.ToArray() ?? (inputs.Count > 1 && inputs[1] is { } a ? [.. a.Data.Select(d => (long)d)] : null);

    private static int Norm(long axis, int rank) => (int)(axis < 0 ? axis + rank : axis);

    private static NdArray Cast(NdArray x, ElementType to)
    {
        var data = to switch
        {
            ElementType.Float => x.Data.Select(d => (double)(float)d).ToArray(),
            ElementType.Int64 or ElementType.Int32 or ElementType.Int8 or ElementType.UInt8 => x.Data.Select(Math.Truncate).ToArray(),
            ElementType.Bool => x.Data.Select(d => d != 0 ? 1.0 : 0.0).ToArray(),
            ElementType.Double => x.Data,
            _ => throw new NotSupportedException(),
        };
        return new NdArray(to, x.Dims, data);
    }

    private static NdArray Unary(NdArray x, Func<double, double> f) => x with { Data = [.. x.Data.Select(f)] };

    private static long[] BroadcastDims(long[] a, long[] b)
    {
        var rank = Math.Max(a.Length, b.Length);
        var r = new long[rank];
        for (var i = 0; i < rank; i++)
        {
            var da = i - (rank - a.Length) >= 0 ? a[i - (rank - a.Length)] : 1;
            var db = i - (rank - b.Length) >= 0 ? b[i - (rank - b.Length)] : 1;
            if (da != db && da != 1 && db != 1) throw new ArgumentException("shapes do not broadcast");
            r[i] = da == 1 ? db : da;
        }
        return r;
    }

    private static int[] BroadcastIndex(long[] from, long[] to)
    {
        var count = to.Aggregate(1L, (a, d) => a * d);
        var result = new int[count];
        var rank = to.Length;
        var fromStrides = new long[rank];
        long acc = 1;
        for (var i = rank - 1; i >= 0; i--)
        {
            var k = i - (rank - from.Length);
            var d = k >= 0 ? from[k] : 1;
            fromStrides[i] = d == 1 ? 0 : acc;
            acc *= d;
        }
        var idx = new long[rank];
        for (long n = 0; n < count; n++)
        {
            long off = 0;
            for (var i = 0; i < rank; i++) off += idx[i] * fromStrides[i];
            result[n] = (int)off;
            for (var i = rank - 1; i >= 0; i--)
            {
                if (++idx[i] < to[i]) break;
                idx[i] = 0;
            }
        }
        return result;
    }

    private static NdArray Binary(NdArray a, NdArray b, Func<double, double, double> f, ElementType type)
    {
        var dims = BroadcastDims(a.Dims, b.Dims);
        var ia = BroadcastIndex(a.Dims, dims);
        var ib = BroadcastIndex(b.Dims, dims);
        var data = new double[ia.Length];
        var round = type == ElementType.Float;
        for (var i = 0; i < data.Length; i++)
        {
            var v = f(a.Data[ia[i]], b.Data[ib[i]]);
            data[i] = round ? (float)v : v;
        }
        return new NdArray(type, dims, data);
    }

    private static NdArray Where(NdArray c, NdArray x, NdArray y)
    {
        var dims = BroadcastDims(BroadcastDims(c.Dims, x.Dims), y.Dims);
        var ic = BroadcastIndex(c.Dims, dims);
        var ix = BroadcastIndex(x.Dims, dims);
        var iy = BroadcastIndex(y.Dims, dims);
        var data = new double[ic.Length];
        for (var i = 0; i < data.Length; i++) data[i] = c.Data[ic[i]] != 0 ? x.Data[ix[i]] : y.Data[iy[i]];
        return new NdArray(x.Type, dims, data);
    }

    private static NdArray Gather(NdArray data, NdArray indices, long axisAttr)
    {
        var axis = Norm(axisAttr, data.Rank);
        long outer = data.Dims.Take(axis).Aggregate(1L, (a, d) => a * d);
        long inner = data.Dims.Skip(axis + 1).Aggregate(1L, (a, d) => a * d);
        var size = data.Dims[axis];
        var result = new List<double>();
        for (long o = 0; o < outer; o++)
            foreach (var raw in indices.Data)
            {
                var k = (long)raw;
                if (k < 0) k += size;
                if (k < 0 || k >= size) throw new IndexOutOfRangeException();
                for (long i = 0; i < inner; i++) result.Add(data.Data[(o * size + k) * inner + i]);
            }
        long[] dims = [.. data.Dims.Take(axis), .. indices.Dims, .. data.Dims.Skip(axis + 1)];
        return new NdArray(data.Type, dims, [.. result]);
    }

    private static NdArray Concat(List<NdArray> parts, long axisAttr)
    {
        var first = parts[0];
        var axis = Norm(axisAttr, first.Rank);
        long outer = first.Dims.Take(axis).Aggregate(1L, (a, d) => a * d);
        var result = new List<double>();
        for (long o = 0; o < outer; o++)
            foreach (var p in parts)
            {
                long chunk = p.Dims.Skip(axis).Aggregate(1L, (a, d) => a * d);
                for (long i = 0; i < chunk; i++) result.Add(p.Data[o * chunk + i]);
            }
        var dims = (long[])first.Dims.Clone();
        dims[axis] = parts.Sum(p => p.Dims[axis]);
        return new NdArray(first.Type, dims, [.. result]);
    }

    private static NdArray Unsqueeze(NdArray x, long[] axes)
    {
        var rank = x.Rank + axes.Length;
        var set = axes.Select(a => Norm(a, rank)).ToHashSet();
        var dims = new List<long>();
        var k = 0;
        for (var i = 0; i < rank; i++) dims.Add(set.Contains(i) ? 1 : x.Dims[k++]);
        return x with { Dims = [.. dims] };
    }

    private static NdArray Squeeze(NdArray x, long[]? axes)
    {
        var set = axes?.Select(a => Norm(a, x.Rank)).ToHashSet() ?? [.. Enumerable.Range(0, x.Rank).Where(i => x.Dims[i] == 1)];
        return x with { Dims = [.. x.Dims.Where((_, i) => !set.Contains(i))] };
    }

    internal static NdArray Reshape(NdArray x, long[] target, bool allowZero)
    {
        var dims = new long[target.Length];
        var infer = -1;
        for (var i = 0; i < target.Length; i++)
        {
            if (target[i] == -1) { infer = i; dims[i] = 1; }
            else if (target[i] == 0 && !allowZero) dims[i] = x.Dims[i];
            else dims[i] = target[i];
        }
        var known = dims.Aggregate(1L, (a, d) => a * d);
        if (infer >= 0) dims[infer] = known == 0 ? 0 : x.Count / known;
        if (dims.Aggregate(1L, (a, d) => a * d) != x.Count) throw new ArgumentException("reshape count mismatch");
        return x with { Dims = dims };
    }

    private static NdArray Flatten(NdArray x, long axisAttr)
    {
        var axis = Norm(axisAttr, x.Rank);
        var a = x.Dims.Take(axis).Aggregate(1L, (p, d) => p * d);
        return x with { Dims = [a, x.Count / Math.Max(a, 1)] };
    }

    private static NdArray? Slice(Node node, IReadOnlyList<NdArray?> inputs)
    {
        var x = inputs[0]!;
        if (inputs.Count < 3 || inputs[1] is null || inputs[2] is null) return null;
        var starts = inputs[1]!.Data.Select(d => (long)Math.Clamp(d, long.MinValue / 2, long.MaxValue / 2)).ToArray();
        var ends = inputs[2]!.Data.Select(d => (long)Math.Clamp(d, long.MinValue / 2, long.MaxValue / 2)).ToArray();
        var axes = inputs.Count > 3 && inputs[3] is { } ax ? ax.Data.Select(d => Norm((long)d, x.Rank)).ToArray() : [.. Enumerable.Range(0, starts.Length)];
        var steps = inputs.Count > 4 && inputs[4] is { } st ? st.Data.Select(d => (long)d).ToArray() : [.. starts.Select(_ => 1L)];
        var begin = new long[x.Rank];
        var step = Enumerable.Repeat(1L, x.Rank).ToArray();
        var dims = (long[])x.Dims.Clone();
        for (var i = 0; i < axes.Length; i++)
        {
            var a = axes[i];
            var size = x.Dims[a];
            var s = starts[i] < 0 ? starts[i] + size : starts[i];
            var e = ends[i] < 0 ? ends[i] + size : ends[i];
            if (steps[i] > 0) { s = Math.Clamp(s, 0, size); e = Math.Clamp(e, 0, size); }
            else { s = Math.Clamp(s, -1, size - 1); e = Math.Clamp(e, -1, size - 1); }
            begin[a] = s;
            step[a] = steps[i];
            dims[a] = ArchNetSliceLength(s, e, steps[i]);
        }
        var strides = x.Strides();
        var count = dims.Aggregate(1L, (p, d) => p * d);
        var data = new double[count];
        var idx = new long[x.Rank];
        for (long n = 0; n < count; n++)
        {
            long off = 0;
            for (var i = 0; i < x.Rank; i++) off += (begin[i] + idx[i] * step[i]) * strides[i];
            data[n] = x.Data[off];
            for (var i = x.Rank - 1; i >= 0; i--)
            {
                if (++idx[i] < dims[i]) break;
                idx[i] = 0;
            }
        }
        return new NdArray(x.Type, dims, data);
    }

    private static long ArchNetSliceLength(long s, long e, long step) =>
        step > 0 ? (e > s ? (e - s + step - 1) / step : 0) : (s > e ? (s - e - step - 1) / -step : 0);

    private static NdArray ConstantOfShape(Node node, NdArray shape)
    {
        var value = node.Attr("value")?.AsTensor() is { } t ? NdArray.From(t) : new NdArray(ElementType.Float, [1], [0]);
        var dims = shape.Data.Select(d => (long)d).ToArray();
        var count = dims.Aggregate(1L, (a, d) => a * d);
        if (count > 1 << 20) throw new NotSupportedException("too large to fold");
        return new NdArray(value.Type, dims, Enumerable.Repeat(value.Data[0], (int)count).ToArray());
    }

    private static NdArray Range(NdArray start, NdArray limit, NdArray delta)
    {
        double s = start.Data[0], l = limit.Data[0], d = delta.Data[0];
        var n = (long)Math.Max(Math.Ceiling((l - s) / d), 0);
        return new NdArray(start.Type, [n], [.. Enumerable.Range(0, (int)n).Select(i => s + i * d)]);
    }

    private static NdArray Transpose(NdArray x, long[]? perm)
    {
        perm ??= [.. Enumerable.Range(0, x.Rank).Reverse().Select(i => (long)i)];
        var dims = perm.Select(p => x.Dims[p]).ToArray();
        var strides = x.Strides();
        var data = new double[x.Count];
        var idx = new long[x.Rank];
        for (long n = 0; n < x.Count; n++)
        {
            long off = 0;
            for (var i = 0; i < x.Rank; i++) off += idx[i] * strides[perm[i]];
            data[n] = x.Data[off];
            for (var i = x.Rank - 1; i >= 0; i--)
            {
                if (++idx[i] < dims[i]) break;
                idx[i] = 0;
            }
        }
        return new NdArray(x.Type, dims, data);
    }

    private static NdArray? Reduce(Node node, IReadOnlyList<NdArray?> inputs, double seed, Func<double, double, double> f)
    {
        var x = inputs[0]!;
        var axes = node.GetInts("axes")?.ToArray() ?? (inputs.Count > 1 && inputs[1] is { } a ? [.. a.Data.Select(d => (long)d)] : null);
        if (axes is null || axes.Length == 0)
        {
            if (node.GetInt("noop_with_empty_axes", 0) != 0) return x;
            axes = [.. Enumerable.Range(0, x.Rank).Select(i => (long)i)];
        }
        var set = axes.Select(a => Norm(a, x.Rank)).ToHashSet();
        var keep = node.GetInt("keepdims", 1) != 0;
        var outDimsKeep = x.Dims.Select((d, i) => set.Contains(i) ? 1 : d).ToArray();
        var outStrides = new NdArray(x.Type, outDimsKeep, []).Strides();
        var outCount = outDimsKeep.Aggregate(1L, (p, d) => p * d);
        var data = Enumerable.Repeat(seed, (int)outCount).ToArray();
        var idx = new long[x.Rank];
        for (long n = 0; n < x.Count; n++)
        {
            long off = 0;
            for (var i = 0; i < x.Rank; i++) if (!set.Contains(i)) off += idx[i] * outStrides[i];
            data[off] = f(data[off], x.Data[n]);
            for (var i = x.Rank - 1; i >= 0; i--)
            {
                if (++idx[i] < x.Dims[i]) break;
                idx[i] = 0;
            }
        }
        var dims = keep ? outDimsKeep : [.. x.Dims.Where((_, i) => !set.Contains(i))];
        return new NdArray(x.Type, dims, data);
    }
}
