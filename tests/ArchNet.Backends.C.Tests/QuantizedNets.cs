using ArchNet.Backends.Emulation;
using ArchNet.IR;
using ArchNet.Testing;
using Attribute = ArchNet.IR.Attribute;
using Tensor = ArchNet.Backends.Emulation.Tensor;

namespace ArchNet.Backends.C.Tests;

/// <summary>
/// Small graphs built in code and quantized by hand (min-max over random inputs, the emulator in float mode), so
/// that every C kernel is checked against the emulator without the compile pipeline.
/// </summary>
public static class QuantizedNets
{
    /// <param name="UnsignedWhereNonNegative">With signed activations: values never negative on the calibration items are
    /// unsigned symmetric (the quantizer's choice on chips that take both), so kernels read and write both kinds.</param>
    public sealed record Numerics(int WeightBits, int ActivationBits, string Rounding, string Requantization, bool SignedActivations = false,
        bool UnsignedWhereNonNegative = false)
    {
        public override string ToString() =>
            $"W{WeightBits}A{ActivationBits} {Rounding} {Requantization}{(SignedActivations ? " signed" : "")}{(UnsignedWhereNonNegative ? " unsigned-where-non-negative" : "")}";
    }

    private static Value Conv(GraphBuilder b, Value input, long cin, long cout, long k, long stride, long pad, long group = 1) =>
        b.Op("Conv", [input, b.Random([cout, cin / group, k, k], -0.4f, 0.4f), b.Random([cout], -0.1f, 0.1f)],
            Attribute.Ints("kernel_shape", k, k), Attribute.Ints("pads", pad, pad, pad, pad), Attribute.Ints("strides", stride, stride),
            Attribute.Int("group", group));

    /// <summary>The fmnist_resnet shape in small: Conv, Relu, MaxPool, strided Conv, residual Add, GAP, Flatten, Gemm.</summary>
    public static Model ResidualCnn(Numerics n, int seed = 1)
    {
        var b = new GraphBuilder(seed: seed);
        var x = b.Input("image", 1, 2, 12, 12);
        var c1 = b.Op("Relu", Conv(b, x, 2, 4, 3, 1, 1));
        var p1 = b.Op("MaxPool", [c1], Attribute.Ints("kernel_shape", 2, 2), Attribute.Ints("strides", 2, 2));
        var c2 = b.Op("Relu", Conv(b, p1, 4, 6, 3, 2, 1));
        var sum = b.Op("Relu", b.Op("Add", Conv(b, c2, 6, 6, 3, 1, 1), c2));
        var flat = b.Op("Flatten", [b.Op("GlobalAveragePool", sum)], Attribute.Int("axis", 1));
        b.Output(b.Op("Gemm", [flat, b.Random([5, 6], -0.5f, 0.5f), b.Random([5], -0.1f, 0.1f)], Attribute.Int("transB", 1)));
        return Finish(b, n, seed);
    }

    /// <summary>The other kernels: depthwise and 1x1 convs, Clip, AveragePool (with padding), Concat, Slice, Pad,
    /// Transpose, Sub and Mul with broadcasting, Reshape with new parameters, MatMul with a constant weight.</summary>
    public static Model EveryKernel(Numerics n, int seed = 2)
    {
        var b = new GraphBuilder(seed: seed);
        var x = b.Input("image", 1, 3, 9, 9);
        var c1 = b.Op("Clip", [Conv(b, x, 3, 6, 3, 1, 1), b.Scalar(0f), b.Scalar(1.5f)]);
        var dw = b.Op("Relu", Conv(b, c1, 6, 6, 3, 2, 1, group: 6));
        var pw = Conv(b, dw, 6, 4, 1, 1, 0);
        var avg = b.Op("AveragePool", [pw], Attribute.Ints("kernel_shape", 3, 3), Attribute.Ints("pads", 1, 1, 1, 1),
            Attribute.Ints("strides", 1, 1), Attribute.Int("count_include_pad", 0));
        var avgPad = b.Op("AveragePool", [pw], Attribute.Ints("kernel_shape", 2, 2), Attribute.Ints("pads", 1, 1, 1, 1),
            Attribute.Ints("strides", 2, 2), Attribute.Int("count_include_pad", 1));
        var cat = b.Op("Concat", [avg, pw], Attribute.Int("axis", 1));
        var sliced = b.Op("Slice", cat, b.Ints(1), b.Ints(7), b.Ints(1));
        var padded = b.Op("Pad", sliced, b.Ints(0, 0, 1, 0, 0, 0, 0, 1));
        var t = b.Op("Transpose", [padded], Attribute.Ints("perm", 0, 2, 3, 1));
        var sub = b.Op("Sub", t, b.Random([1, 1, 1, 6], 0f, 0.5f)); // a quantized constant, broadcast
        var mul = b.Op("Mul", sub, sub);
        var flat = b.Op("Reshape", mul, b.Ints(1, -1));
        var g = b.Op("MatMul", flat, b.Random([flat.Shape![1].Value!.Value, 4], -0.2f, 0.2f));
        var flat2 = b.Op("Flatten", [avgPad], Attribute.Int("axis", 1));
        var h = b.Op("Gemm", [flat2, b.Random([flat2.Shape![1].Value!.Value, 3], -0.2f, 0.2f)]);
        b.Output(g, h);
        return Finish(b, n, seed);
    }

