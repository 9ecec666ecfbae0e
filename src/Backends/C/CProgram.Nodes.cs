using System.Text;
using ArchNet.Backends.Abstractions;

namespace ArchNet.Backends.C;

/// <summary>One lowering per op; each follows the rule of docs/backends.md for that op.</summary>
internal sealed partial class CProgram
{
    /// <summary>The ops <see cref="LowerNode"/> has a kernel for.</summary>
    public static readonly IReadOnlySet<string> Ops = new HashSet<string>(StringComparer.Ordinal)
    {
        "Conv", "ConvTranspose", "Gemm", "MatMul", "Relu", "Clip", "MaxPool", "AveragePool", "GlobalAveragePool", "Add", "Sub", "Mul",
        "Concat", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout", "Transpose", "Slice", "Pad",
    };

    private void LowerNode(Operation node)
    {
        var fn = $"an_node{_nodes.Count}";
        switch (node.OpType)
        {
            case "Conv": Conv(node, fn); break;
            case "ConvTranspose": ConvTranspose(node, fn); break;
            case "Gemm" or "MatMul": Dense(node, fn); break;
            case "Relu" or "Clip": Clamp(node, fn); break;
            case "MaxPool" or "AveragePool": Pool(node, fn); break;
            case "GlobalAveragePool": GlobalAveragePool(node, fn); break;
            case "Add" or "Sub" or "Mul": Binary(node, fn); break;
            case "Concat": Concat(node, fn); break;
            case "Reshape" or "Flatten" or "Squeeze" or "Unsqueeze" or "Identity" or "Dropout": View(node, fn); break;
            case "Transpose" or "Slice" or "Pad": Gather(node, fn); break;
            default: throw new NotSupportedException($"op {node.OpType} has no integer kernel in the c backend");
        }
    }

    private void Add(string fn, Func<string> body) => _nodes.Add(() => $"static void {fn}(void)\n{{\n{body()}}}\n");

    // ---- convolution ------------------------------------------------------------------------------------------------

    /// <summary>Weights as rows (w - zw) per output channel: int16 rows (8-bit and wider with zero points) or packed 2/4-bit.</summary>
    private (string Array, int Bits) WeightRows(string fn, TensorValue w, long[][] rows)
    {
        var q = w.Quant!;
        if (q.Bits > 8) throw new NotSupportedException($"weights of {q.Bits} bits are not supported (2 to 8)");
        var flat = rows.SelectMany(r => r).ToArray();
        var symmetric = q.ZeroPoints.All(z => z == 0);
        if (symmetric && q.Bits is 2 or 4)
        {
            var per = 8 / q.Bits;
            var mask = (1 << q.Bits) - 1;
            var packed = new byte[(flat.Length + per - 1) / per];
            for (var i = 0; i < flat.Length; i++) packed[i / per] |= (byte)(((int)flat[i] & mask) << (i % per * q.Bits));
            WriteArray("uint8_t", $"{fn}_w", packed);
            return ($"{fn}_w", q.Bits);
        }
        if (symmetric && q.Bits == 8)
        {
            WriteArray("int8_t", $"{fn}_w", flat.Select(v => (sbyte)v));
            return ($"{fn}_w", 8);
        }
        WriteArray("int16_t", $"{fn}_w", flat.Select(v => (short)v));
        return ($"{fn}_w", 16);
    }

    /// <summary>C statements that make <c>wr</c> point at row <paramref name="row"/> as int16 (unpacking into <c>an_wrow</c>).</summary>
    private static string LoadRow(string array, int bits, string row, int k) => bits switch
    {
        16 => $"wr = {array} + (size_t)({row}) * {k};",
        8 => $"{{ int kk; const int8_t *src = {array} + (size_t)({row}) * {k}; for (kk = 0; kk < {k}; kk++) an_wrow[kk] = src[kk]; wr = an_wrow; }}",
        _ => $"an_unpack({array}, {bits}, (int32_t)({row}) * {k}, {k}, an_wrow); wr = an_wrow;",
    };

    private static long MaxAbs(QuantInfo q) => Math.Max(Math.Abs(q.QMin - q.ZeroPoint()), Math.Abs(q.QMax - q.ZeroPoint()));

