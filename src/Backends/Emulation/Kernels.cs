using System.Buffers;
using System.Collections.Concurrent;
using ArchNet.IR;

namespace ArchNet.Backends.Emulation;

/// <summary>
/// The integer kernels of the golden model. Each follows the per-op rule written in <see cref="IntegerArithmetic"/>'s
/// summary; <see cref="HasIntegerKernel"/> and <see cref="RunInteger"/> share their preconditions so they cannot disagree.
/// </summary>
internal sealed partial class Kernels(QuantSemantics semantics)
{
    private readonly ConcurrentDictionary<Value, Tensor> _quantizedConstants = new();
    private readonly ConcurrentDictionary<Node, PreparedWeights> _weights = new();

    private RoundingMode Rounding => semantics.Rounding;

    private static bool PerTensor(Value? v) => v?.Quant is { PerChannel: false };

    private static bool IsWeight(Value? v) => v is { IsConstant: true, Quant: not null };

    /// <summary>The ops <see cref="HasIntegerKernel"/> can say yes for (on suitably quantized operands).</summary>
    public static readonly IReadOnlySet<string> IntegerOps = new HashSet<string>(StringComparer.Ordinal)
    {
        "Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "Sub", "Mul", "Relu", "MaxPool", "AveragePool", "GlobalAveragePool", "Clip",
        "Concat", "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Dropout", "DepthToSpace", "SpaceToDepth",
        "Slice", "Gather", "Softmax", "Pad",
    };

    public bool HasIntegerKernel(Node node, Func<Value, bool> isQuantizedActivation)
    {
        if (!IntegerOps.Contains(node.OpType)) return false;
        if (!node.IsDefaultDomain || node.Outputs.Count == 0 || !PerTensor(node.Outputs[0])) return false;
        bool Act(int i) => node.Input(i) is { } v && (isQuantizedActivation(v) || (v.IsConstant && PerTensor(v)));
        bool ConstOrAbsent(int i) => node.Input(i) is null || node.Input(i)!.IsAbsent || node.Input(i)!.IsConstant;
        return node.OpType switch
        {
            "Conv" or "ConvTranspose" => Act(0) && IsWeight(node.Input(1)) && ConstOrAbsent(2) && node.Input(0)!.Shape?.Rank is 3 or 4,
            "Gemm" => Act(0) && IsWeight(node.Input(1)) && ConstOrAbsent(2) && node.GetInt("transA", 0) == 0
                && node.GetFloat("alpha", 1) == 1 && node.GetFloat("beta", 1) == 1,
            "MatMul" => Act(0) && (IsWeight(node.Input(1)) && node.Input(1)!.Shape?.Rank == 2 || Act(1)),
            "Add" or "Sub" or "Mul" => Act(0) && Act(1),
            "Relu" or "MaxPool" or "AveragePool" or "GlobalAveragePool" => Act(0) && node.Outputs.Count == 1,
            "Clip" => Act(0) && ConstOrAbsent(1) && ConstOrAbsent(2),
            "Concat" => node.Inputs.All(v => v is not null && (isQuantizedActivation(v) || (v.IsConstant && PerTensor(v)))),
            "Reshape" or "Flatten" or "Transpose" or "Squeeze" or "Unsqueeze" or "Identity" or "Dropout" or "DepthToSpace" or "SpaceToDepth" => Act(0),
            "Slice" or "Gather" => Act(0) && node.Inputs.Skip(1).All(v => v is null || v.IsConstant),
            "Softmax" => Act(0) && SoftmaxAlongLastAxis(node),
            "Pad" => Act(0) && node.GetString("mode", "constant") == "constant" && node.Inputs.Skip(1).All(v => v is null || v.IsAbsent || v.IsConstant),
            _ => false,
        };
    }

