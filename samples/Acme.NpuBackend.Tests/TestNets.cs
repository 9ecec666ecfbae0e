using ArchNet.Backends.Emulation;
using ArchNet.IR;
using ArchNet.Testing;
using Attribute = ArchNet.IR.Attribute;
using Tensor = ArchNet.Backends.Emulation.Tensor;

namespace Acme.NpuBackend.Tests;

/// <summary>
/// Small CNNs built in code and quantized by hand (min-max over a few random inputs, run by the emulator in float
/// mode): enough to exercise every NPU command at every weight width without the compile pipeline.
/// </summary>
public static class TestNets
{
    /// <summary>Conv 3x3 -> Relu -> MaxPool 2x2 -> Conv 3x3 s2 -> Relu -> Conv 3x3 (+ residual Add) -> Relu -> GAP -> Flatten -> Gemm.</summary>
    public static Model ResidualCnn(int weightBits, int activationBits, string rounding, string requantization, bool signedActivations = false, int seed = 1)
    {
        var model = FloatResidualCnn(seed);
        Quantize(model, weightBits, activationBits, signedActivations, Inputs(model, 8, seed));
        model.Metadata.Add(new("archnet.quant.semantics", $"rounding={rounding};requantization={requantization};accumulator_bits=32"));
        return model;
    }

    /// <summary>The same net in float, as a user hands it to archnetc (the compile pipeline quantizes it).</summary>
    public static Model FloatResidualCnn(int seed = 1)
    {
        var b = new GraphBuilder(seed: seed);
        var x = b.Input("image", 1, 2, 12, 12);
        Value Conv(Value input, long cin, long cout, long stride) =>
            b.Op("Conv", [input, b.Random([cout, cin, 3, 3], -0.4f, 0.4f), b.Random([cout], -0.1f, 0.1f)],
                Attribute.Ints("kernel_shape", 3, 3), Attribute.Ints("pads", 1, 1, 1, 1), Attribute.Ints("strides", stride, stride));
        var c1 = b.Op("Relu", Conv(x, 2, 4, 1));
        var p1 = b.Op("MaxPool", [c1], Attribute.Ints("kernel_shape", 2, 2), Attribute.Ints("strides", 2, 2));
        var c2 = b.Op("Relu", Conv(p1, 4, 6, 2));
        var c3 = Conv(c2, 6, 6, 1);
        var sum = b.Op("Relu", b.Op("Add", c3, c2));
        var gap = b.Op("GlobalAveragePool", sum);
        var flat = b.Op("Flatten", [gap], Attribute.Int("axis", 1));
        var logits = b.Op("Gemm", [flat, b.Random([5, 6], -0.5f, 0.5f), b.Random([5], -0.1f, 0.1f)], Attribute.Int("transB", 1));
        b.Output(logits);
        return b.Build();
    }

    /// <summary>Random images in [0, 1), one dictionary per item.</summary>
    public static List<Dictionary<string, Tensor>> Inputs(Model model, int count, int seed)
    {
        var rng = new Random(seed + 100);
        var input = model.Graph.Inputs[0];
        var shape = input.Shape!.ToArray()!.Select(d => (int)d).ToArray();
        var n = shape.Aggregate(1, (a, d) => a * d);
        return [.. Enumerable.Range(0, count).Select(_ => new Dictionary<string, Tensor>
        {
            [input.Name] = Tensor.FromFloats(shape, [.. Enumerable.Range(0, n).Select(_ => rng.NextSingle())]),
        })];
    }

    /// <summary>Per-channel symmetric weights; per-tensor activations over the observed range (0 always inside it).</summary>
    private static void Quantize(Model model, int wbits, int abits, bool signedActivations, List<Dictionary<string, Tensor>> calib)
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
                lo[name] = Math.Min(lo.GetValueOrDefault(name, 0f), t.Floats!.Min());
                hi[name] = Math.Max(hi.GetValueOrDefault(name, 0f), t.Floats!.Max());
            }
        }
        foreach (var v in g.Inputs.Concat(g.Nodes.SelectMany(n => n.Outputs)))
        {
            if (!lo.ContainsKey(v.Name)) continue;
            var (a, b) = (lo[v.Name], hi[v.Name]);
            if (signedActivations)
            {
                var qmax = (1 << (abits - 1)) - 1;
                var scale = Math.Max(Math.Max(-a, b), 1e-6f) / qmax;
                v.Quant = QuantParams.PerTensor(abits, true, scale, 0);
            }
            else
            {
                var qmax = (1 << abits) - 1;
                var scale = Math.Max(b - a, 1e-6f) / qmax;
                v.Quant = QuantParams.PerTensor(abits, false, scale, (long)Math.Round(-a / scale));
            }
        }
        foreach (var n in g.Nodes.Where(n => n.OpType is "Conv" or "Gemm"))
        {
            var w = n.Input(1)!;
            var data = w.Constant!.ToFloats();
            var channels = (int)w.Constant.Dims[0];
            var per = data.Length / channels;
            var qmax = (1 << (wbits - 1)) - 1;
            var scales = Enumerable.Range(0, channels)
                .Select(c => Math.Max(data.Skip(c * per).Take(per).Max(Math.Abs), 1e-6f) / qmax).ToArray();
            w.Quant = new QuantParams(wbits, true, [.. scales], [.. new long[channels]], 0);
        }
    }
}
