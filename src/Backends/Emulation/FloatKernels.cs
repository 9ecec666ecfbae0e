using ArchNet.IR;

namespace ArchNet.Backends.Emulation;

/// <summary>Float32 reference kernels: the float mode of the emulator and the host ops of the integer mode.</summary>
internal static class FloatKernels
{
    /// <summary>Whether the emulator has a float kernel for <paramref name="node"/>: in integer mode, every op without an
    /// integer kernel runs as a host float op, so this is what the emulator can run at all.</summary>
    /// <summary>Every op this emulates in float ("com.microsoft.NAME" for ONNX Runtime's contrib ops).</summary>
    public static IEnumerable<string> Ops =>
        Movement.Ops.Concat(Kernels.Keys).Concat(MicrosoftKernels.Keys.Select(k => $"{MicrosoftDomain}.{k}")).Order(StringComparer.Ordinal);

    public static bool Handles(Node node) => node.IsDefaultDomain
        ? Movement.Handles(node.OpType) || Kernels.ContainsKey(node.OpType)
        : node.Domain == MicrosoftDomain && MicrosoftKernels.ContainsKey(node.OpType);

    /// <summary>ONNX Runtime's contrib domain, whose ops rules may emit because ONNX Runtime runs them.</summary>
    private const string MicrosoftDomain = "com.microsoft";

    public static IReadOnlyList<Tensor> Run(Node node, Tensor?[] a)
    {
        if (!node.IsDefaultDomain)
            return node.Domain == MicrosoftDomain && MicrosoftKernels.TryGetValue(node.OpType, out var contrib)
                ? [contrib(node, a)]
                : throw new ArchNetException($"emulator: op {node.Domain}.{node.OpType} (node '{node.DisplayName}') is not emulated");
        if (Movement.Handles(node.OpType))
        {
            var pad = node.OpType == "Pad" && a.Length > 2 && a[2] is { } v ? v.ToReal()[0] : 0;
            return Movement.Run(node, a, pad);
        }
        return Kernels.TryGetValue(node.OpType, out var kernel)
            ? [kernel(node, a)]
            : throw new ArchNetException($"emulator: op {node.OpType} (node '{node.DisplayName}') is not emulated");
    }

    /// <summary>The ONNX Reduce ops, one kernel for all (<see cref="Reduce"/>).</summary>
    private static readonly string[] Reductions =
        ["ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"];