    public IReadOnlyList<Tensor> RunInteger(Node node, Tensor?[] args)
    {
        var outQ = node.Outputs[0].Quant!;
        Tensor Q(int i) => Quantized(node.Input(i)!, args[i]!);
        switch (node.OpType)
        {
            case "Conv": return [Conv(node, Q(0), outQ)];
            case "ConvTranspose": return [ConvTranspose(node, Q(0), outQ)];
            case "Gemm":
            case "MatMul" when IsWeight(node.Input(1)):
                return [Dense(node, Q(0), outQ)];
            case "MatMul": return [MatMulActivations(Q(0), Q(1), outQ)];
            case "Add": return [AddSub(Q(0), Q(1), outQ, subtract: false)];
            case "Sub": return [AddSub(Q(0), Q(1), outQ, subtract: true)];
            case "Mul": return [Mul(Q(0), Q(1), outQ)];
            case "Relu": return [Clamp(Q(0), Q(0).Quant!.ZeroPoints[0], long.MaxValue, outQ)];
            case "Clip":
            {
                var x = Q(0);
                var xq = x.Quant!;
                long lo = long.MinValue, hi = long.MaxValue;
                float? Bound(int i, string attr) => node.Input(i) is { Constant: { } c } ? c.ToFloats()[0] : node.HasAttr(attr) ? node.GetFloat(attr, 0) : null;
                if (Bound(1, "min") is { } min) lo = IntegerArithmetic.QuantizeFloat(min, xq.Scales[0], xq.ZeroPoints[0], xq.QMin, xq.QMax, Rounding);
                if (Bound(2, "max") is { } max) hi = IntegerArithmetic.QuantizeFloat(max, xq.Scales[0], xq.ZeroPoints[0], xq.QMin, xq.QMax, Rounding);
                return [Clamp(x, lo, hi, outQ)];
            }
            case "MaxPool": return [MaxPool(node, Q(0), outQ)];
            case "Softmax": return [Softmax(Q(0), outQ)];
            case "AveragePool": return [AveragePool(node, Q(0), outQ)];
            case "GlobalAveragePool": return [GlobalAveragePool(Q(0), outQ)];
            case "Concat":
            {
                var parts = node.Inputs.Select((v, i) => Rescale(Q(i), outQ)).ToArray();
                return [Movement.Concat(parts, (int)node.GetInt("axis", 0))];
            }
            default:
            {
                var x = Q(0);
                var rest = args.Select((a, i) => i == 0 ? x : a).ToArray();
                double pad = x.Quant!.ZeroPoints[0];
                if (node.OpType == "Pad" && args.Length > 2 && args[2] is { } pv)
                    pad = IntegerArithmetic.QuantizeFloat(pv.ToReal()[0], x.Quant.Scales[0], x.Quant.ZeroPoints[0], x.Quant.QMin, x.Quant.QMax, Rounding);
                return [.. Movement.Run(node, rest, pad).Select(t => Rescale(t, outQ))];
            }
        }
    }

    /// <summary>A float tensor quantized with a value's per-tensor parameters (graph inputs, host-op outputs, constants).</summary>
    public Tensor Quantize(Tensor t, QuantParams q)
    {
        var src = t.ToReal();
        var r = new int[src.Length];
        float s = q.Scales[0];
        var z = q.ZeroPoints[0];
        for (var i = 0; i < r.Length; i++) r[i] = (int)IntegerArithmetic.QuantizeFloat(src[i], s, z, q.QMin, q.QMax, Rounding);
        return Tensor.FromInts(t.Shape, r, q);
    }

    private Tensor Quantized(Value v, Tensor t)
    {
        if (t.IsQuantized) return t;
        if (v.Quant is not { PerChannel: false } q) throw new InvalidOperationException($"value '{v.Name}' has no per-tensor quantization");
        return v.IsConstant ? _quantizedConstants.GetOrAdd(v, _ => Quantize(t, q)) : Quantize(t, q);
    }

    // ---- requantization ---------------------------------------------------------------------------------------

    /// <summary>One output channel's multiplier in both forms (only the one the semantics name is used).</summary>
    private readonly record struct Multiplier(float Scale, FixedMultiplier Fixed);

    private Multiplier MakeMultiplier(float m) =>
        new(m, semantics.Requantization == RequantMode.MultiplierShift ? FixedMultiplier.From(m) : default);

    private int Requantize(long acc, Multiplier m, QuantParams outQ)
    {
        acc = IntegerArithmetic.SaturateAccumulator(acc, semantics.AccumulatorBits);
        long r = semantics.Requantization == RequantMode.FloatScale
            ? IntegerArithmetic.Round((float)acc * m.Scale, Rounding)
            : m.Fixed.Apply(acc, Rounding);
        return (int)IntegerArithmetic.Saturate(r + outQ.ZeroPoints[0], outQ.QMin, outQ.QMax);
    }