    private void Conv(Operation node, string fn)
    {
        var w = node.Input(1);
        if (w?.IntegerData is null || w.Quant is null || w.Shape.Length != 4)
            throw new NotSupportedException("Conv needs a constant quantized 4-D weight (2-D convolution)");
        var x = Use(node, 0);
        if (x.Shape.Length != 4) throw new NotSupportedException("Conv input must be NCHW");
        var win = Window.Of(node, x.Shape, (int)w.Shape[2], (int)w.Shape[3]);
        var y = Define(node.Outputs[0]);
        int M = (int)w.Shape[0], G = (int)node.Int("group", 1), C = (int)x.Shape[1], Cg = C / G, Mg = M / G;
        int K = Cg * win.KH * win.KW, P = win.OH * win.OW;
        if (Cg != w.Shape[1] || M % G != 0) throw new NotSupportedException($"Conv group {G} does not match the weight shape");
        if (w.Quant.PerChannel && w.Quant.Axis is not 0) throw new NotSupportedException("Conv weights must be quantized along the output channel axis");
        var data = w.IntegerData.Value;
        var rows = new long[M][];
        for (var m = 0; m < M; m++)
        {
            var z = w.Quant.ZeroPoint(w.Quant.PerChannel ? m : 0);
            rows[m] = [.. Enumerable.Range(0, K).Select(k => data[m * K + k] - z)];
        }
        var (warr, wbits) = WeightRows(fn, w, rows);
        var bias = Bias(node, fn, M);
        var sx = x.Q.Scale();
        var sy = y.Q.Scale();
        var req = Requant(fn, [.. Enumerable.Range(0, M).Select(m => IntegerSemantics.ProductMultiplier(sx, w.Quant.Scale(w.Quant.PerChannel ? m : 0), sy))], y);
        var wide = !FitsInt32(MaxAbs(x.Q), rows.SelectMany(r => r).Select(Math.Abs).DefaultIfEmpty(0).Max(), K, bias.MaxAbs);
        var narrowCol = x.Q.Bits <= 8 && !wide;
        if (narrowCol) _maxK16 = Math.Max(_maxK16, Tile * K); else _maxK32 = Math.Max(_maxK32, Tile * K);
        if (wbits != 16) _maxRow = Math.Max(_maxRow, K);
        var N = (int)x.Shape[0];
        Add(fn, () =>
        {
            var col = narrowCol ? "an_col16" : "an_col32";
            var colType = narrowCol ? "int16_t" : "int32_t";
            var sb = new StringBuilder();
            sb.Append($"    const {x.CType} *x = {Ptr(x)};\n    {y.CType} *y = {Ptr(y, write: true)};\n");
            sb.Append("    const int16_t *wr;\n    int n, g, p0, t, mi;\n");
            sb.Append($"    for (n = 0; n < {N}; n++)\n    for (g = 0; g < {G}; g++)\n    for (p0 = 0; p0 < {P}; p0 += {Tile})\n    {{\n");
            sb.Append($"        const int pt = {P} - p0 < {Tile} ? {P} - p0 : {Tile};\n");
            sb.Append($"        const {x.CType} *xg = x + ((size_t)n * {C} + (size_t)g * {Cg}) * {win.H * win.W};\n");
            sb.Append("        for (t = 0; t < pt; t++)\n        {\n");
            sb.Append($"            const int p = p0 + t, oy = p / {win.OW}, ox = p % {win.OW};\n");
            sb.Append($"            {colType} *c = {col} + (size_t)t * {K};\n            int ci, ky, kx, k = 0;\n");
            sb.Append($"            for (ci = 0; ci < {Cg}; ci++)\n            for (ky = 0; ky < {win.KH}; ky++)\n            {{\n");
            sb.Append($"                const int iy = oy * {win.SH} - {win.PadTop} + ky * {win.DH};\n");
            sb.Append($"                for (kx = 0; kx < {win.KW}; kx++, k++)\n                {{\n");
            sb.Append($"                    const int ix = ox * {win.SW} - {win.PadLeft} + kx * {win.DW};\n");
            sb.Append($"                    c[k] = (iy >= 0 && iy < {win.H} && ix >= 0 && ix < {win.W}) ? ({colType})(xg[((size_t)ci * {win.H} + iy) * {win.W} + ix] - {x.Z}) : 0;\n");
            sb.Append("                }\n            }\n        }\n");
            sb.Append($"        for (mi = 0; mi < {Mg}; mi++)\n        {{\n            const int m = g * {Mg} + mi;\n");
            sb.Append($"            {y.CType} *ym = y + ((size_t)n * {M} + m) * {P} + p0;\n");
            sb.Append($"            {LoadRow(warr, wbits, "m", K)}\n");
            if (narrowCol)
            {
                sb.Append("            t = 0;\n");
                sb.Append($"            for (; t + 4 <= pt; t += 4)\n            {{\n                int32_t a[4];\n                int j;\n");
                sb.Append($"                an_dot4({col} + (size_t)t * {K}, {col} + (size_t)(t + 1) * {K}, {col} + (size_t)(t + 2) * {K}, {col} + (size_t)(t + 3) * {K}, wr, {K}, a);\n");
                sb.Append($"                for (j = 0; j < 4; j++) ym[t + j] = ({y.CType}){req($"(int64_t)a[j] + {bias.Expr("m")}", "m")};\n            }}\n");
                sb.Append($"            for (; t < pt; t++) ym[t] = ({y.CType}){req($"(int64_t)an_dot({col} + (size_t)t * {K}, wr, {K}) + {bias.Expr("m")}", "m")};\n");
            }
            else
                sb.Append($"            for (t = 0; t < pt; t++) ym[t] = ({y.CType}){req($"an_dot64({col} + (size_t)t * {K}, wr, {K}) + {bias.Expr("m")}", "m")};\n");
            sb.Append("        }\n    }\n");
            return sb.ToString();
        });
    }

