namespace ArchNet.IR;

/// <summary>Schemas (type inference and MAC models) of the standard ONNX operators the compiler reasons about.</summary>
internal static class StandardOps
{
    /// <summary>Leading inputs required in every opset version of the operator. Operators whose inputs were attributes in
    /// early opsets (Reshape, Slice, Pad, Squeeze, Resize, Clip's bounds...) are listed with what all versions require.</summary>
    private static readonly Dictionary<string, int> Required = new(StringComparer.Ordinal)
    {
        ["Add"] = 2, ["Sub"] = 2, ["Mul"] = 2, ["Div"] = 2, ["Pow"] = 2, ["Mod"] = 2, ["BitShift"] = 2, ["PRelu"] = 2,
        ["Equal"] = 2, ["Less"] = 2, ["Greater"] = 2, ["LessOrEqual"] = 2, ["GreaterOrEqual"] = 2, ["And"] = 2, ["Or"] = 2, ["Xor"] = 2,
        ["Where"] = 3, ["Conv"] = 2, ["ConvTranspose"] = 2, ["Gemm"] = 2, ["MatMul"] = 2, ["BatchNormalization"] = 5,
        ["LayerNormalization"] = 2, ["Gather"] = 2, ["Expand"] = 2, ["Tile"] = 2,
        ["Sum"] = 1, ["Mean"] = 1, ["Max"] = 1, ["Min"] = 1, ["Concat"] = 1, ["Transpose"] = 1, ["Flatten"] = 1, ["Reshape"] = 1,
        ["Slice"] = 1, ["Pad"] = 1, ["Squeeze"] = 1, ["Unsqueeze"] = 1, ["Resize"] = 1, ["Cast"] = 1, ["Shape"] = 1,
        ["Dropout"] = 1, ["MaxPool"] = 1, ["AveragePool"] = 1, ["GlobalAveragePool"] = 1, ["GlobalMaxPool"] = 1,
        ["ReduceMean"] = 1, ["ReduceSum"] = 1, ["ReduceMax"] = 1, ["ReduceMin"] = 1, ["Split"] = 1,
    };

    public static IEnumerable<OpSchema> All() =>
        Declared().Select(s => s.Domain.Length == 0 && s.RequiredInputs == 0
            ? s with { RequiredInputs = Required.GetValueOrDefault(s.OpType, Unary.Contains(s.OpType) ? 1 : 0) }
            : s);

    /// <summary>One tensor in, one of the same type out.</summary>
    private static readonly string[] Unary =
    [
        "Relu", "LeakyRelu", "PRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Erf", "Gelu", "Elu", "Selu",
        "Celu", "Mish", "Softplus", "Softsign", "Sqrt", "Exp", "Log", "Abs", "Neg", "Reciprocal", "Floor", "Ceil",
        "Round", "Sign", "Sin", "Cos", "Identity", "Clip", "Softmax", "LogSoftmax", "Hardmax", "Not",
        "LRN", "InstanceNormalization", "MeanVarianceNormalization", "QuickGelu", "Swish", "CumSum",
    ];