    private static bool SameParams(QuantParams a, QuantParams b) =>
        a.Bits == b.Bits && a.Signed == b.Signed && a.Scales[0] == b.Scales[0] && a.ZeroPoints[0] == b.ZeroPoints[0];

    /// <summary>rescale(v): identity for equal parameters, else requantization of v - zx by f32(sx / sy).</summary>
    private Tensor Rescale(Tensor x, QuantParams outQ)
    {
        var inQ = x.Quant!;
        if (SameParams(inQ, outQ)) return x.WithQuant(outQ);
        var m = MakeMultiplier(IntegerArithmetic.RatioMultiplier(inQ.Scales[0], outQ.Scales[0]));
        var zx = inQ.ZeroPoints[0];
        var src = x.Ints!;
        var r = new int[src.Length];
        for (var i = 0; i < r.Length; i++) r[i] = Requantize(src[i] - zx, m, outQ);
        return Tensor.FromInts(x.Shape, r, outQ);
    }

    private Tensor Clamp(Tensor x, long lo, long hi, QuantParams outQ)
    {
        var src = x.Ints!;
        var r = new int[src.Length];
        for (var i = 0; i < r.Length; i++) r[i] = (int)Math.Clamp(src[i], lo, hi);
        return Rescale(Tensor.FromInts(x.Shape, r, x.Quant!), outQ);
    }

    // ---- Conv / Gemm / MatMul with constant weights -----------------------------------------------------------

    /// <summary>Weights as (w - zw) rows per output channel, biases as accumulator integers, one multiplier per channel.</summary>
    private sealed record PreparedWeights(int[] Rows, int RowLength, long[] Bias, Multiplier[] Multipliers, long MaxAbsWeight, long MaxAbsBias);

    private PreparedWeights Prepare(Node node, QuantParams xq, QuantParams outQ, bool rowsAreOutputChannels)
    {
        return _weights.GetOrAdd(node, _ =>
        {
            var wv = node.Input(1)!;
            var wq = wv.Quant!;
            var w = wv.Constant!;
            var dims = w.Dims.Select(d => (int)d).ToArray();
            var values = w.ToFloats();
            // Layout [channels, rowLength] with the quantization axis first.
            var axis = wq.Axis ?? (rowsAreOutputChannels ? 0 : dims.Length - 1);
            int channels = dims[axis];
            int rowLength = values.Length / channels;
            float[] rowsF;
            if (axis == 0) rowsF = values;
            else
            {
                var t = Movement.Transpose(Tensor.FromFloats(dims, values), [.. Enumerable.Range(0, dims.Length).Where(d => d != axis).Prepend(axis)]);
                rowsF = t.Floats!;
            }
            var rows = new int[rowsF.Length];
            var bias = new long[channels];
            var mults = new Multiplier[channels];
            long maxW = 0;
            var biasData = node.Input(2) is { Constant: { } b } ? b.ToFloats() : null;
            for (var c = 0; c < channels; c++)
            {
                var s = wq.Scales[wq.PerChannel ? c : 0];
                var z = wq.ZeroPoints[wq.PerChannel ? c : 0];
                for (var k = 0; k < rowLength; k++)
                {
                    // Weights are quantized on the host: ties to even whatever the chip rounds.
                    var q = IntegerArithmetic.QuantizeFloat(rowsF[c * rowLength + k], s, z, wq.QMin, wq.QMax, RoundingMode.HalfToEven) - z;
                    rows[c * rowLength + k] = (int)q;
                    maxW = Math.Max(maxW, Math.Abs(q));
                }
                var accScale = xq.Scales[0] * s;
                if (biasData is not null) bias[c] = IntegerArithmetic.QuantizeBias(biasData[c], accScale, semantics.AccumulatorBits);
                mults[c] = MakeMultiplier(IntegerArithmetic.ProductMultiplier(xq.Scales[0], s, outQ.Scales[0]));
            }
            return new PreparedWeights(rows, rowLength, bias, mults, maxW, bias.Length == 0 ? 0 : bias.Max(Math.Abs));
        });
    }