    /// <summary>
    /// ConvTranspose (weights [C, M / group, kH, kW]): per item and output channel m, a 64-bit accumulator per output
    /// pixel starts at the bias, and each input pixel of the group's channels c, times tap (w[c, j] - zw), j = m mod
    /// (M / group), is added where it lands (the tap's input rows and columns precomputed); then requantization.
    /// </summary>
    private void ConvTranspose(Operation node, string fn)
    {
        var w = node.Input(1);
        if (w?.IntegerData is null || w.Quant is null || w.Shape.Length != 4)
            throw new NotSupportedException("ConvTranspose needs a constant quantized 4-D weight (2-D transposed convolution)");
        var x = Use(node, 0);
        if (x.Shape.Length != 4) throw new NotSupportedException("ConvTranspose input must be NCHW");
        var win = TransposedGeometry.Of(node, x.Shape, (int)w.Shape[2], (int)w.Shape[3]);
        var y = Define(node.Outputs[0]);
        int G = (int)node.Int("group", 1), C = (int)x.Shape[1], Cg = C / G, Mg = (int)w.Shape[1], M = Mg * G;
        int taps = win.KH * win.KW, P = win.OH * win.OW, N = (int)x.Shape[0];
        if (w.Shape[0] != C || C % G != 0) throw new NotSupportedException($"ConvTranspose group {G} does not match the weight shape");
        if (w.Quant.PerChannel && w.Quant.Axis is not 1) throw new NotSupportedException("ConvTranspose weights must be quantized along axis 1");
        // Rows of taps per (input channel, j), zero points removed.
        var data = w.IntegerData.Value;
        var rows = new long[C * Mg][];
        for (var r = 0; r < rows.Length; r++)
        {
            var z = w.Quant.ZeroPoint(w.Quant.PerChannel ? r % Mg : 0);
            rows[r] = [.. Enumerable.Range(0, taps).Select(k => data[r * taps + k] - z)];
        }
        var (warr, wbits) = WeightRows(fn, w, rows);
        if (wbits != 16) _maxRow = Math.Max(_maxRow, taps);
        var bias = Bias(node, fn, M);
        var req = Requant(fn, [.. Enumerable.Range(0, M).Select(m =>
            IntegerSemantics.ProductMultiplier(x.Q.Scale(), w.Quant.Scale(w.Quant.PerChannel ? m % Mg : 0), y.Q.Scale()))], y);
        var rowsAt = Enumerable.Range(0, win.KH).Select(ky => WindowGeometry.TransposedLanding(ky * win.DH - win.PadTop, win.SH, win.H, win.OH));
        var colsAt = Enumerable.Range(0, win.KW).Select(kx => WindowGeometry.TransposedLanding(kx * win.DW - win.PadLeft, win.SW, win.W, win.OW));
        WriteArray("int32_t", $"{fn}_iy", rowsAt.SelectMany(r => new[] { r.Lo, r.Hi }));
        WriteArray("int32_t", $"{fn}_ix", colsAt.SelectMany(r => new[] { r.Lo, r.Hi }));
        Add(fn, () =>
        {
            var sb = new StringBuilder();
            sb.Append($"    static int64_t acc[{P}];\n");
            sb.Append($"    const {x.CType} *x = {Ptr(x)};\n    {y.CType} *y = {Ptr(y, write: true)};\n");
            sb.Append("    const int16_t *wr;\n    int n, m, c, ky, kx, iy, ix, p;\n");
            sb.Append($"    for (n = 0; n < {N}; n++)\n    for (m = 0; m < {M}; m++)\n    {{\n");
            sb.Append($"        const int g = m / {Mg}, j = m % {Mg};\n");
            sb.Append($"        for (p = 0; p < {P}; p++) acc[p] = {bias.Expr("m")};\n");
            sb.Append($"        for (c = g * {Cg}; c < (g + 1) * {Cg}; c++)\n        {{\n");
            sb.Append($"            const {x.CType} *xc = x + ((size_t)n * {C} + c) * {win.H * win.W};\n");
            sb.Append($"            {LoadRow(warr, wbits, $"c * {Mg} + j", taps)}\n");
            sb.Append($"            for (ky = 0; ky < {win.KH}; ky++)\n            for (kx = 0; kx < {win.KW}; kx++)\n            {{\n");
            sb.Append($"                const int64_t t = wr[ky * {win.KW} + kx];\n                if (t == 0) continue;\n");
            sb.Append($"                for (iy = {fn}_iy[2 * ky]; iy < {fn}_iy[2 * ky + 1]; iy++)\n                {{\n");
            sb.Append($"                    int64_t *row = acc + (size_t)(iy * {win.SH} + ky * {win.DH} - {win.PadTop}) * {win.OW};\n");
            sb.Append($"                    for (ix = {fn}_ix[2 * kx]; ix < {fn}_ix[2 * kx + 1]; ix++)\n");
            sb.Append($"                        row[ix * {win.SW} + kx * {win.DW} - {win.PadLeft}] += t * (xc[iy * {win.W} + ix] - {x.Z});\n");
            sb.Append("                }\n            }\n        }\n");
            sb.Append($"        for (p = 0; p < {P}; p++) y[((size_t)n * {M} + m) * {P} + p] = ({y.CType}){req("acc[p]", "m")};\n");
            sb.Append("    }\n");
            return sb.ToString();
        });
    }