    /// <summary>The float kernel of each op (besides <see cref="Movement"/>'s data movement).</summary>
    private static readonly Dictionary<string, Func<Node, Tensor?[], Tensor>> Kernels = WithReductions(new(StringComparer.Ordinal)
    {
        ["Conv"] = (node, a) => Conv(node, F(a[0]), F(a[1]), a.Length > 2 ? a[2] : null),
        ["ConvTranspose"] = (node, a) => ConvTranspose(node, F(a[0]), F(a[1]), a.Length > 2 ? a[2] : null),
        ["Gemm"] = (node, a) => Gemm(node, F(a[0]), F(a[1]), a.Length > 2 ? a[2] : null),
        ["MatMul"] = (node, a) => MatMul(F(a[0]), F(a[1])),
        ["Add"] = (node, a) => Binary(a[0]!, a[1]!, (x, y) => x + y),
        ["Sub"] = (node, a) => Binary(a[0]!, a[1]!, (x, y) => x - y),
        ["Mul"] = (node, a) => Binary(a[0]!, a[1]!, (x, y) => x * y),
        ["Div"] = (node, a) => Binary(a[0]!, a[1]!, (x, y) => x / y),
        ["Pow"] = (node, a) => Binary(a[0]!, a[1]!, MathF.Pow),
        ["Max"] = (node, a) => Binary(a[0]!, a[1]!, MathF.Max),
        ["Min"] = (node, a) => Binary(a[0]!, a[1]!, MathF.Min),
        ["Relu"] = (node, a) => Map(a[0]!, x => x > 0 ? x : 0),
        ["PRelu"] = (node, a) => Binary(a[0]!, a[1]!, (x, slope) => x < 0 ? x * slope : x),
        ["LeakyRelu"] = (node, a) => Map(a[0]!, x => x >= 0 ? x : x * node.GetFloat("alpha", 0.01f)),
        ["Clip"] = (node, a) => Clip(node, a),
        ["Sigmoid"] = (node, a) => Map(a[0]!, x => 1f / (1f + MathF.Exp(-x))),
        ["Tanh"] = (node, a) => Map(a[0]!, MathF.Tanh),
        ["Exp"] = (node, a) => Map(a[0]!, MathF.Exp),
        ["Sqrt"] = (node, a) => Map(a[0]!, MathF.Sqrt),
        ["Neg"] = (node, a) => Map(a[0]!, x => -x),
        ["Abs"] = (node, a) => Map(a[0]!, MathF.Abs),
        ["Reciprocal"] = (node, a) => Map(a[0]!, x => 1f / x),
        ["Erf"] = (node, a) => Map(a[0]!, x => (float)Erf(x)),
        ["HardSigmoid"] = (node, a) => Map(a[0]!, x => Math.Clamp(node.GetFloat("alpha", 0.2f) * x + node.GetFloat("beta", 0.5f), 0f, 1f)),
        ["HardSwish"] = (node, a) => Map(a[0]!, x => x * Math.Clamp(x / 6f + 0.5f, 0f, 1f)),
        ["Softmax"] = (node, a) => Softmax(F(a[0]), (int)node.GetInt("axis", -1)),
        ["BatchNormalization"] = (node, a) => BatchNorm(node, a),
        ["MaxPool"] = (node, a) => Pool(node, F(a[0]), max: true),
        ["AveragePool"] = (node, a) => Pool(node, F(a[0]), max: false),
        ["GlobalAveragePool"] = (node, a) => GlobalPool(F(a[0]), max: false),
        ["GlobalMaxPool"] = (node, a) => GlobalPool(F(a[0]), max: true),
        ["Shape"] = (node, a) => Tensor.FromLongs([a[0]!.Rank], [.. a[0]!.Shape.Select(d => (long)d)]),
        ["ConstantOfShape"] = (node, a) => ConstantOfShape(node, a[0]!),
        ["Constant"] = (node, a) => Tensor.FromTensorData(node.Attr("value")!.AsTensor()),
        ["Cast"] = (node, a) => Cast(node, a[0]!),
        ["Resize"] = (node, a) => Resize(node, a),
        ["LayerNormalization"] = (node, a) => LayerNorm(node, a),
        ["Gelu"] = (node, a) => Map(a[0]!, node.GetString("approximate", "none") == "tanh"
            ? x => 0.5f * x * (1f + MathF.Tanh(0.7978845608f * (x + 0.044715f * x * x * x)))
            : x => (float)(0.5 * x * (1 + Erf(x / Math.Sqrt(2))))),
    });

    private static Dictionary<string, Func<Node, Tensor?[], Tensor>> WithReductions(Dictionary<string, Func<Node, Tensor?[], Tensor>> kernels)
    {
        foreach (var op in Reductions) kernels[op] = Reduce;
        return kernels;
    }

    /// <summary>The float kernels of com.microsoft ops.</summary>
    private static readonly Dictionary<string, Func<Node, Tensor?[], Tensor>> MicrosoftKernels = new(StringComparer.Ordinal)
    {
        // x * sigmoid(alpha * x): SiLU at alpha 1 (RecognizeSilu).
        ["QuickGelu"] = (node, a) => Map(a[0]!, x => x / (1f + MathF.Exp(-node.GetFloat("alpha", 1.702f) * x))),
    };

    private static Tensor F(Tensor? t) => t is null ? throw new ArgumentException("missing input")
        : t.Floats is not null ? t : Tensor.FromFloats(t.Shape, t.ToReal());

