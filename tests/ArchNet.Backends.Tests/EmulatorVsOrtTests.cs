using ArchNet.Backends.Emulation;
using ArchNet.IR;
using ArchNet.Passes.Quantization;
using Xunit.Abstractions;

namespace ArchNet.Backends.Tests;

/// <summary>
/// The golden model against ONNX Runtime on QDQ graphs of every supported op, at 8 bits. With power-of-two scales
/// every float product and sum ORT computes is exact, so ORT's reference (unfused) path must give the emulator's
/// integers exactly, including the many exact ties such scales produce (a rounding boundary test).
/// </summary>
public sealed class EmulatorVsOrtTests(ITestOutputHelper output)
{
    public static TheoryData<string> IntegerOps => [.. OpGraphs.Names.Where(n => n is not ("Softmax" or "Sigmoid" or "MatMulActivations" or "MatMulActivationsLongK" or "Mul"))];
    public static TheoryData<string> AllOps => [.. OpGraphs.Names];

    private static QuantizationTarget PowerOfTwo() => QuantizationTarget.Default() with
    {
        Weights = new IntegerFormat(8, true, true, PowerOfTwoScales: true),
        Activations = new IntegerFormat(8, false, false, PowerOfTwoScales: true),
    };

    [Theory]
    [MemberData(nameof(AllOps))]
    public void PowerOfTwoScales_EmulatorEqualsOrtReference_Exactly(string op) => AssertExactlyEqual(op, PowerOfTwo());

    /// <summary>
    /// Symmetric signed activations where the chip also takes unsigned ones (ti-tda4vm, archnet-transformer): values
    /// that are never negative (ReLU, softmax, sigmoid outputs) are unsigned, the rest signed, so ops read and write
    /// both kinds in one graph (a residual Add of a signed input and a ReLU output, a MatMul of both).
    /// </summary>
    [Theory]
    [MemberData(nameof(AllOps))]
    public void UnsignedWhereNonNegative_EmulatorEqualsOrtReference_Exactly(string op) => AssertExactlyEqual(op, SignedSymmetric());

    [Theory]
    [InlineData("ConvRelu")]
    [InlineData("ResidualBlock")]
    [InlineData("Softmax")]
    public void UnsignedWhereNonNegative_NeverNegativeValuesAreUnsigned_TheRestSigned(string op)
    {
        var model = QuantizedOps.Quantize(op, SignedSymmetric(), out _);
        var activations = model.Graph.Inputs.Concat(model.Graph.Nodes.SelectMany(n => n.Outputs)).Where(v => v.Quant is not null).ToList();
        Assert.All(model.Graph.Inputs, v => Assert.True(v.Quant!.Signed, $"{v.Name}: random inputs in [-2, 2] are signed"));
        var unsigned = activations.Where(v => !v.Quant!.Signed).ToList();
        Assert.NotEmpty(unsigned);
        Assert.All(unsigned, v => Assert.Equal(0, v.Quant!.ZeroPoints[0]));
        Assert.All(activations.Where(v => v.Producer?.OpType is "Relu" or "Softmax"),
            v => Assert.False(v.Quant!.Signed, $"{v.Name} ({v.Producer!.OpType}) is never negative"));
    }

    /// <summary>The exact comparisons above hold the integer kernels to ORT only when the golden model runs them: every
    /// op graph but those of the host float ops by design (Sigmoid, PRelu, ReduceMax) has no host float node.</summary>
    [Theory]
    [MemberData(nameof(AllOps))]
    public void IntegerMode_RunsEveryOpButTheHostFloatOpsAsAnIntegerKernel(string op)
    {
        var model = QuantizedOps.Quantize(op, PowerOfTwo(), out _);
        var host = new Emulator(model, EmulatorMode.Integer).HostFloatNodes;
        if (op is "Sigmoid" or "PRelu" or "ReduceMax") Assert.NotEmpty(host);
        else Assert.Empty(host);
    }

    /// <summary>ConvTranspose's weights are [C, M / group, kH, kW]: per output channel is axis 1, as a bias's scale needs;
    /// with groups, axis 1 would give one scale to a channel of every group, so they get one scale.</summary>
    [Theory]
    [InlineData("ConvTranspose2x2", 1, 6)]
    [InlineData("ConvTransposeGrouped", null, 1)]
    public void ConvTranspose_WeightsPerOutputChannelAlongAxis1_UnlessGrouped(string op, int? axis, int scales)
    {
        var model = QuantizedOps.Quantize(op, PowerOfTwo(), out _);
        var node = model.Graph.Nodes.Single(n => n.OpType == "ConvTranspose");
        Assert.Equal(axis, node.Input(1)!.Quant!.Axis);
        Assert.Equal(scales, node.Input(1)!.Quant!.Scales.Length);
        if (node.Input(2) is { } bias) Assert.Equal(scales, bias.Quant!.Scales.Length);
    }

    private static QuantizationTarget SignedSymmetric() => PowerOfTwo() with
    {
        Activations = new IntegerFormat(8, Signed: true, Symmetric: true, PowerOfTwoScales: true),
        UnsignedWhereNonNegative = true,
    };

    private static void AssertExactlyEqual(string op, QuantizationTarget target)
    {
        var model = QuantizedOps.Quantize(op, target, out var data);
        var compared = 0;
        foreach (var inputs in data)
            foreach (var (name, emu, ort) in QuantizedOps.Compare(model, inputs, optimize: false))
            {
                // Zip stops at the shorter sequence: a truncated output would otherwise compare equal.
                Assert.True(emu.Length == ort.Length, $"{op}/{name}: the emulator gave {emu.Length} integers, ORT {ort.Length}");
                Assert.NotEmpty(emu);
                compared++;
                var diff = emu.Zip(ort).Count(p => p.First != p.Second);
                if (diff > 0)
                    Assert.Fail($"{op}/{name}: {diff} of {emu.Length} integers differ; first (emulator, ORT) = {emu.Zip(ort).First(p => p.First != p.Second)}");
            }
        Assert.True(compared > 0, $"{op}: no output was compared");
    }

    /// <summary>
    /// Any scales, ORT with all optimizations (QDQ groups fused into its integer kernels: QLinearConv, MatMulInteger,
    /// QLinearAdd, ...). Weights are uint8 with a zero point here: on AVX2 without VNNI, ORT's u8 x s8 kernels use a
    /// saturating 16-bit multiply-add (a known MLAS limitation), which no chip semantics should copy.
    /// </summary>
    [Theory]
    [MemberData(nameof(IntegerOps))]
    public void GeneralScales_EmulatorEqualsOrtFusedIntegerKernels(string op)
    {
        var target = QuantizationTarget.Default() with { Weights = new IntegerFormat(8, Signed: false, Symmetric: false, PowerOfTwoScales: false) };
        var model = QuantizedOps.Quantize(op, target, out var data);
        var total = 0;
        var differ = 0;
        var maxLsb = 0L;
        foreach (var inputs in data)
            foreach (var (name, emu, ort) in QuantizedOps.Compare(model, inputs, optimize: true))
            {
                Assert.True(emu.Length == ort.Length, $"{op}/{name}: the emulator gave {emu.Length} integers, ORT {ort.Length}");
                total += emu.Length;
                differ += emu.Zip(ort).Count(p => p.First != p.Second);
                maxLsb = Math.Max(maxLsb, emu.Zip(ort).Max(p => Math.Abs(p.First - p.Second)));
            }
        output.WriteLine($"{op}: {differ} of {total} differ, max {maxLsb} LSB");
        Assert.True(total > 0, $"{op}: no output was compared");
        Assert.Equal(0, differ);
    }
}