    private static bool FitsInt32(long maxA, long maxB, long terms, long maxBias) => (double)maxA * maxB * terms + maxBias < int.MaxValue;

    private sealed record BiasInfo(string? Array, long MaxAbs)
    {
        public string Expr(string ch) => Array is null ? "0" : $"{Array}[{ch}]";
    }

    private BiasInfo Bias(Operation node, string fn, int channels)
    {
        if (node.Input(2) is not { } b) return new(null, 0);
        var data = b.IntegerData ?? throw new NotSupportedException("the bias must be a constant");
        if (data.Length != channels) throw new NotSupportedException($"the bias has {data.Length} values for {channels} channels");
        WriteArray("int32_t", $"{fn}_b", data.Select(v => (int)v));
        return new($"{fn}_b", data.Select(Math.Abs).DefaultIfEmpty(0).Max());
    }

    // ---- fully connected --------------------------------------------------------------------------------------------

    private void Dense(Operation node, string fn)
    {
        var w = node.Input(1);
        if (w?.IntegerData is null || w.Quant is null || w.Shape.Length != 2)
            throw new NotSupportedException($"{node.OpType} needs a constant quantized 2-D weight");
        if (node.OpType == "Gemm" && (node.Int("transA", 0) != 0 || node.Float("alpha", 1) != 1 || node.Float("beta", 1) != 1))
            throw new NotSupportedException("Gemm with transA, alpha or beta is not supported");
        var x = Use(node, 0);
        var y = Define(node.Outputs[0]);
        var transB = node.OpType == "Gemm" && node.Int("transB", 0) != 0;
        int N = (int)(transB ? w.Shape[0] : w.Shape[1]), K = (int)(transB ? w.Shape[1] : w.Shape[0]);
        var channelAxis = transB ? 0 : 1;
        if (w.Quant.PerChannel && w.Quant.Axis != channelAxis) throw new NotSupportedException("fully connected weights must be quantized along the output axis");
        if (x.Shape[^1] != K) throw new NotSupportedException($"input's last dimension {x.Shape[^1]} is not the weight's {K}");
        var data = w.IntegerData.Value;
        var rows = new long[N][];
        for (var j = 0; j < N; j++)
        {
            var z = w.Quant.ZeroPoint(w.Quant.PerChannel ? j : 0);
            rows[j] = [.. Enumerable.Range(0, K).Select(k => (transB ? data[j * K + k] : data[k * N + j]) - z)];
        }
        var (warr, wbits) = WeightRows(fn, w, rows);
        var bias = Bias(node, fn, N);
        var req = Requant(fn, [.. Enumerable.Range(0, N).Select(j => IntegerSemantics.ProductMultiplier(x.Q.Scale(), w.Quant.Scale(w.Quant.PerChannel ? j : 0), y.Q.Scale()))], y);
        var wide = !FitsInt32(MaxAbs(x.Q), rows.SelectMany(r => r).Select(Math.Abs).DefaultIfEmpty(0).Max(), K, bias.MaxAbs) || x.Q.Bits > 8;
        if (wide) _maxK32 = Math.Max(_maxK32, K); else _maxK16 = Math.Max(_maxK16, K);
        if (wbits != 16) _maxRow = Math.Max(_maxRow, K);
        var rowsCount = x.Count / K;
        Add(fn, () =>
        {
            var col = wide ? "an_col32" : "an_col16";
            var sb = new StringBuilder();
            sb.Append($"    const {x.CType} *x = {Ptr(x)};\n    {y.CType} *y = {Ptr(y, write: true)};\n    const int16_t *wr;\n    long r;\n    int k, j;\n");
            sb.Append($"    for (r = 0; r < {rowsCount}; r++)\n    {{\n");
            sb.Append($"        for (k = 0; k < {K}; k++) {col}[k] = ({(wide ? "int32_t" : "int16_t")})(x[r * {K} + k] - {x.Z});\n");
            sb.Append($"        for (j = 0; j < {N}; j++)\n        {{\n            {LoadRow(warr, wbits, "j", K)}\n");
            var dot = wide ? $"an_dot64({col}, wr, {K})" : $"(int64_t)an_dot({col}, wr, {K})";
            sb.Append($"            y[r * {N} + j] = ({y.CType}){req($"{dot} + {bias.Expr("j")}", "j")};\n        }}\n    }}\n");
            return sb.ToString();
        });
    }