    /// <summary>A decoder head: Conv, then ConvTranspose upsampling twice (2x2 taps at stride 2, as text-detection heads
    /// have; 3x3 overlapping taps with pads, output_padding and dilation), with ReLUs, and a 1x1 Conv.</summary>
    public static Model Decoder(Numerics n, int seed = 3)
    {
        var b = new GraphBuilder(seed: seed);
        var x = b.Input("image", 1, 3, 5, 6);
        var c1 = b.Op("Relu", Conv(b, x, 3, 4, 3, 1, 1));
        var up1 = b.Op("Relu", b.Op("ConvTranspose", [c1, b.Random([4, 5, 2, 2], -0.4f, 0.4f), b.Random([5], -0.1f, 0.1f)],
            Attribute.Ints("strides", 2, 2)));
        var up2 = b.Op("ConvTranspose", [up1, b.Random([5, 3, 3, 3], -0.4f, 0.4f), b.Random([3], -0.1f, 0.1f)],
            Attribute.Ints("strides", 2, 3), Attribute.Ints("pads", 1, 0, 2, 1), Attribute.Ints("output_padding", 1, 2),
            Attribute.Ints("dilations", 1, 2));
        b.Output(Conv(b, b.Op("Relu", up2), 3, 2, 1, 1, 0));
        return Finish(b, n, seed);
    }

    private static Model Finish(GraphBuilder b, Numerics n, int seed)
    {
        var model = b.Build();
        Quantize(model, n, Inputs(model, 8, seed));
        model.Metadata.Add(new("archnet.quant.semantics", $"rounding={n.Rounding};requantization={n.Requantization};accumulator_bits=32"));
        return model;
    }

    /// <summary>Random inputs in [0, 1), one dictionary per item.</summary>
    public static List<Dictionary<string, Tensor>> Inputs(Model model, int count, int seed)
    {
        var rng = new Random(seed + 100);
        var input = model.Graph.Inputs[0];
        var shape = input.Shape!.ToArray()!.Select(d => (int)d).ToArray();
        var size = shape.Aggregate(1, (a, d) => a * d);
        return [.. Enumerable.Range(0, count).Select(_ => new Dictionary<string, Tensor>
        {
            [input.Name] = Tensor.FromFloats(shape, [.. Enumerable.Range(0, size).Select(_ => rng.NextSingle())]),
        })];
    }

    private static void Quantize(Model model, Numerics n, List<Dictionary<string, Tensor>> calib)
    {
        var g = model.Graph;
        var lo = new Dictionary<string, float>();
        var hi = new Dictionary<string, float>();
        var emulator = new Emulator(model, EmulatorMode.Float);
        foreach (var item in calib)
        {
            var run = emulator.Run(item, _ => true);
            foreach (var (name, t) in run.Values.Concat(run.Outputs))
            {
                if (t.Floats is null) continue;
                lo[name] = Math.Min(lo.GetValueOrDefault(name, 0f), t.Floats.Min());
                hi[name] = Math.Max(hi.GetValueOrDefault(name, 0f), t.Floats.Max());
            }
        }
        foreach (var v in g.Inputs.Concat(g.Nodes.SelectMany(x => x.Outputs)))
        {
            if (!lo.ContainsKey(v.Name)) continue;
            var (a, c) = (lo[v.Name], hi[v.Name]);
            if (n.SignedActivations && n.UnsignedWhereNonNegative && a >= 0)
                v.Quant = QuantParams.PerTensor(n.ActivationBits, false, Math.Max(c, 1e-6f) / ((1 << n.ActivationBits) - 1), 0);
            else if (n.SignedActivations)
            {
                var qmax = (1 << (n.ActivationBits - 1)) - 1;
                v.Quant = QuantParams.PerTensor(n.ActivationBits, true, Math.Max(Math.Max(-a, c), 1e-6f) / qmax, 0);
            }
            else
            {
                var qmax = (1 << n.ActivationBits) - 1;
                var scale = Math.Max(c - a, 1e-6f) / qmax;
                v.Quant = QuantParams.PerTensor(n.ActivationBits, false, scale, (long)Math.Round(-a / scale));
            }
        }
        // Constants read as activations (the operand of Sub) get per-tensor parameters from their data.
        foreach (var c in g.Nodes.Where(x => x.OpType is "Add" or "Sub" or "Mul").SelectMany(x => x.Inputs).OfType<Value>().Where(v => v.IsConstant))
        {
            var data = c.Constant!.ToFloats();
            var (a, d) = (Math.Min(0, data.Min()), Math.Max(0, data.Max()));
            var qmax = (1 << n.ActivationBits) - 1;
            var scale = Math.Max(d - a, 1e-6f) / qmax;
            c.Quant = n.SignedActivations
                ? QuantParams.PerTensor(n.ActivationBits, true, Math.Max(Math.Max(-a, d), 1e-6f) / ((1 << (n.ActivationBits - 1)) - 1), 0)
                : QuantParams.PerTensor(n.ActivationBits, false, scale, (long)Math.Round(-a / scale));
        }
        foreach (var node in g.Nodes.Where(x => x.OpType is "Conv" or "ConvTranspose" or "Gemm" or "MatMul"))
        {
            var w = node.Input(1)!;
            var data = w.Constant!.ToFloats();
            var dims = w.Constant.Dims;
            // The output channels' axis: ConvTranspose's weights are [C, M, kH, kW].
            var axis = node.OpType == "Conv" || node.GetInt("transB", 0) != 0 ? 0 : 1;
            var channels = (int)dims[axis];
            var inner = (int)dims.Skip(axis + 1).Aggregate(1L, (a, d) => a * d);
            var qmax = (1 << (n.WeightBits - 1)) - 1;
            var maxAbs = new float[channels];
            for (var i = 0; i < data.Length; i++)
            {
                var ch = i / inner % channels;
                maxAbs[ch] = Math.Max(maxAbs[ch], Math.Abs(data[i]));
            }
            w.Quant = new QuantParams(n.WeightBits, true, [.. maxAbs.Select(m => Math.Max(m, 1e-6f) / qmax)], [.. new long[channels]], axis);
        }
    }
}
