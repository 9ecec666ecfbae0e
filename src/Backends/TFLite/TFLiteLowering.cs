using System.Collections.Immutable;
using ArchNet.Backends.Abstractions;
using Op = ArchNet.Backends.TFLite.TFLiteSchema.Op;
using Opt = ArchNet.Backends.TFLite.TFLiteSchema.Options;
using S = ArchNet.Backends.TFLite.TFLiteSchema;
using T = ArchNet.Backends.TFLite.TFLiteSchema.TensorType;

namespace ArchNet.Backends.TFLite;

/// <summary>A node the tflite backend cannot write, with the reason in the user's words.</summary>
internal class TFLiteRefusal(string message) : Exception(message);

/// <summary>A node reading a value that an earlier refused node would have written: not reported again.</summary>
internal sealed class TFLiteCascade(string message) : TFLiteRefusal(message);

/// <summary>
/// Lowers a quantized graph (ONNX ops, NCHW) to a TFLite model (NHWC): float32 inputs quantized by QUANTIZE, int8/uint8/
/// int16 activations per tensor, conv weights int8 per channel (quantized_dimension 0 for CONV_2D's [O,H,W,I], 3 for
/// DEPTHWISE_CONV_2D's [1,H,W,C*M]), int32 biases at scale s_in * s_w[c], outputs dequantized by DEQUANTIZE.
/// <see cref="Validate"/> and <see cref="Lower"/> run the same code, so the check and the emission cannot disagree.
/// </summary>
internal sealed class TFLiteLowering
{
    private readonly QuantizedGraph _graph;
    private readonly TflModel _model = new();
    private readonly Dictionary<string, int> _tensors = new(StringComparer.Ordinal);
    private readonly HashSet<string> _refused = new(StringComparer.Ordinal);
    /// <summary>Values whose integers never fall below their zero point (outputs of Relu, and of max-pools over them).</summary>
    private readonly HashSet<string> _nonNegative = new(StringComparer.Ordinal);

    private TFLiteLowering(QuantizedGraph graph) => _graph = graph;

    public static (TflModel Model, IReadOnlyList<BackendDiagnostic> Problems) Lower(QuantizedGraph graph)
    {
        var l = new TFLiteLowering(graph);
        var problems = new List<BackendDiagnostic>();
        foreach (var input in graph.Inputs)
        {
            try { l.LowerInput(input); }
            catch (TFLiteRefusal r) { problems.Add(BackendDiagnostic.Error(r.Message, input.Name)); }
        }
        foreach (var node in graph.Nodes)
        {
            try { l.LowerNode(node); }
            catch (TFLiteCascade) { foreach (var o in node.Outputs) l._refused.Add(o.Name); }
            catch (TFLiteRefusal r)
            {
                foreach (var o in node.Outputs) l._refused.Add(o.Name);
                problems.Add(BackendDiagnostic.Error($"{node.OpType}: {r.Message}", node.Name));
            }
        }
        foreach (var output in graph.Outputs)
        {
            try { l.LowerOutput(output); }
            catch (TFLiteCascade) { }
            catch (TFLiteRefusal r) { problems.Add(BackendDiagnostic.Error(r.Message, output.Name)); }
        }
        return (l._model, problems);
    }

    // ---- tensors ------------------------------------------------------------------------------------------------

    private static int[] Nhwc(ImmutableArray<long> s) =>
        s.Length == 4 ? [(int)s[0], (int)s[2], (int)s[3], (int)s[1]] : [.. s.Select(d => (int)d)];

    private static sbyte TypeOf(QuantInfo q) => (q.Bits, q.Signed) switch
    {
        (8, true) => T.Int8,
        (8, false) => T.UInt8,
        (16, true) => T.Int16,
        _ => throw new TFLiteRefusal($"{(q.Signed ? "" : "un")}signed {q.Bits}-bit activations have no TFLite type here (int8, uint8, int16)"),
    };

    private static QuantInfo ActivationQuant(TensorValue v)
    {
        var q = v.Quant ?? throw new TFLiteRefusal($"value '{v.Name}' is not quantized (TFLite int8 models hold no float op)");
        if (q.PerChannel) throw new TFLiteRefusal($"value '{v.Name}' is quantized per channel; TFLite activations are per tensor");
        return q;
    }