    private static Tensor Map(Tensor x, Func<float, float> f)
    {
        var src = x.ToReal();
        var r = new float[src.Length];
        for (var i = 0; i < r.Length; i++) r[i] = f(src[i]);
        return Tensor.FromFloats(x.Shape, r);
    }

    private static double Erf(double x)
    {
        // Abramowitz-Stegun 7.1.26 is too coarse for GELU checks; use the series/continued fraction via Math functions.
        var t = 1.0 / (1.0 + 0.5 * Math.Abs(x));
        var y = 1 - t * Math.Exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
            t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? y : -y;
    }

    /// <summary>Numpy-style broadcasting: output index to the element index of an input of shape <paramref name="shape"/>.</summary>
    public static int[] BroadcastShape(int[] a, int[] b)
    {
        var rank = Math.Max(a.Length, b.Length);
        var r = new int[rank];
        for (var i = 0; i < rank; i++)
        {
            var da = i - (rank - a.Length) >= 0 ? a[i - (rank - a.Length)] : 1;
            var db = i - (rank - b.Length) >= 0 ? b[i - (rank - b.Length)] : 1;
            if (da != db && da != 1 && db != 1) throw new ArgumentException($"shapes [{string.Join(",", a)}] and [{string.Join(",", b)}] do not broadcast");
            r[i] = Math.Max(da, db);
        }
        return r;
    }

    public static int[] BroadcastMap(int[] shape, int[] outShape)
    {
        var n = Tensor.ShapeLength(outShape);
        var map = new int[n];
        if (shape.SequenceEqual(outShape)) { for (var i = 0; i < n; i++) map[i] = i; return map; }
        var rank = outShape.Length;
        var padded = Enumerable.Repeat(1, rank - shape.Length).Concat(shape).ToArray();
        var strides = Movement.Strides(padded);
        for (var d = 0; d < rank; d++) if (padded[d] == 1) strides[d] = 0;
        var idx = new int[rank];
        for (var i = 0; i < n; i++)
        {
            var src = 0;
            for (var d = 0; d < rank; d++) src += idx[d] * strides[d];
            map[i] = src;
            for (var d = rank - 1; d >= 0; d--)
            {
                if (++idx[d] < outShape[d]) break;
                idx[d] = 0;
            }
        }
        return map;
    }

    private static Tensor Binary(Tensor a, Tensor b, Func<float, float, float> f)
    {
        if (a.Longs is not null && b.Longs is not null)
        {
            var shapeL = BroadcastShape(a.Shape, b.Shape);
            var ma = BroadcastMap(a.Shape, shapeL);
            var mb = BroadcastMap(b.Shape, shapeL);
            return Tensor.FromLongs(shapeL, [.. ma.Select((ia, i) => (long)f(a.Longs[ia], b.Longs[mb[i]]))]);
        }
        var x = a.ToReal();
        var y = b.ToReal();
        var shape = BroadcastShape(a.Shape, b.Shape);
        var r = new float[Tensor.ShapeLength(shape)];
        if (a.Shape.SequenceEqual(b.Shape))
        {
            for (var i = 0; i < r.Length; i++) r[i] = f(x[i], y[i]);
            return Tensor.FromFloats(shape, r);
        }
        var mapA = BroadcastMap(a.Shape, shape);
        var mapB = BroadcastMap(b.Shape, shape);
        for (var i = 0; i < r.Length; i++) r[i] = f(x[mapA[i]], y[mapB[i]]);
        return Tensor.FromFloats(shape, r);
    }

    private static Tensor Clip(Node node, Tensor?[] a)
    {
        var lo = a.Length > 1 && a[1] is { } l ? l.ToReal()[0] : node.HasAttr("min") ? node.GetFloat("min", 0) : float.NegativeInfinity;
        var hi = a.Length > 2 && a[2] is { } h ? h.ToReal()[0] : node.HasAttr("max") ? node.GetFloat("max", 0) : float.PositiveInfinity;
        return Map(a[0]!, x => x < lo ? lo : x > hi ? hi : x);
    }