    private static IEnumerable<OpSchema> Declared()
    {
        foreach (var op in Unary)
            // Only the softmaxes have a MAC model; a null result would read as "unknown", not "none".
            yield return new(op) { InferTypes = n => [In(n, 0)], Macs = op is "Softmax" or "LogSoftmax" ? n => Elements(In(n, 0)) : null };

        yield return new("Dropout") { InferTypes = n => [In(n, 0), Like(In(n, 0), ElementType.Bool)] };
        yield return new("BatchNormalization") { InferTypes = n => [In(n, 0)], Macs = n => Elements(In(n, 0)) };
        yield return new("LayerNormalization") { InferTypes = n => [In(n, 0)], Macs = n => 2 * Elements(In(n, 0)) };
        yield return new("GroupNormalization") { InferTypes = n => [In(n, 0)], Macs = n => 2 * Elements(In(n, 0)) };

        string[] binary = ["Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mod", "Sum", "Mean", "BitShift"];
        foreach (var op in binary)
            yield return new(op) { InferTypes = n => [Broadcast(n, In(n, 0)?.ElementType)] };
        foreach (var op in new[] { "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor" })
            yield return new(op) { InferTypes = n => [Broadcast(n, ElementType.Bool)] };
        yield return new("Where") { InferTypes = n => [Broadcast(n, In(n, 1)?.ElementType)] };

        yield return new("Cast") { InferTypes = n => [Like(In(n, 0), (ElementType)n.GetInt("to", 0))] };
        yield return new("CastLike") { InferTypes = n => [Like(In(n, 0), In(n, 1)?.ElementType ?? ElementType.Undefined)] };
        yield return new("Shape") { InferTypes = InferShapeOp };
        yield return new("Size") { InferTypes = n => [new TensorType(ElementType.Int64, Shape.Scalar)] };
        yield return new("ConstantOfShape")
        {
            InferTypes = n =>
            {
                var et = n.Attr("value")?.AsTensor().ElementType ?? ElementType.Float;
                var dims = ConstInts(n, 0);
                return [new TensorType(et, dims is null ? null : Shape.Of(dims))];
            },
        };
        yield return new("Constant") { InferTypes = n => [n.Attr("value") is { Kind: AttributeKind.Tensor } a ? a.AsTensor().Type : null] };

        yield return new("Conv") { InferTypes = InferConv, Macs = ConvMacs };
        yield return new("ConvInteger") { InferTypes = n => [Like(InferConv(n)[0], ElementType.Int32)], Macs = ConvMacs };
        yield return new("QLinearConv") { InferTypes = n => [ConvShape(n, In(n, 0), In(n, 3), n.Input(7)?.ElementType ?? ElementType.UInt8)] };
        yield return new("ConvTranspose") { InferTypes = InferConvTranspose, Macs = ConvTransposeMacs };
        foreach (var op in new[] { "MaxPool", "AveragePool", "LpPool" })
            yield return new(op) { InferTypes = n => [PoolShape(n, In(n, 0)), op == "MaxPool" ? Like(PoolShape(n, In(n, 0)), ElementType.Int64) : null], Macs = PoolMacs };
        foreach (var op in new[] { "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool" })
            yield return new(op) { InferTypes = n => [GlobalPool(In(n, 0))], Macs = n => Elements(In(n, 0)) };

        yield return new("Gemm") { InferTypes = InferGemm, Macs = GemmMacs };
        yield return new("MatMul") { InferTypes = n => [MatMulShape(In(n, 0), In(n, 1), In(n, 0)?.ElementType)], Macs = MatMulMacs };
        yield return new("MatMulInteger") { InferTypes = n => [MatMulShape(In(n, 0), In(n, 1), ElementType.Int32)], Macs = MatMulMacs };
        yield return new("QLinearMatMul") { InferTypes = n => [MatMulShape(In(n, 0), In(n, 3), n.Input(7)?.ElementType)], Macs = n => MatMulMacsOf(In(n, 0), In(n, 3)) };

        yield return new("Reshape") { InferTypes = InferReshape };
        yield return new("Flatten") { InferTypes = InferFlatten };
        yield return new("Transpose") { InferTypes = InferTranspose };
        yield return new("Squeeze") { InferTypes = InferSqueeze };
        yield return new("Unsqueeze") { InferTypes = InferUnsqueeze };
        yield return new("Concat") { InferTypes = InferConcat };
        yield return new("Slice") { InferTypes = InferSlice };
        yield return new("Split") { InferTypes = InferSplit };
        yield return new("Gather") { InferTypes = InferGather };
        yield return new("Expand") { InferTypes = InferExpand };
        yield return new("Pad") { InferTypes = InferPad };
        yield return new("Tile") { InferTypes = InferTile };
        yield return new("Resize") { InferTypes = InferResize, Macs = n => Elements(InferResize(n)[0]) };
        yield return new("DepthToSpace") { InferTypes = n => [SpaceDepth(n, inverse: true)] };
        yield return new("SpaceToDepth") { InferTypes = n => [SpaceDepth(n, inverse: false)] };

        foreach (var op in new[] { "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp" })
            yield return new(op) { InferTypes = n => [Reduce(n, In(n, 0)?.ElementType)], Macs = n => Elements(In(n, 0)) };
        foreach (var op in new[] { "ArgMax", "ArgMin" })
            yield return new(op) { InferTypes = n => [Reduce(n, ElementType.Int64)] };

        yield return new("QuantizeLinear") { InferTypes = n => [Like(In(n, 0), n.Input(2)?.ElementType is { } z and not ElementType.Undefined ? z : (ElementType)n.GetInt("output_dtype", (long)ElementType.UInt8))] };
        yield return new("DequantizeLinear") { InferTypes = n => [Like(In(n, 0), n.Input(1)?.ElementType ?? ElementType.Float)] };
    }