    private static long MaxAbsActivation(QuantParams q) => Math.Max(Math.Abs(q.QMin - q.ZeroPoints[0]), Math.Abs(q.QMax - q.ZeroPoints[0]));

    private static bool FitsInt32(long maxA, long maxB, long terms, long maxBias) =>
        (double)maxA * maxB * terms + maxBias < int.MaxValue;

    private Tensor Conv(Node node, Tensor x, QuantParams outQ)
    {
        var xq = x.Quant!;
        var wv = node.Input(1)!;
        var wdims = wv.Constant!.Dims;
        var g = (int)node.GetInt("group", 1);
        var win = Window.Of(node, x.Shape, (int)wdims[2], wdims.Length > 3 ? (int)wdims[3] : 1);
        var pw = Prepare(node, xq, outQ, rowsAreOutputChannels: true);
        int M = (int)wdims[0], Cg = win.C / g, Mg = M / g, K = pw.RowLength, P = win.OutPixels;
        var zx = (int)xq.ZeroPoints[0];
        var fits = FitsInt32(MaxAbsActivation(xq), pw.MaxAbsWeight, K, pw.MaxAbsBias);
        var y = new int[win.N * M * P];
        var plane = win.C * win.H * win.W;
        // Output channels [m, m + count) (count <= 4, one group) of item n: requant(bias + sum_k w[m, k] col[k, :]).
        // acc holds 4 rows of P; wide one row of P when the sums need 64 bits.
        void Channels(int n, int m, int count, int[] columns, int offset, int[] acc, long[] wide)
        {
            var col = columns.AsSpan(offset, K * P);
            if (!fits)
            {
                for (var c = 0; c < count; c++)
                {
                    var dst = y.AsSpan((n * M + m + c) * P, P);
                    var wr = pw.Rows.AsSpan((m + c) * K, K);
                    wide.AsSpan().Fill(pw.Bias[m + c]);
                    for (int k = 0, colOffset = 0; k < K; k++, colOffset += P)
                        for (var p = 0; p < P; p++) wide[p] += (long)wr[k] * col[colOffset + p];
                    for (var p = 0; p < P; p++) dst[p] = Requantize(wide[p], pw.Multipliers[m + c], outQ);
                }
                return;
            }
            for (var c = 0; c < count; c++) acc.AsSpan(c * P, P).Fill((int)pw.Bias[m + c]);
            if (count == 4)
                Simd.MultiplyAccumulate4(pw.Rows.AsSpan(m * K, K), pw.Rows.AsSpan((m + 1) * K, K), pw.Rows.AsSpan((m + 2) * K, K),
                    pw.Rows.AsSpan((m + 3) * K, K), col, P, acc.AsSpan(0, P), acc.AsSpan(P, P), acc.AsSpan(2 * P, P), acc.AsSpan(3 * P, P));
            else
                for (var c = 0; c < count; c++)
                {
                    var wr = pw.Rows.AsSpan((m + c) * K, K);
                    var a = acc.AsSpan(c * P, P);
                    for (int k = 0, colOffset = 0; k < K; k++, colOffset += P)
                        if (wr[k] != 0) Simd.Axpy(wr[k], col.Slice(colOffset, P), a);
                }
            for (var c = 0; c < count; c++)
            {
                var dst = y.AsSpan((n * M + m + c) * P, P);
                var a = acc.AsSpan(c * P, P);
                for (var p = 0; p < P; p++) dst[p] = Requantize(a[p], pw.Multipliers[m + c], outQ);
            }
        }
        // Item n, group after group; its output channels on all cores when it is the only item (each channel's integers
        // do not depend on where or in which order it runs).
        void Item(int n, bool channelsInParallel)
        {
            // The centered image and the columns are scratch (rented: a large layer's columns would be a large-object
            // allocation per item).
            var centered = ArrayPool<int>.Shared.Rent(plane);
            var col = win.IsPointwise ? centered : ArrayPool<int>.Shared.Rent(K * P);
            try
            {
                var src = x.Ints!.AsSpan(n * plane, plane);
                for (var i = 0; i < plane; i++) centered[i] = src[i] - zx; // padding then reads 0 = the zero point
                // One item's channels in order share one scratch; spread over the cores, each block has its own.
                var acc = channelsInParallel ? [] : new int[4 * P];
                var wide = fits || channelsInParallel ? [] : new long[P];
                for (var grp = 0; grp < g; grp++)
                {
                    // Pointwise: the group's channels are its columns already.
                    var offset = win.IsPointwise ? grp * Cg * P : 0;
                    if (!win.IsPointwise) win.Im2Col<int>(centered.AsSpan(0, plane), grp * Cg, Cg, col.AsSpan(0, K * P), 0);
                    var first = grp * Mg;
                    if (channelsInParallel)
                        Parallel.For(0, (Mg + 3) / 4, b => Channels(n, first + 4 * b, Math.Min(4, Mg - 4 * b), col, offset, new int[4 * P], fits ? [] : new long[P]));
                    else
                        for (var mi = 0; mi < Mg; mi += 4) Channels(n, first + mi, Math.Min(4, Mg - mi), col, offset, acc, wide);
                }
            }
            finally
            {
                if (col != centered) ArrayPool<int>.Shared.Return(col);
                ArrayPool<int>.Shared.Return(centered);
            }
        }
        // Several items: one item per core at a time, which keeps every core busy on small layers.
        if (win.N > 1) Parallel.For(0, win.N, n => Item(n, channelsInParallel: false));
        else Item(0, channelsInParallel: Mg >= 8 && Environment.ProcessorCount > 1);
        return Tensor.FromInts(win.OutShape(M, x.Rank), y, outQ);
    }

