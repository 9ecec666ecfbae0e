using ArchNet.IR;
using ArchNet.Passes.Distillation.Lowering;
using ArchNet.Testing;
using TorchSharp;
using static TorchSharp.torch;
using Attribute = ArchNet.IR.Attribute;

namespace ArchNet.Passes.Distillation.Tests;

/// <summary>The fused LSQ node against the formula written as torch operations, which autograd differentiates.</summary>
public sealed class LsqFakeQuantizationTests
{
    public static TheoryData<string> Cases => ["activation", "activation-signed", "conv-weight", "gemm-weight-axis1", "negative-step", "long"];

    /// <summary>x, step, qmin, qmax for each case: values spread past both ends of the range, some exactly on half levels.</summary>
    private static (Tensor X, Tensor Step, long QMin, long QMax) Case(string name)
    {
        var g = new Generator().manual_seed(11);
        Tensor Spread(long[] shape, double scale) => (rand(shape, generator: g) * 2 - 1) * scale;
        switch (name)
        {
            case "activation":
                return (Spread([4, 3, 5, 7], 2.0), tensor(new[] { 0.11f }), 0, 15);
            case "activation-signed":
                return (Spread([2, 5, 9], 1.0), tensor(new[] { 0.07f }), -8, 7);
            case "conv-weight":
            {
                var step = tensor(new[] { 0.02f, 0.05f, 0.1f, 0.03f, 0.2f }, [5, 1, 1, 1]);
                var x = Spread([5, 3, 3, 3], 0.6);
                // Exact half levels of each channel's step, where rounding must go to even like torch.round.
                x[0, 0, 0, 0] = step[0, 0, 0, 0] * 2.5f;
                x[1, 0, 0, 0] = step[1, 0, 0, 0] * -3.5f;
                x[2, 0, 0, 0] = step[2, 0, 0, 0] * 7f;
                return (x, step, -7, 7);
            }
            case "gemm-weight-axis1":
                return (Spread([6, 10], 0.5), (rand([1, 10], generator: g) * 0.1 + 0.01).to_type(ScalarType.Float32), -1, 1);
            case "negative-step":
                return (Spread([3, 4, 4], 1.0), tensor(new[] { -0.09f }), 0, 15);
            case "long":
                return (Spread([3, 7001], 3.0), tensor(new[] { 0.013f }), -128, 127);
            default:
                throw new ArgumentException(name);
        }
    }