    // ---- helpers ----

    internal static TensorType? In(Node n, int i) => n.Input(i)?.TensorType;

    private static TensorType? Like(TensorType? t, ElementType et) => t is null ? null : new TensorType(et, t.Shape);

    private static long? Elements(TensorType? t) => t?.Shape?.ElementCount;

    private static Shape? ShapeOf(TensorType? t) => t?.Shape;

    /// <summary>Integer contents of a constant input, or null when it is not constant.</summary>
    internal static long[]? ConstInts(Node n, int i) => n.Input(i)?.Constant?.ToInt64s();

    private static int NormAxis(long axis, int rank) => (int)(axis < 0 ? axis + rank : axis);

    private static TensorType? Broadcast(Node n, ElementType? et)
    {
        if (et is null) return null;
        var shapes = n.Inputs.Select(v => v?.Shape).ToList();
        if (shapes.Any(s => s is null)) return new TensorType(et.Value, null);
        var rank = shapes.Max(s => s!.Rank);
        var dims = new Dim[rank];
        for (var i = 0; i < rank; i++)
        {
            Dim result = 1;
            foreach (var s in shapes)
            {
                var k = i - (rank - s!.Rank);
                if (k < 0) continue;
                var d = s[k];
                if (d.Value == 1) continue;
                if (result.Value == 1) result = d;
                else if (!result.IsKnown && d.IsKnown) result = d;
            }
            dims[i] = result;
        }
        return new TensorType(et.Value, new Shape(dims));
    }

    private static IReadOnlyList<TensorType?> InferShapeOp(Node n)
    {
        var s = ShapeOf(In(n, 0));
        if (s is null) return [new TensorType(ElementType.Int64, null)];
        var start = NormAxis(n.GetInt("start", 0), s.Rank);
        var end = n.HasAttr("end") ? NormAxis(n.GetInt("end", s.Rank), s.Rank) : s.Rank;
        start = Math.Clamp(start, 0, s.Rank);
        end = Math.Clamp(end, start, s.Rank);
        return [new TensorType(ElementType.Int64, Shape.Of(end - start))];
    }

    private static IReadOnlyList<TensorType?> InferConv(Node n) => [ConvShape(n, In(n, 0), In(n, 1), In(n, 0)?.ElementType)];

    private static TensorType? ConvShape(Node n, TensorType? x, TensorType? w, ElementType? et)
    {
        if (x?.Shape is not { } xs || w?.Shape is not { } ws || et is null) return null;
        var spatial = xs.Rank - 2;
        var kernel = n.GetInts("kernel_shape")?.ToArray() ?? [.. ws.Dims.Skip(2).Select(d => d.Value ?? -1)];
        var dims = new List<Dim> { xs[0], ws[0] };
        for (var i = 0; i < spatial; i++)
            dims.Add(WindowOut(n, xs[2 + i], kernel[i], i, spatial));
        return new TensorType(et.Value, new Shape(dims));
    }