    /// <summary>
    /// ConvTranspose: y[n, m] = requant(b[m] + sum over the input channels c of m's group and the taps (ky, kx) of
    /// (w[c, j, ky, kx] - zw) (x[n, c] - zx) added at their landing places), j = m mod (M / group). Weight parameters
    /// are per tensor or per channel along axis 1 (j); the sums are exact in 64 bits and saturate to the accumulator
    /// at the end, as Conv's do.
    /// </summary>
    private Tensor ConvTranspose(Node node, Tensor x, QuantParams outQ)
    {
        var xq = x.Quant!;
        var wv = node.Input(1)!;
        var wdims = wv.Constant!.Dims;
        var g = (int)node.GetInt("group", 1);
        var win = Window.OfTransposed(node, x.Shape, (int)wdims[2], wdims.Length > 3 ? (int)wdims[3] : 1);
        int Cg = win.C / g, Mg = (int)wdims[1], M = Mg * g, taps = win.KH * win.KW, plane = win.H * win.W, P = win.OutPixels;
        var pw = _weights.GetOrAdd(node, _ =>
        {
            var wq = wv.Quant!;
            if (wq.PerChannel && wq.Axis != 1) throw new ArgumentException($"ConvTranspose weights must be quantized per tensor or along axis 1, not axis {wq.Axis}");
            var values = wv.Constant.ToFloats();
            var rows = new int[values.Length];
            long maxW = 0;
            for (var i = 0; i < values.Length; i++)
            {
                var j = i / taps % Mg;
                var (s, z) = (wq.Scales[wq.PerChannel ? j : 0], wq.ZeroPoints[wq.PerChannel ? j : 0]);
                // Weights are quantized on the host: ties to even whatever the chip rounds.
                rows[i] = (int)(IntegerArithmetic.QuantizeFloat(values[i], s, z, wq.QMin, wq.QMax, RoundingMode.HalfToEven) - z);
                maxW = Math.Max(maxW, Math.Abs(rows[i]));
            }
            var biasData = node.Input(2) is { Constant: { } b } ? b.ToFloats() : null;
            var bias = new long[M];
            var mults = new Multiplier[M];
            for (var m = 0; m < M; m++)
            {
                var s = wq.Scales[wq.PerChannel ? m % Mg : 0];
                if (biasData is not null) bias[m] = IntegerArithmetic.QuantizeBias(biasData[m], xq.Scales[0] * s, semantics.AccumulatorBits);
                mults[m] = MakeMultiplier(IntegerArithmetic.ProductMultiplier(xq.Scales[0], s, outQ.Scales[0]));
            }
            return new PreparedWeights(rows, taps, bias, mults, maxW, bias.Length == 0 ? 0 : bias.Max(Math.Abs));
        });
        var zx = (int)xq.ZeroPoints[0];
        var xs = x.Ints!;
        var y = new int[win.N * M * P];
        Parallel.For(0, win.N * M, nm =>
        {
            int n = nm / M, m = nm % M, grp = m / Mg, j = m % Mg;
            var acc = new long[P];
            acc.AsSpan().Fill(pw.Bias[m]);
            for (var c = grp * Cg; c < (grp + 1) * Cg; c++)
                win.ScatterPlane<int, long>(xs.AsSpan((n * win.C + c) * plane, plane), pw.Rows.AsSpan((c * Mg + j) * taps, taps), zx, acc);
            var dst = y.AsSpan(nm * P, P);
            for (var p = 0; p < P; p++) dst[p] = Requantize(acc[p], pw.Multipliers[m], outQ);
        });
        return Tensor.FromInts(win.OutShape(M, x.Rank), y, outQ);
    }