    public static Tensor Conv(Node node, Tensor x, Tensor w, Tensor? bias)
    {
        var g = (int)node.GetInt("group", 1);
        var win = Window.Of(node, x.Shape, w.Shape[2], w.Rank > 3 ? w.Shape[3] : 1);
        int M = w.Shape[0], Cg = win.C / g, Mg = M / g, K = Cg * win.KH * win.KW, P = win.OutPixels;
        var xs = x.Floats!;
        var ws = w.Floats!;
        var b = bias?.ToReal();
        var y = new float[win.N * M * P];
        for (var n = 0; n < win.N; n++)
        {
            var image = xs.AsSpan(n * win.C * win.H * win.W, win.C * win.H * win.W);
            for (var grp = 0; grp < g; grp++)
            {
                float[] col;
                if (win.IsPointwise) col = image.Slice(grp * Cg * P, Cg * P).ToArray();
                else
                {
                    col = new float[K * P];
                    win.Im2Col<float>(image, grp * Cg, Cg, col, 0f);
                }
                var nn = n;
                var gg = grp;
                Parallel.For(0, Mg, new ParallelOptions { MaxDegreeOfParallelism = Mg >= 8 ? Environment.ProcessorCount : 1 }, mi =>
                {
                    var m = gg * Mg + mi;
                    var dst = y.AsSpan((nn * M + m) * P, P);
                    dst.Fill(b?[m] ?? 0f);
                    var wr = ws.AsSpan(m * K, K);
                    for (var k = 0; k < K; k++)
                        if (wr[k] != 0) Simd.Axpy(wr[k], col.AsSpan(k * P, P), dst);
                });
            }
        }
        return Tensor.FromFloats(win.OutShape(M, x.Rank), y);
    }

    /// <summary>
    /// ConvTranspose (weights [C, M / group, kH, kW]): each input pixel of channel c, times tap w[c, j], is added at its
    /// landing place in output channel m = group(c) * M / group + j (see <see cref="Window.OfTransposed"/>).
    /// </summary>
    public static Tensor ConvTranspose(Node node, Tensor x, Tensor w, Tensor? bias)
    {
        var g = (int)node.GetInt("group", 1);
        var win = Window.OfTransposed(node, x.Shape, w.Shape[2], w.Rank > 3 ? w.Shape[3] : 1);
        int Cg = win.C / g, Mg = w.Shape[1], M = Mg * g, plane = win.H * win.W, taps = win.KH * win.KW, P = win.OutPixels;
        var xs = x.Floats!;
        var ws = w.Floats!;
        var b = bias?.ToReal();
        var y = new float[win.N * M * P];
        Parallel.For(0, win.N * M, nm =>
        {
            int n = nm / M, m = nm % M, grp = m / Mg, j = m % Mg;
            var dst = y.AsSpan(nm * P, P);
            dst.Fill(b?[m] ?? 0f);
            for (var c = grp * Cg; c < (grp + 1) * Cg; c++)
                win.ScatterPlane<float, float>(xs.AsSpan((n * win.C + c) * plane, plane), ws.AsSpan((c * Mg + j) * taps, taps), 0f, dst);
        });
        return Tensor.FromFloats(win.OutShape(M, x.Rank), y);
    }