    /// <summary>Output size of a sliding window along one axis (conv and pooling share it).</summary>
    private static Dim WindowOut(Node n, Dim input, long kernel, int axis, int spatial)
    {
        if (!input.IsKnown || kernel < 0) return Dim.Unknown;
        var strides = n.GetInts("strides");
        var dilations = n.GetInts("dilations");
        var pads = n.GetInts("pads");
        long stride = strides?[axis] ?? 1, dilation = dilations?[axis] ?? 1;
        var effective = (kernel - 1) * dilation + 1;
        var autoPad = n.GetString("auto_pad", "NOTSET");
        if (autoPad is "SAME_UPPER" or "SAME_LOWER") return (input.Value!.Value + stride - 1) / stride;
        if (autoPad == "VALID") return (input.Value!.Value - effective) / stride + 1;
        var padTotal = pads is { } p ? p[axis] + p[axis + spatial] : 0;
        var numerator = input.Value!.Value + padTotal - effective;
        var ceil = n.GetInt("ceil_mode", 0) != 0;
        var result = (ceil ? (numerator + stride - 1) / stride : numerator / stride) + 1;
        // With ceil_mode, the last window must start inside the (left-padded) input.
        if (ceil && (result - 1) * stride >= input.Value!.Value + (pads is { } q ? q[axis] : 0)) result--;
        return result;
    }

    private static long? ConvMacs(Node n)
    {
        var y = n.Outputs[0].Shape?.ElementCount;
        var w = n.Input(1)?.Shape;
        if (y is null || w?.ElementCount is not { } wc || w[0].Value is not { } m || m == 0) return null;
        return y.Value * (wc / m);
    }

    private static IReadOnlyList<TensorType?> InferConvTranspose(Node n)
    {
        if (In(n, 0) is not { Shape: { } xs } x || In(n, 1)?.Shape is not { } ws) return [null];
        var spatial = xs.Rank - 2;
        var group = n.GetInt("group", 1);
        var dims = new List<Dim> { xs[0], ws[1].Value is { } c ? c * group : Dim.Unknown };
        var outputShape = n.GetInts("output_shape");
        for (var i = 0; i < spatial; i++)
        {
            if (outputShape is { } os) { dims.Add(os[os.Length - spatial + i]); continue; }
            if (xs[2 + i].Value is not { } input || ws[2 + i].Value is not { } k) { dims.Add(Dim.Unknown); continue; }
            dims.Add(TransposedWindow.Of(n, i, spatial, input, k).Out);
        }
        return [new TensorType(x.ElementType, new Shape(dims))];
    }

    private static long? ConvTransposeMacs(Node n)
    {
        var x = n.Input(0)?.Shape?.ElementCount;
        var w = n.Input(1)?.Shape;
        if (x is null || w?.ElementCount is not { } wc || w[0].Value is not { } c || c == 0) return null;
        return x.Value * (wc / c);
    }

    private static TensorType? PoolShape(Node n, TensorType? x)
    {
        if (x?.Shape is not { } xs) return null;
        var kernel = n.GetInts("kernel_shape");
        if (kernel is null) return new TensorType(x.ElementType, null);
        var spatial = xs.Rank - 2;
        var dims = new List<Dim> { xs[0], xs[1] };
        for (var i = 0; i < spatial; i++) dims.Add(WindowOut(n, xs[2 + i], kernel.Value[i], i, spatial));
        return new TensorType(x.ElementType, new Shape(dims));
    }

    private static long? PoolMacs(Node n) =>
        n.Outputs[0].Shape?.ElementCount is { } y && n.GetInts("kernel_shape") is { } k ? y * k.Aggregate(1L, (a, b) => a * b) : null;

    private static TensorType? GlobalPool(TensorType? x) =>
        x?.Shape is not { } s ? x : new TensorType(x.ElementType, new Shape(s.Dims.Select((d, i) => i < 2 ? d : Dim.Of(1))));