    /// <summary>Gemm (transB either way) and MatMul with a constant 2-D weight: y[m, n] = requant(sum_k (x - zx) w'[n, k] + b[n]).</summary>
    private Tensor Dense(Node node, Tensor x, QuantParams outQ)
    {
        var xq = x.Quant!;
        var transB = node.OpType == "Gemm" && node.GetInt("transB", 0) != 0;
        var pw = Prepare(node, xq, outQ, rowsAreOutputChannels: transB);
        var K = pw.RowLength;
        var N = pw.Bias.Length;
        var rows = x.Length / K;
        var zx = (int)xq.ZeroPoints[0];
        var fits = FitsInt32(MaxAbsActivation(xq), pw.MaxAbsWeight, K, pw.MaxAbsBias);
        var src = x.Ints!;
        var y = new int[rows * N];
        // Four rows of x at a time: each weight row is read once for four dot products (a transformer's weights do not fit
        // in cache, and reading them once per row made their traffic the kernel's cost). Rows past the end are zeros.
        Parallel.For(0, (rows + 3) / 4, block =>
        {
            int m0 = 4 * block, count = Math.Min(4, rows - m0);
            var a = new int[4 * K];
            for (var r = 0; r < count; r++)
                for (var k = 0; k < K; k++) a[r * K + k] = src[(m0 + r) * K + k] - zx;
            Span<long> sums = stackalloc long[4];
            for (var j = 0; j < N; j++)
            {
                var wr = pw.Rows.AsSpan(j * K, K);
                if (fits) Simd.Dot4(a.AsSpan(0, K), a.AsSpan(K, K), a.AsSpan(2 * K, K), a.AsSpan(3 * K, K), wr, sums);
                else
                    for (var r = 0; r < count; r++)
                    {
                        long s = 0;
                        for (var k = 0; k < K; k++) s += (long)a[r * K + k] * wr[k];
                        sums[r] = s;
                    }
                for (var r = 0; r < count; r++) y[(m0 + r) * N + j] = Requantize(pw.Bias[j] + sums[r], pw.Multipliers[j], outQ);
            }
        });
        var outShape = (int[])x.Shape.Clone();
        outShape[^1] = N;
        return Tensor.FromInts(outShape, y, outQ);
    }

    private Tensor MatMulActivations(Tensor a, Tensor b, QuantParams outQ)
    {
        var (aq, bq) = (a.Quant!, b.Quant!);
        var m = MakeMultiplier(IntegerArithmetic.ProductMultiplier(aq.Scales[0], bq.Scales[0], outQ.Scales[0]));
        var (za, zb) = ((int)aq.ZeroPoints[0], (int)bq.ZeroPoints[0]);
        // Sums of integer products in float32 are exact while every partial sum stays below 2^24 (8-bit operands and
        // K up to 258): the vectorised float product then gives the exact sums. Longer sums (a sequence of 384 tokens
        // in P V, 16-bit activations) are summed in 64-bit integers.
        var K = a.Shape[^1];
        if ((double)MaxAbsActivation(aq) * MaxAbsActivation(bq) * K < 1 << 24)
        {
            var af = Tensor.FromFloats(a.Shape, [.. a.Ints!.Select(v => (float)(v - za))]);
            var bf = Tensor.FromFloats(b.Shape, [.. b.Ints!.Select(v => (float)(v - zb))]);
            var prod = FloatKernels.MatMul(af, bf);
            return Tensor.FromInts(prod.Shape, [.. prod.Floats!.Select(v => Requantize((long)v, m, outQ))], outQ);
        }
        var (M, _, N, nb, mapA, mapB, outShape) = FloatKernels.MatMulShape.Of(a.Shape, b.Shape);
        var (av, bv) = (a.Ints!, b.Ints!);
        var y = new int[nb * M * N];
        Parallel.For(0, nb * M, t =>
        {
            int bi = t / M, row = t % M;
            var arow = av.AsSpan(mapA[bi] * M * K + row * K, K);
            var bbase = mapB[bi] * K * N;
            var acc = new long[N];
            for (var k = 0; k < K; k++)
            {
                long x = arow[k] - za;
                if (x == 0) continue;
                var brow = bv.AsSpan(bbase + k * N, N);
                for (var n = 0; n < N; n++) acc[n] += x * (brow[n] - zb);
            }
            var dst = y.AsSpan(t * N, N);
            for (var n = 0; n < N; n++) dst[n] = Requantize(acc[n], m, outQ);
        });
        return Tensor.FromInts(outShape, y, outQ);
    }