    public static Tensor Gemm(Node node, Tensor a, Tensor b, Tensor? c)
    {
        var transA = node.GetInt("transA", 0) != 0;
        var transB = node.GetInt("transB", 0) != 0;
        var alpha = node.GetFloat("alpha", 1f);
        var beta = node.GetFloat("beta", 1f);
        var A = transA ? Movement.Transpose(a, [1, 0]) : a;
        var Bt = transB ? b : Movement.Transpose(b, [1, 0]); // [N, K]
        int M = A.Shape[0], K = A.Shape[1], N = Bt.Shape[0];
        var y = new float[M * N];
        var av = A.Floats!;
        var bv = Bt.Floats!;
        float[]? cv = null;
        int[]? cmap = null;
        if (c is not null)
        {
            cv = c.ToReal();
            cmap = BroadcastMap(c.Shape, [M, N]);
        }
        Parallel.For(0, M, m =>
        {
            var row = av.AsSpan(m * K, K);
            for (var j = 0; j < N; j++)
                y[m * N + j] = alpha * Simd.Dot(row, bv.AsSpan(j * K, K)) + (cv is null ? 0 : beta * cv[cmap![m * N + j]]);
        });
        return Tensor.FromFloats([M, N], y);
    }

    /// <summary>
    /// MatMul's shapes (numpy rules): [..., M, K] x [..., K, N] with the batch dimensions broadcast; a 1-D operand is a
    /// row (a) or a column (b) whose axis the output drops. Batch t reads matrix MapA[t] of a and MapB[t] of b.
    /// </summary>
    internal sealed record MatMulShape(int M, int K, int N, int Batches, int[] MapA, int[] MapB, int[] Output)
    {
        public static MatMulShape Of(int[] a, int[] b)
        {
            var ash = a.Length == 1 ? new[] { 1, a[0] } : a;
            var bsh = b.Length == 1 ? new[] { b[0], 1 } : b;
            var batchA = ash[..^2];
            var batchB = bsh[..^2];
            var batch = BroadcastShape(batchA, batchB);
            int M = ash[^2], N = bsh[^1];
            var output = batch.Concat(a.Length == 1 ? [] : new[] { M }).Concat(b.Length == 1 ? [] : new[] { N }).ToArray();
            return new(M, ash[^1], N, Tensor.ShapeLength(batch), BroadcastMap(batchA, batch), BroadcastMap(batchB, batch), output);
        }
    }

    public static Tensor MatMul(Tensor a, Tensor b)
    {
        var (M, K, N, nb, mapA, mapB, outShape) = MatMulShape.Of(a.Shape, b.Shape);
        var av = a.Floats!;
        var bv = b.Floats!;
        var y = new float[nb * M * N];
        Parallel.For(0, nb * M, t =>
        {
            var bi = t / M;
            var m = t % M;
            var arow = av.AsSpan(mapA[bi] * M * K + m * K, K);
            var bbase = mapB[bi] * K * N;
            var dst = y.AsSpan((bi * M + m) * N, N);
            for (var k = 0; k < K; k++)
                if (arow[k] != 0) Simd.Axpy(arow[k], bv.AsSpan(bbase + k * N, N), dst);
        });
        return Tensor.FromFloats(outShape, y);
    }

    private static Tensor Softmax(Tensor x, int axis)
    {
        axis = Movement.NormAxis(axis, x.Rank);
        var inner = Tensor.ShapeLength(x.Shape.AsSpan(axis + 1));
        var dim = x.Shape[axis];
        var outer = x.Length / (dim * inner);
        var src = x.Floats!;
        var r = new float[src.Length];
        for (var o = 0; o < outer; o++)
            for (var i = 0; i < inner; i++)
            {
                var max = float.NegativeInfinity;
                for (var d = 0; d < dim; d++) max = MathF.Max(max, src[(o * dim + d) * inner + i]);
                var sum = 0f;
                for (var d = 0; d < dim; d++) sum += r[(o * dim + d) * inner + i] = MathF.Exp(src[(o * dim + d) * inner + i] - max);
                for (var d = 0; d < dim; d++) r[(o * dim + d) * inner + i] /= sum;
            }
        return Tensor.FromFloats(x.Shape, r);
    }