    private static IReadOnlyList<TensorType?> InferGemm(Node n)
    {
        if (In(n, 0) is not { Shape: { Rank: 2 } a } x || In(n, 1)?.Shape is not { Rank: 2 } b) return [null];
        var m = n.GetInt("transA", 0) != 0 ? a[1] : a[0];
        var nn = n.GetInt("transB", 0) != 0 ? b[0] : b[1];
        return [new TensorType(x.ElementType, new Shape([m, nn]))];
    }

    private static long? GemmMacs(Node n)
    {
        if (n.Input(0)?.Shape is not { Rank: 2 } a || n.Input(1)?.Shape is not { Rank: 2 } b) return null;
        var m = n.GetInt("transA", 0) != 0 ? a[1] : a[0];
        var k = n.GetInt("transA", 0) != 0 ? a[0] : a[1];
        var nn = n.GetInt("transB", 0) != 0 ? b[0] : b[1];
        return m.Value * k.Value * nn.Value;
    }

    private static TensorType? MatMulShape(TensorType? a, TensorType? b, ElementType? et)
    {
        if (a?.Shape is not { } sa || b?.Shape is not { } sb || et is null) return null;
        if (sa.Rank == 0 || sb.Rank == 0) return null;
        var la = sa.Rank == 1 ? new List<Dim> { 1, sa[0] } : [.. sa.Dims];
        var lb = sb.Rank == 1 ? new List<Dim> { sb[0], 1 } : [.. sb.Dims];
        var batchA = la.Take(la.Count - 2).ToList();
        var batchB = lb.Take(lb.Count - 2).ToList();
        var rank = Math.Max(batchA.Count, batchB.Count);
        var dims = new List<Dim>();
        for (var i = 0; i < rank; i++)
        {
            var da = i - (rank - batchA.Count) >= 0 ? batchA[i - (rank - batchA.Count)] : Dim.Of(1);
            var db = i - (rank - batchB.Count) >= 0 ? batchB[i - (rank - batchB.Count)] : Dim.Of(1);
            dims.Add(da.Value == 1 ? db : da);
        }
        if (sa.Rank != 1) dims.Add(la[^2]);
        if (sb.Rank != 1) dims.Add(lb[^1]);
        return new TensorType(et.Value, new Shape(dims));
    }

    private static long? MatMulMacs(Node n) => MatMulMacsOf(In(n, 0), In(n, 1));

    private static long? MatMulMacsOf(TensorType? a, TensorType? b)
    {
        var y = MatMulShape(a, b, ElementType.Float)?.Shape?.ElementCount;
        var k = a?.Shape is { Rank: > 0 } s ? s[^1].Value : null;
        return y is null || k is null ? null : y * k;
    }

    private static IReadOnlyList<TensorType?> InferReshape(Node n)
    {
        var x = In(n, 0);
        if (x is null) return [null];
        var target = ConstInts(n, 1);
        if (target is null) return [new TensorType(x.ElementType, null)];
        var allowZero = n.GetInt("allowzero", 0) != 0;
        var dims = new Dim[target.Length];
        var inferIndex = -1;
        for (var i = 0; i < target.Length; i++)
        {
            if (target[i] == -1) { inferIndex = i; dims[i] = Dim.Unknown; }
            else if (target[i] == 0 && !allowZero) dims[i] = x.Shape is { } s && i < s.Rank ? s[i] : Dim.Unknown;
            else dims[i] = target[i];
        }
        if (inferIndex >= 0 && x.Shape?.ElementCount is { } total)
        {
            var known = dims.Where((d, i) => i != inferIndex).Aggregate((long?)1, (acc, d) => acc * d.Value);
            if (known is > 0) dims[inferIndex] = total / known.Value;
        }
        return [new TensorType(x.ElementType, new Shape(dims))];
    }