    private Tensor AddSub(Tensor a, Tensor b, QuantParams outQ, bool subtract)
    {
        var (aq, bq) = (a.Quant!, b.Quant!);
        var shape = FloatKernels.BroadcastShape(a.Shape, b.Shape);
        var mapA = FloatKernels.BroadcastMap(a.Shape, shape);
        var mapB = FloatKernels.BroadcastMap(b.Shape, shape);
        long za = aq.ZeroPoints[0], zb = bq.ZeroPoints[0], zy = outQ.ZeroPoints[0];
        var ma = IntegerArithmetic.RatioMultiplier(aq.Scales[0], outQ.Scales[0]);
        var mb = IntegerArithmetic.RatioMultiplier(bq.Scales[0], outQ.Scales[0]);
        var sign = subtract ? -1 : 1;
        var r = new int[Tensor.ShapeLength(shape)];
        if (semantics.Requantization == RequantMode.FloatScale)
        {
            for (var i = 0; i < r.Length; i++)
            {
                var t = (float)(a.Ints![mapA[i]] - za) * ma + sign * ((float)(b.Ints![mapB[i]] - zb) * mb);
                r[i] = (int)IntegerArithmetic.Saturate(IntegerArithmetic.Round(t, Rounding) + zy, outQ.QMin, outQ.QMax);
            }
        }
        else
        {
            var fa = FixedMultiplier.From(ma);
            var fb = FixedMultiplier.From(mb);
            var (ka, kb, n) = ArchNet.Backends.Abstractions.FixedMultiplier.Shared(new(fa.Multiplier, fa.Shift), new(fb.Multiplier, fb.Shift),
                MaxAbsActivation(aq), MaxAbsActivation(bq)) ?? throw new ArchNetException(
                    $"Add/Sub input scales {aq.Scales[0]} and {bq.Scales[0]} over output scale {outQ.Scales[0]}: the sum of their " +
                    "multiplier-shift products can leave 64 bits");
            for (var i = 0; i < r.Length; i++)
            {
                var p = (a.Ints![mapA[i]] - za) * ka + sign * (b.Ints![mapB[i]] - zb) * kb;
                r[i] = (int)IntegerArithmetic.Saturate(IntegerArithmetic.RoundShift(p, n, Rounding) + zy, outQ.QMin, outQ.QMax);
            }
        }
        return Tensor.FromInts(shape, r, outQ);
    }

    private Tensor Mul(Tensor a, Tensor b, QuantParams outQ)
    {
        var (aq, bq) = (a.Quant!, b.Quant!);
        var shape = FloatKernels.BroadcastShape(a.Shape, b.Shape);
        var mapA = FloatKernels.BroadcastMap(a.Shape, shape);
        var mapB = FloatKernels.BroadcastMap(b.Shape, shape);
        var m = MakeMultiplier(IntegerArithmetic.ProductMultiplier(aq.Scales[0], bq.Scales[0], outQ.Scales[0]));
        long za = aq.ZeroPoints[0], zb = bq.ZeroPoints[0];
        var r = new int[Tensor.ShapeLength(shape)];
        for (var i = 0; i < r.Length; i++) r[i] = Requantize((a.Ints![mapA[i]] - za) * (b.Ints![mapB[i]] - zb), m, outQ);
        return Tensor.FromInts(shape, r, outQ);
    }