    private static Tensor BatchNorm(Node node, Tensor?[] a)
    {
        var x = F(a[0]);
        float[] scale = a[1]!.ToReal(), bias = a[2]!.ToReal(), mean = a[3]!.ToReal(), var = a[4]!.ToReal();
        var eps = node.GetFloat("epsilon", 1e-5f);
        var C = x.Shape[1];
        var inner = Tensor.ShapeLength(x.Shape.AsSpan(2));
        var r = new float[x.Length];
        var src = x.Floats!;
        for (var i = 0; i < r.Length; i++)
        {
            var c = i / inner % C;
            r[i] = (src[i] - mean[c]) / MathF.Sqrt(var[c] + eps) * scale[c] + bias[c];
        }
        return Tensor.FromFloats(x.Shape, r);
    }

    private static Tensor Pool(Node node, Tensor x, bool max)
    {
        var kernel = node.GetInts("kernel_shape")!.Value;
        var win = Window.Of(node, x.Shape, (int)kernel[0], kernel.Length > 1 ? (int)kernel[1] : 1);
        var includePad = node.GetInt("count_include_pad", 0) != 0;
        var src = x.Floats!;
        var y = new float[win.N * win.C * win.OutPixels];
        for (var nc = 0; nc < win.N * win.C; nc++)
        {
            var plane = src.AsSpan(nc * win.H * win.W, win.H * win.W);
            for (var oy = 0; oy < win.OH; oy++)
                for (var ox = 0; ox < win.OW; ox++)
                {
                    var acc = max ? float.NegativeInfinity : 0f;
                    for (var ky = 0; ky < win.KH; ky++)
                    {
                        var iy = oy * win.SH - win.PadTop + ky * win.DH;
                        if (iy < 0 || iy >= win.H) continue;
                        for (var kx = 0; kx < win.KW; kx++)
                        {
                            var ix = ox * win.SW - win.PadLeft + kx * win.DW;
                            if (ix < 0 || ix >= win.W) continue;
                            var v = plane[iy * win.W + ix];
                            acc = max ? MathF.Max(acc, v) : acc + v;
                        }
                    }
                    if (!max) acc /= includePad ? PaddedCount(win, oy, ox) : win.InsideCount(oy, ox);
                    y[(nc * win.OH + oy) * win.OW + ox] = acc;
                }
        }
        return Tensor.FromFloats(win.OutShape(win.C, x.Rank), y);
    }

    /// <summary>Window elements counting explicit padding but not the ceil-mode overhang (ONNX's count_include_pad).</summary>
    public static int PaddedCount(Window win, int oy, int ox)
    {
        int Extent(int o, int s, int pad, int k, int d, int size, int padEnd)
        {
            var start = o * s - pad;
            var end = Math.Min(start + (k - 1) * d + 1, size + padEnd);
            return (end - start + d - 1) / d;
        }
        // Ends are clipped to the padded extent; pads at the end are taken equal to the start pads here.
        return Extent(oy, win.SH, win.PadTop, win.KH, win.DH, win.H, win.PadTop) * Extent(ox, win.SW, win.PadLeft, win.KW, win.DW, win.W, win.PadLeft);
    }

    private static Tensor GlobalPool(Tensor x, bool max)
    {
        int NC = x.Shape[0] * x.Shape[1], inner = x.Length / Math.Max(NC, 1);
        var src = x.Floats!;
        var y = new float[NC];
        for (var i = 0; i < NC; i++)
        {
            var s = src.AsSpan(i * inner, inner);
            if (max) { var m = float.NegativeInfinity; foreach (var v in s) m = MathF.Max(m, v); y[i] = m; }
            else { var acc = 0f; foreach (var v in s) acc += v; y[i] = acc / inner; }
        }
        return Tensor.FromFloats([.. x.Shape.Select((d, i) => i < 2 ? d : 1)], y);
    }