    private static IReadOnlyList<TensorType?> InferFlatten(Node n)
    {
        if (In(n, 0) is not { Shape: { } s } x) return [In(n, 0) is { } t ? new TensorType(t.ElementType, null) : null];
        var axis = NormAxis(n.GetInt("axis", 1), s.Rank);
        Dim Product(IEnumerable<Dim> ds) => ds.Aggregate((long?)1, (a, d) => a * d.Value) is { } v ? v : Dim.Unknown;
        return [new TensorType(x.ElementType, new Shape([Product(s.Dims.Take(axis)), Product(s.Dims.Skip(axis))]))];
    }

    private static IReadOnlyList<TensorType?> InferTranspose(Node n)
    {
        if (In(n, 0) is not { Shape: { } s } x) return [null];
        var perm = n.GetInts("perm")?.ToArray() ?? [.. Enumerable.Range(0, s.Rank).Reverse().Select(i => (long)i)];
        return [new TensorType(x.ElementType, new Shape(perm.Select(p => s[(int)p])))];
    }

    private static long[]? AxesOf(Node n) => n.GetInts("axes")?.ToArray() ?? ConstInts(n, 1);

    private static IReadOnlyList<TensorType?> InferSqueeze(Node n)
    {
        if (In(n, 0) is not { Shape: { } s } x) return [null];
        var axes = AxesOf(n);
        if (axes is null && n.Input(1) is not null) return [new TensorType(x.ElementType, null)];
        var drop = axes?.Select(a => NormAxis(a, s.Rank)).ToHashSet()
                   ?? [.. Enumerable.Range(0, s.Rank).Where(i => s[i].Value == 1)];
        return [new TensorType(x.ElementType, new Shape(s.Dims.Where((_, i) => !drop.Contains(i))))];
    }

    private static IReadOnlyList<TensorType?> InferUnsqueeze(Node n)
    {
        if (In(n, 0) is not { Shape: { } s } x) return [null];
        if (AxesOf(n) is not { } axes) return [new TensorType(x.ElementType, null)];
        var rank = s.Rank + axes.Length;
        var inserted = axes.Select(a => NormAxis(a, rank)).ToHashSet();
        var dims = new List<Dim>();
        var k = 0;
        for (var i = 0; i < rank; i++) dims.Add(inserted.Contains(i) ? Dim.Of(1) : s[k++]);
        return [new TensorType(x.ElementType, new Shape(dims))];
    }

    private static IReadOnlyList<TensorType?> InferConcat(Node n)
    {
        var inputs = n.Inputs.Select(v => v?.TensorType).ToList();
        if (inputs.Count == 0 || inputs[0] is not { } first) return [null];
        if (inputs.Any(t => t?.Shape is null)) return [new TensorType(first.ElementType, null)];
        var rank = first.Shape!.Rank;
        var axis = NormAxis(n.GetInt("axis", 0), rank);
        var dims = first.Shape.Dims.ToArray();
        var sum = inputs.Aggregate((long?)0, (acc, t) => acc + t!.Shape![axis].Value);
        dims[axis] = sum is { } v ? v : Dim.Unknown;
        for (var i = 0; i < rank; i++)
            if (i != axis && !dims[i].IsKnown)
                dims[i] = inputs.Select(t => t!.Shape![i]).FirstOrDefault(d => d.IsKnown, dims[i]);
        return [new TensorType(first.ElementType, new Shape(dims))];
    }

    private static IReadOnlyList<TensorType?> InferSlice(Node n)
    {
        if (In(n, 0) is not { Shape: { } s } x) return [null];
        long[]? starts, ends, axes, steps;
        if (n.HasAttr("starts"))
        {
            starts = n.GetInts("starts")!.Value.ToArray();
            ends = n.GetInts("ends")!.Value.ToArray();
            axes = n.GetInts("axes")?.ToArray();
            steps = null;
        }
        else
        {
            starts = ConstInts(n, 1);
            ends = ConstInts(n, 2);
            axes = n.Input(3) is null ? null : ConstInts(n, 3);
            steps = n.Input(4) is null ? null : ConstInts(n, 4);
            if (starts is null || ends is null || (n.Input(3) is not null && axes is null) || (n.Input(4) is not null && steps is null))
                return [new TensorType(x.ElementType, null)];
        }
        var dims = s.Dims.ToArray();
        for (var i = 0; i < starts.Length; i++)
        {
            var axis = NormAxis(axes?[i] ?? i, s.Rank);
            var step = steps?[i] ?? 1;
            if (dims[axis].Value is not { } size) continue;
            dims[axis] = SliceLength(starts[i], ends[i], step, size);
        }
        return [new TensorType(x.ElementType, new Shape(dims))];
    }