    private static (float[] Y, float[] Dx, float[] Dstep) Run(string name, bool fused)
    {
        using var scope = NewDisposeScope();
        var (x0, step0, qmin, qmax) = Case(name);
        var x = x0.detach().clone().requires_grad_(true);
        var step = step0.detach().clone().requires_grad_(true);
        var gradScale = 1.0 / Math.Sqrt(x.numel() / step.numel() * (double)qmax);
        var y = fused ? LsqFakeQuantization.Apply(x, step, qmin, qmax, gradScale) : LsqFakeQuantization.Reference(x, step, qmin, qmax, gradScale);
        var upstream = rand(y.shape, generator: new Generator().manual_seed(5)) - 0.3;
        (y * upstream).sum().backward();
        return (y.detach().data<float>().ToArray(), x.grad!.data<float>().ToArray(), step.grad!.data<float>().ToArray());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Fused_ForwardValues_EqualTheFormula_Exactly(string name)
    {
        var (fused, _, _) = Run(name, fused: true);
        var (reference, _, _) = Run(name, fused: false);
        Assert.Equal(reference, fused);
        Assert.Contains(fused, v => v == 0f); // the cases reach the clamp and the zero level, not only the middle
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Fused_StraightThroughGradients_EqualAutogradOfTheFormula(string name)
    {
        var (_, dxFused, dsFused) = Run(name, fused: true);
        var (_, dxReference, dsReference) = Run(name, fused: false);

        // d/dx: the upstream gradient inside the range, 0 where clamped (the formula's (g s) / s is within a rounding of g).
        Assert.Equal(dxReference.Length, dxFused.Length);
        for (var i = 0; i < dxFused.Length; i++)
            Assert.True(Math.Abs(dxFused[i] - dxReference[i]) <= 1e-6 * Math.Abs(dxReference[i]) + 1e-12, $"dx[{i}] {dxFused[i]} vs {dxReference[i]}");
        Assert.Contains(dxReference, v => v == 0f);
        Assert.Contains(dxReference, v => v != 0f);

        // d/dstep: sums over the tensor, in another order.
        Assert.Equal(dsReference.Length, dsFused.Length);
        for (var c = 0; c < dsFused.Length; c++)
            Assert.True(Math.Abs(dsFused[c] - dsReference[c]) <= 1e-4 * Math.Abs(dsReference[c]) + 1e-6, $"dstep[{c}] {dsFused[c]} vs {dsReference[c]}");
        Assert.Contains(dsReference, v => v != 0f);
    }

    [Fact]
    public void ChannelsLastInput_SameValuesAndGradients_InTheSameLayout()
    {
        (float[] Y, float[] Dx, float[] Dstep, bool Layout) Run(bool channelsLast)
        {
            using var scope = NewDisposeScope();
            var (x0, step0, qmin, qmax) = Case("activation");
            var x = (channelsLast ? Lowering.TorchTensors.ChannelsLast(x0) : x0).detach().requires_grad_(true);
            var step = step0.detach().clone().requires_grad_(true);
            var y = LsqFakeQuantization.Apply(x, step, qmin, qmax, 0.01);
            (y * (rand(y.shape, generator: new Generator().manual_seed(5)) - 0.3)).sum().backward();
            return (y.detach().contiguous().data<float>().ToArray(), x.grad!.contiguous().data<float>().ToArray(),
                step.grad!.data<float>().ToArray(), Lowering.TorchTensors.IsChannelsLast(y));
        }
        var (y1, dx1, ds1, layout1) = Run(channelsLast: false);
        var (y2, dx2, ds2, layout2) = Run(channelsLast: true);
        Assert.False(layout1);
        Assert.True(layout2);
        Assert.Equal(y1, y2);
        Assert.Equal(dx1, dx2);
        Assert.Equal(ds1[0], ds2[0], 1e-4 * Math.Abs(ds1[0]));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void FusedRelu_EqualsQuantizeReluQuantize_ValuesExactly_GradientsToRounding(bool channelsLast)
    {
        (float[] Y, float[] Dx, float Dstep) Run(bool fused)
        {
            using var scope = NewDisposeScope();
            var (x0, step0, _, qmax) = Case("activation");
            // Some inputs exactly on the top level and just past it, where the second quantizer's range test decides.
            x0[0, 0, 0, 0] = step0[0] * 15f;
            x0[0, 0, 0, 1] = step0[0] * 15.49f;
            x0[0, 0, 0, 2] = step0[0] * 0.49f;
            var x = (channelsLast ? TorchTensors.ChannelsLast(x0) : x0).detach().requires_grad_(true);
            var step = step0.detach().clone().requires_grad_(true);
            var y = fused
                ? LsqFakeQuantization.ApplyRelu(x, step, qmax, 0.02)
                : LsqFakeQuantization.Reference(LsqFakeQuantization.Reference(x, step, 0, qmax, 0.02).relu(), step, 0, qmax, 0.02);
            (y * (rand(y.shape, generator: new Generator().manual_seed(5)) - 0.3)).sum().backward();
            return (y.detach().contiguous().data<float>().ToArray(), x.grad!.contiguous().data<float>().ToArray(), step.grad!.item<float>());
        }
        var (y1, dx1, ds1) = Run(fused: true);
        var (y2, dx2, ds2) = Run(fused: false);
        Assert.Equal(y2, y1);
        for (var i = 0; i < dx1.Length; i++)
            Assert.True(Math.Abs(dx1[i] - dx2[i]) <= 1e-6 * Math.Abs(dx2[i]) + 1e-12, $"dx[{i}] {dx1[i]} vs {dx2[i]}");
        Assert.Contains(dx2, v => v == 0f);
        Assert.Equal(ds2, ds1, 1e-4 * Math.Abs(ds2));
    }

    [Fact]
    public void StudentWithReluFusion_SameOutputsAndGradients_AsQuantizeReluQuantize()
    {
        var b = new GraphBuilder(seed: 3);
        var x = b.Input("x", 4, 2, 6, 6);
        var r1 = b.Op("Relu", b.Op("Conv", [x, b.Random([4, 2, 3, 3], -0.5f, 0.5f), b.Random([4], -0.1f, 0.1f)], Attribute.Ints("pads", 1, 1, 1, 1)));
        var c2 = b.Op("Conv", [r1, b.Random([4, 4, 3, 3], -0.5f, 0.5f)], Attribute.Ints("pads", 1, 1, 1, 1));
        var r2 = b.Op("Relu", c2);
        b.Output(b.Op("Gemm", [b.Op("Flatten", [b.Op("GlobalAveragePool", r2)], Attribute.Int("axis", 1)), b.Random([3, 4])], Attribute.Int("transB", 1)));
        var model = b.Build();
        ShapeInference.Run(model.Graph);

        var fusedUnits = 0;
        (float[] Y, float[] Grads) Run(bool fuse)
        {
            using var scope = NewDisposeScope();
            using var module = new GraphModule(model);
            using var fq = new FakeQuantizers(model.Graph, new QuantizationPlan(4, 4, true, false));
            module.Transform = fq.Apply;
            Tensor? CountingFusion(Value a, Value o, Tensor t)
            {
                var fused = fq.ApplyRelu(a, o, t);
                if (fused is not null) fusedUnits++;
                return fused;
            }
            if (fuse) module.ReluTransform = CountingFusion;
            using (no_grad()) foreach (var p in fq.Steps.Where(p => p.numel() == 1)) p.fill_(0.05); // activation steps
            var y = module.forward([rand([4, 2, 6, 6], generator: new Generator().manual_seed(9))])[0];
            y.pow(2).sum().backward();
            var grads = module.parameters().Concat(fq.Steps).SelectMany(p => p.grad is { } g ? g.contiguous().data<float>().ToArray() : []).ToArray();
            return (y.detach().contiguous().data<float>().ToArray(), grads);
        }
        var (y1, g1) = Run(fuse: true);
        var (y2, g2) = Run(fuse: false);
        Assert.Equal(2, fusedUnits); // both conv -> ReLU units
        Assert.Equal(y2, y1);
        Assert.Equal(g2.Length, g1.Length);
        for (var i = 0; i < g1.Length; i++)
            Assert.True(Math.Abs(g1[i] - g2[i]) <= 1e-4 * Math.Abs(g2[i]) + 1e-6, $"grad[{i}] {g1[i]} vs {g2[i]}");
        Assert.Contains(g2, v => v != 0f);
    }

    [Fact]
    public void ActivationDrop_KeepsEachElementFloat_WithItsProbability()
    {
        var b = new GraphBuilder(seed: 3);
        var x = b.Input("x", 4, 2, 6, 6);
        var c = b.Op("Conv", [x, b.Random([4, 2, 3, 3], -0.5f, 0.5f)], Attribute.Ints("pads", 1, 1, 1, 1));
        var r = b.Op("Relu", c);
        b.Output(r);
        var model = b.Build();
        ShapeInference.Run(model.Graph);

        using var scope = NewDisposeScope();
        using var fq = new FakeQuantizers(model.Graph, new QuantizationPlan(4, 4, true, false));
        using (no_grad()) foreach (var p in fq.Steps.Where(p => p.numel() == 1)) p.fill_(0.05); // activation steps: levels 0..0.75
        // Values inside the range and almost never on the grid, half of them negative (the ReLU's input).
        var t = (rand([64, 4, 6, 6], generator: new Generator().manual_seed(1)) - 0.5) * 1.4;
        float Kept(Tensor y, Tensor floats) => (y == floats).to_type(ScalarType.Float32).mean().item<float>();

        torch.manual_seed(7); // the masks come from torch's generator: the same draws every run
        fq.DropProbability = 0;
        Assert.True(Kept(fq.Apply(c, t), t) < 0.01);
        fq.DropProbability = 0.5;
        var half = Kept(fq.Apply(c, t), t);
        Assert.InRange(half, 0.45f, 0.55f);
        var fusedHalf = Kept(fq.ApplyRelu(c, r, t)!, t.relu());
        Assert.InRange(fusedHalf, 0.45f + 0.5f * 0.45f, 0.55f + 0.5f * 0.55f); // negatives are 0 either way
        fq.DropProbability = 1;
        Assert.Equal(1f, Kept(fq.Apply(c, t), t));
        Assert.Equal(1f, Kept(fq.ApplyRelu(c, r, t)!, t.relu()));
    }

    /// <summary>
    /// A chip with signed and unsigned symmetric activations: the group the float student never makes negative (the
    /// conv -> ReLU unit) trains unsigned with 15 positive levels at 4 bits, the rest signed with 7; without the option
    /// every group is signed. Signedness is decided by the group's representative (the ReLU output), not by the
    /// ReLU's negative input, as the quantizer's calibration decides it.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SignedPlan_GroupsNeverNegative_TrainUnsigned_WhereTheChipAllows(bool unsignedWhereNonNegative)
    {
        var b = new GraphBuilder(seed: 4);
        var x = b.Input("x", 8, 2, 6, 6);
        var c1 = b.Op("Conv", [x, b.Random([4, 2, 3, 3], -0.5f, 0.5f)], Attribute.Ints("pads", 1, 1, 1, 1));
        var r1 = b.Op("Relu", c1);
        var c2 = b.Op("Conv", [r1, b.Random([3, 4, 3, 3], -0.5f, 0.5f)], Attribute.Ints("pads", 1, 1, 1, 1));
        b.Output(c2);
        var model = b.Build();
        ShapeInference.Run(model.Graph);

        using var scope = NewDisposeScope();
        using var module = new GraphModule(model);
        using var fq = new FakeQuantizers(model.Graph, new QuantizationPlan(4, 4, true, SignedActivations: true)
        {
            UnsignedWhereNonNegative = unsignedWhereNonNegative,
        });
        var seen = new Dictionary<Value, ActivationObservation>();
        var input = rand([8, 2, 6, 6], generator: new Generator().manual_seed(2)) * 2 - 1;
        using (no_grad())
        {
            module.Transform = fq.Observer(seen);
            module.forward([input]);
        }
        fq.InitialiseActivationSteps(seen);
        Assert.True(seen[r1].RepresentativeMin >= 0);
        Assert.True(seen[c2].RepresentativeMin < 0);

        var learned = fq.Learned().Activations;
        Assert.Equal(!unsignedWhereNonNegative, learned[r1.Name].Signed);
        Assert.Equal(!unsignedWhereNonNegative, learned[c1.Name].Signed); // the ReLU's input shares its group
        Assert.True(learned[x.Name].Signed);
        Assert.True(learned[c2.Name].Signed);

        var step = learned[r1.Name].Step;
        var wide = tensor(new[] { -100f, 100f });
        var q = fq.Apply(r1, wide).data<float>().ToArray();
        var (lo, hi) = unsignedWhereNonNegative ? (0, 15) : (-8, 7);
        Assert.Equal(lo, q[0] / step, 4);
        Assert.Equal(hi, q[1] / step, 4);
        Assert.Equal(unsignedWhereNonNegative, fq.ApplyRelu(c1, r1, wide) is not null);

        // The IR gets the trained signedness: the QDQ writer and the emulator read it from there.
        foreach (var v in new[] { x, c1, r1, c2 }) v.Quant = QuantParams.PerTensor(4, true, 1f);
        fq.Learned().ApplyTo(model);
        Assert.Equal(!unsignedWhereNonNegative, r1.Quant!.Signed);
        Assert.True(c2.Quant!.Signed);
    }

    [Fact]
    public void WithoutGradients_TheFusedNodeStillQuantizes()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var y = LsqFakeQuantization.Apply(tensor(new[] { -1f, 0.26f, 0.74f, 9f }), tensor(new[] { 0.5f }), 0, 15, 0.1);
        Assert.Equal(new[] { 0f, 0.5f, 0.5f, 7.5f }, y.data<float>().ToArray());
        Assert.False(y.requires_grad);
    }

    [Fact]
    public void OtherTypes_FallBackToTheFormula()
    {
        using var scope = NewDisposeScope();
        var x = tensor(new[] { 0.3, 1.6, -2.0 }, ScalarType.Float64);
        var y = LsqFakeQuantization.Apply(x, tensor(new[] { 0.5 }, ScalarType.Float64), -3, 3, 0.2);
        Assert.Equal(ScalarType.Float64, y.dtype);
        Assert.Equal(new[] { 0.5, 1.5, -1.5 }, y.data<double>().ToArray(), (a, b) => Math.Abs(a - b) < 1e-6);
    }

    /// <summary>Training sees the widths the quantizer will give with 8-bit attention: the scores, probabilities and
    /// context (and Q, K, V) train at 8 bits, the rest of the activations and every weight at the plan's 4.</summary>
    [Theory]
    [InlineData(8)]
    [InlineData(null)]
    public void AttentionBits_WidenOnlyTheAttentionGroups(int? attentionBits)
    {
        var (model, _, scores) = AttentionModels.SequenceFirst();
        ShapeInference.Run(model.Graph);
        var softmax = model.Graph.Nodes.Single(n => n.OpType == "Softmax");
        var context = softmax.Outputs[0].Uses.Single().Node;
        var projection = model.Graph.Nodes.Single(n => n.OpType == "Gemm");

        using var fq = new FakeQuantizers(model.Graph, new QuantizationPlan(4, 4, true, SignedActivations: true) { AttentionBits = attentionBits });
        var learned = fq.Learned();

        var wide = attentionBits ?? 4;
        foreach (var v in new[] { scores, softmax.Outputs[0], context.Outputs[0], context.Inputs[1]!, scores.Producer!.Inputs[0]! })
            Assert.Equal(wide, learned.Activations[v.Name].Bits);
        Assert.Equal(4, learned.Activations[projection.Outputs[0].Name].Bits);
        Assert.Equal(4, learned.Activations[model.Graph.Inputs[0].Name].Bits);
        Assert.All(learned.Weights.Values, w => Assert.Equal(4, w.Bits));
    }
}