    /// <summary>
    /// Resize (opsets 11 to 19): nearest or linear (multilinear over every axis), output size from <c>sizes</c> or from
    /// floor(input * <c>scales</c>), the coordinate transformations half_pixel, pytorch_half_pixel, align_corners and
    /// asymmetric, every nearest_mode. Cubic, tf_crop_and_resize, antialias and axes are refused by name.
    /// </summary>
    private static Tensor Resize(Node node, Tensor?[] a)
    {
        var x = F(a[0]);
        if (ResizeTaps.Unsupported(node, a.Length) is { } why) throw new ArgumentException($"{why} is not emulated");
        var (scalesInput, sizesInput) = (a[2], a.Length > 3 ? a[3] : null);
        var rank = x.Rank;
        var inDims = x.Shape;
        var (outDims, scales) = ResizeTaps.Sizes(inDims, scalesInput?.ToReal(), sizesInput is { Length: > 0 } ? Movement.Longs(sizesInput) : null);
        // Per axis and output index: the input indices and weights that make it (one index for nearest).
        var taps = new ResizeTap[rank][];
        for (var d = 0; d < rank; d++) taps[d] = ResizeTaps.Axis(node, inDims[d], outDims[d], scales[d]);

        var inStrides = new int[rank];
        for (int d = rank - 1, s = 1; d >= 0; s *= inDims[d], d--) inStrides[d] = s;
        var src = x.Floats!;
        var result = new float[Tensor.ShapeLength(outDims)];
        var index = new int[rank];
        for (var n = 0; n < result.Length; n++)
        {
            // Sum over the 2^rank corners (only the axes with a second tap of non-zero weight branch).
            double sum = 0;
            var corners = 1 << rank;
            for (var corner = 0; corner < corners; corner++)
            {
                double w = 1;
                var offset = 0;
                for (var d = 0; d < rank && w != 0; d++)
                {
                    var t = taps[d][index[d]];
                    var second = (corner >> d & 1) == 1;
                    w *= second ? t.W1 : t.W0;
                    offset += (second ? t.I1 : t.I0) * inStrides[d];
                }
                if (w != 0) sum += w * src[offset];
            }
            result[n] = (float)sum;
            for (var d = rank - 1; d >= 0 && ++index[d] == outDims[d]; d--) index[d] = 0;
        }
        return Tensor.FromFloats(outDims, result);
    }

    private static Tensor ConstantOfShape(Node node, Tensor shape)
    {
        var dims = Movement.Longs(shape).Select(d => (int)d).ToArray();
        var n = Tensor.ShapeLength(dims);
        var value = node.Attr("value")?.AsTensor();
        if (value is null || value.ElementType.IsFloatingPoint())
            return Tensor.FromFloats(dims, Enumerable.Repeat(value?.ToFloats()[0] ?? 0f, n).ToArray());
        return Tensor.FromLongs(dims, Enumerable.Repeat(value.ToInt64s()[0], n).ToArray());
    }

    private static Tensor Cast(Node node, Tensor x)
    {
        var to = (ElementType)node.GetInt("to", (long)ElementType.Float);
        if (to.IsFloatingPoint()) return Tensor.FromFloats(x.Shape, x.ToReal());
        return Tensor.FromLongs(x.Shape, x.Longs ?? [.. x.ToReal().Select(v => (long)v)]);
    }