    /// <summary>Elements selected by ONNX Slice semantics along one axis of length <paramref name="size"/>.</summary>
    internal static long SliceLength(long start, long end, long step, long size)
    {
        if (step == 0) throw new DivideByZeroException();
        start = start < 0 ? start + size : start;
        end = end < 0 ? end + size : end;
        if (step > 0)
        {
            start = Math.Clamp(start, 0, size);
            end = Math.Clamp(end, 0, size);
            return end > start ? (end - start + step - 1) / step : 0;
        }
        start = Math.Clamp(start, -1, size - 1);
        end = Math.Clamp(end, -1, size - 1);
        return start > end ? (start - end - step - 1) / -step : 0;
    }

    private static IReadOnlyList<TensorType?> InferSplit(Node n)
    {
        if (In(n, 0) is not { Shape: { } s } x) return [.. n.Outputs.Select(_ => (TensorType?)null)];
        var axis = NormAxis(n.GetInt("axis", 0), s.Rank);
        var count = n.Outputs.Count;
        var sizes = n.GetInts("split")?.ToArray() ?? (n.Input(1) is null ? null : ConstInts(n, 1));
        if (sizes is null && s[axis].Value is { } total)
        {
            var chunk = (total + count - 1) / count;
            sizes = [.. Enumerable.Range(0, count).Select(i => Math.Min(chunk, total - chunk * i))];
        }
        return [.. Enumerable.Range(0, count).Select(i =>
        {
            var dims = s.Dims.ToArray();
            dims[axis] = sizes is null ? Dim.Unknown : sizes[i];
            return (TensorType?)new TensorType(x.ElementType, new Shape(dims));
        })];
    }

    private static IReadOnlyList<TensorType?> InferGather(Node n)
    {
        if (In(n, 0) is not { Shape: { } data } x || In(n, 1)?.Shape is not { } idx) return [null];
        var axis = NormAxis(n.GetInt("axis", 0), data.Rank);
        var dims = data.Dims.Take(axis).Concat(idx.Dims).Concat(data.Dims.Skip(axis + 1));
        return [new TensorType(x.ElementType, new Shape(dims))];
    }

    private static IReadOnlyList<TensorType?> InferExpand(Node n)
    {
        if (In(n, 0) is not { } x) return [null];
        if (ConstInts(n, 1) is not { } target || x.Shape is null) return [new TensorType(x.ElementType, null)];
        var rank = Math.Max(target.Length, x.Shape.Rank);
        var dims = new Dim[rank];
        for (var i = 0; i < rank; i++)
        {
            var ti = i - (rank - target.Length);
            var xi = i - (rank - x.Shape.Rank);
            var t = ti >= 0 ? target[ti] : 1;
            var d = xi >= 0 ? x.Shape[xi] : Dim.Of(1);
            dims[i] = t == 1 ? d : Dim.Of(t);
        }
        return [new TensorType(x.ElementType, new Shape(dims))];
    }