    // ---- pooling ----------------------------------------------------------------------------------------------

    private Tensor MaxPool(Node node, Tensor x, QuantParams outQ)
    {
        var kernel = node.GetInts("kernel_shape")!.Value;
        var win = Window.Of(node, x.Shape, (int)kernel[0], kernel.Length > 1 ? (int)kernel[1] : 1);
        var src = x.Ints!;
        var y = new int[win.N * win.C * win.OutPixels];
        for (var nc = 0; nc < win.N * win.C; nc++)
            for (var oy = 0; oy < win.OH; oy++)
                for (var ox = 0; ox < win.OW; ox++)
                {
                    var acc = int.MinValue;
                    for (var ky = 0; ky < win.KH; ky++)
                    {
                        var iy = oy * win.SH - win.PadTop + ky * win.DH;
                        if (iy < 0 || iy >= win.H) continue;
                        for (var kx = 0; kx < win.KW; kx++)
                        {
                            var ix = ox * win.SW - win.PadLeft + kx * win.DW;
                            if (ix >= 0 && ix < win.W) acc = Math.Max(acc, src[(nc * win.H + iy) * win.W + ix]);
                        }
                    }
                    y[(nc * win.OH + oy) * win.OW + ox] = acc;
                }
        return Rescale(Tensor.FromInts(win.OutShape(win.C, x.Rank), y, x.Quant!), outQ);
    }

    private Tensor AveragePool(Node node, Tensor x, QuantParams outQ)
    {
        var xq = x.Quant!;
        var kernel = node.GetInts("kernel_shape")!.Value;
        var win = Window.Of(node, x.Shape, (int)kernel[0], kernel.Length > 1 ? (int)kernel[1] : 1);
        var includePad = node.GetInt("count_include_pad", 0) != 0;
        var zx = xq.ZeroPoints[0];
        var src = x.Ints!;
        var y = new int[win.N * win.C * win.OutPixels];
        var mults = new Dictionary<int, Multiplier>();
        for (var nc = 0; nc < win.N * win.C; nc++)
            for (var oy = 0; oy < win.OH; oy++)
                for (var ox = 0; ox < win.OW; ox++)
                {
                    long acc = 0;
                    for (var ky = 0; ky < win.KH; ky++)
                    {
                        var iy = oy * win.SH - win.PadTop + ky * win.DH;
                        if (iy < 0 || iy >= win.H) continue;
                        for (var kx = 0; kx < win.KW; kx++)
                        {
                            var ix = ox * win.SW - win.PadLeft + kx * win.DW;
                            if (ix >= 0 && ix < win.W) acc += src[(nc * win.H + iy) * win.W + ix] - zx;
                        }
                    }
                    var count = includePad ? FloatKernels.PaddedCount(win, oy, ox) : win.InsideCount(oy, ox);
                    if (!mults.TryGetValue(count, out var m))
                        mults[count] = m = MakeMultiplier(IntegerArithmetic.AverageMultiplier(xq.Scales[0], outQ.Scales[0], count));
                    y[(nc * win.OH + oy) * win.OW + ox] = Requantize(acc, m, outQ);
                }
        return Tensor.FromInts(win.OutShape(win.C, x.Rank), y, outQ);
    }

    private Tensor GlobalAveragePool(Tensor x, QuantParams outQ)
    {
        var xq = x.Quant!;
        int NC = x.Shape[0] * x.Shape[1], inner = x.Length / Math.Max(NC, 1);
        var m = MakeMultiplier(IntegerArithmetic.AverageMultiplier(xq.Scales[0], outQ.Scales[0], inner));
        var zx = xq.ZeroPoints[0];
        var y = new int[NC];
        for (var i = 0; i < NC; i++)
        {
            long acc = 0;
            foreach (var v in x.Ints!.AsSpan(i * inner, inner)) acc += v - zx;
            y[i] = Requantize(acc, m, outQ);
        }
        return Tensor.FromInts([.. x.Shape.Select((d, i) => i < 2 ? d : 1)], y, outQ);
    }
}