    // ---- elementwise ------------------------------------------------------------------------------------------------

    private void Clamp(Operation node, string fn)
    {
        var x = Use(node, 0, inPlace: true);
        var y = Define(node.Outputs[0]);
        long lo = x.Lo, hi = x.Hi;
        if (node.OpType == "Relu") lo = x.Z;
        else
        {
            float? Bound(int i, string attr) => node.Input(i) is { FloatData: { Length: > 0 } d } ? d[0]
                : node.Input(i) is { IntegerData: { Length: > 0 } n } && node.Input(i)!.Quant is null ? n[0]
                : node.Attributes.ContainsKey(attr) ? node.Float(attr, 0) : null;
            if (Bound(1, "min") is { } min) lo = IntegerSemantics.QuantizeFloat(min, x.Q.Scale(), x.Z, x.Lo, x.Hi, _graph.Semantics.Rounding);
            if (Bound(2, "max") is { } max) hi = IntegerSemantics.QuantizeFloat(max, x.Q.Scale(), x.Z, x.Lo, x.Hi, _graph.Semantics.Rounding);
        }
        var rescale = Rescale(fn, x, y);
        Add(fn, () =>
            $"    const {x.CType} *x = {Ptr(x)};\n    {y.CType} *y = {Ptr(y, write: true)};\n    long i;\n" +
            $"    for (i = 0; i < {x.Count}; i++)\n    {{\n        int32_t v = x[i];\n        v = v < {lo} ? {lo} : v > {hi} ? {hi} : v;\n        y[i] = {rescale("v")};\n    }}\n");
    }