    /// <summary>
    /// The ONNX Reduce* ops over the axes of input 1 (opset 18; ReduceSum since 13) or of the <c>axes</c> attribute (earlier
    /// opsets), all axes when none are given unless <c>noop_with_empty_axes</c> (the input unchanged), with <c>keepdims</c>.
    /// Elements are folded in row-major order in float; ReduceLogSumExp subtracts each output's maximum first, as
    /// ONNX Runtime does, so large inputs do not overflow.
    /// </summary>
    private static Tensor Reduce(Node node, Tensor?[] a)
    {
        var x = F(a[0]);
        var given = a.Length > 1 && a[1] is { } t ? Movement.Longs(t) : node.GetInts("axes")?.ToArray();
        if (given is not { Length: > 0 } && node.GetInt("noop_with_empty_axes", 0) != 0) return x;
        var axes = (given is { Length: > 0 } ? given : [.. Enumerable.Range(0, x.Rank).Select(i => (long)i)])
            .Select(v => Movement.NormAxis(v, x.Rank)).ToHashSet();
        var keep = node.GetInt("keepdims", 1) != 0;
        var outShape = x.Shape.Select((d, i) => axes.Contains(i) ? 1 : d).ToArray();
        var map = BroadcastMap(outShape, x.Shape);
        var src = x.Floats!;
        var r = new float[Tensor.ShapeLength(outShape)];
        var count = r.Length == 0 ? 0 : src.Length / r.Length;
        float[]? shift = null;
        switch (node.OpType)
        {
            case "ReduceMax": Array.Fill(r, float.NegativeInfinity); break;
            case "ReduceMin": Array.Fill(r, float.PositiveInfinity); break;
            case "ReduceProd": Array.Fill(r, 1f); break;
            case "ReduceLogSumExp":
                shift = new float[r.Length];
                Array.Fill(shift, float.NegativeInfinity);
                for (var i = 0; i < src.Length; i++) shift[map[i]] = MathF.Max(shift[map[i]], src[i]);
                for (var o = 0; o < shift.Length; o++) if (float.IsInfinity(shift[o])) shift[o] = 0;
                break;
        }
        for (var i = 0; i < src.Length; i++)
        {
            var (o, v) = (map[i], src[i]);
            r[o] = node.OpType switch
            {
                "ReduceMax" => MathF.Max(r[o], v),
                "ReduceMin" => MathF.Min(r[o], v),
                "ReduceProd" => r[o] * v,
                "ReduceL1" => r[o] + MathF.Abs(v),
                "ReduceL2" or "ReduceSumSquare" => r[o] + v * v,
                "ReduceLogSumExp" => r[o] + MathF.Exp(v - shift![o]),
                _ => r[o] + v, // ReduceSum, ReduceMean, ReduceLogSum
            };
        }
        for (var o = 0; o < r.Length; o++)
            r[o] = node.OpType switch
            {
                "ReduceMean" => r[o] / count,
                "ReduceL2" => MathF.Sqrt(r[o]),
                "ReduceLogSum" => MathF.Log(r[o]),
                "ReduceLogSumExp" => MathF.Log(r[o]) + shift![o],
                _ => r[o],
            };
        return Tensor.FromFloats(keep ? outShape : [.. outShape.Where((d, i) => !axes.Contains(i))], r);
    }

    /// <summary>ONNX LayerNormalization (opset 17): normalized over the axes from <c>axis</c> on, then scale and bias (broadcast).</summary>
    private static Tensor LayerNorm(Node node, Tensor?[] a)
    {
        var x = F(a[0]);
        var axis = Movement.NormAxis((int)node.GetInt("axis", -1), x.Rank);
        var eps = node.GetFloat("epsilon", 1e-5f);
        var inner = Tensor.ShapeLength(x.Shape.AsSpan(axis));
        var normShape = x.Shape[axis..];
        var scale = a[1]!.ToReal();
        var scaleMap = BroadcastMap(a[1]!.Shape, normShape);
        var bias = a.Length > 2 && a[2] is { } b ? b.ToReal() : null;
        var biasMap = bias is null ? null : BroadcastMap(a[2]!.Shape, normShape);
        var src = x.Floats!;
        var r = new float[src.Length];
        for (var o = 0; o < src.Length / Math.Max(inner, 1); o++)
        {
            var row = src.AsSpan(o * inner, inner);
            double mean = 0, sq = 0;
            foreach (var v in row) mean += v;
            mean /= inner;
            foreach (var v in row) sq += (v - mean) * (v - mean);
            var inv = 1.0 / Math.Sqrt(sq / inner + eps);
            for (var i = 0; i < inner; i++)
                r[o * inner + i] = (float)((row[i] - mean) * inv) * scale[scaleMap[i]] + (bias is null ? 0f : bias[biasMap![i]]);
        }
        return Tensor.FromFloats(x.Shape, r);
    }
}