    private int Activation(TensorValue v, QuantInfo? quant = null, string? name = null)
    {
        var q = quant ?? ActivationQuant(v);
        return _model.AddTensor(new TflTensor(name ?? v.Name, Nhwc(v.Shape), TypeOf(q), 0, [q.Scale()], [q.ZeroPoint()]));
    }

    private int Read(TensorValue? v)
    {
        if (v is null) throw new TFLiteRefusal("an omitted input");
        if (_tensors.TryGetValue(v.Name, out var t)) return t;
        if (_refused.Contains(v.Name)) throw new TFLiteCascade(v.Name);
        if (v.IsConstant) throw new TFLiteRefusal($"constant '{v.Name}' as an activation input (TFLite takes it only as a weight here)");
        throw new TFLiteRefusal($"value '{v.Name}' is read before it is written");
    }

    private int Write(TensorValue v, QuantInfo? quant = null) => _tensors[v.Name] = Activation(v, quant);

    private int Int32Constant(string name, int[] values)
    {
        var data = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++) BitConverter.TryWriteBytes(data.AsSpan(i * 4), values[i]);
        return _model.AddConstant(name, [values.Length], T.Int32, data);
    }

    private void Emit(int code, byte optionsType, Func<Google.FlatBuffers.FlatBufferBuilder, int> options, int[] inputs, int[] outputs) =>
        _model.Operators.Add(new TflOperator(code, optionsType, options, inputs, outputs));

    private void LowerInput(TensorValue input)
    {
        var q = ActivationQuant(input);
        var f = _model.AddTensor(new TflTensor(input.Name, Nhwc(input.Shape), T.Float32, 0));
        _model.Inputs.Add(f);
        var t = _tensors[input.Name] = Activation(input, q, input.Name + "/quantized");
        Emit(Op.Quantize, Opt.Quantize, TflModel.EmptyTable, [f], [t]);
    }

    private void LowerOutput(TensorValue output)
    {
        var t = Read(output);
        var f = _model.AddTensor(new TflTensor(output.Name + "/dequantized", Nhwc(output.Shape), T.Float32, 0));
        Emit(Op.Dequantize, Opt.Dequantize, TflModel.EmptyTable, [t], [f]);
        _model.Outputs.Add(f);
    }

    /// <summary>A tensor with <paramref name="from"/>'s integers moved to <paramref name="to"/>'s parameters by a QUANTIZE
    /// (int to int requantization) when they differ: for ops whose TFLite kernels keep the input's parameters.</summary>
    private void WriteKeeping(int code, byte optionsType, Func<Google.FlatBuffers.FlatBufferBuilder, int> options, int[] inputs, TensorValue input, TensorValue output)
    {
        var qi = ActivationQuant(input);
        var qo = ActivationQuant(output);
        if (qi.Equals(qo)) { Emit(code, optionsType, options, inputs, [Write(output)]); return; }
        var mid = Activation(output, qi, output.Name + "/before_requantize");
        Emit(code, optionsType, options, inputs, [mid]);
        Emit(Op.Quantize, Opt.Quantize, TflModel.EmptyTable, [mid], [Write(output)]);
    }

    // ---- nodes --------------------------------------------------------------------------------------------------

    private void LowerNode(Operation n)
    {
        if (n.Domain is not ("" or "ai.onnx")) throw new TFLiteRefusal($"domain '{n.Domain}' has no TFLite builtin");
        switch (n.OpType)
        {
            case "Conv": Conv(n); break;
            case "Gemm": case "MatMul": FullyConnected(n); break;
            case "Add": Binary(n, Op.Add, Opt.Add); break;
            case "Sub": Binary(n, Op.Sub, Opt.Sub); break;
            case "Mul": Binary(n, Op.Mul, Opt.Mul); break;
            case "Relu": _nonNegative.Add(n.Outputs[0].Name); Emit(Op.Relu, Opt.None, TflModel.EmptyTable, [Read(n.Input(0))], [Write(n.Outputs[0])]); break;
            case "Clip": Clip(n); break;
            case "MaxPool": Pool(n, Op.MaxPool2D); break;
            case "AveragePool": Pool(n, Op.AveragePool2D); break;
            case "GlobalAveragePool": Mean(n); break;
            case "Flatten": case "Reshape": Reshape(n); break;
            case "Softmax": Softmax(n); break;
            case "Concat": Concat(n); break;
            case "Pad": Pad(n); break;
            case "Identity": case "Dropout": _tensors[n.Outputs[0].Name] = Read(n.Input(0)); RequireSameQuant(n); break;
            default: throw new TFLiteRefusal("no TFLite builtin is emitted for this op (the tflite backend writes Conv, Gemm, MatMul, Add, Sub, Mul, Relu, Clip(0,6), MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape, Softmax, Concat, Pad)");
        }
    }

    private static void RequireSameQuant(Operation n)
    {
        if (!Equals(n.Input(0)!.Quant, n.Outputs[0].Quant)) throw new TFLiteRefusal("an identity that changes quantization parameters");
    }

    private (sbyte Padding, int[]? Explicit) Padding(Operation n, TensorValue x, long[] kernel, long[] strides, long[] dilations)
    {
        if (n.String("auto_pad", "NOTSET") != "NOTSET") throw new TFLiteRefusal("auto_pad other than NOTSET");
        if (n.Int("ceil_mode", 0) != 0) throw new TFLiteRefusal("ceil_mode 1 (TFLite windows floor)");
        var pads = n.Ints("pads", 0, 0, 0, 0);
        if (pads.All(p => p == 0)) return (S.PaddingValid, null);
        var same = true;
        for (var a = 0; a < 2; a++)
        {
            var size = x.Shape[2 + a];
            var outSame = (size + strides[a] - 1) / strides[a];
            var total = Math.Max((outSame - 1) * strides[a] + (kernel[a] - 1) * dilations[a] + 1 - size, 0);
            if (pads[a] != total / 2 || pads[a + 2] != total - total / 2) same = false;
        }
        return same ? (S.PaddingSame, null) : (S.PaddingValid, [.. pads.Select(p => (int)p)]);
    }

    private void Conv(Operation n)
    {
        var x = n.Input(0)!;
        var w = n.Input(1)!;
        var bias = n.Input(2);
        if (w.IntegerData is not { } wq || w.Quant is not { } qw) throw new TFLiteRefusal("the weight is not a quantized constant");
        if (x.Shape.Length != 4) throw new TFLiteRefusal($"a {x.Shape.Length - 2}D convolution (TFLite's CONV_2D is 2D)");
        if (qw.Bits != 8 || !qw.Signed) throw new TFLiteRefusal($"{qw.Bits}-bit {(qw.Signed ? "signed" : "unsigned")} weights (TFLite convolutions take int8)");
        if (qw.ZeroPoints.Any(z => z != 0)) throw new TFLiteRefusal("asymmetric weights (TFLite's int8 weights are symmetric)");
        var qx = ActivationQuant(x);
        int O = (int)w.Shape[0], Ig = (int)w.Shape[1], KH = (int)w.Shape[2], KW = (int)w.Shape[3];
        var group = (int)n.Int("group", 1);
        var cin = (int)x.Shape[1];
        var depthwise = group > 1 && group == cin && Ig == 1;
        if (group != 1 && !depthwise) throw new TFLiteRefusal($"group {group} (TFLite has CONV_2D and DEPTHWISE_CONV_2D only)");
        var strides = n.Ints("strides", 1, 1).ToArray();
        var dilations = n.Ints("dilations", 1, 1).ToArray();
        var (padding, explicitPads) = Padding(n, x, [KH, KW], strides, dilations);

        var input = Read(x);
        // TFLite's PAD writes the input's zero point, as the emulator's padding reads z_x.
        if (explicitPads is { } p) input = PadWithZeroPoint(n, x, input, p);

        // Weights: ONNX [O, I/g, KH, KW] -> CONV_2D [O, KH, KW, I] or DEPTHWISE [1, KH, KW, O].
        var data = new byte[O * Ig * KH * KW];
        for (var o = 0; o < O; o++)
            for (var i = 0; i < Ig; i++)
                for (var h = 0; h < KH; h++)
                    for (var k = 0; k < KW; k++)
                    {
                        var src = ((o * Ig + i) * KH + h) * KW + k;
                        var dst = depthwise ? (h * KW + k) * O + o : ((o * KH + h) * KW + k) * Ig + i;
                        data[dst] = (byte)(sbyte)wq[src];
                    }
        var wScales = Enumerable.Range(0, O).Select(c => qw.Scale(c)).ToArray();
        var weights = _model.AddConstant(w.Name, depthwise ? [1, KH, KW, O] : [O, KH, KW, Ig], T.Int8, data,
            wScales, new long[O], depthwise ? 3 : 0);
        var b = Bias(n.Name, bias, O, qx.Scale(), wScales);
        var output = Write(n.Outputs[0]);
        var (sw, sh, dw, dh) = ((int)strides[1], (int)strides[0], (int)dilations[1], (int)dilations[0]);
        if (depthwise)
            Emit(Op.DepthwiseConv2D, Opt.DepthwiseConv2D, fb =>
            {
                fb.StartTable(S.DepthwiseOptions.Count);
                fb.AddSbyte(S.DepthwiseOptions.Padding, padding, 0);
                fb.AddInt(S.DepthwiseOptions.StrideW, sw, 0);
                fb.AddInt(S.DepthwiseOptions.StrideH, sh, 0);
                fb.AddInt(S.DepthwiseOptions.DepthMultiplier, O / cin, 0);
                fb.AddSbyte(S.DepthwiseOptions.Activation, 0, 0);
                fb.AddInt(S.DepthwiseOptions.DilationW, dw, 1);
                fb.AddInt(S.DepthwiseOptions.DilationH, dh, 1);
                return fb.EndTable();
            }, [input, weights, b], [output]);
        else
            Emit(Op.Conv2D, Opt.Conv2D, fb => Conv2DOptions(fb, padding, sw, sh, dw, dh), [input, weights, b], [output]);
    }

    private static int Conv2DOptions(Google.FlatBuffers.FlatBufferBuilder fb, sbyte padding, int sw, int sh, int dw, int dh)
    {
        fb.StartTable(S.Conv2DOptions.Count);
        fb.AddSbyte(S.Conv2DOptions.Padding, padding, 0);
        fb.AddInt(S.Conv2DOptions.StrideW, sw, 0);
        fb.AddInt(S.Conv2DOptions.StrideH, sh, 0);
        fb.AddSbyte(S.Conv2DOptions.Activation, 0, 0);
        fb.AddInt(S.Conv2DOptions.DilationW, dw, 1);
        fb.AddInt(S.Conv2DOptions.DilationH, dh, 1);
        return fb.EndTable();
    }

    private static int ReshapeOptions(Google.FlatBuffers.FlatBufferBuilder fb, int[] shape)
    {
        var v = TflModel.IntVector(fb, shape);
        fb.StartTable(S.ReshapeOptions.Count);
        fb.AddOffset(S.ReshapeOptions.NewShape, v, 0);
        return fb.EndTable();
    }

    /// <summary>PAD of an NHWC tensor by ONNX pads [top, left, bottom, right]; the padding holds the zero point.</summary>
    private int PadWithZeroPoint(Operation n, TensorValue x, int input, int[] p)
    {
        var qx = ActivationQuant(x);
        var padded = _model.AddTensor(new TflTensor(n.Name + "/padded",
            [(int)x.Shape[0], (int)x.Shape[2] + p[0] + p[2], (int)x.Shape[3] + p[1] + p[3], (int)x.Shape[1]], TypeOf(qx), 0, [qx.Scale()], [qx.ZeroPoint()]));
        var paddings = Int32Constant(n.Name + "/paddings", [0, 0, p[0], p[2], p[1], p[3], 0, 0]);
        Emit(Op.Pad, Opt.Pad, TflModel.EmptyTable, [input, paddings], [padded]);
        return padded;
    }

    /// <summary>int32 bias at scale s_in * s_w[c] (zero point 0): the emulator's integers as they are; zeros when absent.</summary>
    private int Bias(string node, TensorValue? bias, int channels, float sx, float[] wScales)
    {
        var values = new long[channels];
        if (bias is not null)
        {
            if (bias.IntegerData is not { } bq) throw new TFLiteRefusal("the bias is not an integer constant");
            if (bq.Length != channels) throw new TFLiteRefusal($"the bias holds {bq.Length} values for {channels} channels");
            for (var c = 0; c < channels; c++)
            {
                if (bq[c] is < int.MinValue or > int.MaxValue) throw new TFLiteRefusal($"bias[{c}] = {bq[c]} does not fit TFLite's int32 bias");
                values[c] = bq[c];
            }
        }
        var data = new byte[channels * 4];
        for (var c = 0; c < channels; c++) BitConverter.TryWriteBytes(data.AsSpan(c * 4), (int)values[c]);
        return _model.AddConstant(bias?.Name ?? node + "/bias", [channels], T.Int32, data,
            [.. wScales.Select(s => sx * s)], new long[channels], 0);
    }

    private void FullyConnected(Operation n)
    {
        var x = n.Input(0)!;
        var w = n.Input(1)!;
        if (!w.IsConstant) throw new TFLiteRefusal("a MatMul of two activations (TFLite's FULLY_CONNECTED takes a constant weight)");
        if (w.IntegerData is not { } wq || w.Quant is not { } qw) throw new TFLiteRefusal("the weight is not a quantized constant");
        if (qw.Bits != 8 || !qw.Signed || qw.ZeroPoints.Any(z => z != 0)) throw new TFLiteRefusal("weights other than symmetric int8");
        if (x.Shape.Length != 2 || w.Shape.Length != 2) throw new TFLiteRefusal("an input or weight of rank other than 2");
        var transB = n.OpType == "Gemm" && n.Int("transB", 0) == 1;
        if (n.OpType == "Gemm" && (n.Int("transA", 0) != 0 || n.Float("alpha", 1f) != 1f || n.Float("beta", 1f) != 1f))
            throw new TFLiteRefusal("transA, alpha or beta other than Gemm's defaults");
        int N = (int)(transB ? w.Shape[0] : w.Shape[1]), K = (int)(transB ? w.Shape[1] : w.Shape[0]);
        // Per-channel weights: axis of N in the ONNX layout (0 when transposed, 1 otherwise) -> 0 in [N, K].
        var perChannel = qw.PerChannel;
        var data = new byte[N * K];
        for (var o = 0; o < N; o++)
            for (var k = 0; k < K; k++)
                data[o * K + k] = (byte)(sbyte)wq[transB ? o * K + k : k * N + o];
        var qx = ActivationQuant(x);
        var wScales = Enumerable.Range(0, N).Select(c => qw.Scale(perChannel ? c : 0)).ToArray();
        if (perChannel)
        {
            // Per-channel weights are TFLite's for convolutions (FULLY_CONNECTED readers such as Arm NN take one scale):
            // the same integers as a 1x1 CONV_2D between two RESHAPEs.
            var batch = (int)x.Shape[0];
            var y = n.Outputs[0];
            var qy = ActivationQuant(y);
            var x4 = _model.AddTensor(new TflTensor(n.Name + "/as_nhwc", [batch, 1, 1, K], TypeOf(qx), 0, [qx.Scale()], [qx.ZeroPoint()]));
            Emit(Op.Reshape, Opt.Reshape, fb => ReshapeOptions(fb, [batch, 1, 1, K]), [Read(x), Int32Constant(n.Name + "/nhwc_shape", [batch, 1, 1, K])], [x4]);
            var w4 = _model.AddConstant(w.Name, [N, 1, 1, K], T.Int8, data, wScales, new long[N], 0);
            var b4 = Bias(n.Name, n.Input(2), N, qx.Scale(), wScales);
            var y4 = _model.AddTensor(new TflTensor(n.Name + "/conv", [batch, 1, 1, N], TypeOf(qy), 0, [qy.Scale()], [qy.ZeroPoint()]));
            Emit(Op.Conv2D, Opt.Conv2D, fb => Conv2DOptions(fb, S.PaddingValid, 1, 1, 1, 1), [x4, w4, b4], [y4]);
            Emit(Op.Reshape, Opt.Reshape, fb => ReshapeOptions(fb, [batch, N]), [y4, Int32Constant(n.Name + "/shape", [batch, N])], [Write(y)]);
            return;
        }
        var weights = _model.AddConstant(w.Name, [N, K], T.Int8, data, [qw.Scale()], [0], 0);
        var b = BiasPerTensor(n.Name, n.Input(2), N, qx.Scale() * qw.Scale());
        Emit(Op.FullyConnected, Opt.FullyConnected, fb =>
        {
            fb.StartTable(S.FullyConnectedOptions.Count);
            fb.AddSbyte(S.FullyConnectedOptions.Activation, 0, 0);
            fb.AddSbyte(S.FullyConnectedOptions.WeightsFormat, 0, 0);
            fb.AddBool(S.FullyConnectedOptions.KeepNumDims, false, false);
            return fb.EndTable();
        }, [Read(x), weights, b], [Write(n.Outputs[0])]);
    }

    private int BiasPerTensor(string node, TensorValue? bias, int channels, float scale)
    {
        var t = Bias(node, bias, channels, scale, [.. Enumerable.Repeat(1f, channels)]);
        _model.Tensors[t] = _model.Tensors[t] with { Scales = [scale], ZeroPoints = [0] };
        return t;
    }

    private void Binary(Operation n, int code, byte options)
    {
        var a = n.Input(0)!;
        var b = n.Input(1)!;
        if (!a.Shape.SequenceEqual(b.Shape)) throw new TFLiteRefusal($"inputs of shapes [{string.Join(",", a.Shape)}] and [{string.Join(",", b.Shape)}] (only equal shapes are emitted)");
        Emit(code, options, fb =>
        {
            fb.StartTable(S.ActivationOptions.Count);
            fb.AddSbyte(S.ActivationOptions.Activation, 0, 0);
            return fb.EndTable();
        }, [Read(a), Read(b)], [Write(n.Outputs[0])]);
    }

    private void Clip(Operation n)
    {
        var lo = n.Input(1)?.FloatData is { Length: 1 } l ? l[0] : n.Float("min", float.NegativeInfinity);
        var hi = n.Input(2)?.FloatData is { Length: 1 } h ? h[0] : n.Float("max", float.PositiveInfinity);
        if (lo != 0f || hi != 6f) throw new TFLiteRefusal($"Clip({lo}, {hi}): only Clip(0, 6) (RELU6) is emitted");
        Emit(Op.Relu6, Opt.None, TflModel.EmptyTable, [Read(n.Input(0))], [Write(n.Outputs[0])]);
    }

    private void Pool(Operation n, int code)
    {
        var x = n.Input(0)!;
        if (x.Shape.Length != 4) throw new TFLiteRefusal("a pool over other than 2 spatial axes");
        var kernel = n.Ints("kernel_shape").GetValueOrDefault().ToArray();
        var strides = n.Ints("strides", 1, 1).ToArray();
        var dilations = n.Ints("dilations", 1, 1).ToArray();
        if (dilations.Any(d => d != 1)) throw new TFLiteRefusal("dilated pooling");
        var (padding, explicitPads) = Padding(n, x, kernel, strides, dilations);
        var input = Read(x);
        if (explicitPads is { } p)
        {
            // Max-pool windows ignore padding; PAD writes the zero point, which changes no maximum of a value that never
            // falls below it (a ReLU's output). Anything else is refused rather than computed differently.
            if (code != Op.MaxPool2D || !_nonNegative.Contains(x.Name))
                throw new TFLiteRefusal($"pads [{string.Join(",", n.Ints("pads", 0, 0, 0, 0))}] are neither VALID nor TFLite's SAME" +
                    (code == Op.MaxPool2D ? " and the input is not a ReLU's output (where padding with the zero point is exact)" : ""));
            input = PadWithZeroPoint(n, x, input, p);
            padding = S.PaddingValid;
        }
        if (code == Op.MaxPool2D && _nonNegative.Contains(x.Name)) _nonNegative.Add(n.Outputs[0].Name);
        if (code == Op.AveragePool2D && padding == S.PaddingSame && n.Int("count_include_pad", 0) != 0)
            throw new TFLiteRefusal("count_include_pad 1 with padding (TFLite's SAME averages over the valid elements only)");
        var (kh, kw, sh, sw) = ((int)kernel[0], (int)kernel[1], (int)strides[0], (int)strides[1]);
        WriteKeeping(code, Opt.Pool2D, fb =>
        {
            fb.StartTable(S.Pool2DOptions.Count);
            fb.AddSbyte(S.Pool2DOptions.Padding, padding, 0);
            fb.AddInt(S.Pool2DOptions.StrideW, sw, 0);
            fb.AddInt(S.Pool2DOptions.StrideH, sh, 0);
            fb.AddInt(S.Pool2DOptions.FilterW, kw, 0);
            fb.AddInt(S.Pool2DOptions.FilterH, kh, 0);
            fb.AddSbyte(S.Pool2DOptions.Activation, 0, 0);
            return fb.EndTable();
        }, [input], x, n.Outputs[0]);
    }

    private void Mean(Operation n)
    {
        var x = n.Input(0)!;
        if (x.Shape.Length != 4) throw new TFLiteRefusal("an input of rank other than 4");
        var axes = Int32Constant(n.Name + "/axes", [1, 2]);
        Emit(Op.Mean, Opt.Reducer, fb =>
        {
            fb.StartTable(S.ReducerOptions.Count);
            fb.AddBool(S.ReducerOptions.KeepDims, true, false);
            return fb.EndTable();
        }, [Read(x), axes], [Write(n.Outputs[0])]);
    }

    private void Reshape(Operation n)
    {
        var x = n.Input(0)!;
        var y = n.Outputs[0];
        if (y.Shape.Length == 4) throw new TFLiteRefusal("a reshape to rank 4 (the NHWC layout of its result is not derived)");
        var input = Read(x);
        if (x.Shape.Length == 4 && x.Shape[2] * x.Shape[3] > 1)
        {
            // ONNX flattens NCHW order: bring the NHWC tensor back to NCHW first.
            var qx = ActivationQuant(x);
            var nchw = _model.AddTensor(new TflTensor(n.Name + "/nchw", [.. x.Shape.Select(d => (int)d)], TypeOf(qx), 0, [qx.Scale()], [qx.ZeroPoint()]));
            Emit(Op.Transpose, Opt.Transpose, TflModel.EmptyTable, [input, Int32Constant(n.Name + "/perm", [0, 3, 1, 2])], [nchw]);
            input = nchw;
        }
        var shape = y.Shape.Select(d => (int)d).ToArray();
        WriteKeeping(Op.Reshape, Opt.Reshape, fb => ReshapeOptions(fb, shape), [input, Int32Constant(n.Name + "/shape", shape)], x, y);
    }

    private void Softmax(Operation n)
    {
        var x = n.Input(0)!;
        var axis = n.Int("axis", -1);
        if (axis != -1 && axis != x.Shape.Length - 1) throw new TFLiteRefusal($"axis {axis} (TFLite's SOFTMAX runs along the last axis)");
        if (x.Shape.Length == 4) throw new TFLiteRefusal("a softmax over a 4D tensor (its last axis is not the NHWC one)");
        Emit(Op.Softmax, Opt.Softmax, fb =>
        {
            fb.StartTable(S.SoftmaxOptions.Count);
            fb.AddFloat(S.SoftmaxOptions.Beta, 1f, 0f);
            return fb.EndTable();
        }, [Read(x)], [Write(n.Outputs[0])]);
    }

    private void Concat(Operation n)
    {
        var y = n.Outputs[0];
        var axis = (int)n.Int("axis", 0);
        if (axis < 0) axis += y.Shape.Length;
        if (y.Shape.Length == 4) axis = axis switch { 1 => 3, 2 => 1, 3 => 2, _ => 0 };
        var inputs = n.Inputs.Select(Read).ToArray();
        Emit(Op.Concatenation, Opt.Concatenation, fb =>
        {
            fb.StartTable(S.ConcatenationOptions.Count);
            fb.AddInt(S.ConcatenationOptions.Axis, axis, 0);
            fb.AddSbyte(S.ConcatenationOptions.Activation, 0, 0);
            return fb.EndTable();
        }, inputs, [Write(y)]);
    }

    private void Pad(Operation n)
    {
        var x = n.Input(0)!;
        if (n.String("mode", "constant") != "constant") throw new TFLiteRefusal($"mode '{n.String("mode", "constant")}' (PAD is constant padding)");
        if (n.Input(2)?.FloatData is { } cv && cv.Any(v => v != 0f)) throw new TFLiteRefusal("a constant other than 0");
        var pads = n.Input(1)?.IntegerData ?? n.Ints("pads") ?? throw new TFLiteRefusal("pads that are not constant");
        var r = x.Shape.Length;
        if (n.Input(3) is not null) throw new TFLiteRefusal("an axes input");
        var order = r == 4 ? new[] { 0, 2, 3, 1 } : Enumerable.Range(0, r).ToArray();
        var paddings = order.SelectMany(a => new[] { (int)pads[a], (int)pads[a + r] }).ToArray();
        WriteKeeping(Op.Pad, Opt.Pad, TflModel.EmptyTable, [Read(x), Int32Constant(n.Name + "/paddings", paddings)], x, n.Outputs[0]);
    }
}