    private void View(Operation node, string fn)
    {
        var x = Use(node, 0, inPlace: true);
        var outV = node.Outputs[0];
        if (outV.Quant is { PerChannel: false } q && SameParams(x.Q, q) && x.Slot is not null)
        {
            // Same bytes, same meaning: no code, the output shares the input's slot (kept alive through its readers).
            Alias(outV, x);
            return;
        }
        var y = Define(outV);
        var rescale = Rescale(fn, x, y);
        Add(fn, () =>
            $"    const {x.CType} *x = {Ptr(x)};\n    {y.CType} *y = {Ptr(y, write: true)};\n    long i;\n" +
            $"    for (i = 0; i < {x.Count}; i++) y[i] = {rescale("x[i]")};\n");
    }

    /// <summary>Broadcasting strides of an operand against the output shape (numpy rules, right-aligned).</summary>
    private static long[] BroadcastStrides(long[] shape, long[] outShape)
    {
        var strides = new long[outShape.Length];
        long s = 1;
        for (var d = shape.Length - 1; d >= 0; d--)
        {
            var od = outShape.Length - shape.Length + d;
            strides[od] = shape[d] == 1 && outShape[od] != 1 ? 0 : s;
            s *= shape[d];
        }
        return strides;
    }

    private void Binary(Operation node, string fn)
    {
        var outShape = node.Outputs[0].Shape.ToArray();
        var aV = node.Input(0);
        var bV = node.Input(1);
        var sameShape = aV is not null && bV is not null && aV.Shape.SequenceEqual(outShape) && bV.Shape.SequenceEqual(outShape);
        var a = Use(node, 0, inPlace: sameShape);
        var b = Use(node, 1, inPlace: sameShape);
        var y = Define(node.Outputs[0]);
        string expr; // of int64 da, db
        if (node.OpType == "Mul")
        {
            var req = Requant(fn, [IntegerSemantics.ProductMultiplier(a.Q.Scale(), b.Q.Scale(), y.Q.Scale())], y);
            expr = req("da * db", "0");
        }
        else
        {
            var ma = IntegerSemantics.RatioMultiplier(a.Q.Scale(), y.Q.Scale());
            var mb = IntegerSemantics.RatioMultiplier(b.Q.Scale(), y.Q.Scale());
            var op = node.OpType == "Sub" ? "-" : "+";
            if (_graph.Semantics.Requantization == RequantizationMode.FloatScale)
                expr = $"an_sat(an_round((double)((float)da * {F(ma)} {op} (float)db * {F(mb)})) + {y.Z}, {y.Lo}, {y.Hi})";
            else
            {
                var (fa, fb) = (Fixed(ma), Fixed(mb));
                var (ka, kb, n) = FixedMultiplier.Shared(fa, fb, Math.Max(Math.Abs(a.Lo - a.Z), Math.Abs(a.Hi - a.Z)),
                    Math.Max(Math.Abs(b.Lo - b.Z), Math.Abs(b.Hi - b.Z))) ?? throw new NotSupportedException(
                        $"{node.OpType} input scales {a.Q.Scale()} and {b.Q.Scale()}: the sum of their multiplier-shift products can leave 64 bits");
                // Products wrap in 64 bits exactly as the emulator's (unsigned arithmetic keeps that defined in C).
                expr = $"an_sat(an_round_shift((int64_t)((uint64_t)da * (uint64_t){L(ka)} {op} (uint64_t)db * (uint64_t){L(kb)}), {n}) + {y.Z}, {y.Lo}, {y.Hi})";
            }
        }
        var rank = outShape.Length;
        var sa = BroadcastStrides(a.Shape, outShape);
        var sbs = BroadcastStrides(b.Shape, outShape);
        Add(fn, () =>
        {
            var sb = new StringBuilder();
            sb.Append($"    const {a.CType} *a = {Ptr(a)};\n    const {b.CType} *b = {Ptr(b)};\n    {y.CType} *y = {Ptr(y, write: true)};\n");
            if (sameShape)
            {
                sb.Append($"    long i;\n    for (i = 0; i < {y.Count}; i++)\n    {{\n        const int64_t da = (int64_t)a[i] - {a.Z}, db = (int64_t)b[i] - {b.Z};\n        y[i] = ({y.CType}){expr};\n    }}\n");
                return sb.ToString();
            }
            sb.Append("    long o = 0;\n");
            for (var d = 0; d < rank; d++) sb.Append($"    long i{d};\n");
            for (var d = 0; d < rank; d++) sb.Append($"    for (i{d} = 0; i{d} < {outShape[d]}; i{d}++)\n");
            var ia = string.Join(" + ", Enumerable.Range(0, rank).Select(d => $"i{d} * {sa[d]}").DefaultIfEmpty("0"));
            var ib = string.Join(" + ", Enumerable.Range(0, rank).Select(d => $"i{d} * {sbs[d]}").DefaultIfEmpty("0"));
            sb.Append($"    {{\n        const int64_t da = (int64_t)a[{ia}] - {a.Z}, db = (int64_t)b[{ib}] - {b.Z};\n        y[o++] = ({y.CType}){expr};\n    }}\n");
            return sb.ToString();
        });
    }