    private static IReadOnlyList<TensorType?> InferPad(Node n)
    {
        if (In(n, 0) is not { Shape: { } s } x) return [null];
        var pads = n.GetInts("pads")?.ToArray() ?? ConstInts(n, 1);
        if (pads is null) return [new TensorType(x.ElementType, null)];
        var axes = n.Input(3) is null ? null : ConstInts(n, 3);
        if (n.Input(3) is not null && axes is null) return [new TensorType(x.ElementType, null)];
        var dims = s.Dims.ToArray();
        var axisList = axes?.Select(a => NormAxis(a, s.Rank)).ToArray() ?? [.. Enumerable.Range(0, s.Rank)];
        for (var i = 0; i < axisList.Length; i++)
        {
            var a = axisList[i];
            if (dims[a].Value is { } d) dims[a] = d + pads[i] + pads[i + axisList.Length];
        }
        return [new TensorType(x.ElementType, new Shape(dims))];
    }

    private static IReadOnlyList<TensorType?> InferTile(Node n)
    {
        if (In(n, 0) is not { Shape: { } s } x) return [null];
        if (ConstInts(n, 1) is not { } reps) return [new TensorType(x.ElementType, null)];
        return [new TensorType(x.ElementType, new Shape(s.Dims.Select((d, i) => d.Value is { } v ? Dim.Of(v * reps[i]) : Dim.Unknown)))];
    }

    private static IReadOnlyList<TensorType?> InferResize(Node n)
    {
        if (In(n, 0) is not { Shape: { } s } x) return [null];
        // Opset >= 11: inputs X, roi, scales, sizes. Opset 10: X, scales.
        var sizes = n.Inputs.Count > 3 && n.Input(3) is not null ? ConstInts(n, 3) : null;
        if (sizes is { Length: > 0 } && sizes.Length == s.Rank) return [new TensorType(x.ElementType, Shape.Of(sizes))];
        var scalesInput = n.Inputs.Count == 2 ? n.Input(1) : n.Input(2);
        var scales = scalesInput?.Constant?.ToDoubles();
        if (scales is { Length: > 0 } && scales.Length == s.Rank)
            return [new TensorType(x.ElementType, new Shape(s.Dims.Select((d, i) => d.Value is { } v ? Dim.Of((long)Math.Floor(v * scales[i])) : Dim.Unknown)))];
        return [new TensorType(x.ElementType, null)];
    }

    private static TensorType? SpaceDepth(Node n, bool inverse)
    {
        if (In(n, 0) is not { Shape: { Rank: 4 } s } x) return null;
        var b = n.GetInt("blocksize", 1);
        Dim Mul(Dim d, long f) => d.Value is { } v ? Dim.Of(v * f) : Dim.Unknown;
        Dim Div(Dim d, long f) => d.Value is { } v ? Dim.Of(v / f) : Dim.Unknown;
        return inverse
            ? new TensorType(x.ElementType, new Shape([s[0], Div(s[1], b * b), Mul(s[2], b), Mul(s[3], b)]))
            : new TensorType(x.ElementType, new Shape([s[0], Mul(s[1], b * b), Div(s[2], b), Div(s[3], b)]));
    }

    private static TensorType? Reduce(Node n, ElementType? et)
    {
        if (et is null) return null;
        if (In(n, 0)?.Shape is not { } s) return new TensorType(et.Value, null);
        var keep = n.GetInt("keepdims", 1) != 0;
        long[]? axes;
        if (n.OpType is "ArgMax" or "ArgMin") axes = [n.GetInt("axis", 0)];
        else axes = n.GetInts("axes")?.ToArray() ?? (n.Input(1) is null ? null : ConstInts(n, 1));
        if (axes is null && n.Input(1) is not null) return new TensorType(et.Value, null);
        if (axes is null || axes.Length == 0)
        {
            if (n.GetInt("noop_with_empty_axes", 0) != 0) return new TensorType(et.Value, s);
            axes = [.. Enumerable.Range(0, s.Rank).Select(i => (long)i)];
        }
        var set = axes.Select(a => NormAxis(a, s.Rank)).ToHashSet();
        var dims = new List<Dim>();
        for (var i = 0; i < s.Rank; i++)
        {
            if (!set.Contains(i)) dims.Add(s[i]);
            else if (keep) dims.Add(1);
        }
        return new TensorType(et.Value, new Shape(dims));
    }
}