    // ---- pooling ----------------------------------------------------------------------------------------------------

    private void Pool(Operation node, string fn)
    {
        var x = Use(node, 0);
        if (x.Shape.Length != 4) throw new NotSupportedException($"{node.OpType} input must be NCHW");
        var k = node.Ints("kernel_shape") ?? throw new NotSupportedException($"{node.OpType} needs kernel_shape");
        if (k.Length != 2) throw new NotSupportedException($"{node.OpType} must be 2-D");
        var win = Window.Of(node, x.Shape, (int)k[0], (int)k[1]);
        var y = Define(node.Outputs[0]);
        var NC = x.Shape[0] * x.Shape[1];
        var loops = $"    long nc;\n    int oy, ox, ky, kx;\n    for (nc = 0; nc < {NC}; nc++)\n    for (oy = 0; oy < {win.OH}; oy++)\n    for (ox = 0; ox < {win.OW}; ox++)\n    {{\n";
        var inside = $"                const int iy = oy * {win.SH} - {win.PadTop} + ky * {win.DH}, ix = ox * {win.SW} - {win.PadLeft} + kx * {win.DW};\n" +
                     $"                if (iy < 0 || iy >= {win.H} || ix < 0 || ix >= {win.W}) continue;\n";
        if (node.OpType == "MaxPool")
        {
            var rescale = Rescale(fn, x, y);
            Add(fn, () =>
                $"    const {x.CType} *x = {Ptr(x)};\n    {y.CType} *y = {Ptr(y, write: true)};\n" + loops +
                $"        int32_t best = INT32_MIN;\n        for (ky = 0; ky < {win.KH}; ky++)\n            for (kx = 0; kx < {win.KW}; kx++)\n            {{\n" + inside +
                $"                if (x[(nc * {win.H} + iy) * {win.W} + ix] > best) best = x[(nc * {win.H} + iy) * {win.W} + ix];\n            }}\n" +
                $"        y[(nc * {win.OH} + oy) * {win.OW} + ox] = {rescale("best")};\n    }}\n");
            return;
        }
        // AveragePool: one multiplier per possible window count, chosen at run time.
        var includePad = node.Int("count_include_pad", 0) != 0;
        var maxCount = win.KH * win.KW;
        var req = Requant(fn, [.. Enumerable.Range(0, maxCount + 1).Select(c => IntegerSemantics.AverageMultiplier(x.Q.Scale(), y.Q.Scale(), Math.Max(c, 1)))], y);
        var count = includePad
            ? $"an_extent(oy, {win.SH}, {win.PadTop}, {win.KH}, {win.DH}, {win.H}) * an_extent(ox, {win.SW}, {win.PadLeft}, {win.KW}, {win.DW}, {win.W})"
            : "inside";
        Add(fn, () =>
            $"    const {x.CType} *x = {Ptr(x)};\n    {y.CType} *y = {Ptr(y, write: true)};\n" + loops +
            $"        int64_t acc = 0;\n        int inside = 0, count;\n        for (ky = 0; ky < {win.KH}; ky++)\n            for (kx = 0; kx < {win.KW}; kx++)\n            {{\n" + inside +
            $"                acc += x[(nc * {win.H} + iy) * {win.W} + ix] - {x.Z};\n                inside++;\n            }}\n" +
            $"        count = {count};\n" +
            $"        y[(nc * {win.OH} + oy) * {win.OW} + ox] = ({y.CType}){req("acc", "count")};\n    }}\n");
    }

    private void GlobalAveragePool(Operation node, string fn)
    {
        var x = Use(node, 0);
        var y = Define(node.Outputs[0]);
        var NC = x.Shape[0] * x.Shape[1];
        var inner = x.Count / Math.Max(NC, 1);
        var req = Requant(fn, [IntegerSemantics.AverageMultiplier(x.Q.Scale(), y.Q.Scale(), inner)], y);
        Add(fn, () =>
            $"    const {x.CType} *x = {Ptr(x)};\n    {y.CType} *y = {Ptr(y, write: true)};\n    long nc, i;\n" +
            $"    for (nc = 0; nc < {NC}; nc++)\n    {{\n        int64_t acc = 0;\n" +
            $"        for (i = 0; i < {inner}; i++) acc += x[nc * {inner} + i] - {x.Z};\n" +
            $"        y[nc] = ({y.CType}){req("acc", "0")};\n    }}\n");
    }

    // ---- data movement ----------------------------------------------------------------------------------------------

    private void Concat(Operation node, string fn)
    {
        var parts = Enumerable.Range(0, node.Inputs.Length).Select(i => Use(node, i)).ToList();
        var y = Define(node.Outputs[0]);
        var rank = y.Shape.Length;
        var axisRaw = node.Int("axis", 0);
        var axis = (int)(axisRaw < 0 ? axisRaw + rank : axisRaw);
        var outer = y.Shape.Take(axis).Aggregate(1L, (a, d) => a * d);
        var inner = y.Shape.Skip(axis + 1).Aggregate(1L, (a, d) => a * d);
        var total = y.Shape[axis] * inner;
        var rescales = parts.Select((p, i) => Rescale($"{fn}_{i}", p, y)).ToList();
        Add(fn, () =>
        {
            var sb = new StringBuilder($"    {y.CType} *y = {Ptr(y, write: true)};\n    long o, i;\n");
            long offset = 0;
            for (var i = 0; i < parts.Count; i++)
            {
                var block = parts[i].Shape[axis] * inner;
                sb.Append($"    {{\n        const {parts[i].CType} *x = {Ptr(parts[i])};\n");
                sb.Append($"        for (o = 0; o < {outer}; o++)\n            for (i = 0; i < {block}; i++) y[o * {total} + {offset} + i] = {rescales[i]($"x[o * {block} + i]")};\n    }}\n");
                offset += block;
            }
            return sb.ToString();
        });
    }

    /// <summary>Transpose, Slice and Pad as a gather through an index table (-1: the pad value), computed here.</summary>
    private void Gather(Operation node, string fn)
    {
        var x = Use(node, 0);
        var y = Define(node.Outputs[0]);
        var map = node.OpType switch
        {
            "Transpose" => Movement.Transpose(x.Shape, node.Ints("perm")),
            "Slice" => Movement.Slice(x.Shape, node),
            _ => Movement.Pad(x.Shape, node),
        };
        if (map.Length != y.Count) throw new NotSupportedException($"{node.OpType} gives {map.Length} elements, its output has {y.Count}");
        long fill = x.Z;
        if (node.OpType == "Pad")
        {
            if (node.String("mode", "constant") != "constant") throw new NotSupportedException("Pad supports mode 'constant' only");
            if (node.Input(2) is { FloatData: { Length: > 0 } pv })
                fill = IntegerSemantics.QuantizeFloat(pv[0], x.Q.Scale(), x.Z, x.Lo, x.Hi, _graph.Semantics.Rounding);
        }
        WriteArray("int32_t", $"{fn}_map", map);
        var rescale = Rescale(fn, x, y);
        Add(fn, () =>
            $"    const {x.CType} *x = {Ptr(x)};\n    {y.CType} *y = {Ptr(y, write: true)};\n    long i;\n" +
            $"    for (i = 0; i < {y.Count}; i++)\n    {{\n        const int32_t v = {fn}_map[i] < 0 ? {fill} : x[{fn}_map[i]];\n        y[i] = {rescale("v")};\n    }}\n");
    }
}
